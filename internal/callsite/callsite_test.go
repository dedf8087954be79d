package callsite_test

import (
	"runtime"
	"testing"

	"github.com/vdsogen/vdsogen/internal/callsite"
)

func TestNextLine(t *testing.T) {
	next := callsite.NextLine // as the tests that use it alias it
	got := next()
	_, _, line, _ := runtime.Caller(0)
	if got != line {
		t.Errorf("NextLine() = %d, want %d (the line after the call)", got, line)
	}
}
