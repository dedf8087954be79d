package verify

import (
	"context"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"

	"github.com/vdsogen/vdsogen/internal/harness"
	"github.com/vdsogen/vdsogen/layout"
)

// Package is a generated program as found on disk: its layout table and
// the assembly file of each variant.
type Package struct {
	// LayoutFile is the path of z<name>_layout_amd64.go.
	LayoutFile string
	Table      *layout.Table
	// AsmFiles maps a variant name to the path of its assembly file.
	AsmFiles map[string]string
	// StubsAsm and StubsGo are the paths of the stub files ("" if missing).
	StubsAsm, StubsGo string
}

// Load finds a generated program from paths: one package directory, or the
// generated files themselves (the layout file and the variants' .s files).
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
		switch {
		case strings.HasSuffix(p, "_layout_amd64.go"):
			layouts = append(layouts, p)
		case strings.HasSuffix(p, "_amd64.s"):
			asm = append(asm, p)
		default:
			if fi, err := os.Stat(p); err == nil && fi.IsDir() {
				return nil, fmt.Errorf("%s is a directory: give one package directory, or generated files", p)
			}
			return nil, fmt.Errorf("%s: not a generated layout (z*_layout_amd64.go) or assembly (z*_amd64.s) file", p)
		}
	}
	if len(layouts) != 1 {
		return nil, fmt.Errorf("want exactly one z<name>_layout_amd64.go among the files, have %d", len(layouts))
	}
	return load(layouts[0], asm)
}

func loadDir(dir string) (*Package, error) {
	layouts, err := filepath.Glob(filepath.Join(dir, "z*_layout_amd64.go"))
	if err != nil {
		return nil, err
	}
	switch len(layouts) {
	case 0:
		return nil, fmt.Errorf("%s: no generated layout table (z<name>_layout_amd64.go)", dir)
	case 1:
	default:
		return nil, fmt.Errorf("%s: several layout tables (%s); name the files to verify", dir, strings.Join(layouts, ", "))
	}
	asm, err := filepath.Glob(filepath.Join(dir, "z*_amd64.s"))
	if err != nil {
		return nil, err
	}
	return load(layouts[0], asm)
}

// load reads the table and pairs every variant with its assembly file,
// z<program>_<variant>_amd64.s.
func load(layoutFile string, asm []string) (*Package, error) {
	t, err := ReadTable(layoutFile)
	if err != nil {
		return nil, err
	}
	pkg := &Package{LayoutFile: layoutFile, Table: t, AsmFiles: map[string]string{}}
	byBase := map[string]string{}
	for _, a := range asm {
		byBase[filepath.Base(a)] = a
	}
	for _, v := range t.Variants {
		name := "z" + t.Program + "_" + v.Name + "_amd64.s"
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
	return vin, nil
}

// ReadTable parses a generated layout file: the one package-level variable
// of type layout.Table, whose value is a composite literal of literals.
func ReadTable(path string) (*layout.Table, error) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
	if err != nil {
		return nil, err
	}
	var lit *ast.CompositeLit
	for _, d := range f.Decls {
		gd, ok := d.(*ast.GenDecl)
		if !ok || gd.Tok != token.VAR {
			continue
		}
		for _, sp := range gd.Specs {
			vs := sp.(*ast.ValueSpec)
			for _, v := range vs.Values {
				if cl, ok := v.(*ast.CompositeLit); ok && isTableType(cl.Type) {
					lit = cl
				}
			}
		}
	}
	if lit == nil {
		return nil, fmt.Errorf("%s: no variable of type layout.Table", path)
	}
	t := &layout.Table{}
	if err := fill(fset, reflect.ValueOf(t).Elem(), lit); err != nil {
		return nil, err
	}
	return t, nil
}

func isTableType(e ast.Expr) bool {
	s, ok := e.(*ast.SelectorExpr)
	return ok && s.Sel.Name == "Table"
}

var kinds = map[string]layout.Kind{"StaticBranch": layout.StaticBranch, "ThreeLabel": layout.ThreeLabel, "Alternative": layout.Alternative, "StaticCall": layout.StaticCall}

// fill sets v from the literal expression e.
func fill(fset *token.FileSet, v reflect.Value, e ast.Expr) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%s: %s", fset.Position(e.Pos()), fmt.Sprintf(format, args...))
	}
	if u, ok := e.(*ast.UnaryExpr); ok && u.Op == token.SUB {
		if err := fill(fset, v, u.X); err != nil {
			return err
		}
		if v.Kind() != reflect.Int {
			return bad("negative %s", v.Type())
		}
		v.SetInt(-v.Int())
		return nil
	}
	switch v.Kind() {
	case reflect.Struct:
		cl, ok := e.(*ast.CompositeLit)
		if !ok {
			return bad("want a %s literal", v.Type())
		}
		for _, elt := range cl.Elts {
			kv, ok := elt.(*ast.KeyValueExpr)
			if !ok {
				return bad("want keyed fields in a %s literal", v.Type())
			}
			id, _ := kv.Key.(*ast.Ident)
			if id == nil || !v.FieldByName(id.Name).IsValid() {
				return bad("%s has no field %s", v.Type(), kv.Key)
			}
			if err := fill(fset, v.FieldByName(id.Name), kv.Value); err != nil {
				return err
			}
		}
	case reflect.Slice:
		cl, ok := e.(*ast.CompositeLit)
		if !ok {
			return bad("want a %s literal", v.Type())
		}
		s := reflect.MakeSlice(v.Type(), len(cl.Elts), len(cl.Elts))
		for i, elt := range cl.Elts {
			if err := fill(fset, s.Index(i), elt); err != nil {
				return err
			}
		}
		v.Set(s)
	case reflect.Map:
		cl, ok := e.(*ast.CompositeLit)
		if !ok {
			return bad("want a %s literal", v.Type())
		}
		m := reflect.MakeMap(v.Type())
		for _, elt := range cl.Elts {
			kv, ok := elt.(*ast.KeyValueExpr)
			if !ok {
				return bad("want key: value in a map literal")
			}
			k, x := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
			if err := fill(fset, k, kv.Key); err != nil {
				return err
			}
			if err := fill(fset, x, kv.Value); err != nil {
				return err
			}
			m.SetMapIndex(k, x)
		}
		v.Set(m)
	case reflect.Bool:
		id, ok := e.(*ast.Ident)
		if !ok || (id.Name != "true" && id.Name != "false") {
			return bad("want true or false")
		}
		v.SetBool(id.Name == "true")
	case reflect.Int, reflect.Uint8:
		bl, ok := e.(*ast.BasicLit)
		if !ok || bl.Kind != token.INT {
			return bad("want an integer literal")
		}
		n, err := strconv.ParseInt(bl.Value, 0, 64)
		if err != nil {
			return bad("%v", err)
		}
		if v.Kind() == reflect.Uint8 {
			if n < 0 || n > 255 {
				return bad("byte %d out of range", n)
			}
			v.SetUint(uint64(n))
		} else {
			v.SetInt(n)
		}
	case reflect.String:
		if sel, ok := e.(*ast.SelectorExpr); ok && v.Type() == reflect.TypeOf(layout.Kind("")) {
			k, ok := kinds[sel.Sel.Name]
			if !ok {
				return bad("unknown marker kind %s", sel.Sel.Name)
			}
			v.SetString(string(k))
			return nil
		}
		bl, ok := e.(*ast.BasicLit)
		if !ok || bl.Kind != token.STRING {
			return bad("want a string literal")
		}
		s, err := strconv.Unquote(bl.Value)
		if err != nil {
			return bad("%v", err)
		}
		v.SetString(s)
	default:
		return bad("unexpected %s", v.Type())
	}
	return nil
}
