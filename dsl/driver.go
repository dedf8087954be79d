package dsl

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"sync"
)

// A generator program records routines with the package-level helpers and
// then hands them to gen.Main, which generates and writes the outputs. Go
// has no hook at process exit, so a program whose main forgets gen.Main
// would simply return: go generate succeeds silently and -check passes
// vacuously. Forgetting the call forces dropping gen's import too (the
// compiler rejects an unused import), so gen registers itself from its
// init, and the first use of the package-level helpers in a program without
// a registered driver stops the program with a positioned error.
//
// A program that links gen but never calls gen.Main (gen imported for
// something else) is not caught here; that is a deliberate program, not a
// forgotten line.

var driver struct {
	sync.Mutex
	name    string // the registered driver, e.g. "gen.Main"
	checked bool
}

// RegisterDriver records that the program links a driver that turns the
// program recorded by the package-level helpers into outputs; name is how
// an error tells the user to call it ("gen.Main()"). Package gen calls it
// from its init; a program never needs to.
func RegisterDriver(name string) {
	driver.Lock()
	defer driver.Unlock()
	driver.name = name
}

// exit and stderr are os.Exit and os.Stderr; tests replace them.
var (
	exit             = os.Exit
	stderr io.Writer = os.Stderr
)

// requireDriver stops the program if no driver is registered: nothing
// would ever read what the helpers record. It reports the position of the
// first helper call in the user's code.
func requireDriver() {
	driver.Lock()
	if driver.checked || driver.name != "" {
		driver.checked = true
		driver.Unlock()
		return
	}
	driver.checked = true
	driver.Unlock()
	pos := userCaller()
	fmt.Fprintf(stderr, "%s: this program records routines but never hands them to the generator, so nothing would be generated or checked: end main with gen.Main() (import \"github.com/vdsogen/vdsogen/gen\")\n", pos)
	exit(1)
}

// userCaller is the position of the innermost call into the dsl packages
// (dsl and its subpackages) from outside them; a test file of theirs counts
// as outside.
func userCaller() Pos {
	pcs := make([]uintptr, 32)
	n := runtime.Callers(2, pcs)
	frames := runtime.CallersFrames(pcs[:n])
	call := ""
	for {
		f, more := frames.Next()
		if !inDSL(f.Function) || strings.HasSuffix(f.File, "_test.go") {
			return Pos{File: f.File, Line: f.Line, Call: call}
		}
		call = f.Function[strings.LastIndexByte(f.Function, '.')+1:]
		if !more {
			return Pos{File: "?"}
		}
	}
}

// inDSL reports whether the function named fn (as runtime names it) is in
// package dsl or one of its subpackages.
func inDSL(fn string) bool {
	const pkg = "github.com/vdsogen/vdsogen/dsl"
	rest, ok := strings.CutPrefix(fn, pkg)
	return ok && (strings.HasPrefix(rest, ".") || strings.HasPrefix(rest, "/"))
}
