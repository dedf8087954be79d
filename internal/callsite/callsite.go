// Package callsite tells tests where they are, for checking that an error
// blames the right line of the program that caused it.
package callsite

import "runtime"

// NextLine returns the line after its caller's: a test calls it on the
// line before the call that an error must blame.
func NextLine() int {
	_, _, line, _ := runtime.Caller(1)
	return line + 1
}
