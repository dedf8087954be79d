package elfimage

import (
	"bytes"
	"debug/elf"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/vdsogen/vdsogen/layout"
)

// Rule is one image check.
type Rule struct {
	Name string
	// Doc says what the rule requires and whose build check it mirrors.
	Doc string
}

// Rules are the checks of Check, in order; CheckSame adds "same-symbols".
var Rules = []Rule{
	{"header", "a 64-bit little-endian x86-64 ET_DYN ELF file that debug/elf parses"},
	{"one-load", "exactly one PT_LOAD (vdso2c: \"multiple PT_LOAD segs\")"},
	{"load-at-zero", "the PT_LOAD has p_offset 0 and p_vaddr 0 (vdso2c: \"PT_LOAD in wrong place\")"},
	{"load-memsz", "the PT_LOAD has p_memsz == p_filesz, no .bss (vdso2c: \"cannot handle memsz != filesz\")"},
	{"load-readonly", "the PT_LOAD is not writable: a vDSO is mapped read-exec"},
	{"dynamic", "a PT_DYNAMIC inside the PT_LOAD, ending in DT_NULL, with DT_STRTAB and DT_SYMTAB (vdso2c: \"no PT_DYNAMIC\")"},
	{"no-relocations", "no DT_REL/DT_RELA/DT_JMPREL/DT_TEXTREL and no SHT_REL/SHT_RELA section (vdso2c: \"vdso image contains dynamic relocations\"; gVisor check_vdso.py)"},
	{"dt-hash", "DT_HASH is present (gVisor check_vdso.py; glibc before 2.36 and some tools need it)"},
	{"dt-gnu-hash", "DT_GNU_HASH is present (what current loaders use)"},
	{"versions", "DT_VERSYM and DT_VERDEF present, and every defined symbol has a defined, non-base version"},
	{"no-writable-sections", "no allocated section is writable or SHT_NOBITS (.bss) (gVisor check_vdso.py)"},
	{"sections-in-load", "every allocated section lies inside the PT_LOAD, at vaddr == offset"},
	{"duplicate-symbols", "no two dynamic symbols have the same name and version"},
	{"symbol-bounds", "every defined FUNC symbol lies inside an executable section"},
	{"hash-tables", "every GLOBAL/WEAK FUNC symbol is found, with its version and value, through DT_GNU_HASH (bloom filter first, as glibc and musl) and through DT_HASH (parse_vdso.c lookup); HashProblems checks the tables as a whole"},
	{"eh-frame", "unwind tables, if present (Write with a stack model), are found as unwinders find them (PT_GNU_EH_FRAME = .eh_frame_hdr, version 1, a sorted search table of FDEs in .eh_frame), every FDE lies inside .text and describes CFA = RSP+offset (offset >= 8) with the return address at CFA-8, and every FUNC symbol is covered by one FDE; CheckUnwind proves the rows equal to the stack model"},
	{"markers", "the " + MarkersSection + " section, if present, is a non-allocated SHT_PROGBITS section that ReadMarkers decodes and whose descriptors fit the code (Markers.Validate: sites inside the code and not overlapping, choices as long as their site, every region's abort handler after layout.RegionSignature)"},
}

// Violation is one broken rule.
type Violation struct {
	Rule   string
	Detail string
}

// CheckError lists every violation Check found.
type CheckError struct {
	// Name identifies the image (a file or variant name), if known.
	Name       string
	Violations []Violation
}

func (e *CheckError) Error() string {
	var b strings.Builder
	for i, v := range e.Violations {
		if i > 0 {
			b.WriteByte('\n')
		}
		if e.Name != "" {
			b.WriteString(e.Name + ": ")
		}
		b.WriteString(v.Rule + ": " + v.Detail)
	}
	return b.String()
}

// Has reports whether rule was violated.
func (e *CheckError) Has(rule string) bool {
	for _, v := range e.Violations {
		if v.Rule == rule {
			return true
		}
	}
	return false
}

func bytesReader(b []byte) io.ReaderAt { return bytes.NewReader(b) }

// Check applies Rules to an image file; it returns nil or a *CheckError.
// Any input gives a result: Check never panics.
func Check(file []byte) error {
	c := &checker{b: file}
	c.run()
	if len(c.vs) == 0 {
		return nil
	}
	return &CheckError{Violations: c.vs}
}

type checker struct {
	b  []byte
	f  *elf.File
	vs []Violation
}

func (c *checker) fail(rule, format string, args ...any) {
	c.vs = append(c.vs, Violation{rule, fmt.Sprintf(format, args...)})
}

func (c *checker) run() {
	f, err := elf.NewFile(bytesReader(c.b))
	if err != nil {
		c.fail("header", "%v", err)
		return
	}
	defer f.Close()
	c.f = f
	if f.Class != elf.ELFCLASS64 || f.Data != elf.ELFDATA2LSB || f.Type != elf.ET_DYN || f.Machine != elf.EM_X86_64 {
		c.fail("header", "%v %v %v %v, want ELFCLASS64 ELFDATA2LSB ET_DYN EM_X86_64", f.Class, f.Data, f.Type, f.Machine)
		return
	}

	// Segments.
	var load, dyn *elf.Prog
	nload := 0
	for _, p := range f.Progs {
		switch p.Type {
		case elf.PT_LOAD:
			nload++
			if load == nil {
				load = p
			}
		case elf.PT_DYNAMIC:
			dyn = p
		}
	}
	if nload != 1 {
		c.fail("one-load", "%d PT_LOAD segments, want exactly 1", nload)
	}
	if load == nil {
		return
	}
	if load.Off != 0 || load.Vaddr != 0 {
		c.fail("load-at-zero", "PT_LOAD at offset %#x, vaddr %#x; want 0 and 0", load.Off, load.Vaddr)
	}
	if load.Memsz != load.Filesz {
		c.fail("load-memsz", "PT_LOAD p_memsz %#x != p_filesz %#x", load.Memsz, load.Filesz)
	}
	if load.Flags&elf.PF_W != 0 {
		c.fail("load-readonly", "PT_LOAD is writable (flags %v)", load.Flags)
	}
	if load.Off > uint64(len(c.b)) || load.Filesz > uint64(len(c.b))-load.Off {
		c.fail("one-load", "PT_LOAD [%#x, +%#x) runs past the %d-byte file", load.Off, load.Filesz, len(c.b))
		return
	}
	inLoad := func(off, size uint64) bool {
		return off >= load.Off && size <= load.Filesz && off-load.Off <= load.Filesz-size
	}
	if dyn == nil {
		c.fail("dynamic", "no PT_DYNAMIC")
	} else if !inLoad(dyn.Off, dyn.Filesz) {
		c.fail("dynamic", "PT_DYNAMIC [%#x, +%#x) is not inside the PT_LOAD", dyn.Off, dyn.Filesz)
		dyn = nil
	}

	// Dynamic tags.
	tags := map[elf.DynTag]bool{}
	if dyn != nil {
		end := false
		d := c.b[dyn.Off : dyn.Off+dyn.Filesz]
		for ; len(d) >= 16; d = d[16:] {
			t := elf.DynTag(le.Uint64(d))
			if t == elf.DT_NULL {
				end = true
				break
			}
			tags[t] = true
		}
		if !end {
			c.fail("dynamic", "the dynamic section does not end with DT_NULL")
		}
		if !tags[elf.DT_STRTAB] || !tags[elf.DT_SYMTAB] {
			c.fail("dynamic", "no DT_STRTAB or DT_SYMTAB")
		}
		for _, t := range []elf.DynTag{elf.DT_REL, elf.DT_RELSZ, elf.DT_RELA, elf.DT_RELASZ, elf.DT_JMPREL, elf.DT_PLTRELSZ, elf.DT_TEXTREL, dtRELRSZ, dtRELR} {
			if tags[t] {
				c.fail("no-relocations", "dynamic section has %v", t)
			}
		}
		if !tags[elf.DT_HASH] {
			c.fail("dt-hash", "no DT_HASH")
		}
		if !tags[elf.DT_GNU_HASH] {
			c.fail("dt-gnu-hash", "no DT_GNU_HASH")
		}
		if !tags[elf.DT_VERSYM] || !tags[elf.DT_VERDEF] {
			c.fail("versions", "DT_VERSYM %v, DT_VERDEF %v: want both", tags[elf.DT_VERSYM], tags[elf.DT_VERDEF])
		}
	}

	// Sections.
	for _, s := range f.Sections {
		switch {
		case s.Type == elf.SHT_REL || s.Type == elf.SHT_RELA || s.Type == shtRELR:
			c.fail("no-relocations", "relocation section %s (%v)", s.Name, s.Type)
		}
		if s.Flags&elf.SHF_ALLOC == 0 {
			continue
		}
		if s.Flags&elf.SHF_WRITE != 0 {
			c.fail("no-writable-sections", "section %s is writable", s.Name)
		}
		if s.Type == elf.SHT_NOBITS {
			c.fail("no-writable-sections", "section %s is SHT_NOBITS (.bss)", s.Name)
			continue
		}
		if s.Addr != s.Offset || !inLoad(s.Offset, s.Size) {
			c.fail("sections-in-load", "section %s [offset %#x, vaddr %#x, +%#x) is not inside the PT_LOAD at its own offset", s.Name, s.Offset, s.Addr, s.Size)
		}
	}

	c.checkMarkers(f)
	c.checkUnwindTables(f)

	// Symbols.
	syms, err := f.DynamicSymbols()
	if err != nil {
		c.fail("dynamic", "dynamic symbols: %v", err)
		return
	}
	seen := map[string]bool{}
	for _, s := range syms {
		key := s.Name + "@" + s.Version
		if seen[key] {
			c.fail("duplicate-symbols", "symbol %s defined twice", key)
		}
		seen[key] = true
		if s.Section == elf.SHN_UNDEF {
			continue
		}
		if s.Name != "" && tags[elf.DT_VERSYM] && (!s.HasVersion || s.VersionIndex.Index() < 2 || s.Version == "") {
			c.fail("versions", "symbol %s has no defined version (index %d)", s.Name, s.VersionIndex.Index())
		}
		if elf.ST_TYPE(s.Info) != elf.STT_FUNC {
			continue
		}
		if int(s.Section) >= len(f.Sections) {
			c.fail("symbol-bounds", "symbol %s in section %d, which does not exist", s.Name, s.Section)
			continue
		}
		sec := f.Sections[s.Section]
		if sec.Flags&elf.SHF_EXECINSTR == 0 || s.Value < sec.Addr || s.Size > sec.Size || s.Value-sec.Addr > sec.Size-s.Size {
			c.fail("symbol-bounds", "symbol %s [%#x, +%d) is not inside executable section %s [%#x, +%d)", s.Name, s.Value, s.Size, sec.Name, sec.Addr, sec.Size)
		}
	}
	if c.failed() {
		return // the lookup below assumes a sane file
	}
	r, err := NewResolver(c.b)
	if err != nil {
		c.fail("hash-tables", "%v", err)
		return
	}
	for _, s := range syms {
		if s.Section == elf.SHN_UNDEF || elf.ST_TYPE(s.Info) != elf.STT_FUNC || (elf.ST_BIND(s.Info) != elf.STB_GLOBAL && elf.ST_BIND(s.Info) != elf.STB_WEAK) {
			continue
		}
		for _, how := range []struct {
			name string
			f    func(string, string) (Symbol, error)
		}{{"DT_GNU_HASH", r.LookupGNU}, {"DT_HASH", r.LookupSysV}} {
			got, err := how.f(s.Name, s.Version)
			if err != nil {
				c.fail("hash-tables", "%s@%s through %s: %v", s.Name, s.Version, how.name, err)
			} else if got.Value != s.Value {
				c.fail("hash-tables", "%s@%s through %s is %#x, the symbol table says %#x", s.Name, s.Version, how.name, got.Value, s.Value)
			}
		}
	}
}

// RELR relocations (not in debug/elf's constants).
const (
	dtRELRSZ = elf.DynTag(35)
	dtRELR   = elf.DynTag(36)
	shtRELR  = elf.SectionType(19)
)

func (c *checker) failed() bool { return len(c.vs) > 0 }

// checkMarkers applies rule "markers" to the marker section of f, if any.
func (c *checker) checkMarkers(f *elf.File) {
	s := f.Section(MarkersSection)
	if s == nil {
		return // optional: images from before the section are valid
	}
	if s.Type != elf.SHT_PROGBITS || s.Flags != 0 {
		c.fail("markers", "section %s is %v with flags %v, want SHT_PROGBITS without flags (not loaded)", s.Name, s.Type, s.Flags)
	}
	sec, code, err := markerBytes(f, c.b)
	if err != nil {
		c.fail("markers", "%v", err)
		return
	}
	m, err := ParseMarkers(sec, len(code))
	if err != nil {
		c.fail("markers", "%v", err)
		return
	}
	for _, p := range m.problems(code) {
		c.fail("markers", "%s", p)
	}
}

// Symbols returns the defined dynamic symbols of file as name@version ->
// value and size, sorted by name.
func Symbols(file []byte) ([]Symbol, error) {
	f, err := elf.NewFile(bytesReader(file))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	syms, err := f.DynamicSymbols()
	if err != nil {
		return nil, err
	}
	var out []Symbol
	for _, s := range syms {
		if s.Section != elf.SHN_UNDEF {
			out = append(out, Symbol{Name: s.Name, Version: s.Version, Value: s.Value, Size: s.Size})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name+"@"+out[i].Version < out[j].Name+"@"+out[j].Version })
	return out, nil
}

// CheckSame checks each image (Check) and then that all of them define
// the same symbols with the same values and sizes (rule "same-symbols"):
// a process may switch between them, or a checkpoint taken with one be
// restored with another, only if every entry stays where it was (CRIU
// compares vDSO symbol offsets the same way). The keys name the images in
// errors.
func CheckSame(images map[string][]byte) error {
	names := make([]string, 0, len(images))
	for n := range images {
		names = append(names, n)
	}
	sort.Strings(names)
	var all []Violation
	var first string
	var want map[string]Symbol
	for _, n := range names {
		if err := Check(images[n]); err != nil {
			for _, v := range err.(*CheckError).Violations {
				all = append(all, Violation{v.Rule, n + ": " + v.Detail})
			}
			continue
		}
		syms, err := Symbols(images[n])
		if err != nil {
			all = append(all, Violation{"header", n + ": " + err.Error()})
			continue
		}
		have := map[string]Symbol{}
		for _, s := range syms {
			have[s.Name+"@"+s.Version] = s
		}
		if want == nil {
			first, want = n, have
			continue
		}
		for k, w := range want {
			h, ok := have[k]
			switch {
			case !ok:
				all = append(all, Violation{"same-symbols", fmt.Sprintf("%s defines %s, %s does not", first, k, n)})
			case h.Value != w.Value || h.Size != w.Size:
				all = append(all, Violation{"same-symbols", fmt.Sprintf("%s is at %#x (%d bytes) in %s but at %#x (%d bytes) in %s", k, w.Value, w.Size, first, h.Value, h.Size, n)})
			}
		}
		for k := range have {
			if _, ok := want[k]; !ok {
				all = append(all, Violation{"same-symbols", fmt.Sprintf("%s defines %s, %s does not", n, k, first)})
			}
		}
	}
	if len(all) == 0 {
		return nil
	}
	sort.SliceStable(all, func(i, j int) bool { return all[i].Detail < all[j].Detail })
	return &CheckError{Violations: all}
}

// CheckDir checks the ELF images of program in dir, z<program>_*.so, with
// CheckSame. It returns the files it checked, sorted; none is not an error
// (the images are optional, vdsogen -elf). `vdsogen verify` checks more:
// the whole-image checks of this package (HashProblems, VersionProblems,
// PageProblems, SymbolProblems) and, in internal/verify, the code against
// the assembled variants and the verifier's rules.
func CheckDir(dir, program string) ([]string, error) {
	paths, err := filepath.Glob(layout.Files(program).AllELF(dir))
	if err != nil {
		return nil, err
	}
	sort.Strings(paths)
	images := map[string][]byte{}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		images[filepath.Base(p)] = b
	}
	return paths, CheckSame(images)
}
