package gen

import (
	"fmt"
	"go/build"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strings"

	"github.com/vdsogen/vdsogen/dsl"
)

// checkProgramExcluded: a generator program that lives beside the files of
// a package must be excluded from that package's build (//go:build ignore):
// otherwise go build, go vet and go list see two packages in one directory
// (main and the package), and the generator's own loading of the package
// fails in ways that do not name the cause. The error is at the program's
// package clause. A program alone in its directory (or only with other
// files of package main) is an ordinary command and is left alone.
func checkProgramExcluded(prog *dsl.Program) error {
	file := programFile(prog)
	if file == "" || strings.HasSuffix(file, "_test.go") { // a test builds its program in-process
		return nil
	}
	abs, err := filepath.Abs(file)
	if err != nil {
		return nil
	}
	dir, base := filepath.Split(abs)
	ctx := build.Default
	if ok, err := ctx.MatchFile(dir, base); err != nil || !ok {
		return nil // excluded (or unreadable: the compiler read it, so not the case)
	}
	fset := token.NewFileSet()
	self, err := parser.ParseFile(fset, abs, nil, parser.PackageClauseOnly)
	if err != nil {
		return nil
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	for _, e := range ents {
		name := e.Name()
		if name == base || e.IsDir() || !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			continue
		}
		if ok, err := ctx.MatchFile(dir, name); err != nil || !ok {
			continue
		}
		other, err := parser.ParseFile(token.NewFileSet(), filepath.Join(dir, name), nil, parser.PackageClauseOnly)
		if err != nil || other.Name.Name == self.Name.Name {
			continue
		}
		pos := fset.Position(self.Package)
		return &dsl.Error{
			Pos: dsl.Pos{File: file, Line: pos.Line, Col: pos.Column},
			Msg: fmt.Sprintf("the generator program is compiled into package %s (%s): it lacks the //go:build ignore line, so the directory holds two packages, %s and %s; make `//go:build ignore` its first line, followed by a blank line",
				other.Name.Name, name, self.Name.Name, other.Name.Name),
		}
	}
	return nil
}

// programFile is the source file of the generator program, as its
// positions name it ("" if it recorded nothing).
func programFile(prog *dsl.Program) string {
	for _, e := range prog.Entries {
		if e.Pos.File != "" && e.Pos.File != "?" {
			return e.Pos.File
		}
	}
	for _, pg := range prog.Pages {
		if pg.Pos.File != "" && pg.Pos.File != "?" {
			return pg.Pos.File
		}
	}
	return ""
}
