package verify

import (
	"bufio"
	"bytes"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"go/types"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"golang.org/x/tools/go/packages"

	"github.com/vdsogen/vdsogen/internal/harness"
	"github.com/vdsogen/vdsogen/layout"
)

// findStubs locates a program's stub files: among the named files, else
// beside the layout file; by the default name z<program>_stubs_amd64.s,
// else (a generator run with -stubs) as the assembly file that defines the
// first image's address function. The Go file is the one of the same
// base name. It returns "" for a file it cannot find.
func findStubs(t *layout.Table, layoutFile string, named []string) (asmPath, goPath string) {
	dir := filepath.Dir(layoutFile)
	variantFiles := map[string]bool{}
	for _, v := range t.Variants {
		variantFiles[layout.Files(t.Program).Asm(v.Name)] = true
	}
	def := layout.StubsAsm(layout.Files(t.Program).Stubs())
	var candidates []string
	for _, p := range named {
		if filepath.Base(p) == def {
			asmPath = p
		}
		candidates = append(candidates, p)
	}
	if asmPath == "" {
		if _, err := os.Stat(filepath.Join(dir, def)); err == nil {
			asmPath = filepath.Join(dir, def)
		}
	}
	if asmPath == "" && len(t.Variants) > 0 {
		all, _ := filepath.Glob(filepath.Join(dir, "*.s"))
		text := regexp.MustCompile(`(?m)^\s*TEXT\s+·` + regexp.QuoteMeta(addrFuncName(t.Variants[0].Symbol)) + `\(SB\)`)
		for _, p := range append(candidates, all...) {
			if !strings.HasSuffix(p, ".s") || variantFiles[filepath.Base(p)] {
				continue
			}
			if b, err := os.ReadFile(p); err == nil && text.Match(b) {
				asmPath = p
				break
			}
		}
	}
	if asmPath == "" {
		return "", ""
	}
	goPath = strings.TrimSuffix(asmPath, ".s") + ".go"
	if _, err := os.Stat(goPath); err != nil {
		goPath = ""
	}
	return asmPath, goPath
}

// addStubs reads the stubs' assembly into the harness input (KeepStubs)
// and returns what the stubs rule will check; the linked bytes follow from
// Link, the declarations from declareStubs.
func (pkg *Package) addStubs(in *harness.Input) *StubFiles {
	prog := pkg.Table.Program
	if pkg.StubsAsm == "" {
		stubs := layout.Files(prog).Stubs()
		asm := layout.StubsAsm(stubs)
		return &StubFiles{AsmFile: asm, GoFile: stubs, Linked: map[string]Image{},
			Err: fmt.Errorf("no stub files: no %s (or assembly file defining the stubs) beside %s", asm, pkg.LayoutFile)}
	}
	src, err := os.ReadFile(pkg.StubsAsm)
	if err != nil {
		s := KeepStubs(in, filepath.Base(pkg.StubsAsm), nil)
		s.Err = err
		return s
	}
	return KeepStubs(in, filepath.Base(pkg.StubsAsm), src)
}

// KeepStubs adds the stubs' assembly file asmName (its Go file has the
// same base name) to a harness input and keeps every TEXT symbol it
// defines, so that Link can read them back from the build.
func KeepStubs(in *harness.Input, asmName string, src []byte) *StubFiles {
	s := &StubFiles{AsmFile: asmName, GoFile: strings.TrimSuffix(asmName, ".s") + ".go", Linked: map[string]Image{}}
	if src == nil {
		return s
	}
	s.Text = parseTexts(src)
	in.AsmFiles[asmName] = src
	taken := map[string]bool{"main": true, "keep": true, "init": true, "_": true}
	for _, name := range in.Images {
		taken[name] = true
	}
	for name := range in.Data {
		taken[name] = true
	}
	for _, tx := range s.Text {
		// A name the harness cannot keep is no stub of the table; the rule
		// says so from the TEXT line.
		if token.IsIdentifier(tx.Name) && !taken[tx.Name] {
			taken[tx.Name] = true
			in.Images = append(in.Images, tx.Name)
		}
	}
	return s
}

// Link takes the stubs' linked bytes and line table from the build of an
// input KeepStubs prepared.
func (s *StubFiles) Link(res *harness.Result) {
	for _, tx := range s.Text {
		if img, ok := res.Images[tx.Name]; ok {
			s.Linked[tx.Name] = Image{Addr: img.Addr, Bytes: img.Bytes}
		}
	}
	s.Line = res.Line
}

// Declare records the functions of the stubs' Go source, each signature
// resolved with resolve (which also resolves the entries' signatures),
// for a caller that has the package's types but no file on disk (the
// generator, before it writes).
func (s *StubFiles) Declare(src []byte, resolve func(expr string) (*types.Signature, error)) error {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, s.GoFile, src, parser.SkipObjectResolution)
	if err != nil {
		return err
	}
	s.Signature = resolve
	for _, d := range f.Decls {
		fd, ok := d.(*ast.FuncDecl)
		if !ok || fd.Recv != nil {
			continue
		}
		pos := fset.Position(fd.Name.Pos())
		decl := StubDecl{Name: fd.Name.Name, Pos: fmt.Sprintf("%s:%d:%d", s.GoFile, pos.Line, pos.Column), HasBody: fd.Body != nil}
		if decl.Sig, decl.Err = resolve(types.ExprString(fd.Type)); decl.Err != nil {
			decl.Sig = nil
		}
		s.Decls = append(s.Decls, decl)
	}
	return nil
}

// textRE matches a TEXT directive; a symbol not of the form ·name keeps
// its spelling (vdso·x, ·x<>), which no stub has.
var textRE = regexp.MustCompile(`^\s*TEXT\s+([^\s(]*)\(SB\)\s*,(.*)$`)

// parseTexts lists the TEXT directives of an assembly file.
func parseTexts(src []byte) []StubText {
	var out []StubText
	sc := bufio.NewScanner(bytes.NewReader(src))
	for line := 1; sc.Scan(); line++ {
		m := textRE.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		name := m[1]
		if n, ok := strings.CutPrefix(name, "·"); ok && token.IsIdentifier(n) {
			name = n
		}
		tx := StubText{Name: name, Line: line, Frame: -1, Args: -1}
		parts := strings.Split(m[2], ",")
		spec := strings.TrimSpace(parts[len(parts)-1])
		if len(parts) == 2 {
			tx.Flags = strings.Join(strings.Fields(parts[0]), "")
		}
		if frame, ok := strings.CutPrefix(spec, "$"); ok {
			frame, args, hasArgs := strings.Cut(frame, "-")
			if n, err := strconv.Atoi(frame); err == nil {
				tx.Frame = n
			}
			if n, err := strconv.Atoi(args); err == nil && hasArgs {
				tx.Args = n
			}
		}
		out = append(out, tx)
	}
	return out
}

// declareStubs type-checks the package holding the stubs' Go file and
// records every function that file declares, and how to resolve an entry's
// signature in the package.
func (pkg *Package) declareStubs(s *StubFiles) {
	if pkg.StubsAsm == "" {
		return
	}
	dir, err := filepath.Abs(filepath.Dir(pkg.StubsAsm))
	if err != nil {
		s.Err = err
		return
	}
	pkgs, err := packages.Load(&packages.Config{
		Mode: packages.NeedName | packages.NeedTypes | packages.NeedSyntax | packages.NeedTypesInfo | packages.NeedTypesSizes,
		Dir:  dir,
		Env:  append(os.Environ(), "GOOS=linux", "GOARCH=amd64"),
	}, ".")
	if err == nil && (len(pkgs) != 1 || pkgs[0].Types == nil) {
		err = fmt.Errorf("%d packages, want one", len(pkgs))
		if len(pkgs) == 1 && len(pkgs[0].Errors) > 0 {
			err = pkgs[0].Errors[0]
		}
	}
	if err != nil {
		s.Err = fmt.Errorf("loading the package in %s to read %s: %w", dir, s.GoFile, err)
		return
	}
	p := pkgs[0]
	var stubFile *ast.File
	for _, f := range p.Syntax {
		if filepath.Base(p.Fset.File(f.FileStart).Name()) == s.GoFile {
			stubFile = f
		}
	}
	if stubFile == nil {
		s.Err = fmt.Errorf("the package in %s has no Go file %s declaring the stubs", dir, s.GoFile)
		return
	}
	s.Signature = func(expr string) (*types.Signature, error) {
		// Read as if written in the stubs' file, whose imports name every
		// package a stub's signature refers to.
		tv, err := types.Eval(p.Fset, p.Types, stubFile.Name.Pos(), expr)
		if err != nil {
			return nil, err
		}
		if sig, ok := tv.Type.(*types.Signature); ok && tv.IsType() {
			return sig, nil
		}
		return nil, fmt.Errorf("not a func type")
	}
	// Type errors inside the stubs' file, by line.
	errLines := map[int]string{}
	for _, e := range p.Errors {
		if file, line, ok := errPos(e.Pos); ok && file == s.GoFile {
			if _, dup := errLines[line]; !dup {
				errLines[line] = e.Msg
			}
		}
	}
	for _, d := range stubFile.Decls {
		fd, ok := d.(*ast.FuncDecl)
		if !ok || fd.Recv != nil {
			continue
		}
		pos := p.Fset.Position(fd.Name.Pos())
		decl := StubDecl{Name: fd.Name.Name, Pos: fmt.Sprintf("%s:%d:%d", s.GoFile, pos.Line, pos.Column), HasBody: fd.Body != nil}
		start, end := p.Fset.Position(fd.Pos()).Line, p.Fset.Position(fd.End()).Line
		for l := start; l <= end && decl.Err == nil; l++ {
			if msg, ok := errLines[l]; ok {
				decl.Err = fmt.Errorf("does not type-check: %s", msg)
			}
		}
		if fn, ok := p.TypesInfo.Defs[fd.Name].(*types.Func); ok && decl.Err == nil {
			decl.Sig = fn.Type().(*types.Signature)
		}
		s.Decls = append(s.Decls, decl)
	}
}

// errPos splits a packages.Error position, "path/file.go:12:3".
func errPos(pos string) (file string, line int, ok bool) {
	parts := strings.Split(pos, ":")
	if len(parts) < 2 {
		return "", 0, false
	}
	n, err := strconv.Atoi(parts[1])
	if err != nil {
		return "", 0, false
	}
	return filepath.Base(parts[0]), n, true
}

// StubsFileOf names the file a finding of the stubs rule is about: the
// stub file its Source cites, else the layout table. It returns false for
// a finding of another rule.
func (pkg *Package) StubsFileOf(f Finding) (string, bool) {
	if f.Check != "stubs" {
		return "", false
	}
	file, _, _ := strings.Cut(f.Source, ":")
	for _, p := range []string{pkg.StubsAsm, strings.TrimSuffix(pkg.StubsAsm, ".s") + ".go"} {
		if file != "" && filepath.Base(p) == file {
			return p, true
		}
	}
	if file != "" {
		return filepath.Join(filepath.Dir(pkg.LayoutFile), file), true
	}
	return pkg.LayoutFile, true
}
