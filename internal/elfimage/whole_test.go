package elfimage

import (
	"bytes"
	"debug/elf"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/vdsogen/vdsogen/layout"
)

// allProblems runs every whole-image check, with the entries the image
// exports.
func allProblems(t *testing.T, b []byte) []Problem {
	t.Helper()
	text, _, err := TextSection(b)
	if err != nil {
		t.Fatal(err)
	}
	entries, err := EntriesOf(b, text)
	if err != nil {
		t.Fatal(err)
	}
	var ps []Problem
	ps = append(ps, SymbolProblems(b, entries)...)
	ps = append(ps, HashProblems(b)...)
	ps = append(ps, VersionProblems(b)...)
	return append(ps, PageProblems(b)...)
}

// TestWholeClean: images Write produces pass every whole-image check, and
// their entries read back from the symbols.
func TestWholeClean(t *testing.T) {
	for name, img := range map[string]Image{"test": testImage(), "markers": markerImage()} {
		b := mustWrite(t, img)
		if ps := allProblems(t, b); len(ps) > 0 {
			t.Errorf("%s: %v", name, ps)
		}
		text, _, _ := TextSection(b)
		got, _ := EntriesOf(b, text)
		want := slices.Clone(img.Entries)
		slices.SortStableFunc(want, func(a, b Entry) int { return a.Offset - b.Offset })
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: entries %v, want %v", name, got, want)
		}
	}
}

// TestWholeRejects: each corruption of the test image is reported by the
// named check at the file offset of the record at fault.
func TestWholeRejects(t *testing.T) {
	good := mustWrite(t, testImage())
	f, err := elf.NewFile(bytes.NewReader(good))
	if err != nil {
		t.Fatal(err)
	}
	sec := func(name string) int { return int(f.Section(name).Offset) }
	// symRec is the file offset of the record of the dynamic symbol named
	// name.
	symRec := func(b []byte, name string) int {
		for i := 1; i < int(f.Section(".dynsym").Size)/symSize; i++ {
			p := b[sec(".dynsym")+i*symSize:]
			s := b[sec(".dynstr")+int(le.Uint32(p)):]
			if string(s[:bytes.IndexByte(s, 0)]) == name {
				return sec(".dynsym") + i*symSize
			}
		}
		t.Fatalf("no symbol %s", name)
		return 0
	}
	note := sec(".note.vdsogen") + 12 + 8
	for _, c := range []struct {
		name, check, msg string
		mut              func(b []byte) int // returns the offset the finding must have
	}{
		{"strong symbol moved", CheckSymbols, "differs from its strong symbol __vdso_time", func(b []byte) int {
			// The image's entries are its strong symbols: the weak alias
			// no longer agrees.
			r := symRec(b, "__vdso_time")
			le.PutUint64(b[r+8:], le.Uint64(b[r+8:])+1)
			return symRec(b, "time")
		}},
		{"weak alias retargeted", CheckSymbols, "differs from its strong symbol", func(b []byte) int {
			r := symRec(b, "gettimeofday")
			le.PutUint64(b[r+8:], le.Uint64(b[r+8:])+32)
			return r
		}},
		{"weak alias made global", CheckSymbols, "want FUNC STB_WEAK DEFAULT", func(b []byte) int {
			r := symRec(b, "clock_getres")
			b[r+4] = byte(elf.ST_INFO(elf.STB_GLOBAL, elf.STT_FUNC))
			return r
		}},
		{"symbol outside .text", CheckSymbols, "not .text", func(b []byte) int {
			r := symRec(b, "__vdso_clock_gettime")
			le.PutUint16(b[r+6:], secDynsym)
			return r
		}},
		{"bloom zeroed", CheckHash, "bloom word 0", func(b []byte) int {
			clear(b[sec(".gnu.hash")+16 : sec(".gnu.hash")+24])
			return sec(".gnu.hash") + 16
		}},
		{"bloom size not a power of two", CheckHash, "want a power of two", func(b []byte) int {
			le.PutUint32(b[sec(".gnu.hash")+8:], 3)
			return sec(".gnu.hash") + 8
		}},
		{"symoffset past a symbol", CheckHash, "below symoffset", func(b []byte) int {
			le.PutUint32(b[sec(".gnu.hash")+4:], 2)
			return sec(".dynsym") + symSize
		}},
		{"SysV chain loops", CheckHash, "links to symbol", func(b []byte) int {
			h := sec(".hash")
			nb := int(le.Uint32(b[h:]))
			for k := range nb {
				if first := int(le.Uint32(b[h+8+4*k:])); first != 0 {
					le.PutUint32(b[h+8+4*nb+4*first:], uint32(first)) // the first symbol links to itself
					return h + 8 + 4*nb + 4*first
				}
			}
			t.Fatal("every bucket is empty")
			return 0
		}},
		{"versym hidden", CheckVersions, "not hidden", func(b []byte) int {
			at := sec(".gnu.version") + 2*3
			le.PutUint16(b[at:], 0x8002)
			return at
		}},
		{"no LINUX_2.6 definition", CheckVersions, "no version definition named LINUX_2.6", func(b []byte) int {
			vd := sec(".gnu.version_d") + verdefSize + verdaxSize
			b[vd+2] = 1 // VER_FLG_BASE: a second base, no LINUX_2.6
			return sec(".gnu.version_d")
		}},
		{"DT_VERDEFNUM wrong", CheckVersions, "DT_VERDEFNUM says 3", func(b []byte) int {
			d := sec(".dynamic")
			for i := 0; ; i += 16 {
				if elf.DynTag(le.Uint64(b[d+i:])) == elf.DT_VERDEFNUM {
					le.PutUint64(b[d+i+8:], 3)
					return sec(".gnu.version_d")
				}
			}
		}},
		{"page not aligned", CheckPages, "not a multiple", func(b []byte) int {
			le.PutUint64(b[note:], le.Uint64(b[note:])+8)
			return note
		}},
		{"pages overlap", CheckPages, "overlaps data page vdsoData", func(b []byte) int {
			copy(b[note+pageRecLen:note+pageRecLen+8], b[note:note+8])
			return note + pageRecLen
		}},
		{"page name twice", CheckPages, "placed twice", func(b []byte) int {
			copy(b[note+pageRecLen+16:note+2*pageRecLen], b[note+16:note+pageRecLen])
			return note + pageRecLen
		}},
		{"page runs into the image", CheckPages, "runs into the image", func(b []byte) int {
			le.PutUint64(b[note+pageRecLen+8:], PageSize+1)
			return note + pageRecLen
		}},
	} {
		b := bytes.Clone(good)
		want := c.mut(b)
		ps := allProblems(t, b)
		if !slices.ContainsFunc(ps, func(p Problem) bool {
			return p.Check == c.check && p.Offset == int64(want) && strings.Contains(p.Msg, c.msg)
		}) {
			t.Errorf("%s: no %s problem at %#x saying %q; problems: %v", c.name, c.check, want, c.msg, ps)
		}
	}
}

// TestMarkersVersions: a version 1 section (no relocation records) still
// reads; version 2 records every site's relocated fields and gives them
// back.
func TestMarkersVersions(t *testing.T) {
	img := markerImage()
	v2, err := encodeMarkers(img.Markers, len(img.Code))
	if err != nil {
		t.Fatal(err)
	}
	// The same descriptors in version 1: the 32-byte header, no counts of
	// relocation records.
	v1 := append(bytes.Clone(v2[:mkHeaderSizeV1]), v2[mkHeaderSize:]...)
	le.PutUint16(v1[4:], 1)
	m1, err := ParseMarkers(v1, len(img.Code))
	if err != nil {
		t.Fatalf("version 1: %v", err)
	}
	if !reflect.DeepEqual(m1, img.Markers) {
		t.Errorf("version 1 reads as %+v, want %+v", m1, img.Markers)
	}
	// A site with a relocated field.
	ti := testImage()
	e := ti.Entries[1]
	site := bytes.Clone(ti.Code[e.Offset : e.Offset+7]) // LEAQ page(RIP), AX
	clear(site[3:7])
	ti.Markers = &Markers{Pool: len(ti.Code), Sites: []layout.Site{{Kind: layout.ThreeLabel, Key: "k", Entry: e.Name, Offset: e.Offset, Bytes: site, Target: e.Offset + 7,
		Relocs: []layout.Reloc{{Offset: 3, Symbol: "vdsoTimens", Addend: 8}}}}}
	m, err := ReadMarkers(mustWrite(t, ti))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(m.Sites[0].Relocs, ti.Markers.Sites[0].Relocs) {
		t.Errorf("relocs %+v, want %+v", m.Sites[0].Relocs, ti.Markers.Sites[0].Relocs)
	}
	// Descriptors whose relocated field is not zero in the recorded bytes,
	// or lies outside the site, are refused.
	for name, r := range map[string]layout.Reloc{"outside": {Offset: 5, Symbol: "vdsoTimens"}, "not zero": {Offset: 0, Symbol: "vdsoTimens"}} {
		bad := cloneMarkers(ti.Markers)
		bad.Sites[0].Relocs = []layout.Reloc{r}
		ti.Markers = bad
		if _, err := Write(ti); err == nil || !strings.Contains(err.Error(), "relocated field") {
			t.Errorf("%s: Write gave %v", name, err)
		}
	}
}
