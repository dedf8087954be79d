package verify

import (
	"cmp"
	"errors"
	"fmt"
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
