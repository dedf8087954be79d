package elfimage

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// testImage is a small image with every entry of the kernel's x86-64 vDSO:
// each entry loads a quadword from a data page and returns.
func testImage() Image {
	var code []byte
	var entries []Entry
	var relocs []Reloc
	for i, name := range []string{"clock_gettime", "gettimeofday", "time", "clock_getres"} {
		for len(code)%32 != 0 {
			code = append(code, 0xcc)
		}
		off := len(code)
		page := []string{"vdsoData", "vdsoTimens"}[i%2]
		// LEAQ page+8*i(RIP), AX; MOVQ (AX), AX; RET
		code = append(code, 0x48, 0x8d, 0x05, 0xaa, 0xbb, 0xcc, 0xdd, 0x48, 0x8b, 0x00, 0xc3)
		relocs = append(relocs, Reloc{Offset: off + 3, Symbol: page, Addend: int64(8*i) - 4})
		entries = append(entries, Entry{Name: name, Offset: off, Size: 11})
	}
	return Image{
		Program: "clock", Variant: "host",
		Code: code, Entries: entries, Relocs: relocs,
		Pages: LayoutPages([]string{"vdsoData", "vdsoTimens"}, []int{4096, 4096}),
	}
}

func mustWrite(t testing.TB, img Image) []byte {
	t.Helper()
	b, err := Write(img)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// A mutation edits the bytes b of an image in place; f is b as parsed
// before any edit.
type mutation func(t *testing.T, f *elf.File, b []byte)

// mutated is a copy of good with muts applied in order.
func mutated(t *testing.T, good []byte, muts ...mutation) []byte {
	t.Helper()
	b := bytes.Clone(good)
	f, err := elf.NewFile(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range muts {
		m(t, f, b)
	}
	return b
}

// A messageMutation breaks one rule in a way whose violation contains want.
type messageMutation struct {
	want string
	mut  mutation
}

// checkRejectsEach requires Check to report rule, with the mutation's
// want in the message, for each mutation of good.
func checkRejectsEach(t *testing.T, rule string, good []byte, muts []messageMutation) {
	t.Helper()
	for _, m := range muts {
		err := Check(mutated(t, good, m.mut))
		var ce *CheckError
		if !errors.As(err, &ce) || !ce.Has(rule) || !strings.Contains(err.Error(), m.want) {
			t.Errorf("mutation %q: Check gave %v", m.want, err)
			continue
		}
		t.Logf("%s", err)
	}
}

func TestLayoutPages(t *testing.T) {
	got := LayoutPages([]string{"a", "b", "c"}, []int{100, 8192, 4096})
	want := []Page{{"a", 4, 100}, {"b", 3, 8192}, {"c", 1, 4096}}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("page %d: got %+v, want %+v", i, got[i], want[i])
		}
	}
	if got[0].Offset() != -4*4096 {
		t.Errorf("a at %d", got[0].Offset())
	}
}

func TestWriteReadBack(t *testing.T) {
	img := testImage()
	b := mustWrite(t, img)
	if b2 := mustWrite(t, testImage()); !bytes.Equal(b, b2) {
		t.Fatal("Write is not deterministic")
	}
	f, err := elf.NewFile(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if f.Class != elf.ELFCLASS64 || f.Data != elf.ELFDATA2LSB || f.Type != elf.ET_DYN || f.Machine != elf.EM_X86_64 || f.OSABI != elf.ELFOSABI_NONE || f.Entry != 0 {
		t.Errorf("header: %+v", f.FileHeader)
	}
	var types []elf.ProgType
	for _, p := range f.Progs {
		types = append(types, p.Type)
	}
	if len(f.Progs) != 3 || types[0] != elf.PT_LOAD || types[1] != elf.PT_DYNAMIC || types[2] != elf.PT_NOTE {
		t.Fatalf("program headers %v", types)
	}
	load := f.Progs[0]
	if load.Off != 0 || load.Vaddr != 0 || load.Memsz != load.Filesz || load.Flags != elf.PF_R|elf.PF_X || load.Align != PageSize {
		t.Errorf("PT_LOAD %+v", load.ProgHeader)
	}
	want := []string{"", ".hash", ".gnu.hash", ".dynsym", ".dynstr", ".gnu.version", ".gnu.version_d", ".dynamic", ".note.vdsogen", ".text", ".shstrtab"}
	for i, s := range f.Sections {
		if s.Name != want[i] {
			t.Errorf("section %d is %q, want %q", i, s.Name, want[i])
		}
		if s.Flags&elf.SHF_WRITE != 0 || s.Type == elf.SHT_NOBITS || s.Type == elf.SHT_REL || s.Type == elf.SHT_RELA {
			t.Errorf("section %s: %v %v", s.Name, s.Type, s.Flags)
		}
		if s.Flags&elf.SHF_ALLOC != 0 && (s.Addr != s.Offset || s.Offset+s.Size > load.Filesz) {
			t.Errorf("section %s outside the load", s.Name)
		}
	}
	text := f.Section(".text")
	if text.Flags != elf.SHF_ALLOC|elf.SHF_EXECINSTR || text.Addr%textAlign != 0 {
		t.Errorf(".text %+v", text.SectionHeader)
	}
	if text.Offset+text.Size != load.Filesz {
		t.Errorf("PT_LOAD ends at %#x, .text at %#x", load.Filesz, text.Offset+text.Size)
	}

	// Dynamic tags.
	for _, tag := range []elf.DynTag{elf.DT_HASH, elf.DT_GNU_HASH, elf.DT_STRTAB, elf.DT_SYMTAB, elf.DT_VERSYM, elf.DT_VERDEF} {
		v, err := f.DynValue(tag)
		if err != nil || len(v) != 1 {
			t.Errorf("%v: %v %v", tag, v, err)
		}
	}
	if v, _ := f.DynValue(elf.DT_VERDEFNUM); len(v) != 1 || v[0] != 2 {
		t.Errorf("DT_VERDEFNUM %v", v)
	}
	if so, _ := f.DynString(elf.DT_SONAME); len(so) != 1 || so[0] != DefaultSOName {
		t.Errorf("DT_SONAME %v", so)
	}
	vers, err := f.DynamicVersions()
	if err != nil || len(vers) != 2 || vers[0].Name != DefaultSOName || vers[0].Flags != elf.VER_FLG_BASE || vers[1].Name != "LINUX_2.6" || vers[1].Index != 2 {
		t.Errorf("versions %+v %v", vers, err)
	}

	// Symbols.
	syms, err := f.DynamicSymbols()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]elf.Symbol{}
	for _, s := range syms {
		got[s.Name] = s
	}
	if len(syms) != 2*len(img.Entries) {
		t.Errorf("%d dynamic symbols, want %d", len(syms), 2*len(img.Entries))
	}
	for _, e := range img.Entries {
		for _, n := range []struct {
			name string
			bind elf.SymBind
		}{{"__vdso_" + e.Name, elf.STB_GLOBAL}, {e.Name, elf.STB_WEAK}} {
			s, ok := got[n.name]
			if !ok {
				t.Errorf("no symbol %s", n.name)
				continue
			}
			if elf.ST_TYPE(s.Info) != elf.STT_FUNC || elf.ST_BIND(s.Info) != n.bind || s.Version != "LINUX_2.6" || s.Value != text.Addr+uint64(e.Offset) || s.Size != uint64(e.Size) || f.Sections[s.Section] != text {
				t.Errorf("symbol %s: %+v", n.name, s)
			}
		}
	}

	// Relocations resolved: each LEAQ reaches its page + 8*i.
	code, _ := text.Data()
	for i, r := range img.Relocs {
		disp := int32(binary.LittleEndian.Uint32(code[r.Offset:]))
		target := int64(text.Addr) + int64(r.Offset) + 4 + int64(disp)
		page := img.Pages[i%2]
		if target != page.Offset()+int64(8*i) {
			t.Errorf("reference %d reaches %d, want %s+%d = %d", i, target, page.Symbol, 8*i, page.Offset()+int64(8*i))
		}
	}

	pages, prog, variant, err := Pages(b)
	if err != nil || prog != "clock" || variant != "host" || len(pages) != 2 || pages[0] != img.Pages[0] || pages[1] != img.Pages[1] {
		t.Errorf("Pages: %+v %q %q %v", pages, prog, variant, err)
	}
	if pages[0].Offset() != -2*PageSize || pages[1].Offset() != -PageSize {
		t.Errorf("pages at %d, %d", pages[0].Offset(), pages[1].Offset())
	}
}

func TestWriteErrors(t *testing.T) {
	for name, mut := range map[string]func(*Image){
		"no code":           func(i *Image) { i.Code = nil },
		"entry outside":     func(i *Image) { i.Entries[0].Size = 1 << 20 },
		"duplicate entry":   func(i *Image) { i.Entries[1].Name = i.Entries[0].Name },
		"prefixed entry":    func(i *Image) { i.Entries[0].Name = "__vdso_x" },
		"unknown page":      func(i *Image) { i.Relocs[0].Symbol = "other" },
		"reloc outside":     func(i *Image) { i.Relocs[0].Offset = len(i.Code) - 2 },
		"overlapping pages": func(i *Image) { i.Pages[0].Index = 1 },
		"page at zero":      func(i *Image) { i.Pages[1].Index = 0 },
		"page too big":      func(i *Image) { i.Pages[1].Size = 8192 },
		"long page name":    func(i *Image) { i.Pages[0].Symbol = strings.Repeat("x", 40) },
	} {
		img := testImage()
		mut(&img)
		if _, err := Write(img); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestCheckGood(t *testing.T) {
	if err := Check(mustWrite(t, testImage())); err != nil {
		t.Fatal(err)
	}
}

// mutations break exactly one rule of a good image, by editing its bytes.
var mutations = []struct {
	rule string
	mut  mutation
}{
	{"header", func(t *testing.T, f *elf.File, b []byte) { b[18] = byte(elf.EM_386) }},
	{"one-load", func(t *testing.T, f *elf.File, b []byte) { setPhdrType(b, 2, elf.PT_LOAD) }},
	{"load-at-zero", func(t *testing.T, f *elf.File, b []byte) {
		le.PutUint64(b[ehdrSize+8:], PageSize)
		le.PutUint64(b[ehdrSize+16:], PageSize)
	}},
	{"load-memsz", func(t *testing.T, f *elf.File, b []byte) {
		le.PutUint64(b[ehdrSize+40:], le.Uint64(b[ehdrSize+40:])+PageSize)
	}},
	{"load-readonly", func(t *testing.T, f *elf.File, b []byte) {
		le.PutUint32(b[ehdrSize+4:], uint32(elf.PF_R|elf.PF_W|elf.PF_X))
	}},
	{"dynamic", func(t *testing.T, f *elf.File, b []byte) { setPhdrType(b, 1, elf.PT_NULL) }},
	{"no-relocations", func(t *testing.T, f *elf.File, b []byte) { setDynTag(t, f, b, elf.DT_SONAME, elf.DT_TEXTREL) }},
	{"no-relocations", func(t *testing.T, f *elf.File, b []byte) { setShdrType(f, b, ".note.vdsogen", elf.SHT_RELA) }},
	{"dt-hash", func(t *testing.T, f *elf.File, b []byte) { setDynTag(t, f, b, elf.DT_HASH, elf.DT_DEBUG) }},
	{"dt-gnu-hash", func(t *testing.T, f *elf.File, b []byte) { setDynTag(t, f, b, elf.DT_GNU_HASH, elf.DT_DEBUG) }},
	{"versions", func(t *testing.T, f *elf.File, b []byte) {
		s := f.Section(".gnu.version")
		le.PutUint16(b[s.Offset+2:], 1) // the first symbol: base version
	}},
	{"no-writable-sections", func(t *testing.T, f *elf.File, b []byte) {
		setShdrFlags(f, b, ".dynamic", elf.SHF_ALLOC|elf.SHF_WRITE)
	}},
	{"no-writable-sections", func(t *testing.T, f *elf.File, b []byte) { setShdrType(f, b, ".note.vdsogen", elf.SHT_NOBITS) }},
	{"sections-in-load", func(t *testing.T, f *elf.File, b []byte) { setShdrFlags(f, b, ".shstrtab", elf.SHF_ALLOC) }},
	{"duplicate-symbols", func(t *testing.T, f *elf.File, b []byte) {
		// Give symbol 2 the name of symbol 1 (both versioned LINUX_2.6).
		s := f.Section(".dynsym")
		copy(b[s.Offset+2*symSize:s.Offset+2*symSize+4], b[s.Offset+symSize:s.Offset+symSize+4])
	}},
	{"symbol-bounds", func(t *testing.T, f *elf.File, b []byte) {
		s := f.Section(".dynsym")
		le.PutUint64(b[s.Offset+symSize+16:], 1<<16) // size
	}},
	{"hash-tables", func(t *testing.T, f *elf.File, b []byte) {
		s := f.Section(".hash")
		for i := uint64(8); i < s.Size; i++ { // empty every bucket and chain
			b[s.Offset+i] = 0
		}
	}},
	{"hash-tables", func(t *testing.T, f *elf.File, b []byte) {
		s := f.Section(".gnu.hash")
		le.PutUint32(b[s.Offset+16+8:], 0) // first bucket
		le.PutUint32(b[s.Offset+16+8+4:], 0)
		le.PutUint32(b[s.Offset+16+8+8:], 0)
		le.PutUint32(b[s.Offset+16+8+12:], 0)
	}},
}

func setPhdrType(b []byte, i int, typ elf.ProgType) {
	le.PutUint32(b[ehdrSize+i*phdrSize:], uint32(typ))
}

func shdr(f *elf.File, b []byte, name string) []byte {
	for i, s := range f.Sections {
		if s.Name == name {
			shoff := le.Uint64(b[40:])
			return b[shoff+uint64(i)*shdrSize:]
		}
	}
	panic("no section " + name)
}

func setShdrType(f *elf.File, b []byte, name string, typ elf.SectionType) {
	le.PutUint32(shdr(f, b, name)[4:], uint32(typ))
}

func setShdrFlags(f *elf.File, b []byte, name string, flags elf.SectionFlag) {
	le.PutUint64(shdr(f, b, name)[8:], uint64(flags))
}

func setDynTag(t *testing.T, f *elf.File, b []byte, from, to elf.DynTag) {
	s := f.Section(".dynamic")
	for o := s.Offset; o < s.Offset+s.Size; o += dynSize {
		if elf.DynTag(le.Uint64(b[o:])) == from {
			le.PutUint64(b[o:], uint64(to))
			return
		}
	}
	t.Fatalf("no %v", from)
}

func TestCheckRejects(t *testing.T) {
	good := mustWrite(t, testImage())
	covered := map[string]bool{}
	for _, m := range mutations {
		err := Check(mutated(t, good, m.mut))
		var ce *CheckError
		if !errors.As(err, &ce) || !ce.Has(m.rule) {
			t.Errorf("mutation for %s: Check gave %v", m.rule, err)
			continue
		}
		covered[m.rule] = true
		t.Logf("%s", err)
	}
	// Rule "markers" on the image with descriptors and rule "eh-frame" on
	// an image with unwind tables (TestCheckRejectsMarkers and
	// TestCheckRejectsUnwind check each message).
	for _, other := range []struct {
		rule string
		good []byte
		muts []messageMutation
	}{
		{"markers", mustWrite(t, markerImage()), markerMutations},
		{"eh-frame", mustWrite(t, unwindImage()), unwindMutations},
	} {
		for _, m := range other.muts {
			var ce *CheckError
			if err := Check(mutated(t, other.good, m.mut)); errors.As(err, &ce) && ce.Has(other.rule) {
				covered[other.rule] = true
			}
		}
	}
	for _, r := range Rules {
		if !covered[r.Name] {
			t.Errorf("rule %s: no mutation breaks it", r.Name)
		}
	}
}

func TestCheckSame(t *testing.T) {
	host := mustWrite(t, testImage())
	tn := testImage()
	tn.Variant = "timens"
	tn.Code[3] = 0x90 // bytes may differ
	if err := CheckSame(map[string][]byte{"host": host, "timens": mustWrite(t, tn)}); err != nil {
		t.Fatal(err)
	}
	moved := testImage()
	moved.Code = append([]byte{0xcc}, moved.Code...)
	for i := range moved.Entries {
		moved.Entries[i].Offset++
		moved.Relocs[i].Offset++
	}
	err := CheckSame(map[string][]byte{"host": host, "moved": mustWrite(t, moved)})
	var ce *CheckError
	if !errors.As(err, &ce) || !ce.Has("same-symbols") {
		t.Fatalf("moved entries: %v", err)
	}
	t.Log(err)
	fewer := testImage()
	fewer.Entries = fewer.Entries[:3]
	if err := CheckSame(map[string][]byte{"host": host, "fewer": mustWrite(t, fewer)}); err == nil || !strings.Contains(err.Error(), "__vdso_clock_getres@LINUX_2.6") {
		t.Fatalf("missing entry: %v", err)
	}
}

func TestLookup(t *testing.T) {
	img := testImage()
	b := mustWrite(t, img)
	r, err := NewResolver(b)
	if err != nil {
		t.Fatal(err)
	}
	f, _ := elf.NewFile(bytes.NewReader(b))
	text := f.Section(".text").Addr
	for _, e := range img.Entries {
		for _, name := range []string{"__vdso_" + e.Name, e.Name} {
			for how, fn := range map[string]func(string, string) (Symbol, error){"gnu": r.LookupGNU, "sysv": r.LookupSysV, "default": r.Lookup} {
				s, err := fn(name, "LINUX_2.6")
				if err != nil || s.Value != text+uint64(e.Offset) || s.Size != uint64(e.Size) {
					t.Errorf("%s %s: %+v %v", how, name, s, err)
				}
				if _, err := fn(name, "LINUX_2.7"); !errors.Is(err, ErrNotFound) {
					t.Errorf("%s %s@LINUX_2.7: %v", how, name, err)
				}
			}
		}
	}
	for _, name := range []string{"__vdso_getcpu", "", "clock_gettime_", "linux-vdso.so.1"} {
		if _, err := Lookup(b, name, "LINUX_2.6"); !errors.Is(err, ErrNotFound) {
			t.Errorf("%q: %v", name, err)
		}
	}
	if s, err := Lookup(b, "__vdso_time", ""); err != nil || s.Value != text+uint64(img.Entries[2].Offset) {
		t.Errorf("unversioned: %+v %v", s, err)
	}
}

// TestReadelf: binutils' readelf reads every part of the image without a
// warning. CI installs binutils; elsewhere the test skips without it.
func TestReadelf(t *testing.T) {
	path, err := exec.LookPath("readelf")
	if err != nil {
		t.Skip("readelf not found: install binutils (apt-get install -y binutils) to run this test")
	}
	b := mustWrite(t, testImage())
	file := t.TempDir() + "/vdso.so"
	// With marker descriptors: readelf lists the section and warns of
	// nothing.
	mfile := t.TempDir() + "/markers.so"
	if err := writeFile(mfile, mustWrite(t, markerImage())); err != nil {
		t.Fatal(err)
	}
	mout, err := exec.Command(path, "-a", "-W", mfile).CombinedOutput()
	if err != nil || strings.Contains(strings.ToLower(string(mout)), "warning") || strings.Contains(strings.ToLower(string(mout)), "error") {
		t.Errorf("readelf -a on an image with markers: %v\n%s", err, mout)
	}
	if !strings.Contains(string(mout), MarkersSection+"  PROGBITS") {
		t.Errorf("readelf -a lacks the %s section:\n%s", MarkersSection, mout)
	}
	if err := writeFile(file, b); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(path, "-a", "-W", file).CombinedOutput()
	if err != nil {
		t.Fatalf("readelf: %v\n%s", err, out)
	}
	s := string(out)
	for _, bad := range []string{"Warning", "warning", "Error", "error"} {
		if strings.Contains(s, bad) {
			t.Errorf("readelf -a says %q:\n%s", bad, s)
		}
	}
	for _, want := range []string{
		"DYN (Shared object file)", "Advanced Micro Devices X86-64",
		"There are no relocations in this file.",
		"(HASH)", "(GNU_HASH)", "(VERSYM)", "(VERDEF)", "(SONAME)             Library soname: [linux-vdso.so.1]",
		"FUNC    GLOBAL DEFAULT    9 __vdso_clock_gettime@@LINUX_2.6",
		"FUNC    WEAK   DEFAULT    9 clock_gettime@@LINUX_2.6",
		"Rev: 1  Flags: BASE  Index: 1  Cnt: 1  Name: linux-vdso.so.1",
		"Rev: 1  Flags: none  Index: 2  Cnt: 1  Name: LINUX_2.6",
		"vdsogen",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("readelf -a lacks %q", want)
		}
	}
	var loads int
	for _, l := range strings.Split(s, "\n") {
		if f := strings.Fields(l); len(f) > 0 && f[0] == "LOAD" {
			loads++
			if f[1] != "0x000000" || f[2] != "0x0000000000000000" || f[4] != f[5] || f[6] != "R" || f[7] != "E" {
				t.Errorf("LOAD line %q", l)
			}
		}
	}
	if loads != 1 {
		t.Errorf("%d LOAD lines", loads)
	}
	if t.Failed() {
		t.Log(s)
	}
}

// FuzzCheck: Check, Lookup, Pages, ReadMarkers and the whole-image checks
// return on any input;
// they never panic. The seed corpus (testdata/fuzz/FuzzCheck) holds
// truncated and damaged images, with and without marker descriptors; the
// good images are added here.
func FuzzCheck(f *testing.F) {
	good := mustWrite(f, testImage())
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Add(mustWrite(f, markerImage()))
	f.Fuzz(func(t *testing.T, b []byte) {
		err := Check(b)
		m, merr := ReadMarkers(b)
		r, rerr := NewResolver(b)
		if rerr == nil {
			r.LookupGNU("__vdso_clock_gettime", "LINUX_2.6")
			r.LookupSysV("__vdso_clock_gettime", "LINUX_2.6")
		}
		Pages(b)
		Symbols(b)
		// The whole-image checks return on any input too.
		HashProblems(b)
		VersionProblems(b)
		PageProblems(b)
		if text, _, err := TextSection(b); err == nil {
			if entries, err := EntriesOf(b, text); err == nil {
				SymbolProblems(b, entries)
			}
		}
		if err == nil {
			// A file that passes resolves its own symbols through both tables.
			syms, serr := Symbols(b)
			if serr != nil {
				t.Fatalf("passes Check but Symbols fails: %v", serr)
			}
			_ = syms
			// Its descriptors, if any, read back and fit its code.
			if merr != nil && !errors.Is(merr, ErrNoMarkers) {
				t.Fatalf("passes Check but ReadMarkers fails: %v", merr)
			}
			if merr == nil {
				f, _ := elf.NewFile(bytes.NewReader(b))
				code, _ := f.Section(".text").Data()
				if verr := m.Validate(code); verr != nil {
					t.Fatalf("passes Check but the descriptors do not fit the code: %v", verr)
				}
			}
		}
	})
}

func writeFile(path string, b []byte) error { return os.WriteFile(path, b, 0o644) }

func TestCheckDir(t *testing.T) {
	dir := t.TempDir()
	if files, err := CheckDir(dir, "clock"); err != nil || len(files) != 0 {
		t.Fatalf("empty dir: %v %v", files, err)
	}
	good := mustWrite(t, testImage())
	writeFile(dir+"/zclock_host.so", good)
	writeFile(dir+"/zclock_timens.so", good)
	writeFile(dir+"/zother_host.so", []byte("not checked"))
	if files, err := CheckDir(dir, "clock"); err != nil || len(files) != 2 {
		t.Fatalf("good images: %v %v", files, err)
	}
	writeFile(dir+"/zclock_timens.so", good[:200])
	if _, err := CheckDir(dir, "clock"); err == nil || !strings.Contains(err.Error(), "zclock_timens.so") {
		t.Fatalf("broken image: %v", err)
	}
}
