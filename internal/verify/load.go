package verify

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/vdsogen/vdsogen/internal/harness"
	"github.com/vdsogen/vdsogen/layout"
)

// Package is a generated program as found on disk: its layout table and
// the assembly file of each variant.
//
// The table is read from z<name>_layout.json, which the generator writes
// with the Go table z<name>_layout_amd64.go, from the same value, in the
// same atomic write, both golden: the Go table serves the program that
// links the stubs, the JSON the tools. Reading the JSON needs neither the
// toolchain (building and running a program to print the Go table would
// need the user's package to compile and export it) nor a second parser
// of Go syntax that could disagree with the compiler about the literal.
type Package struct {
	// LayoutFile is the file that named the program: the Go or JSON
	// layout table (the directory's Go table when given a directory).
	LayoutFile string
	// TableFile is the JSON table read: z<name>_layout.json.
	TableFile string
	Table     *layout.Table
	// AsmFiles maps a variant name to the path of its assembly file.
	AsmFiles map[string]string
	// StubsAsm and StubsGo are the paths of the stub files ("" if missing).
	StubsAsm, StubsGo string
}

// Load finds a generated program from paths: one package directory, or the
// generated files themselves (the layout table, Go or JSON, and the
// variants' .s files).
func Load(paths []string) (*Package, error) {
	if len(paths) == 1 {
		if fi, err := os.Stat(paths[0]); err == nil && fi.IsDir() {
			return loadDir(paths[0])
		} else if err != nil {
			return nil, err
		}
	}
	var layouts, asm []string
	for _, p := range paths {
		_, _, isTable := layout.TableFileOf(p)
		switch {
		case isTable:
			layouts = append(layouts, p)
		case layout.IsAsm(p):
			asm = append(asm, p)
		default:
			if fi, err := os.Stat(p); err == nil && fi.IsDir() {
				return nil, fmt.Errorf("%s is a directory: give one package directory, or generated files", p)
			}
			return nil, fmt.Errorf("%s: not a generated layout table (%s, %s) or assembly (%s) file", p, layout.Files("*").Table(), layout.Files("*").TableJSON(), layout.Files("*").Asm("*"))
		}
	}
	if len(layouts) != 1 {
		return nil, fmt.Errorf("want exactly one layout table (%s or %s) among the files, have %d", layout.Files("<name>").Table(), layout.Files("<name>").TableJSON(), len(layouts))
	}
	return load(layouts[0], asm)
}

func loadDir(dir string) (*Package, error) {
	tables, err := filepath.Glob(layout.TablesIn(dir))
	if err != nil {
		return nil, err
	}
	switch len(tables) {
	case 0:
		return nil, fmt.Errorf("%s: no generated layout table (%s)", dir, layout.Files("<name>").TableJSON())
	case 1:
	default:
		return nil, fmt.Errorf("%s: several layout tables (%s); name the files to verify", dir, strings.Join(tables, ", "))
	}
	asm, err := filepath.Glob(layout.AsmIn(dir))
	if err != nil {
		return nil, err
	}
	program, _, _ := layout.TableFileOf(tables[0])
	named := tables[0]
	if goTable := filepath.Join(dir, program.Table()); fileExists(goTable) {
		named = goTable
	}
	return load(named, asm)
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// load reads the table and pairs every variant with its assembly file.
func load(layoutFile string, asm []string) (*Package, error) {
	program, tableFile, _ := layout.TableFileOf(layoutFile)
	b, err := os.ReadFile(tableFile)
	if err != nil {
		return nil, fmt.Errorf("the layout table of %s: %w", layoutFile, err)
	}
	t, err := layout.DecodeJSON(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", tableFile, err)
	}
	if layout.Files(t.Program) != program {
		return nil, fmt.Errorf("%s: the table is of program %q, the file name says %q", tableFile, t.Program, program)
	}
	pkg := &Package{LayoutFile: layoutFile, TableFile: tableFile, Table: t, AsmFiles: map[string]string{}}
	byBase := map[string]string{}
	for _, a := range asm {
		byBase[filepath.Base(a)] = a
	}
	for _, v := range t.Variants {
		name := program.Asm(v.Name)
		path, ok := byBase[name]
		if !ok {
			return nil, fmt.Errorf("variant %s: no %s beside %s", v.Name, name, layoutFile)
		}
		pkg.AsmFiles[v.Name] = path
	}
	pkg.StubsAsm, pkg.StubsGo = findStubs(t, layoutFile, asm)
	return pkg, nil
}

// Assemble builds the variants' assembly with the Go toolchain (through
// the harness, with a Go global for every data page) and returns the
// verifier's input.
func (pkg *Package) Assemble(ctx context.Context) (*Input, error) {
	in := harness.Input{AsmFiles: map[string][]byte{}, Data: map[string]int{}}
	for _, pg := range pkg.Table.Pages {
		in.Data[pg.Symbol] = pg.Size
	}
	for _, v := range pkg.Table.Variants {
		b, err := os.ReadFile(pkg.AsmFiles[v.Name])
		if err != nil {
			return nil, err
		}
		in.AsmFiles[filepath.Base(pkg.AsmFiles[v.Name])] = b
		in.Images = append(in.Images, v.Symbol)
	}
	stubs := pkg.addStubs(&in)
	res, err := harness.Build(ctx, in)
	if err != nil {
		return nil, err
	}
	vin, err := FromHarness(pkg.Table, res)
	if err != nil {
		return nil, err
	}
	stubs.Link(res)
	pkg.declareStubs(stubs)
	vin.Stubs = stubs
	gt := &GoTable{Path: filepath.Join(filepath.Dir(pkg.TableFile), layout.Files(pkg.Table.Program).Table())}
	if b, err := os.ReadFile(gt.Path); err == nil {
		gt.Text = b
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	vin.GoTable = gt
	return vin, nil
}
