package dsl

import (
	"fmt"
	"strings"
	"testing"
)

// The package's tests use the package-level helpers as a generator program
// does; they stand in for gen, the driver.
func init() { RegisterDriver("the tests") }

// TestRequireDriver: without a registered driver (a program that forgot
// gen.Main and so dropped gen's import), the first helper call, whichever
// it is, stops the program with exit status 1 and an error at that call
// naming the fix; with one, nothing happens.
func TestRequireDriver(t *testing.T) {
	for _, tc := range []struct {
		name string
		call func() // must be on one line with next() before it
	}{
		{"Entry", func() { Entry("f", "func()") }},
		{"DataPage", func() { DataPage("p", 64) }},
		{"instruction", func() { Std().Bytes(0xc3) }}, // as dsl/x86 records
		{"marker", func() { StaticBranch("k", func() {}) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			saved := driver.name
			savedExit, savedStderr := exit, stderr
			defer func() {
				driver.name, driver.checked = saved, false
				exit, stderr = savedExit, savedStderr
				Reset()
			}()
			var out strings.Builder
			code := -1
			exit = func(c int) { code = c }
			stderr = &out
			Reset()
			driver.name, driver.checked = "", false
			tc.call()
			if code != 1 {
				t.Errorf("exit status %d, want 1", code)
			}
			msg := out.String()
			if !strings.Contains(msg, "gen.Main()") || !strings.HasSuffix(msg, "\n") {
				t.Errorf("message %q does not name gen.Main()", msg)
			}
			if !strings.HasPrefix(msg, "driver_test.go:") {
				t.Errorf("message %q is not positioned in the caller's file", msg)
			}
			// The error is reported once, not at every call.
			out.Reset()
			code = -1
			tc.call()
			if code != -1 || out.Len() != 0 {
				t.Errorf("second call: exit %d, message %q; want none", code, out.String())
			}
			// With a driver, the helpers are silent.
			driver.name, driver.checked = "gen.Main", false
			tc.call()
			if code != -1 || out.Len() != 0 {
				t.Errorf("with a driver: exit %d, message %q; want none", code, out.String())
			}
		})
	}
}

// TestUserCallerColumn: the position names the user's call, column included.
func TestUserCallerColumn(t *testing.T) {
	savedExit, savedStderr := exit, stderr
	defer func() {
		exit, stderr = savedExit, savedStderr
		driver.name, driver.checked = "the tests", false
		Reset()
	}()
	var out strings.Builder
	exit, stderr = func(int) {}, &out
	driver.name, driver.checked = "", false
	Reset()
	l := next()
	func() { Entry("f", "func()") }()
	want := fmt.Sprintf("driver_test.go:%d:%d: ", l, len("\tfunc() { ")+1)
	if !strings.HasPrefix(out.String(), want) {
		t.Errorf("got %q, want prefix %q", out.String(), want)
	}
}
