package gen

import (
	"context"
	"errors"
	"fmt"
	"go/types"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"

	"golang.org/x/tools/go/packages"

	"github.com/vdsogen/vdsogen/dsl"
	"github.com/vdsogen/vdsogen/internal/gotable"
	"github.com/vdsogen/vdsogen/internal/harness"
	"github.com/vdsogen/vdsogen/internal/verify"
	"github.com/vdsogen/vdsogen/layout"
	"github.com/vdsogen/vdsogen/marker"
	"github.com/vdsogen/vdsogen/variants"
)

// Config is what one generator run needs.
type Config struct {
	// Name prefixes every output file (z<Name>_...) and image symbol.
	Name string
	// Dir is the target package's directory, where outputs are written.
	Dir string
	// Pkg is the package name; empty means the name of the package in Dir.
	Pkg string
	// Variants is the variant set; nil means the built-in host and timens.
	Variants *variants.Set
	// StubsFile names the Go stubs file; empty means z<Name>_stubs_amd64.go.
	StubsFile string
	// ELF also writes each shared variant as an ELF vDSO image,
	// z<Name>_<variant>.so (see gen/elf.go).
	ELF bool
}

// Output is everything one run generates.
type Output struct {
	// Files maps a file name (relative to Dir) to its contents.
	Files  map[string][]byte
	Layout *layout.Table
	// Assemblies counts the toolchain builds the padding fixed point took.
	Assemblies int
	// Verify is the verifier's report on the final build: stack depths and
	// which pairs of variants can be switched live.
	Verify *verify.Report
}

// maxAssemblies bounds the padding fixed point. Padding only changes the
// encoding of jumps across entries, so it settles in two or three rounds.
const maxAssemblies = 8

var namePattern = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)

// Generate runs the pipeline and returns the outputs without writing them:
//
//	check keys -> load package -> (expand -> print -> assemble -> measure -> pad)* -> table -> verify -> stubs -> verify stubs
func Generate(ctx context.Context, prog *dsl.Program, cfg Config) (*Output, error) {
	if !namePattern.MatchString(cfg.Name) {
		return nil, fmt.Errorf("program name %q must match %s (it becomes part of file and symbol names)", cfg.Name, namePattern)
	}
	set := cfg.Variants
	if set == nil {
		set = variants.Builtin()
	}
	if err := checkKeys(prog, set); err != nil {
		return nil, err
	}
	if err := checkSymbols(prog, set, cfg.Name); err != nil {
		return nil, err
	}
	pkg, err := loadPackage(ctx, cfg.Dir, cfg.Pkg)
	if err != nil {
		return nil, err
	}
	if err := checkPages(prog, pkg); err != nil {
		return nil, err
	}
	ms, res, printedFiles, n, err := layoutImages(ctx, prog, set, cfg.Name)
	if err != nil {
		return nil, err
	}
	table, err := buildTable(prog, set, cfg.Name, ms)
	if err != nil {
		return nil, err
	}
	asm := map[string]verify.AsmFile{}
	for _, v := range table.Variants {
		if p, ok := printedFiles[layout.Files(cfg.Name).Asm(v.Name)]; ok {
			asm[v.Name] = verify.AsmFile{Path: layout.Files(cfg.Name).Asm(v.Name), Text: p.text}
		}
	}
	report, err := verifyBytes(table, res, ms, asm)
	if err != nil {
		return nil, err
	}
	files := map[string][]byte{}
	for name, p := range printedFiles {
		files[name] = p.text
	}
	stubs, err := makeStubs(prog, set, cfg.Name, pkg.types, table)
	if err != nil {
		return nil, err
	}
	stubsGo := cfg.StubsFile
	if stubsGo == "" {
		stubsGo = layout.Files(cfg.Name).Stubs()
	}
	var images []string
	for _, v := range table.Variants {
		images = append(images, v.Symbol)
	}
	stubsAsm := layout.StubsAsm(stubsGo)
	if files[stubsAsm], err = printStubs(pkg.types, stubs, images); err != nil {
		return nil, err
	}
	if files[stubsGo], err = stubDecls(pkg.name, pkg.types, stubs, images); err != nil {
		return nil, err
	}
	if err := verifyStubs(ctx, prog, table, files, stubsAsm, stubsGo, pkg.types); err != nil {
		return nil, err
	}
	names := layout.Files(cfg.Name)
	if files[names.Table()], err = gotable.Render(pkg.name, names.TableVar(), table); err != nil {
		return nil, err
	}
	if files[names.TableJSON()], err = table.EncodeJSON(); err != nil {
		return nil, err
	}
	if cfg.ELF {
		in, err := verify.FromHarness(table, res)
		if err != nil {
			return nil, err
		}
		models, err := verify.StackModels(in)
		if err != nil {
			return nil, err
		}
		if err := elfImages(files, prog, cfg.Name, ms, table, models); err != nil {
			return nil, err
		}
	}
	return &Output{Files: files, Layout: table, Assemblies: n, Verify: report}, nil
}

func imageSymbol(name, variant string) string { return name + "_" + variant }
func asmFile(name, variant string) string     { return layout.Files(name).Asm(variant) }

// checkKeys: every switch key (StaticBranch, ThreeLabel) is defined by the
// variant set as a boolean; a choice key (Alternative, StaticCall) is
// either left out (every variant takes the first choice) or names one of
// the marker's choices in every variant; and every key the set defines is
// used by some marker.
func checkKeys(prog *dsl.Program, set *variants.Set) error {
	defined := map[string]bool{}
	for _, k := range set.Keys {
		defined[k] = true
	}
	where := "the built-in variants (host, timens) define"
	if set.File != "" {
		where = set.File + " defines"
	}
	var errs dsl.ErrorList
	var fileErrs []error
	used := map[string]bool{}
	reported := map[string]bool{} // a helper may place one marker in many entries
	kindOf := map[string]*dsl.MarkerNode{}
	for _, mk := range prog.Markers {
		key := mk.Key
		used[key] = true
		at := mk.Pos.String() + " " + key
		if reported[at] {
			continue
		}
		reported[at] = true
		isChoice := marker.TraitsOf(mk.Kind).Choices
		if first, ok := kindOf[key]; ok {
			if marker.TraitsOf(first.Kind).Choices != isChoice {
				errs = append(errs, &dsl.Error{Pos: mk.Pos, Msg: fmt.Sprintf("key %q is used by a %s here and by a %s at %s; a key either switches markers or picks choices: rename one",
					key, mk.Kind.Word(), first.Kind.Word(), first.Pos)})
				continue
			}
		} else {
			kindOf[key] = mk
		}
		if !isChoice {
			if !defined[key] {
				errs = append(errs, &dsl.Error{Pos: mk.Pos, Msg: fmt.Sprintf("unknown key %q: %s %v; add the key to every variant or fix the name",
					key, where, set.Keys)})
				continue
			}
			for _, v := range set.Variants {
				if c, ok := v.Choices[key]; ok {
					fileErrs = append(fileErrs, fmt.Errorf("%s: key %q is a switch of the %s at %s, so it must be true or false, not the choice %q",
						v.ValuePos[key], key, mk.Kind.Word(), mk.Pos, c))
					break
				}
			}
			continue
		}
		if !defined[key] {
			continue // every variant takes the first choice
		}
		names := mk.Decl().Names()
		for _, v := range set.Variants {
			c, ok := v.Choices[key]
			if !ok {
				fileErrs = append(fileErrs, fmt.Errorf("%s: key %q picks a choice of the %s at %s, so it must be a string naming one of %q, not a boolean",
					v.KeyPos[key], key, mk.Kind.Word(), mk.Pos, names))
				break
			}
			if !slices.Contains(names, c) {
				fileErrs = append(fileErrs, fmt.Errorf("%s: variant %q picks %q for key %q, which is not a choice of the %s at %s; choose one of %q",
					v.ValuePos[key], v.Name, c, key, mk.Kind.Word(), mk.Pos, names))
			}
		}
	}
	var unused error
	if set.File != "" { // the built-in set is not the user's to trim
		unused = set.CheckUsed(used)
	}
	var all []error
	if len(errs) > 0 {
		all = append(all, errs)
	}
	all = append(all, fileErrs...)
	all = append(all, unused)
	return errors.Join(all...) // every mistake of both files at once
}

// checkSymbols: the Go symbols the outputs define (images, their address
// functions, stubs) are all distinct, e.g. no entry named like the program.
func checkSymbols(prog *dsl.Program, set *variants.Set, name string) error {
	owner := map[string]string{}
	for _, v := range set.Variants {
		owner[imageSymbol(name, v.Name)] = "the image of variant " + v.Name
		owner[addrFunc(imageSymbol(name, v.Name))] = "the address function of variant " + v.Name
	}
	var errs dsl.ErrorList
	for _, e := range prog.Entries {
		for _, v := range set.Variants {
			s := stubName(e.Name, v.Name)
			if o, ok := owner[s]; ok {
				errs = append(errs, &dsl.Error{Pos: e.Pos, Msg: fmt.Sprintf("entry %q: its stub %s for variant %s has the same name as %s; rename the entry or the program (-name)", e.Name, s, v.Name, o)})
				continue
			}
			owner[s] = "the stub of entry " + e.Name
		}
	}
	if len(errs) > 0 {
		return errs
	}
	return nil
}

// target is the package the outputs belong to.
type target struct {
	name  string
	types *types.Package
}

// loadPackage resolves the package in dir; its types give the stubs'
// signatures and the data pages' sizes. Type errors are expected (the
// generated files may be missing or stale) and ignored. ctx cancels the
// go list it runs (an interrupt during a cold build cache).
func loadPackage(ctx context.Context, dir, name string) (*target, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	pkgs, err := packages.Load(&packages.Config{
		Context: ctx,
		// From source, not export data: export data omits unexported
		// variables such as the data pages.
		Mode: packages.NeedName | packages.NeedTypes | packages.NeedSyntax | packages.NeedTypesInfo | packages.NeedTypesSizes,
		Dir:  abs,
	}, ".")
	if err != nil {
		return nil, fmt.Errorf("loading the package in %s: %w", dir, err)
	}
	if len(pkgs) != 1 || pkgs[0].Types == nil || pkgs[0].Name == "" {
		return nil, fmt.Errorf("%s holds no Go package: the outputs must go into a package directory (check -out)", dir)
	}
	p := pkgs[0]
	if name != "" && name != p.Name {
		return nil, fmt.Errorf("-pkg %s, but the package in %s is %s", name, dir, p.Name)
	}
	return &target{name: p.Name, types: p.Types}, nil
}

// checkPages: each data page is a package-level variable at least as large
// as the program says.
func checkPages(prog *dsl.Program, pkg *target) error {
	var errs dsl.ErrorList
	for _, pg := range prog.Pages {
		obj := pkg.types.Scope().Lookup(pg.Symbol)
		v, ok := obj.(*types.Var)
		if !ok {
			errs = append(errs, &dsl.Error{Pos: pg.Pos, Msg: fmt.Sprintf("data page %q: package %s declares no variable %s; add `var %s [%d]byte` or a struct of that size",
				pg.Symbol, pkg.name, pg.Symbol, pg.Symbol, pg.Size)})
			continue
		}
		if n := sizes.Sizeof(v.Type()); n < int64(pg.Size) {
			errs = append(errs, &dsl.Error{Pos: pg.Pos, Msg: fmt.Sprintf("data page %q: variable %s is %d bytes, smaller than the %d the program addresses", pg.Symbol, pg.Symbol, n, pg.Size)})
		}
	}
	if len(errs) > 0 {
		return errs
	}
	return nil
}

// layoutImages runs expand -> print -> assemble -> measure -> pad until the
// padding no longer changes, and returns the final measurement.
func layoutImages(ctx context.Context, prog *dsl.Program, set *variants.Set, name string) (map[string]*measured, *harness.Result, map[string]*printed, int, error) {
	cur := map[string]*params{}
	for _, v := range set.Variants {
		cur[v.Name] = newParams(len(prog.Entries))
	}
	data := map[string]int{}
	for _, pg := range prog.Pages {
		data[pg.Symbol] = pg.Size
	}
	for round := 1; round <= maxAssemblies; round++ {
		in := harness.Input{AsmFiles: map[string][]byte{}, Data: data}
		items := map[string][]item{}
		prints := map[string]*printed{}
		for i := range set.Variants {
			v := &set.Variants[i]
			sym := imageSymbol(name, v.Name)
			var err error
			if items[v.Name], err = expand(prog, v, cur[v.Name]); err != nil {
				return nil, nil, nil, round, err
			}
			p, err := printAsm(sym, items[v.Name])
			if err != nil {
				return nil, nil, nil, round, fmt.Errorf("printing variant %s: %w", v.Name, err)
			}
			prints[asmFile(name, v.Name)] = p
			in.AsmFiles[asmFile(name, v.Name)] = p.text
			in.Images = append(in.Images, sym)
		}
		res, err := harness.Build(ctx, in)
		if err != nil {
			return nil, nil, nil, round, toolchainError(err, prints)
		}
		ms := map[string]*measured{}
		for _, v := range set.Variants {
			sym := imageSymbol(name, v.Name)
			m, err := measure(sym, items[v.Name], res.Images[sym], res)
			if err != nil {
				return nil, nil, nil, round, err
			}
			ms[v.Name] = m
		}
		next, err := plan(prog, set, ms, cur)
		if err != nil {
			return nil, nil, nil, round, err
		}
		settled := true
		for _, v := range set.Variants {
			settled = settled && next[v.Name].equal(cur[v.Name])
		}
		if settled {
			return ms, res, prints, round, nil
		}
		cur = next
	}
	return nil, nil, nil, maxAssemblies, fmt.Errorf("the layout did not settle after %d assemblies (padding keeps changing jump encodings); please report this program", maxAssemblies)
}

// toolchainError maps lines of generated files in the toolchain's output
// back to the generator program lines that produced them.
func toolchainError(err error, prints map[string]*printed) error {
	var be *harness.BuildError
	if !errors.As(err, &be) {
		return fmt.Errorf("assembling: %w", err)
	}
	if strings.Contains(be.Output, "unbalanced PUSH/POP") {
		if errs := pushPopErrors(prints); len(errs) > 0 {
			return errs
		}
	}
	lineRE := regexp.MustCompile(`(` + layout.AsmNameRE + `):(\d+)`)
	var out []string
	for _, l := range strings.Split(strings.TrimSpace(be.Output), "\n") {
		if m := lineRE.FindStringSubmatch(l); m != nil {
			if p, ok := prints[m[1]]; ok {
				var n int
				fmt.Sscan(m[2], &n)
				if pos, ok := p.lines[n]; ok {
					l = pos.String() + ": " + l
				}
			}
		}
		out = append(out, l)
	}
	return fmt.Errorf("the Go toolchain rejected the generated assembly:\n%s", strings.Join(out, "\n"))
}

// buildTable records the final layout of every variant.
func buildTable(prog *dsl.Program, set *variants.Set, name string, ms map[string]*measured) (*layout.Table, error) {
	t := &layout.Table{Program: name}
	for _, pg := range prog.Pages {
		t.Pages = append(t.Pages, layout.Page{Symbol: pg.Symbol, Size: pg.Size})
	}
	for _, v := range set.Variants {
		m := ms[v.Name]
		lv := layout.Variant{Name: v.Name, Symbol: imageSymbol(name, v.Name), Size: len(m.image), Standalone: v.Standalone, Keys: v.Keys}
		for _, p := range m.placed {
			if src := p.it.pos.Short(); len(lv.Source) == 0 || lv.Source[len(lv.Source)-1].Source != src {
				lv.Source = append(lv.Source, layout.Span{Offset: p.off, Source: src})
			}
		}
		for _, e := range prog.Entries {
			off := m.labels[entryLabel(e.Name)]
			lv.Entries = append(lv.Entries, layout.Entry{Name: e.Name, Offset: off, Size: m.labels[entryEndLabel(e.Name)] - off, Signature: e.Signature})
		}
		entryOf := map[int]string{}
		for _, e := range prog.Entries {
			for _, n := range markersOf(e.Body) {
				entryOf[n.ID] = e.Name
			}
		}
		for _, n := range prog.Markers {
			u, _ := marker.For(n.Kind)
			sp, ok := u.Locate(located{m, n.ID}, n.Decl(), resolve(&v, n))
			if !ok {
				continue
			}
			if sp.Start < 0 || sp.Start > sp.End || sp.End > len(m.image) {
				// A kind's Locate is Go code outside the generator: refuse
				// its mistake rather than index past the image.
				return nil, &dsl.Error{Pos: n.Pos, Msg: fmt.Sprintf("%s %q: its kind locates the site in variant %q at [%#x, %#x), outside the %d-byte image (a bug in the kind's Locate)",
					n.Kind.Word(), n.Key, v.Name, sp.Start, sp.End, len(m.image))}
			}
			site := layout.Site{Kind: n.Kind, Key: n.Key, Entry: entryOf[n.ID], On: v.Keys[n.Key],
				Offset: sp.Start, Bytes: append([]byte(nil), m.image[sp.Start:sp.End]...), Source: n.Pos.Short(),
				Target: sp.Target, Choice: sp.Choice, Choices: sp.Choices}
			for _, p := range m.placed {
				if p.off < sp.Start || p.off >= sp.End || p.ref == nil || p.dec.PCRel != 4 {
					continue
				}
				at := p.off + p.dec.PCRelOff - sp.Start
				clear(site.Bytes[at : at+4])
				site.Relocs = append(site.Relocs, layout.Reloc{Offset: at, Symbol: p.ref.sym, Addend: int(p.ref.off)})
			}
			lv.Sites = append(lv.Sites, site)
		}
		lv.Pool = len(m.image)
		if off, ok := m.labels[poolStartLabel]; ok {
			lv.Pool = off
		}
		for _, e := range prog.Entries {
			for _, n := range e.Body {
				if r, ok := n.(*dsl.RegionNode); ok {
					start := m.labels[regionStartLabel(r.ID)]
					lv.Regions = append(lv.Regions, layout.Region{Name: r.Name, Entry: e.Name, Start: start,
						PostCommit: m.labels[regionCommitLabel(r.ID)] - start, Abort: m.labels[regionAbortLabel(r.ID)], Source: r.Pos.Short()})
				}
			}
		}
		t.Variants = append(t.Variants, lv)
	}
	return t, nil
}

// makeStubs lists a stub for every entry of every variant, in a stable order.
func makeStubs(prog *dsl.Program, set *variants.Set, name string, pkg *types.Package, t *layout.Table) ([]stub, error) {
	var out []stub
	var errs dsl.ErrorList
	for _, e := range prog.Entries {
		sig, err := entrySignature(pkg, e)
		if err != nil {
			errs = append(errs, err.(*dsl.Error))
			continue
		}
		for _, v := range t.Variants {
			le, _ := v.Entry(e.Name)
			out = append(out, stub{name: stubName(e.Name, v.Name), entry: e, offset: le.Offset, image: v.Symbol, sig: sig})
		}
	}
	if len(errs) > 0 {
		return nil, errs
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out, nil
}
