package gen

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/vdsogen/vdsogen/dsl"
	dx "github.com/vdsogen/vdsogen/dsl/x86"
	"github.com/vdsogen/vdsogen/internal/callsite"
	"github.com/vdsogen/vdsogen/internal/verify"
	"github.com/vdsogen/vdsogen/variants"
)

// nextLine returns the line after the caller's: write it on the line before
// the call that an error must blame.
var nextLine = callsite.NextLine

// srcPos is what an error must say for a call that starts line of file (a
// test file of this package): base:line:col, col being the first non-blank
// column of the line or, if the line has one, of the call b.X.
func srcPos(t *testing.T, file string, line int) string {
	t.Helper()
	src, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	l := strings.Split(string(src), "\n")[line-1]
	col := len(l) - len(strings.TrimLeft(l, " \t")) + 1
	if i := strings.Index(l, "b."); i >= 0 {
		col = i + 1 // the call, as in pg := b.DataPage(...)
	}
	return filepath.Base(file) + ":" + strconv.Itoa(line) + ":" + strconv.Itoa(col)
}

// callerFile is the file of the caller.
func callerFile() string {
	_, file, _, _ := runtime.Caller(1)
	return file
}

const targetSrc = `package target

var page [64]byte

type TS struct{ A, B int64 }
`

// writeTarget makes dir a target package: a module with one Go file.
func writeTarget(dir string) error {
	for name, src := range map[string]string{"go.mod": "module example.com/target\n\ngo 1.22\n", "target.go": targetSrc} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// newTarget makes a target package directory, removed when t ends.
func newTarget(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	if err := writeTarget(dir); err != nil {
		t.Fatal(err)
	}
	return dir
}

// sharedTarget makes a target package directory that outlives the test
// making it, for results shared between tests (the caller removes it).
func sharedTarget(prefix string) (string, error) {
	dir, err := os.MkdirTemp("", prefix)
	if err != nil {
		return "", err
	}
	if err := writeTarget(dir); err != nil {
		os.RemoveAll(dir)
		return "", err
	}
	return dir, nil
}

func mustProgram(t *testing.T, b *dsl.Builder) *dsl.Program {
	t.Helper()
	prog, err := b.Program()
	if err != nil {
		t.Fatalf("Program: %v", err)
	}
	return prog
}

func generate(t *testing.T, prog *dsl.Program, dir string, set *variants.Set) (*Output, error) {
	t.Helper()
	return Generate(context.Background(), prog, Config{Name: "vd", Dir: dir, Variants: set})
}

func mustGenerate(t *testing.T, prog *dsl.Program, dir string, set *variants.Set) *Output {
	t.Helper()
	o, err := generate(t, prog, dir, set)
	if err != nil {
		t.Fatalf("Generate: %v", err)
	}
	return o
}

// cached runs f once per key for the whole test binary: each Generate
// assembles with the Go toolchain, so tests share outputs where they can.
var cache = struct {
	sync.Mutex
	m map[string]*cachedRun
}{m: map[string]*cachedRun{}}

type cachedRun struct {
	once sync.Once
	out  *Output
	dir  string
	err  error
}

func cachedGenerate(t *testing.T, key string, build func(t *testing.T) (*dsl.Program, *variants.Set)) (*Output, string) {
	t.Helper()
	cache.Lock()
	r, ok := cache.m[key]
	if !ok {
		r = &cachedRun{}
		cache.m[key] = r
	}
	cache.Unlock()
	r.once.Do(func() {
		// The target directory must outlive the test that created it.
		dir, err := sharedTarget("vdsogen-target-")
		if err != nil {
			r.err = err
			return
		}
		prog, set := build(t)
		r.dir = dir
		r.out, r.err = generate(t, prog, dir, set)
	})
	if r.err != nil {
		t.Fatalf("Generate (%s): %v", key, r.err)
	}
	return r.out, r.dir
}

// dslErrors returns err as a dsl.ErrorList (a single *dsl.Error is a list
// of one).
func dslErrors(t *testing.T, err error) dsl.ErrorList {
	t.Helper()
	if err == nil {
		t.Fatal("no error, want one")
	}
	var l dsl.ErrorList
	if errors.As(err, &l) {
		return l
	}
	var e *dsl.Error
	if errors.As(err, &e) {
		return dsl.ErrorList{e}
	}
	t.Fatalf("error is %T, want dsl.ErrorList: %v", err, err)
	return nil
}

// wantMsg checks that err's text has a line starting with pos and
// containing every one of msgs.
func wantMsg(t *testing.T, err error, pos string, msgs ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want one at %s", pos)
	}
	for _, line := range strings.Split(err.Error(), "\n") {
		if !strings.HasPrefix(line, pos+": ") {
			continue
		}
		ok := true
		for _, m := range msgs {
			ok = ok && strings.Contains(line, m)
		}
		if ok {
			return
		}
	}
	t.Errorf("error does not have a line %q... containing %q:\n%v", pos+": ", msgs, err)
}

// verdictCase is a DSL program of one entry, f(dst, src *byte, n uint64),
// with a 64-byte data page: before, then the instruction under test (at,
// whose line a finding must blame), then after (RET when nil). An accepted
// case has no want; a refused one wants a finding containing want after
// FILE:LINE:col:.
type verdictCase struct {
	name          string
	before, after func(page *dsl.Page)
	at            func()
	want          string
}

// runVerdicts generates each case, file being the test file that holds
// the cases, and checks the verifier's verdict.
func runVerdicts(t *testing.T, file string, cases []verdictCase) {
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := dsl.Reset()
			defer dsl.Reset()
			page := dsl.DataPage("page", 64)
			dsl.Entry("f", "func(dst, src *byte, n uint64)")
			if c.before != nil {
				c.before(page)
			}
			line := 0
			if c.at != nil {
				line = funcLine(c.at)
				c.at()
			}
			if c.after != nil {
				c.after(page)
			} else {
				dx.RET()
			}
			_, err := generate(t, mustProgram(t, b), newTarget(t), nil)
			if c.want == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var ve *verify.Error
			if !errors.As(err, &ve) {
				t.Fatalf("Generate = %v, want a *verify.Error", err)
			}
			pos := file + ":" + strconv.Itoa(line) + ":"
			for _, l := range strings.Split(err.Error(), "\n") {
				if strings.Contains(l, pos) && strings.Contains(l, c.want) {
					return
				}
			}
			t.Errorf("no finding at %s containing %q:\n%v", pos, c.want, err)
		})
	}
}

// funcLine is the line of f's func literal: the DSL records an instruction
// at the line of the call that emits it, here inside that literal.
func funcLine(f func()) int {
	pc := reflect.ValueOf(f).Pointer()
	_, line := runtime.FuncForPC(pc).FileLine(pc)
	return line
}
