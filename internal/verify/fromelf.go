package verify

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"os"
	"reflect"
	"slices"
	"strings"

	"github.com/vdsogen/vdsogen/internal/elfimage"
	"github.com/vdsogen/vdsogen/layout"
)

// Checks on ELF images, besides elfimage.Check's rules (reported as
// "elf-" + the rule's name) and the whole-image checks of elfimage
// (elf-hash, elf-versions, elf-pages, elf-symbols).
const (
	// CheckELFText: the image's .text is the verified assembled image.
	CheckELFText = "elf-text"
	// CheckELFMarkers: the marker descriptors are the layout table's, and
	// every relocated field they record refers to its data page.
	CheckELFMarkers = "elf-markers"
	// CheckELFNote: the note names the program and variant.
	CheckELFNote = "elf-note"
)

// ELF is one ELF vDSO image (elfimage.Write's format) read back for
// verification: what the file says of itself.
type ELF struct {
	Path string
	File []byte
	// Program and Variant are from the vdsogen note.
	Program, Variant string
	// Text is the address (and file offset) of .text; Code its bytes.
	Text uint64
	Code []byte
	// Pages is the data-page placement of the note.
	Pages []elfimage.Page
	// Markers are the .vdsogen_markers descriptors, nil if the image has
	// none.
	Markers *elfimage.Markers
	// Entries are from the __vdso_<name> symbols, in offset order.
	Entries []elfimage.Entry
}

// ReadELF reads the image at path. It fails only if the file cannot be
// read as an image at all (no ELF, no .text, no vdsogen note, unreadable
// descriptors); everything else is a finding of CheckELF.
func ReadELF(path string) (*ELF, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	e := &ELF{Path: path, File: b}
	if e.Text, e.Code, err = elfimage.TextSection(b); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	// Unsound page records are findings of CheckELF (elf-pages).
	e.Pages, e.Program, e.Variant, _ = elfimage.ReadNote(b)
	if e.Variant == "" || e.Program == "" {
		return nil, fmt.Errorf("%s: not an image vdsogen wrote: its vdsogen note names no program or variant", path)
	}
	switch e.Markers, err = elfimage.ReadMarkers(b); {
	case errors.Is(err, elfimage.ErrNoMarkers):
		e.Markers = nil
	case err != nil:
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if e.Entries, err = elfimage.EntriesOf(b, e.Text); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return e, nil
}

// resolve maps an address of the image loaded at 0 (so that data page p
// lies at p.Offset()) to the page holding it, as harness.Result.Resolve
// maps one to a Go global.
func (e *ELF) resolve(addr uint64) (string, int64, bool) {
	a := int64(addr)
	if a >= 1<<31 && a < 1<<32 {
		// x86asm's GoSyntax adds a RIP-relative disp32 zero-extended (the
		// verifier's own arithmetic sign-extends it), so a page below the
		// image shows up just below 4 GiB, where no byte of an image
		// loaded at 0 lies.
		a -= 1 << 32
	}
	for _, p := range e.Pages {
		span := int64(max(1, (p.Size+elfimage.PageSize-1)/elfimage.PageSize)) * elfimage.PageSize
		if a >= p.Offset() && a < p.Offset()+span {
			return p.Symbol, a - p.Offset(), true
		}
	}
	return "", 0, false
}

// variant is the layout-table variant the image describes: its entries
// from the dynamic symbols, its sites, regions and pool from the marker
// descriptors (none without them), its keys from its sites.
func (e *ELF) variant() layout.Variant {
	v := layout.Variant{Name: e.Variant, Symbol: e.Program + "_" + e.Variant, Size: len(e.Code), Pool: len(e.Code), Keys: map[string]bool{}}
	for _, en := range e.Entries {
		v.Entries = append(v.Entries, layout.Entry{Name: en.Name, Offset: en.Offset, Size: en.Size})
	}
	if e.Markers != nil {
		v.Sites, v.Regions, v.Pool = e.Markers.Sites, e.Markers.Regions, e.Markers.Pool
		for _, s := range v.Sites {
			v.Keys[s.Key] = s.On
		}
	}
	return v
}

// FromELF is the verifier's Input for images of one program with one
// data-page placement, built from the files alone (no Go table, no
// toolchain): each image is a variant (variant), linked at its .text
// address, and Resolve maps the data-page addresses to the pages of the
// note. Verify then runs every rule on them: the entries decode, sites
// hold what their descriptors say, the stack, the regions, every
// reference lands in a data page.
func FromELF(images []*ELF) (*Input, error) {
	if len(images) == 0 {
		return nil, errors.New("no images")
	}
	first := images[0]
	t := &layout.Table{Program: first.Program}
	for _, p := range first.Pages {
		t.Pages = append(t.Pages, layout.Page{Symbol: p.Symbol, Size: p.Size})
	}
	in := &Input{Table: t, Images: map[string]Image{}, Resolve: first.resolve}
	for _, e := range images {
		if e.Program != first.Program {
			return nil, fmt.Errorf("%s is of program %s, %s of program %s: verify one program's images together", e.Path, e.Program, first.Path, first.Program)
		}
		if !slices.Equal(e.Pages, first.Pages) {
			return nil, fmt.Errorf("%s places its data pages as %v, %s as %v", e.Path, e.Pages, first.Path, first.Pages)
		}
		if _, dup := in.Images[e.Variant]; dup {
			return nil, fmt.Errorf("%s: a second image of variant %s", e.Path, e.Variant)
		}
		t.Variants = append(t.Variants, e.variant())
		in.Images[e.Variant] = Image{Addr: e.Text, Bytes: e.Code}
	}
	return in, nil
}

// ImageFinding is a finding about the image file at Path.
type ImageFinding struct {
	Path string `json:"file"`
	Finding
}

// ImageGroup is images verified together (one program, one data-page
// placement) and what Verify found.
type ImageGroup struct {
	Images []*ELF
	Input  *Input
	Report *Report
}

// VerifyImages verifies ELF images from the files alone: each image's own
// checks (CheckELF), then every image rule (Verify) on the images of one
// program together (FromELF), so that their variants are compared as a
// package's are. Images of one program that place their data pages
// differently are verified apart, and that is a finding (elf-pages); two
// images of one variant of one program are an error.
func VerifyImages(images []*ELF) ([]ImageFinding, []*ImageGroup, error) {
	var out []ImageFinding
	var groups []*ImageGroup
	variants := map[string]string{} // program/variant -> path
	for _, e := range images {
		key := e.Program + "/" + e.Variant
		if p, dup := variants[key]; dup {
			return nil, nil, fmt.Errorf("%s and %s are both variant %s of program %s", p, e.Path, e.Variant, e.Program)
		}
		variants[key] = e.Path
		for _, f := range CheckELF(e) {
			out = append(out, ImageFinding{e.Path, f})
		}
		var g *ImageGroup
		for _, h := range groups {
			if h.Images[0].Program == e.Program && slices.Equal(h.Images[0].Pages, e.Pages) {
				g = h
				break
			}
			if h.Images[0].Program == e.Program {
				out = append(out, ImageFinding{e.Path, Finding{Check: elfimage.CheckPages, Variants: []string{e.Variant},
					Msg: fmt.Sprintf("the note places the data pages as %v, %s (variant %s) as %v", e.Pages, h.Images[0].Path, h.Images[0].Variant, h.Images[0].Pages)}})
			}
		}
		if g == nil {
			g = &ImageGroup{}
			groups = append(groups, g)
		}
		g.Images = append(g.Images, e)
	}
	for _, g := range groups {
		in, err := FromELF(g.Images)
		if err != nil {
			return nil, nil, err
		}
		g.Input, g.Report = in, Verify(in)
		for _, f := range g.Report.Findings {
			path := g.Images[0].Path
			for _, e := range g.Images {
				if len(f.Variants) > 0 && f.Variants[0] == e.Variant {
					path = e.Path
				}
			}
			out = append(out, ImageFinding{path, f})
		}
		if g.Report.OK() {
			out = append(out, unwindFindings(g)...)
		}
	}
	return out, groups, nil
}

// CheckELF runs the checks on one image that need nothing but the file:
// elfimage.Check's rules, the symbols (every entry's __vdso_ symbol and
// its weak alias agree), both hash tables with lookups, the versions, the
// data pages of the note, and that every relocated field the descriptors
// record refers to its data page byte.
func CheckELF(e *ELF) []Finding {
	var fs []Finding
	hash, versions := elfimage.HashProblems(e.File), elfimage.VersionProblems(e.File)
	if err := elfimage.Check(e.File); err != nil {
		var ce *elfimage.CheckError
		if !errors.As(err, &ce) {
			return []Finding{{Check: "elf-header", Variants: []string{e.Variant}, Msg: err.Error()}}
		}
		for _, v := range ce.Violations {
			// The whole-table checks say the same with positions.
			if (v.Rule == "hash-tables" && len(hash) > 0) || (v.Rule == "versions" && len(versions) > 0) {
				continue
			}
			fs = append(fs, Finding{Check: "elf-" + v.Rule, Variants: []string{e.Variant}, Msg: v.Detail})
		}
	}
	fs = append(fs, e.problems(elfimage.SymbolProblems(e.File, e.Entries))...)
	fs = append(fs, e.problems(hash)...)
	fs = append(fs, e.problems(versions)...)
	fs = append(fs, e.problems(elfimage.PageProblems(e.File))...)
	if e.Markers != nil {
		v := e.variant()
		im := decodeImage(&v, Image{Addr: e.Text, Bytes: e.Code}, e.resolve)
		fs = append(fs, relocFindings(im, e.Markers.Sites)...)
	}
	return fs
}

// problems turns elfimage problems into findings of variant e.Variant.
func (e *ELF) problems(ps []elfimage.Problem) []Finding {
	var fs []Finding
	for _, p := range ps {
		entry, _ := strings.CutPrefix(p.Symbol, "__vdso_")
		if p.Check == elfimage.CheckHash && !slices.ContainsFunc(e.Entries, func(en elfimage.Entry) bool { return en.Name == entry }) {
			entry = "" // a probe, not an entry
		}
		fs = append(fs, Finding{Check: p.Check, Variants: []string{e.Variant}, Entry: entry, Offset: int(p.Offset), Msg: "file offset: " + p.Msg})
	}
	return fs
}

// relocFindings checks every relocated field of sites: the instruction
// covering it refers RIP-relative through exactly that field to the data
// page byte the descriptor records.
func relocFindings(im *image, sites []layout.Site) []Finding {
	var fs []Finding
	for _, s := range sites {
		for _, r := range s.Relocs {
			at := s.Offset + r.Offset
			in := im.covering(at)
			want := fmt.Sprintf("%s%+#x", r.Symbol, r.Addend)
			got, rip := "", false
			if in != nil {
				got, rip = im.ref(in)
			}
			if in == nil || !rip || in.PCRel != 4 || in.off+in.PCRelOff != at || got != want {
				f := Finding{Check: CheckELFMarkers, Variants: []string{im.v.Name}, Entry: s.Entry, Offset: at, Source: s.Source,
					Msg: fmt.Sprintf("%s %s site: the descriptor records a reference to %s through the field at %#x, the code refers to %s", s.Kind, s.Key, want, at, cmp.Or(got, "nothing"))}
				if in != nil {
					f.Inst = []string{im.render(at)}
				}
				fs = append(fs, f)
			}
		}
	}
	return fs
}

// CompareELF checks an image against the package it was generated from:
// variant v of the layout table, assembled and linked in in (the input
// Verify checked). Its note names the program and variant; its data
// pages are the table's, in order; its symbols are the table's entries
// (SymbolProblems); its marker descriptors are v's sites, regions and
// pool; and its .text equals the assembled image byte for byte, except
// that a RIP-relative data-page field counts by the page byte it refers
// to (the image's pages lie below it, the build's are Go globals) and an
// alternative or static-call site may hold any of its choices (a loader
// applies one at load time), whose pool copies must then be equal.
func CompareELF(in *Input, v *layout.Variant, e *ELF) []Finding {
	var fs []Finding
	bad := func(check string, off int, format string, args ...any) {
		fs = append(fs, Finding{Check: check, Variants: []string{v.Name}, Offset: off, Msg: fmt.Sprintf(format, args...)})
	}
	if e.Program != in.Table.Program || e.Variant != v.Name {
		bad(CheckELFNote, 0, "the note says program %s, variant %s; the table is program %s, variant %s", e.Program, e.Variant, in.Table.Program, v.Name)
	}
	var pages []string
	for _, p := range e.Pages {
		pages = append(pages, fmt.Sprintf("%s (%d bytes)", p.Symbol, p.Size))
	}
	var want []string
	for _, p := range in.Table.Pages {
		want = append(want, fmt.Sprintf("%s (%d bytes)", p.Symbol, p.Size))
	}
	if !slices.Equal(pages, want) {
		bad(elfimage.CheckPages, 0, "the note places data pages %v, the table declares %v", pages, want)
	}
	var entries []elfimage.Entry
	for _, en := range v.Entries {
		entries = append(entries, elfimage.Entry{Name: en.Name, Offset: en.Offset, Size: en.Size})
	}
	for _, p := range elfimage.SymbolProblems(e.File, entries) {
		entry, _ := strings.CutPrefix(p.Symbol, "__vdso_")
		fs = append(fs, Finding{Check: p.Check, Variants: []string{v.Name}, Entry: entry, Offset: int(p.Offset), Msg: "file offset: " + p.Msg})
	}
	fs = append(fs, compareMarkers(v, e)...)
	fs = append(fs, compareText(in, v, e)...)
	return fs
}

// compareMarkers reports every descriptor that is not the table's.
func compareMarkers(v *layout.Variant, e *ELF) []Finding {
	var fs []Finding
	bad := func(entry string, off int, source, format string, args ...any) {
		fs = append(fs, Finding{Check: CheckELFMarkers, Variants: []string{v.Name}, Entry: entry, Offset: off, Source: source, Msg: fmt.Sprintf(format, args...)})
	}
	if e.Markers == nil {
		if len(v.Sites) > 0 || len(v.Regions) > 0 {
			bad("", 0, "", "the image has no %s section; the table declares %d sites and %d regions", elfimage.MarkersSection, len(v.Sites), len(v.Regions))
		}
		return fs
	}
	m := e.Markers
	if pool := cmp.Or(v.Pool, v.Size); m.Pool != pool {
		bad("", m.Pool, "", "the descriptors put the replacement pool at %#x, the table at %#x", m.Pool, pool)
	}
	if len(m.Sites) != len(v.Sites) {
		bad("", 0, "", "the descriptors have %d sites, the table %d", len(m.Sites), len(v.Sites))
	}
	for i := range min(len(m.Sites), len(v.Sites)) {
		got, want := m.Sites[i], v.Sites[i]
		if d := fieldDiff(got, want); d != "" {
			bad(want.Entry, want.Offset, want.Source, "the descriptor of site %d (%s %s) differs from the table: %s", i, want.Kind, want.Key, d)
		}
	}
	if len(m.Regions) != len(v.Regions) {
		bad("", 0, "", "the descriptors have %d regions, the table %d", len(m.Regions), len(v.Regions))
	}
	for i := range min(len(m.Regions), len(v.Regions)) {
		got, want := m.Regions[i], v.Regions[i]
		if d := fieldDiff(got, want); d != "" {
			bad(want.Entry, want.Start, want.Source, "the descriptor of region %d (%s) differs from the table: %s", i, want.Name, d)
		}
	}
	return fs
}

// fieldDiff names the first field of two structs of one type that
// differs, with both values, or returns "".
func fieldDiff(got, want any) string {
	g, w := reflect.ValueOf(got), reflect.ValueOf(want)
	for i := range g.NumField() {
		if !reflect.DeepEqual(g.Field(i).Interface(), w.Field(i).Interface()) {
			return fmt.Sprintf("%s is %v in the image, %v in the table", g.Type().Field(i).Name, g.Field(i).Interface(), w.Field(i).Interface())
		}
	}
	return ""
}

// compareText compares the image's .text with the assembled variant.
func compareText(in *Input, v *layout.Variant, e *ELF) []Finding {
	var fs []Finding
	asm := decodeImage(v, in.Images[v.Name], in.Resolve)
	so := decodeImage(v, Image{Addr: e.Text, Bytes: e.Code}, e.resolve)
	report := func(off int, format string, args ...any) {
		fs = append(fs, Finding{Check: CheckELFText, Variants: []string{v.Name}, Entry: so.entryName(off), Offset: off, Source: v.SourceAt(off),
			Inst: []string{so.render(off)}, Msg: fmt.Sprintf(format, args...) + fmt.Sprintf(" (assembled: %s)", cmp.Or(asm.render(off), "-"))})
	}
	if len(so.b) != len(asm.b) {
		report(min(len(so.b), len(asm.b)), "the image's .text is %d bytes, the assembled variant %d", len(so.b), len(asm.b))
	}
	// Sites a loader may rewrite: any of their choices.
	choice := map[int]layout.Site{}
	for _, s := range v.Sites {
		if len(s.Choices) > 0 {
			choice[s.Offset] = s
		}
	}
	n := min(len(so.b), len(asm.b))
	for i := 0; i < n; i++ {
		if s, ok := choice[i]; ok {
			end := min(s.Offset+len(s.Bytes), n)
			held := so.b[s.Offset:end]
			if !slices.ContainsFunc(s.Choices, func(c layout.Choice) bool { return bytes.Equal(c.Bytes, held) }) {
				report(i, "%s %s site holds % x, none of its choices %s", s.Kind, s.Key, held, strings.Join(s.ChoiceNames(), ", "))
			}
			i = end - 1
			continue
		}
		at, last, same := compareAt(so, asm, i)
		if !same {
			report(at, "the image's .text differs from the verified assembled variant: byte %#x is %#02x, assembled %#02x", i, so.b[i], asm.b[i])
		}
		i = last
	}
	return fs
}

// CheckELFUnwind is the check that an image's unwind tables (.eh_frame)
// agree with the stack model the verifier proves on its code.
const CheckELFUnwind = "elf-unwind"

// unwindFindings proves the unwind tables of every image of g equal to the
// stack depths the stack rule proved on its code (StackModels: where a
// variant does not reach code that another reaches, that one's depth), at
// every instruction: what the generator checked before writing, checked
// again on the file. An image without tables has nothing to prove here
// (elfimage.Check's eh-frame rule says whether it must have them).
func unwindFindings(g *ImageGroup) []ImageFinding {
	models, err := StackModels(g.Input)
	if err != nil {
		return nil // the stack rule reported it
	}
	var out []ImageFinding
	for _, e := range g.Images {
		if _, err := elfimage.ReadUnwind(e.File); err != nil {
			continue // no tables, or unreadable ones: elfimage.Check's eh-frame rule
		}
		ps, err := elfimage.UnwindProblems(e.File, models[e.Variant])
		if err != nil {
			continue
		}
		v := e.variant()
		im := decodeImage(&v, Image{Addr: e.Text, Bytes: e.Code}, e.resolve)
		for _, p := range ps {
			off := int(p.Offset)
			out = append(out, ImageFinding{e.Path, Finding{Check: CheckELFUnwind, Variants: []string{e.Variant},
				Entry: im.entryName(off), Source: v.SourceAt(off), Offset: off, Msg: p.Msg}})
		}
	}
	return out
}
