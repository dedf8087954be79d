package dsl

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// Pos is a position in the user's generator program.
type Pos struct {
	File string
	Line int
	// Col is the 1-based byte column of the call; 0 until resolved.
	Col int
	// Call is the name of the dsl function that was called there, used to
	// find the column.
	Call string
}

// String formats p as file:line:col, with file relative to the working
// directory when it is below it.
func (p Pos) String() string {
	if p.File == "" {
		return "-"
	}
	p = p.Resolve()
	file := p.File
	if wd, err := os.Getwd(); err == nil {
		if rel, err := filepath.Rel(wd, file); err == nil && !strings.HasPrefix(rel, "..") {
			file = rel
		}
	}
	return file + ":" + strconv.Itoa(p.Line) + ":" + strconv.Itoa(p.Col)
}

// Short formats p as base-name:line: how generated files (comments, the
// layout table's sources) and the verifier's findings name a program
// position. It is computed from the caller's frame alone, never from the
// source file, so it is the same under -trimpath, from any working
// directory and with any build cache; columns, which only a re-parse of
// the source could give, are left to terminal messages (String).
func (p Pos) Short() string {
	if p.File == "" {
		return "-"
	}
	return filepath.Base(p.File) + ":" + strconv.Itoa(p.Line)
}

// Resolve fills in the column by finding the call on p's line in the
// source file. Where the file cannot be read, the column is 1.
func (p Pos) Resolve() Pos {
	if p.Col != 0 || p.File == "" {
		return p
	}
	p.Col = columnOf(p.File, p.Line, p.Call)
	return p
}

// instPackage is the package of the instruction functions, which call
// Builder.Add: a call from there is blamed on its caller.
const instPackage = "github.com/vdsogen/vdsogen/dsl/x86."

// here returns the position of the code that called the dsl function which
// called here; skip counts the frames between that dsl function and here.
// Frames of package dsl/x86 are skipped, so that x86.MOVQ(...) is blamed
// on the user's line and named MOVQ.
func here(skip int) Pos {
	pcs := make([]uintptr, 4)
	n := runtime.Callers(skip+1, pcs)
	frames := runtime.CallersFrames(pcs[:n])
	callee, more := frames.Next()
	if !more {
		return Pos{File: "?"}
	}
	caller, _ := frames.Next()
	for strings.HasPrefix(caller.Function, instPackage) {
		callee = caller
		caller, _ = frames.Next() // the zero Frame past the end stops the loop
	}
	name := callee.Function
	if i := strings.LastIndexByte(name, '.'); i >= 0 {
		name = name[i+1:]
	}
	return Pos{File: caller.File, Line: caller.Line, Call: name}
}

var fileCache struct {
	sync.Mutex
	files map[string]*parsedFile
}

type parsedFile struct {
	fset *token.FileSet
	file *ast.File
	src  []byte
}

func parse(path string) *parsedFile {
	fileCache.Lock()
	defer fileCache.Unlock()
	if pf, ok := fileCache.files[path]; ok {
		return pf
	}
	if fileCache.files == nil {
		fileCache.files = map[string]*parsedFile{}
	}
	var pf *parsedFile
	if src, err := os.ReadFile(path); err == nil {
		fset := token.NewFileSet()
		f, _ := parser.ParseFile(fset, path, src, parser.SkipObjectResolution)
		pf = &parsedFile{fset: fset, file: f, src: src}
	}
	fileCache.files[path] = pf
	return pf
}

// columnOf finds the column of the first call of a function named call on
// the given line, or the first non-blank column of the line.
func columnOf(path string, line int, call string) int {
	pf := parse(path)
	if pf == nil {
		return 1
	}
	if ce := pf.findCall(line, call); ce != nil {
		return pf.fset.Position(ce.Pos()).Column
	}
	lines := strings.Split(string(pf.src), "\n")
	if line >= 1 && line <= len(lines) {
		l := lines[line-1]
		return len(l) - len(strings.TrimLeft(l, " \t")) + 1
	}
	return 1
}

// findCall returns the first call of a function named call on the line.
func (pf *parsedFile) findCall(line int, call string) *ast.CallExpr {
	if pf.file == nil || call == "" {
		return nil
	}
	var found *ast.CallExpr
	ast.Inspect(pf.file, func(n ast.Node) bool {
		if found != nil {
			return false
		}
		ce, ok := n.(*ast.CallExpr)
		if !ok || pf.fset.Position(ce.Pos()).Line != line {
			return true
		}
		if funcName(ce) == call {
			found = ce
			return false
		}
		return true
	})
	return found
}

// funcName is the name of the function a call calls: f for f(...) and x.f(...).
func funcName(ce *ast.CallExpr) string {
	switch fn := ce.Fun.(type) {
	case *ast.Ident:
		return fn.Name
	case *ast.SelectorExpr:
		return fn.Sel.Name
	}
	return ""
}

// instruction names the instruction made at p: the function called there,
// or for b.Add(x86.MOVQ(...)) the constructor in Add's argument.
func (p Pos) instruction() string {
	if p.Call != "Add" || p.File == "" {
		return p.Call
	}
	if pf := parse(p.File); pf != nil {
		if ce := pf.findCall(p.Line, "Add"); ce != nil && len(ce.Args) == 1 {
			if arg, ok := ce.Args[0].(*ast.CallExpr); ok && funcName(arg) != "" {
				return funcName(arg)
			}
		}
	}
	return p.Call
}

// Error is one mistake in a program, at the position of the call that made it.
type Error struct {
	Pos Pos
	Msg string
}

func (e *Error) Error() string { return e.Pos.String() + ": " + e.Msg }

// ErrorList is every mistake found in one program, in source order.
type ErrorList []*Error

// Error returns the mistakes, one a line.
func (l ErrorList) Error() string {
	var sb strings.Builder
	for i, e := range l {
		if i > 0 {
			sb.WriteByte('\n')
		}
		sb.WriteString(e.Error())
	}
	return sb.String()
}

// Unwrap returns the mistakes, for errors.Is and errors.As.
func (l ErrorList) Unwrap() []error {
	errs := make([]error, len(l))
	for i, e := range l {
		errs[i] = e
	}
	return errs
}

// Sort orders the list by file and line.
func (l ErrorList) Sort() {
	sort.SliceStable(l, func(i, j int) bool {
		a, b := l[i].Pos, l[j].Pos
		if a.File != b.File {
			return a.File < b.File
		}
		return a.Line < b.Line
	})
}
