package verify

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/arch/x86/x86asm"

	"github.com/vdsogen/vdsogen/internal/elfimage"
	"github.com/vdsogen/vdsogen/layout"
)

var le32, le64 = binary.LittleEndian.Uint32, binary.LittleEndian.Uint64

// referenceELF returns the reference vDSO's images, by variant.
func referenceELF(t *testing.T) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	for _, v := range []string{"host", "timens"} {
		b, err := os.ReadFile("../../vdso/zclock_" + v + ".so")
		if err != nil {
			t.Fatal(err)
		}
		out[v] = b
	}
	return out
}

// elfRun verifies images (by variant) as vdsogen verify does on a package
// and on the images alone: every image's own checks (CheckELF), its
// comparison with the assembled variant of in (CompareELF), and every
// image rule on the images together (Verify of FromELF).
func elfRun(t *testing.T, in *Input, files map[string][]byte) []Finding {
	all, _ := elfRuns(t, in, files)
	return all
}

// elfRuns is elfRun that also returns the findings of the images alone
// (VerifyImages, no package).
func elfRuns(t *testing.T, in *Input, files map[string][]byte) (all, alone []Finding) {
	t.Helper()
	dir := t.TempDir()
	var images []*ELF
	for _, v := range []string{"host", "timens"} {
		path := filepath.Join(dir, "zclock_"+v+".so")
		if err := os.WriteFile(path, files[v], 0o644); err != nil {
			t.Fatal(err)
		}
		e, err := ReadELF(path)
		if err != nil {
			t.Fatalf("ReadELF: %v", err)
		}
		images = append(images, e)
	}
	var fs []Finding
	for _, e := range images {
		v, ok := in.Table.Variant(e.Variant)
		if !ok {
			t.Fatalf("no variant %s", e.Variant)
		}
		fs = append(fs, CompareELF(in, v, e)...)
	}
	whole, _, err := VerifyImages(images)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range whole {
		alone = append(alone, f.Finding)
	}
	return append(fs, alone...), alone
}

// soImage is an image file being corrupted, with helpers that find its
// parts through the section headers and the layout table.
type soImage struct {
	t *testing.T
	b []byte
	f *elf.File
	v *layout.Variant
}

func (s *soImage) sec(name string) (off, size int) {
	sh := s.f.Section(name)
	if sh == nil {
		s.t.Fatalf("no section %s", name)
	}
	return int(sh.Offset), int(sh.Size)
}

func (s *soImage) text() []byte {
	off, size := s.sec(".text")
	return s.b[off : off+size]
}

// sym returns the file offset, index and hash of dynamic symbol name.
func (s *soImage) sym(name string) (off, index int) {
	symOff, symSize := s.sec(".dynsym")
	strOff, _ := s.sec(".dynstr")
	for i := 1; i < symSize/24; i++ {
		rec := s.b[symOff+24*i:]
		n := s.b[strOff+int(le32(rec)):]
		if string(n[:bytes.IndexByte(n, 0)]) == name {
			return symOff + 24*i, i
		}
	}
	s.t.Fatalf("no symbol %s", name)
	return 0, 0
}

// decoded decodes the (current) .text with the variant's cuts.
func (s *soImage) decoded() *image {
	return decodeImage(s.v, Image{Addr: uint64(s.f.Section(".text").Addr), Bytes: s.text()}, nil)
}

// inst returns the first instruction of entry that pred accepts, outside
// every site.
func (s *soImage) inst(entry string, pred func(in *inst) bool) inst {
	im := s.decoded()
	e, _ := s.v.Entry(entry)
	for _, in := range im.instsIn(e.Offset, e.Offset+e.Size) {
		inSite := slices.ContainsFunc(s.v.Sites, func(st layout.Site) bool {
			return in.off < st.Offset+len(st.Bytes) && st.Offset < in.end()
		})
		if !in.bad && !inSite && pred(&in) {
			return in
		}
	}
	s.t.Fatalf("entry %s: no instruction found", entry)
	return inst{}
}

func (s *soImage) site(kind layout.Kind) layout.Site {
	for _, st := range s.v.Sites {
		if st.Kind == kind {
			return st
		}
	}
	s.t.Fatalf("variant %s has no %s site", s.v.Name, kind)
	return layout.Site{}
}

// gnu returns the file offsets of the GNU hash table's bloom words,
// buckets and chain, and its header.
func (s *soImage) gnu() (bloom, buckets, chain int, nbucket, symoff uint32) {
	g, _ := s.sec(".gnu.hash")
	nbucket, symoff = le32(s.b[g:]), le32(s.b[g+4:])
	bloom = g + 16
	buckets = bloom + 8*int(le32(s.b[g+8:]))
	chain = buckets + 4*int(nbucket)
	return
}

// sysv returns the file offsets of DT_HASH's buckets and chains.
func (s *soImage) sysv() (hdr, buckets, chains int, nbucket uint32) {
	h, _ := s.sec(".hash")
	nbucket = le32(s.b[h:])
	return h, h + 8, h + 8 + 4*int(nbucket), nbucket
}

// emptyFirstBucket zeroes the first non-empty one of a hash table's
// nbucket buckets (at file offset buckets) and returns the finding that
// must follow: the hash check at that bucket.
func (s *soImage) emptyFirstBucket(buckets int, nbucket uint32) []any {
	for b := range int(nbucket) {
		if le32(s.b[buckets+4*b:]) != 0 {
			binary.LittleEndian.PutUint32(s.b[buckets+4*b:], 0)
			return []any{elfimage.CheckHash, buckets + 4*b}
		}
	}
	return nil
}

// markerSite returns the file offset of the descriptor record of the
// variant's site i.
func (s *soImage) markerSite(i int) int {
	m, _ := s.sec(elfimage.MarkersSection)
	return m + 40 + 56*i
}

func (s *soImage) siteIndex(kind layout.Kind) int {
	for i, st := range s.v.Sites {
		if st.Kind == kind {
			return i
		}
	}
	s.t.Fatalf("no %s site", kind)
	return 0
}

// noteRecord returns the file offset of data-page record i of the note.
func (s *soImage) noteRecord(i int) int {
	n, _ := s.sec(".note.vdsogen")
	return n + 12 + 8 + 48*i // header, "vdsogen\0", then the records
}

func textAt(s *soImage, off int) int { return int(s.f.Section(".text").Offset) + off }

// TestELFClean: the reference images pass every check, alone and against
// the assembled package.
func TestELFClean(t *testing.T) {
	in := referenceInput(t)
	if fs := elfRun(t, in, referenceELF(t)); len(fs) > 0 {
		for _, f := range fs {
			t.Error(f)
		}
	}
}

// TestELFCorruptions corrupts one reference image per case and checks
// that the named check reports it for the right variant at the right
// offset (.text offset for code, file offset for ELF structures).
func TestELFCorruptions(t *testing.T) {
	in := referenceInput(t)
	cases := []struct {
		name, variant string
		// mut corrupts the image and returns the check and offset that
		// must report it; further pairs may follow.
		mut func(s *soImage) []any
		// alone are the checks among those that must also report it on
		// the images alone, without the package (the others compare with
		// the assembled variant or the table).
		alone []string
	}{
		{"text byte in an entry", "host", func(s *soImage) []any {
			in := s.inst("gettimeofday", func(in *inst) bool {
				_, ok := in.Args[1].(x86asm.Imm)
				return in.Len >= 5 && ok
			})
			s.text()[in.end()-1] ^= 1
			return []any{CheckELFText, in.off, "sites", in.off} // and the variants differ
		}, []string{"sites"}},
		{"text byte in filler", "host", func(s *soImage) []any {
			for i := 1; i < len(s.v.Entries); i++ {
				prev, e := s.v.Entries[i-1], s.v.Entries[i]
				if end := prev.Offset + prev.Size; end < e.Offset {
					s.text()[end] = 0x90
					return []any{CheckELFText, end, "entries", end}
				}
			}
			s.t.Fatal("no filler")
			return nil
		}, []string{"entries"}},
		{"text byte in a static branch site", "timens", func(s *soImage) []any {
			st := s.site(layout.StaticBranch)
			s.text()[st.Offset+1]++
			return []any{CheckELFText, st.Offset, "sites", st.Offset}
		}, []string{"sites"}},
		{"alternative site holding no choice", "host", func(s *soImage) []any {
			st := s.site(layout.Alternative)
			copy(s.text()[st.Offset:], bytes.Repeat([]byte{0x90}, len(st.Bytes)))
			return []any{CheckELFText, st.Offset, "sites", st.Offset}
		}, []string{"sites"}},
		{"pool copy of a choice", "host", func(s *soImage) []any {
			c := s.site(layout.Alternative).Choices[0]
			s.text()[c.Offset] ^= 0x40
			return []any{CheckELFText, c.Offset, "sites", c.Offset}
		}, []string{"sites"}},
		{"data-page field outside the sites", "host", func(s *soImage) []any {
			in := s.inst("clock_getres", func(in *inst) bool { _, ok := ripMem(in); return ok })
			f := s.text()[in.off+in.PCRelOff:]
			binary.LittleEndian.PutUint32(f, le32(f)+8)
			return []any{CheckELFText, in.off, "sites", in.off}
		}, []string{"sites"}},
		{"unwind table CFA offset", "host", func(s *soImage) []any {
			off, size := s.sec(".eh_frame")
			// The CIE's initial rule, DW_CFA_def_cfa RSP 8 (0c 07 08):
			// claiming 16 is a frame the code never pushed.
			i := bytes.Index(s.b[off:off+size], []byte{0x0c, 0x07, 0x08})
			if i < 0 {
				s.t.Fatal("no DW_CFA_def_cfa rsp, 8 in .eh_frame")
			}
			s.b[off+i+2] = 0x10
			first := s.v.Entries[0].Offset
			return []any{CheckELFUnwind, first}
		}, []string{CheckELFUnwind}},
		{"symbol value off by one", "host", func(s *soImage) []any {
			off, _ := s.sym("__vdso_gettimeofday")
			binary.LittleEndian.PutUint64(s.b[off+8:], le64(s.b[off+8:])+1)
			return []any{elfimage.CheckSymbols, off}
		}, nil},
		{"symbol size wrong", "timens", func(s *soImage) []any {
			off, _ := s.sym("time")
			binary.LittleEndian.PutUint64(s.b[off+16:], le64(s.b[off+16:])+1)
			return []any{elfimage.CheckSymbols, off}
		}, []string{"elf-symbols"}},
		{"weak alias retargeted", "host", func(s *soImage) []any {
			off, _ := s.sym("clock_getres")
			other, _ := s.sym("__vdso_time")
			copy(s.b[off+8:off+24], s.b[other+8:other+24])
			return []any{elfimage.CheckSymbols, off}
		}, []string{"elf-symbols"}},
		{"GNU bloom zeroed", "host", func(s *soImage) []any {
			bloom, _, _, _, _ := s.gnu()
			clear(s.b[bloom : bloom+8])
			return []any{elfimage.CheckHash, bloom}
		}, []string{"elf-hash"}},
		{"GNU bloom bit of one symbol cleared", "timens", func(s *soImage) []any {
			bloom, _, _, _, _ := s.gnu()
			g, _ := s.sec(".gnu.hash")
			shift := le32(s.b[g+12:])
			// A bit only one symbol sets.
			count := map[uint32]int{}
			symOff, symSize := s.sec(".dynsym")
			strOff, _ := s.sec(".dynstr")
			var hashes []uint32
			for i := 1; i < symSize/24; i++ {
				n := s.b[strOff+int(le32(s.b[symOff+24*i:])):]
				h := elfimage.GNUHash(string(n[:bytes.IndexByte(n, 0)]))
				hashes = append(hashes, h)
				count[h%64]++
				if (h>>shift)%64 != h%64 {
					count[(h>>shift)%64]++
				}
			}
			for _, h := range hashes {
				if count[h%64] == 1 {
					w := le64(s.b[bloom:]) &^ (1 << (h % 64))
					binary.LittleEndian.PutUint64(s.b[bloom:], w)
					return []any{elfimage.CheckHash, bloom}
				}
			}
			s.t.Fatal("every bloom bit is shared")
			return nil
		}, []string{"elf-hash"}},
		{"GNU bucket emptied", "host", func(s *soImage) []any {
			_, buckets, _, nbucket, _ := s.gnu()
			return s.emptyFirstBucket(buckets, nbucket)
		}, []string{"elf-hash"}},
		{"GNU chain word corrupted", "timens", func(s *soImage) []any {
			_, _, chain, _, _ := s.gnu()
			s.b[chain+4] ^= 2
			return []any{elfimage.CheckHash, chain + 4}
		}, []string{"elf-hash"}},
		{"DT_HASH bucket corrupted", "host", func(s *soImage) []any {
			_, buckets, _, nbucket := s.sysv()
			return s.emptyFirstBucket(buckets, nbucket)
		}, []string{"elf-hash"}},
		{"DT_HASH chain cut", "timens", func(s *soImage) []any {
			_, _, chains, _ := s.sysv()
			for i := 1; ; i++ {
				if le32(s.b[chains+4*i:]) != 0 {
					binary.LittleEndian.PutUint32(s.b[chains+4*i:], 0)
					return []any{elfimage.CheckHash, chains + 4*i}
				}
			}
		}, []string{"elf-hash"}},
		{"DT_HASH nchain wrong", "host", func(s *soImage) []any {
			hdr, _, _, _ := s.sysv()
			binary.LittleEndian.PutUint32(s.b[hdr+4:], le32(s.b[hdr+4:])-1)
			return []any{elfimage.CheckHash, hdr}
		}, []string{"elf-hash"}},
		{"versym index changed", "host", func(s *soImage) []any {
			_, idx := s.sym("__vdso_time")
			vs, _ := s.sec(".gnu.version")
			binary.LittleEndian.PutUint16(s.b[vs+2*idx:], 1)
			return []any{elfimage.CheckVersions, vs + 2*idx}
		}, []string{"elf-versions"}},
		{"verdef hash changed", "timens", func(s *soImage) []any {
			vd, _ := s.sec(".gnu.version_d")
			s.b[vd+28+8] ^= 1
			return []any{elfimage.CheckVersions, vd + 28 + 8}
		}, []string{"elf-versions"}},
		{"version name changed", "host", func(s *soImage) []any {
			str, size := s.sec(".dynstr")
			i := bytes.Index(s.b[str:str+size], []byte("LINUX_2.6\x00"))
			s.b[str+i+8] = '7'
			vd, _ := s.sec(".gnu.version_d")
			return []any{elfimage.CheckVersions, vd + 28 + 8}
		}, []string{"elf-versions"}},
		{"site descriptor's offset", "host", func(s *soImage) []any {
			i := s.siteIndex(layout.StaticBranch)
			rec := s.markerSite(i)
			binary.LittleEndian.PutUint32(s.b[rec+4:], le32(s.b[rec+4:])+1)
			return []any{CheckELFMarkers, s.v.Sites[i].Offset, "sites", s.v.Sites[i].Offset}
		}, []string{"sites"}},
		{"site descriptor's bytes", "timens", func(s *soImage) []any {
			i := s.siteIndex(layout.ThreeLabel)
			st := s.v.Sites[i]
			m, size := s.sec(elfimage.MarkersSection)
			at := bytes.Index(s.b[m:m+size], st.Bytes)
			s.b[m+at+len(st.Bytes)-1] ^= 1
			return []any{CheckELFMarkers, st.Offset, "sites", st.Offset}
		}, []string{"sites"}},
		{"choice descriptor's pool offset", "host", func(s *soImage) []any {
			i := s.siteIndex(layout.Alternative)
			m, _ := s.sec(elfimage.MarkersSection)
			first := int(le32(s.b[s.markerSite(i)+16:]))
			nsites := len(s.v.Sites)
			c := m + 40 + 56*nsites + 24*first
			binary.LittleEndian.PutUint32(s.b[c+16:], le32(s.b[c+16:])+1)
			return []any{CheckELFMarkers, s.v.Sites[i].Offset}
		}, nil},
		{"region descriptor's abort moved", "host", func(s *soImage) []any {
			m, _ := s.sec(elfimage.MarkersSection)
			nchoices := 0
			for _, st := range s.v.Sites {
				nchoices += len(st.Choices)
			}
			r := m + 40 + 56*len(s.v.Sites) + 24*nchoices
			binary.LittleEndian.PutUint32(s.b[r+32:], le32(s.b[r+32:])+1)
			reg := s.v.Regions[0]
			return []any{CheckELFMarkers, reg.Start, "regions", reg.Abort + 1}
		}, []string{"regions"}},
		{"relocated field of a site retargeted", "timens", func(s *soImage) []any {
			st := s.site(layout.ThreeLabel)
			if len(st.Relocs) == 0 {
				s.t.Fatal("the three-label site has no relocated field")
			}
			at := st.Offset + st.Relocs[0].Offset
			binary.LittleEndian.PutUint32(s.text()[at:], le32(s.text()[at:])+8)
			return []any{CheckELFMarkers, at, CheckELFText, s.decoded().covering(at).off}
		}, []string{"elf-markers"}},
		{"data pages overlapping", "host", func(s *soImage) []any {
			r0, r1 := s.noteRecord(0), s.noteRecord(1)
			copy(s.b[r1:r1+8], s.b[r0:r0+8])
			return []any{elfimage.CheckPages, r1}
		}, []string{"elf-pages"}},
		{"data page not page-aligned", "timens", func(s *soImage) []any {
			r := s.noteRecord(1)
			binary.LittleEndian.PutUint64(s.b[r:], le64(s.b[r:])+16)
			return []any{elfimage.CheckPages, r}
		}, []string{"elf-pages"}},
		{"data page above the image", "host", func(s *soImage) []any {
			r := s.noteRecord(0)
			binary.LittleEndian.PutUint64(s.b[r:], 0)
			return []any{elfimage.CheckPages, r}
		}, []string{"elf-pages"}},
	}
	seen := map[string]bool{}
	for _, c := range cases {
		t.Run(strings.ReplaceAll(c.name, " ", "_"), func(t *testing.T) {
			if seen[c.name] {
				t.Fatalf("duplicate case %q", c.name)
			}
			seen[c.name] = true
			files := referenceELF(t)
			f, err := elf.NewFile(bytes.NewReader(files[c.variant]))
			if err != nil {
				t.Fatal(err)
			}
			v, _ := in.Table.Variant(c.variant)
			s := &soImage{t: t, b: files[c.variant], f: f, v: v}
			want := c.mut(s)
			fs, alone := elfRuns(t, in, files)
			for k := 0; k+1 < len(want); k += 2 {
				check, off := want[k].(string), want[k+1].(int)
				if slices.Contains(c.alone, check) {
					fs := alone
					if !slices.ContainsFunc(fs, func(f Finding) bool {
						named := slices.Contains(f.Variants, c.variant) && (!strings.HasPrefix(check, "elf-") || f.Variants[0] == c.variant)
						return f.Check == check && named && f.Offset == off
					}) {
						t.Errorf("the images alone: no %s finding for variant %s at offset %#x; findings:\n%s", check, c.variant, off, findingList(fs))
					}
				}
				if !slices.ContainsFunc(fs, func(f Finding) bool {
					// A finding of the ELF checks is about one image; one of the
					// rules comparing variants names both.
					named := len(f.Variants) > 0 && f.Variants[0] == c.variant
					if !strings.HasPrefix(check, "elf-") {
						named = slices.Contains(f.Variants, c.variant)
					}
					return f.Check == check && named && f.Offset == off
				}) {
					t.Errorf("no %s finding for variant %s at offset %#x; findings:\n%s", check, c.variant, off, findingList(fs))
				}
			}
			if t.Failed() || testing.Verbose() {
				t.Logf("findings:\n%s", findingList(fs))
			}
		})
	}
	if len(cases) < 15 {
		t.Errorf("%d cases, want at least 15", len(cases))
	}
}

func findingList(fs []Finding) string {
	var b strings.Builder
	for _, f := range fs {
		fmt.Fprintf(&b, "\t%s\n", f)
	}
	return b.String()
}

// TestELFChoiceApplied: an alternative site holding another of its
// choices (as a loader applies one at load time) is no .text difference.
func TestELFChoiceApplied(t *testing.T) {
	in := referenceInput(t)
	files := referenceELF(t)
	f, _ := elf.NewFile(bytes.NewReader(files["host"]))
	v, _ := in.Table.Variant("host")
	s := &soImage{t: t, b: files["host"], f: f, v: v}
	st := s.site(layout.Alternative)
	var other layout.Choice
	for _, c := range st.Choices {
		if c.Name != st.Choice {
			other = c
		}
	}
	copy(s.text()[st.Offset:], other.Bytes)
	for _, f := range elfRun(t, in, files) {
		if f.Check == CheckELFText {
			t.Errorf("choice %s applied at %#x: %s", other.Name, st.Offset, f)
		}
	}
}
