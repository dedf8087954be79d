package elfimage

import (
	"debug/elf"
	"fmt"
	"sort"
	"strings"
)

// TextSection returns the file offset (equal to its address) and the bytes
// of the image's .text.
func TextSection(file []byte) (addr uint64, code []byte, err error) {
	f, err := elf.NewFile(bytesReader(file))
	if err != nil {
		return 0, nil, err
	}
	defer f.Close()
	s := f.Section(".text")
	if s == nil {
		return 0, nil, fmt.Errorf("no .text section")
	}
	code, err = sectionBytes(s, file)
	if err != nil {
		return 0, nil, err
	}
	if s.Addr != s.Offset {
		return 0, nil, fmt.Errorf(".text at file offset %#x has address %#x", s.Offset, s.Addr)
	}
	return s.Addr, code, nil
}

// EntriesOf returns the entries an image exports: one per GLOBAL FUNC
// symbol __vdso_<name>, as offsets in .text (at address text), sorted by
// offset. A symbol below .text gets a negative offset (SymbolProblems
// reports it).
func EntriesOf(file []byte, text uint64) ([]Entry, error) {
	syms, err := rawSymbols(file)
	if err != nil {
		return nil, err
	}
	var out []Entry
	for _, s := range syms {
		if name, ok := strings.CutPrefix(s.name, "__vdso_"); ok && s.exported() && elf.ST_BIND(s.info) == elf.STB_GLOBAL {
			out = append(out, Entry{Name: name, Offset: int(int64(s.value) - int64(text)), Size: int(min(s.size, 1<<30))})
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Offset < out[j].Offset })
	return out, nil
}

// rawSymbols reads every dynamic symbol record.
func rawSymbols(file []byte) ([]dynSym, error) {
	r, err := NewResolver(file)
	if err != nil {
		return nil, err
	}
	n, err := symbolCount(file)
	if err != nil {
		return nil, err
	}
	return r.dynSyms(n)
}

// SymbolProblems checks the dynamic symbols against the entries, given as
// offsets in .text (at address text, textSize bytes): for every entry,
// __vdso_<name> is a GLOBAL FUNC of default visibility in .text (section
// index textIndex) with the value text+Offset and the entry's size, and
// the weak alias <name> is a WEAK FUNC with the same value and size; no
// other symbol is defined. Offsets point at the symbol's record.
func SymbolProblems(file []byte, entries []Entry) []Problem {
	f, err := elf.NewFile(bytesReader(file))
	if err != nil {
		return []Problem{{Check: CheckSymbols, Msg: err.Error()}}
	}
	defer f.Close()
	textIndex := -1
	for i, s := range f.Sections {
		if s.Name == ".text" {
			textIndex = i
		}
	}
	text, code, err := TextSection(file)
	if err != nil {
		return []Problem{{Check: CheckSymbols, Msg: err.Error()}}
	}
	syms, err := rawSymbols(file)
	if err != nil {
		return []Problem{{Check: CheckSymbols, Msg: err.Error()}}
	}
	var ps []Problem
	bad := func(s dynSym, format string, args ...any) {
		ps = append(ps, Problem{CheckSymbols, s.off, s.name, fmt.Sprintf(format, args...)})
	}
	byName := map[string][]dynSym{}
	for _, s := range syms[1:] {
		byName[s.name] = append(byName[s.name], s)
	}
	known := map[string]bool{}
	for _, e := range entries {
		strong, weak := "__vdso_"+e.Name, e.Name
		known[strong], known[weak] = true, true
		want := text + uint64(e.Offset)
		for _, c := range []struct {
			name string
			bind elf.SymBind
		}{{strong, elf.STB_GLOBAL}, {weak, elf.STB_WEAK}} {
			ss := byName[c.name]
			if len(ss) != 1 {
				at := int64(0)
				if len(ss) > 0 {
					at = ss[1].off
				}
				ps = append(ps, Problem{CheckSymbols, at, c.name, fmt.Sprintf("entry %s: %d symbols named %s, want 1", e.Name, len(ss), c.name)})
				continue
			}
			s := ss[0]
			switch {
			case elf.ST_TYPE(s.info) != elf.STT_FUNC || elf.ST_BIND(s.info) != c.bind || elf.ST_VISIBILITY(s.other) != elf.STV_DEFAULT:
				bad(s, "%s is %v %v %v, want FUNC %v DEFAULT", s.name, elf.ST_TYPE(s.info), elf.ST_BIND(s.info), elf.ST_VISIBILITY(s.other), c.bind)
			case int(s.shndx) != textIndex:
				bad(s, "%s is in section %d, not .text (%d)", s.name, s.shndx, textIndex)
			case s.value != want || s.size != uint64(e.Size):
				msg := fmt.Sprintf("%s is at %#x (.text offset %#x), %d bytes; entry %s is at %#x (.text offset %#x), %d bytes", s.name, s.value, int64(s.value)-int64(text), s.size, e.Name, want, e.Offset, e.Size)
				if st := byName[strong]; c.bind == elf.STB_WEAK && len(st) == 1 && (st[0].value != s.value || st[0].size != s.size) {
					msg += fmt.Sprintf("; the weak alias differs from its strong symbol %s at %#x, %d bytes", strong, st[0].value, st[0].size)
				}
				bad(s, "%s", msg)
			case e.Offset < 0 || e.Size <= 0 || e.Offset+e.Size > len(code):
				bad(s, "%s [%#x, +%d) is not inside the %d-byte .text", s.name, s.value, s.size, len(code))
			}
		}
	}
	for _, s := range syms[1:] {
		if !known[s.name] && elf.SectionIndex(s.shndx) != elf.SHN_UNDEF {
			bad(s, "symbol %d (%s) is no entry's symbol or weak alias", s.index, s.name)
		}
	}
	return ps
}
