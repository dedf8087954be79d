package elfimage

import (
	"debug/elf"
	"encoding/binary"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/vdsogen/vdsogen/layout"
)

// Debug is what the debugging sections of an image describe: which
// program line produced each byte (.debug_line, .debug_info) and the names
// of the places inside the code (.symtab).
type Debug struct {
	// Source maps code offsets to generator program positions
	// ("asm.go:39:2", as layout.Variant.Source), in increasing Offset order.
	Source []layout.Span
	// Labels name places in the code besides the entries (which .symtab
	// always names): program labels, marker sites, static branch bodies,
	// region boundaries and abort handlers.
	Labels []Label
	// Producer is recorded as the compile unit's DW_AT_producer.
	Producer string
}

// Label is a named code offset, a local NOTYPE symbol in .symtab.
type Label struct {
	Name   string
	Offset int
}

// Names of the debugging sections.
const (
	symtabSection      = ".symtab"
	strtabSection      = ".strtab"
	debugAbbrevSection = ".debug_abbrev"
	debugInfoSection   = ".debug_info"
	debugLineSection   = ".debug_line"
)

// DWARF constants (DWARF 4).
const (
	dwTagCompileUnit = 0x11
	dwTagSubprogram  = 0x2e
	dwAtName         = 0x03
	dwAtStmtList     = 0x10
	dwAtLowPC        = 0x11
	dwAtHighPC       = 0x12
	dwAtLanguage     = 0x13
	dwAtProducer     = 0x25
	dwAtExternal     = 0x3f
	dwFormAddr       = 0x01
	dwFormData2      = 0x05
	dwFormData8      = 0x07
	dwFormString     = 0x08
	dwFormSecOffset  = 0x17
	dwFormFlagPres   = 0x19
	dwLangAssembler  = 0x8001 // DW_LANG_Mips_Assembler, what gas and Go's assembler output use
	dwLNSCopy        = 0x01
	dwLNSAdvancePC   = 0x02
	dwLNSAdvanceLine = 0x03
	dwLNSSetFile     = 0x04
	dwLNSSetColumn   = 0x05
	dwLNEEndSequence = 0x01
	dwLNESetAddress  = 0x02
	lineOpcodeBase   = 13
)

// sourcePos is a parsed program position.
type sourcePos struct {
	file      string
	line, col int
}

// parsePos splits "file:line[:col]" (the file may itself hold colons).
func parsePos(s string) (sourcePos, error) {
	parts := strings.Split(s, ":")
	var nums []int
	for len(parts) > 1 && len(nums) < 2 {
		n, err := strconv.Atoi(parts[len(parts)-1])
		if err != nil {
			break
		}
		nums = append([]int{n}, nums...)
		parts = parts[:len(parts)-1]
	}
	file := strings.Join(parts, ":")
	if len(nums) == 0 || file == "" || nums[0] <= 0 {
		return sourcePos{}, fmt.Errorf("source position %q is not file:line[:col]", s)
	}
	p := sourcePos{file: file, line: nums[0]}
	if len(nums) == 2 {
		p.col = nums[1]
	}
	return p, nil
}

func validateDebug(d *Debug, codeSize int, names map[string]bool) error {
	prev := -1
	for _, s := range d.Source {
		if s.Offset <= prev || s.Offset >= codeSize {
			return fmt.Errorf("elfimage: source span at %#x: spans must be in increasing order inside the %d-byte code", s.Offset, codeSize)
		}
		prev = s.Offset
		if _, err := parsePos(s.Source); err != nil {
			return fmt.Errorf("elfimage: source span at %#x: %w", s.Offset, err)
		}
		if strings.IndexByte(s.Source, 0) >= 0 {
			return fmt.Errorf("elfimage: source span at %#x: NUL in %q", s.Offset, s.Source)
		}
	}
	seen := map[string]bool{}
	for _, l := range d.Labels {
		if l.Name == "" || strings.IndexByte(l.Name, 0) >= 0 || seen[l.Name] || names[l.Name] {
			return fmt.Errorf("elfimage: label %q: want a unique name without NUL", l.Name)
		}
		seen[l.Name] = true
		if l.Offset < 0 || l.Offset > codeSize {
			return fmt.Errorf("elfimage: label %s at %#x is outside the %d-byte code", l.Name, l.Offset, codeSize)
		}
	}
	if strings.IndexByte(d.Producer, 0) >= 0 {
		return fmt.Errorf("elfimage: NUL in producer %q", d.Producer)
	}
	return nil
}

// encodeLines returns .debug_line (version 4) for code at address text:
// one row at the start of every source span, marked as a statement, and
// one sequence ending at the end of the code.
func encodeLines(spans []layout.Span, text, codeSize int) []byte {
	var files []string
	fileIdx := map[string]int{}
	var pos []sourcePos
	for _, s := range spans {
		p, _ := parsePos(s.Source) // validated
		if _, ok := fileIdx[p.file]; !ok {
			files = append(files, p.file)
			fileIdx[p.file] = len(files) // 1-based in DWARF 4
		}
		pos = append(pos, p)
	}
	var hdr []byte
	hdr = append(hdr, 1, 1, 1, 0xfb, 14, lineOpcodeBase) // min inst length, max ops, default_is_stmt, line_base -5, line_range, opcode_base
	hdr = append(hdr, 0, 1, 1, 1, 1, 0, 0, 0, 1, 0, 0, 1)
	hdr = append(hdr, 0) // no include directories: file names are relative to the compilation directory
	for _, f := range files {
		hdr = append(hdr, f...)
		hdr = append(hdr, 0, 0, 0, 0) // NUL, directory 0, no mtime, no length
	}
	hdr = append(hdr, 0)

	var prog []byte
	prog = append(prog, 0, 9, dwLNESetAddress)
	prog = binary.LittleEndian.AppendUint64(prog, uint64(text))
	addr, line, file, col := 0, 1, 1, 0
	for i, s := range spans {
		p := pos[i]
		if d := s.Offset - addr; d > 0 {
			prog = append(prog, dwLNSAdvancePC)
			prog = binary.AppendUvarint(prog, uint64(d))
			addr = s.Offset
		}
		if f := fileIdx[p.file]; f != file {
			prog = append(prog, dwLNSSetFile)
			prog = binary.AppendUvarint(prog, uint64(f))
			file = f
		}
		if p.line != line {
			prog = append(prog, dwLNSAdvanceLine)
			prog = appendSLEB(prog, int64(p.line-line))
			line = p.line
		}
		if p.col != col {
			prog = append(prog, dwLNSSetColumn)
			prog = binary.AppendUvarint(prog, uint64(p.col))
			col = p.col
		}
		prog = append(prog, dwLNSCopy)
	}
	if d := codeSize - addr; d > 0 {
		prog = append(prog, dwLNSAdvancePC)
		prog = binary.AppendUvarint(prog, uint64(d))
	}
	prog = append(prog, 0, 1, dwLNEEndSequence)

	var b []byte
	b = binary.LittleEndian.AppendUint32(b, uint32(2+4+len(hdr)+len(prog)))
	b = binary.LittleEndian.AppendUint16(b, 4)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(hdr)))
	b = append(b, hdr...)
	return append(b, prog...)
}

// appendSLEB appends v as a signed LEB128 number (binary.AppendVarint
// zigzag-encodes, which DWARF does not).
func appendSLEB(b []byte, v int64) []byte {
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if (v == 0 && c&0x40 == 0) || (v == -1 && c&0x40 != 0) {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}

// encodeAbbrev returns .debug_abbrev: 1 the compile unit, 2 an entry.
func encodeAbbrev() []byte {
	return []byte{
		1, dwTagCompileUnit, 1, // has children
		dwAtProducer, dwFormString,
		dwAtLanguage, dwFormData2,
		dwAtName, dwFormString,
		dwAtStmtList, dwFormSecOffset,
		dwAtLowPC, dwFormAddr,
		dwAtHighPC, dwFormData8,
		0, 0,
		2, dwTagSubprogram, 0,
		dwAtName, dwFormString,
		dwAtLowPC, dwFormAddr,
		dwAtHighPC, dwFormData8,
		dwAtExternal, dwFormFlagPres,
		0, 0,
		0,
	}
}

// encodeInfo returns .debug_info (version 4): one compile unit named after
// the program's first source file, covering the code, with a subprogram
// per entry so that debuggers name frames and find function bounds.
func encodeInfo(d *Debug, entries []Entry, text, codeSize int) []byte {
	name := ""
	if len(d.Source) > 0 {
		p, _ := parsePos(d.Source[0].Source)
		name = p.file
	}
	var die []byte
	str := func(s string) { die = append(append(die, s...), 0) }
	u64 := func(v int) { die = binary.LittleEndian.AppendUint64(die, uint64(v)) }
	die = append(die, 1)
	str(d.Producer)
	die = binary.LittleEndian.AppendUint16(die, dwLangAssembler)
	str(name)
	die = binary.LittleEndian.AppendUint32(die, 0) // .debug_line offset
	u64(text)
	u64(codeSize)
	sorted := append([]Entry(nil), entries...)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].Offset < sorted[j].Offset })
	for _, e := range sorted {
		die = append(die, 2)
		str(e.Name)
		u64(text + e.Offset)
		u64(e.Size)
	}
	die = append(die, 0) // end of the unit's children
	var b []byte
	b = binary.LittleEndian.AppendUint32(b, uint32(2+4+1+len(die)))
	b = binary.LittleEndian.AppendUint16(b, 4)
	b = binary.LittleEndian.AppendUint32(b, 0) // .debug_abbrev offset
	b = append(b, 8)                           // address size
	return append(b, die...)
}

// symtabEntry is one .symtab symbol before placement.
type symtabEntry struct {
	name  string
	info  byte
	value uint64
	size  uint64
}

// encodeSymtab returns .symtab, .strtab and the index of the first
// non-local symbol: the null symbol, a local NOTYPE symbol per label and
// page, then
// every entry as in .dynsym (__vdso_<e> GLOBAL, <e> WEAK, FUNC). Each
// data page is a local absolute OBJECT at its (negative) offset from the
// load address, so that disassemblers name the data references.
func encodeSymtab(d *Debug, entries []Entry, pages []Page, text int, textIdx uint16) (symtab, strtab []byte, firstGlobal int) {
	var syms []symtabEntry
	for _, p := range pages {
		syms = append(syms, symtabEntry{p.Symbol, elf.ST_INFO(elf.STB_LOCAL, elf.STT_OBJECT), uint64(p.Offset()), uint64(p.Size)})
	}
	labels := append([]Label(nil), d.Labels...)
	sort.SliceStable(labels, func(i, j int) bool { return labels[i].Offset < labels[j].Offset })
	for _, l := range labels {
		syms = append(syms, symtabEntry{l.Name, elf.ST_INFO(elf.STB_LOCAL, elf.STT_NOTYPE), uint64(text + l.Offset), 0})
	}
	firstGlobal = len(syms) + 1
	for _, e := range entries {
		syms = append(syms,
			symtabEntry{"__vdso_" + e.Name, elf.ST_INFO(elf.STB_GLOBAL, elf.STT_FUNC), uint64(text + e.Offset), uint64(e.Size)},
			symtabEntry{e.Name, elf.ST_INFO(elf.STB_WEAK, elf.STT_FUNC), uint64(text + e.Offset), uint64(e.Size)})
	}
	strtab = []byte{0}
	symtab = make([]byte, symSize*(len(syms)+1))
	for i, s := range syms {
		p := symtab[symSize*(i+1):]
		le.PutUint32(p[0:], uint32(len(strtab)))
		strtab = append(append(strtab, s.name...), 0)
		p[4] = s.info
		p[5] = byte(elf.STV_DEFAULT)
		if elf.ST_TYPE(s.info) == elf.STT_OBJECT {
			le.PutUint16(p[6:], uint16(elf.SHN_ABS)) // a data page, below the image
		} else {
			le.PutUint16(p[6:], textIdx)
		}
		le.PutUint64(p[8:], s.value)
		le.PutUint64(p[16:], s.size)
	}
	return symtab, strtab, firstGlobal
}
