package verify

import (
	"bytes"
	"cmp"
	"fmt"
	"reflect"
	"slices"
	"strings"

	"github.com/vdsogen/vdsogen/internal/elfimage"
	"github.com/vdsogen/vdsogen/layout"
)

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
