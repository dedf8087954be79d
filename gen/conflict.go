package gen

import (
	"bytes"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/vdsogen/vdsogen/layout"
)

// A package directory can hold the outputs of several generator programs
// (each -name prefixes its own files). When a program is renamed (a changed
// or omitted -name), the previous program's outputs stay behind and
// declare the same stubs as the new ones: the next build fails with
// "redeclared in this block", far from the cause. conflicts finds them
// before anything is written.

// conflict is one generated file of another program whose declarations
// collide with this run's outputs.
type conflict struct {
	file  string   // base name in the output directory
	names []string // the colliding identifiers, sorted
}

// conflicts lists the vdsogen-generated files in dir that this run does not
// own (not named z<name>_..., not in files, not in skip) and that declare a
// Go or assembly symbol which files also declare.
func conflicts(dir, name string, files map[string][]byte, skip map[string]bool) ([]conflict, error) {
	ours := map[string]bool{}
	for f, b := range files {
		for _, id := range declared(f, b) {
			ours[id] = true
		}
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []conflict
	for _, e := range ents {
		f := e.Name()
		if !e.Type().IsRegular() || !layout.MayBeGenerated(f) || layout.Files(name).Owns(f) || skip[f] {
			continue
		}
		if _, own := files[f]; own {
			continue
		}
		if !strings.HasSuffix(f, ".go") && !strings.HasSuffix(f, ".s") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			return nil, err
		}
		if !bytes.HasPrefix(b, []byte(header)) {
			continue
		}
		var clash []string
		for _, id := range declared(f, b) {
			if ours[id] {
				clash = append(clash, id)
			}
		}
		if len(clash) > 0 {
			sort.Strings(clash)
			out = append(out, conflict{file: f, names: clash})
		}
	}
	return out, nil
}

// asmSymbol matches a package symbol an assembly file defines.
var asmSymbol = regexp.MustCompile(`(?m)^(?:TEXT|GLOBL)\s+·(\w+)\(SB\)`)

// declared lists the package-level identifiers a Go file declares, or the
// package symbols an assembly file defines (nil for anything else or a
// file that does not parse: the compiler reports those).
func declared(file string, b []byte) []string {
	var ids []string
	switch filepath.Ext(file) {
	case ".s":
		for _, m := range asmSymbol.FindAllSubmatch(b, -1) {
			ids = append(ids, string(m[1]))
		}
	case ".go":
		f, err := parser.ParseFile(token.NewFileSet(), file, b, parser.SkipObjectResolution)
		if err != nil {
			return nil
		}
		for _, d := range f.Decls {
			switch d := d.(type) {
			case *ast.FuncDecl:
				if d.Recv == nil {
					ids = append(ids, d.Name.Name)
				}
			case *ast.GenDecl:
				for _, s := range d.Specs {
					switch s := s.(type) {
					case *ast.TypeSpec:
						ids = append(ids, s.Name.Name)
					case *ast.ValueSpec:
						for _, n := range s.Names {
							if n.Name != "_" {
								ids = append(ids, n.Name)
							}
						}
					}
				}
			}
		}
	}
	return ids
}

// programOf guesses the program that generated a file from the file names
// every program writes (z<name>_stubs_amd64.go and the like); "" if the
// name says nothing.
func programOf(file string) string {
	p, _ := layout.ProgramOf(file)
	return string(p)
}

// conflictError says which files collide and how to resolve it.
func conflictError(dir string, cs []conflict) error {
	var b strings.Builder
	fmt.Fprintf(&b, "-out %s: generated files of another vdsogen program declare what this run's outputs declare, so the package would not build (redeclared):", dir)
	progs := map[string]bool{}
	for _, c := range cs {
		ids := c.names
		more := ""
		if len(ids) > 4 {
			more = fmt.Sprintf(" and %d more", len(ids)-4)
			ids = ids[:4]
		}
		fmt.Fprintf(&b, "\n\t%s: %s%s", c.file, strings.Join(ids, ", "), more)
		if p := programOf(c.file); p != "" {
			progs[p] = true
		}
	}
	var names []string
	for p := range progs {
		names = append(names, p)
	}
	sort.Strings(names)
	switch len(names) {
	case 0:
		b.WriteString("\nif this program replaces the one that wrote them, remove them; nothing was written")
	default:
		var flags []string
		for _, n := range names {
			flags = append(flags, "-replaces "+n)
		}
		fmt.Fprintf(&b, "\nif this program replaces %q (an earlier -name), run again with %s to remove its generated files as part of the write; nothing was written", strings.Join(names, `", "`), strings.Join(flags, " "))
	}
	return fmt.Errorf("%s", b.String())
}

// validProgramName: what -name and -replaces accept as a program name.
func validProgramName(s string) bool {
	return s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9')
	}) < 0
}

// replacedFiles lists the generated files in dir of the programs named in
// olds, never one this run (program name) owns.
func replacedFiles(dir, name string, files map[string][]byte, olds []string) ([]string, error) {
	var out []string
	for _, old := range olds {
		if old == name {
			return nil, fmt.Errorf("-replaces %s names this program itself (-name %s)", old, name)
		}
		fs, err := stale(dir, old, files)
		if err != nil {
			return nil, err
		}
		for _, f := range fs {
			if !layout.Files(name).Owns(f) && !slices.Contains(out, f) {
				out = append(out, f)
			}
		}
	}
	sort.Strings(out)
	return out, nil
}
