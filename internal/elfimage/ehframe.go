package elfimage

import (
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
)

// Unwind tables. Every entry gets one FDE in .eh_frame, generated from the
// verifier's stack model: at an instruction where depth bytes lie below
// the return address, the canonical frame address (CFA) is RSP+8+depth and
// the return address is at CFA-8. .eh_frame_hdr holds the binary search
// table libgcc's unwinder (through dl_iterate_phdr and PT_GNU_EH_FRAME),
// libunwind, gdb and perf use to find the FDE of an address.

// DWARF register numbers and CFA instructions used here (x86-64 psABI,
// DWARF 5 section 6.4.2).
const (
	dwRegRSP = 7
	dwRegRA  = 16

	cfaAdvanceLoc       = 0x40 // high 2 bits; delta in the low 6
	cfaOffset           = 0x80 // high 2 bits; register in the low 6, ULEB offset
	cfaRestore          = 0xc0 // high 2 bits; register in the low 6
	cfaNop              = 0x00
	cfaAdvanceLoc1      = 0x02
	cfaAdvanceLoc2      = 0x03
	cfaAdvanceLoc4      = 0x04
	cfaRememberState    = 0x0a
	cfaRestoreState     = 0x0b
	cfaDefCFA           = 0x0c
	cfaDefCFARegister   = 0x0d
	cfaDefCFAOffset     = 0x0e
	ehPEpcrelSdata4     = 0x1b // DW_EH_PE_pcrel | DW_EH_PE_sdata4
	ehPEudata4          = 0x03
	ehPEdatarelSdata4   = 0x3b // DW_EH_PE_datarel | DW_EH_PE_sdata4
	ptGNUEHFrame        = elf.ProgType(0x6474e550)
	ehFrameSection      = ".eh_frame"
	ehFrameHdrSection   = ".eh_frame_hdr"
	ehFrameHdrTableFrom = 12 // the search table's offset in .eh_frame_hdr
)

// cie is the one CIE every FDE uses: version 1, augmentation "zR" (FDE
// addresses pcrel sdata4), code alignment 1, data alignment -8, return
// address column 16; initially CFA = RSP+8 and the return address at
// CFA-8, the state at a function's first instruction.
var cie = func() []byte {
	body := []byte{
		0, 0, 0, 0, // CIE id
		1,           // version
		'z', 'R', 0, // augmentation
		1,    // code alignment factor (ULEB)
		0x78, // data alignment factor -8 (SLEB)
		dwRegRA,
		1, ehPEpcrelSdata4, // augmentation data: FDE pointer encoding
		cfaDefCFA, dwRegRSP, 8,
		cfaOffset | dwRegRA, 1, // RA at CFA + 1*-8
	}
	for (4+len(body))%8 != 0 {
		body = append(body, cfaNop)
	}
	return append(binary.LittleEndian.AppendUint32(nil, uint32(len(body))), body...)
}()

// fdeRange is the code an FDE covers, as offsets in .text.
type fdeRange struct{ start, end int }

// cfaProgram returns the CFA instructions of an FDE covering [start, end):
// one DW_CFA_def_cfa_offset at every instruction whose depth differs from
// the row before it in address order. Offsets the model has no depth for
// (unreachable filler) keep the row before them.
func cfaProgram(r fdeRange, depth map[int]int) []byte {
	offs := make([]int, 0, len(depth))
	for o := range depth {
		if o >= r.start && o < r.end {
			offs = append(offs, o)
		}
	}
	sort.Ints(offs)
	var p []byte
	loc, cur := r.start, 0
	for _, o := range offs {
		d := depth[o]
		if d == cur {
			continue
		}
		p = appendAdvance(p, o-loc)
		p = append(p, cfaDefCFAOffset)
		p = binary.AppendUvarint(p, uint64(8+d))
		loc, cur = o, d
	}
	return p
}

func appendAdvance(p []byte, delta int) []byte {
	switch {
	case delta == 0:
		return p
	case delta < 0x40:
		return append(p, cfaAdvanceLoc|byte(delta))
	case delta <= 0xff:
		return append(p, cfaAdvanceLoc1, byte(delta))
	case delta <= 0xffff:
		return binary.LittleEndian.AppendUint16(append(p, cfaAdvanceLoc2), uint16(delta))
	}
	return binary.LittleEndian.AppendUint32(append(p, cfaAdvanceLoc4), uint32(delta))
}

// unwindRanges returns the ranges that get an FDE: every entry, in
// address order.
func unwindRanges(entries []Entry) []fdeRange {
	var rs []fdeRange
	for _, e := range entries {
		rs = append(rs, fdeRange{e.Offset, e.Offset + e.Size})
	}
	sort.Slice(rs, func(i, j int) bool { return rs[i].start < rs[j].start })
	return rs
}

// encodeEHFrame returns .eh_frame for code at address text, the section
// itself at address at, and each FDE's offset in it. The size does not
// depend on the addresses.
func encodeEHFrame(ranges []fdeRange, depth map[int]int, text, at int) ([]byte, []int) {
	b := append([]byte(nil), cie...)
	var offs []int
	for _, r := range ranges {
		start := len(b)
		offs = append(offs, start)
		body := binary.LittleEndian.AppendUint32(nil, uint32(start+4)) // CIE pointer: back to offset 0
		pcField := at + start + 8
		body = binary.LittleEndian.AppendUint32(body, uint32(int32(text+r.start-pcField)))
		body = binary.LittleEndian.AppendUint32(body, uint32(r.end-r.start))
		body = append(body, 0) // no augmentation data
		body = append(body, cfaProgram(r, depth)...)
		for (4+len(body))%8 != 0 {
			body = append(body, cfaNop)
		}
		b = binary.LittleEndian.AppendUint32(b, uint32(len(body)))
		b = append(b, body...)
	}
	return binary.LittleEndian.AppendUint32(b, 0), offs // the zero terminator
}

// encodeEHFrameHdr returns .eh_frame_hdr at address at for .eh_frame at
// address frame, whose FDEs (at offsets fdes) cover ranges, sorted.
func encodeEHFrameHdr(ranges []fdeRange, fdes []int, text, at, frame int) []byte {
	b := []byte{1, ehPEpcrelSdata4, ehPEudata4, ehPEdatarelSdata4}
	b = binary.LittleEndian.AppendUint32(b, uint32(int32(frame-(at+4))))
	b = binary.LittleEndian.AppendUint32(b, uint32(len(ranges)))
	for i, r := range ranges {
		b = binary.LittleEndian.AppendUint32(b, uint32(int32(text+r.start-at)))
		b = binary.LittleEndian.AppendUint32(b, uint32(int32(frame+fdes[i]-at)))
	}
	return b
}

// ehFrameHdrSize is the size of .eh_frame_hdr for n FDEs.
func ehFrameHdrSize(n int) int { return ehFrameHdrTableFrom + 8*n }

// validateStack checks that a stack model can describe the code: depths
// inside it, never negative, and 0 at every entry (the caller's frame).
func validateStack(depth map[int]int, entries []Entry, codeSize int) error {
	for o, d := range depth {
		if o < 0 || o >= codeSize {
			return fmt.Errorf("elfimage: stack depth given at offset %#x, outside the %d-byte code", o, codeSize)
		}
		if d < 0 || d%8 != 0 || d > 1<<20 {
			return fmt.Errorf("elfimage: stack depth %d at offset %#x: want a non-negative multiple of 8", d, o)
		}
	}
	for _, e := range entries {
		if d, ok := depth[e.Offset]; !ok || d != 0 {
			return fmt.Errorf("elfimage: entry %s: the stack model has no depth 0 at its first instruction (%#x)", e.Name, e.Offset)
		}
	}
	return nil
}

// FrameRow is the unwind rule of a range of code: the CFA is
// register CFAReg plus CFAOffset, the return address at CFA+RAOffset.
type FrameRow struct {
	// Start and End bound the addresses the row covers.
	Start, End uint64
	CFAReg     uint64
	CFAOffset  int64
	RAOffset   int64
}

// FDE is one decoded frame description entry.
type FDE struct {
	Start, End uint64
	Rows       []FrameRow
}

// ReadUnwind decodes the unwind tables of file as an unwinder finds them:
// PT_GNU_EH_FRAME, then .eh_frame_hdr's search table, then every FDE it
// lists (with its CIE), interpreted into rows. It supports the CFA
// instructions a table describing a stack pointer based frame needs and
// rejects the rest. The FDEs are in table (address) order.
func ReadUnwind(file []byte) ([]FDE, error) {
	f, err := elf.NewFile(bytesReader(file))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var hdrProg *elf.Prog
	for _, p := range f.Progs {
		if p.Type == ptGNUEHFrame {
			if hdrProg != nil {
				return nil, errors.New("two PT_GNU_EH_FRAME segments")
			}
			hdrProg = p
		}
	}
	if hdrProg == nil {
		return nil, errors.New("no PT_GNU_EH_FRAME")
	}
	r, err := NewResolver(file)
	if err != nil {
		return nil, err
	}
	at := hdrProg.Vaddr
	hdr := r.at(at, 0, hdrProg.Memsz)
	if hdr == nil || len(hdr) < ehFrameHdrTableFrom {
		return nil, fmt.Errorf("PT_GNU_EH_FRAME [%#x, +%#x) is not inside the PT_LOAD", at, hdrProg.Memsz)
	}
	if hdr[0] != 1 || hdr[1] != ehPEpcrelSdata4 || hdr[2] != ehPEudata4 || hdr[3] != ehPEdatarelSdata4 {
		return nil, fmt.Errorf(".eh_frame_hdr version %d, encodings %#x %#x %#x: want 1, %#x %#x %#x", hdr[0], hdr[1], hdr[2], hdr[3], ehPEpcrelSdata4, ehPEudata4, ehPEdatarelSdata4)
	}
	n := uint64(le.Uint32(hdr[8:]))
	if n > (uint64(len(hdr))-ehFrameHdrTableFrom)/8 {
		return nil, fmt.Errorf(".eh_frame_hdr lists %d FDEs but holds room for %d", n, (len(hdr)-ehFrameHdrTableFrom)/8)
	}
	frame := at + 4 + uint64(int64(int32(le.Uint32(hdr[4:]))))
	// Unwinders need no section headers; where they exist, they agree.
	if s := f.Section(ehFrameSection); (s == nil && len(f.Sections) > 0) || (s != nil && s.Addr != frame) {
		return nil, fmt.Errorf(".eh_frame_hdr points at %#x for .eh_frame, which is not the start of section %s", frame, ehFrameSection)
	}
	var out []FDE
	for i := uint64(0); i < n; i++ {
		e := hdr[ehFrameHdrTableFrom+8*i:]
		loc := at + uint64(int64(int32(le.Uint32(e))))
		fdeAt := at + uint64(int64(int32(le.Uint32(e[4:]))))
		fde, err := readFDE(r, fdeAt)
		if err != nil {
			return nil, fmt.Errorf("FDE %d at %#x: %w", i, fdeAt, err)
		}
		if fde.Start != loc {
			return nil, fmt.Errorf("FDE %d at %#x starts at %#x, the search table says %#x", i, fdeAt, fde.Start, loc)
		}
		if i > 0 && out[i-1].End > fde.Start {
			return nil, fmt.Errorf("FDE %d [%#x, %#x) is not after FDE %d [%#x, %#x): the search table must be sorted and the FDEs disjoint", i, fde.Start, fde.End, i-1, out[i-1].Start, out[i-1].End)
		}
		out = append(out, fde)
	}
	return out, nil
}

// readFDE decodes the FDE at address at and its CIE.
func readFDE(r *Resolver, at uint64) (FDE, error) {
	rec := func(at uint64) ([]byte, error) {
		h := r.at(at, 0, 4)
		if h == nil {
			return nil, fmt.Errorf("record at %#x is outside the PT_LOAD", at)
		}
		n := uint64(le.Uint32(h))
		if n == 0 || n == 0xffffffff {
			return nil, fmt.Errorf("record at %#x has length %#x", at, n)
		}
		b := r.at(at, 4, n)
		if b == nil {
			return nil, fmt.Errorf("record at %#x of %d bytes runs outside the PT_LOAD", at, n)
		}
		return b, nil
	}
	fb, err := rec(at)
	if err != nil {
		return FDE{}, err
	}
	if len(fb) < 13 {
		return FDE{}, errors.New("FDE too short")
	}
	ciePtr := uint64(le.Uint32(fb))
	if ciePtr == 0 {
		return FDE{}, errors.New("a CIE where an FDE should be")
	}
	cieAt := at + 4 - ciePtr
	cb, err := rec(cieAt)
	if err != nil {
		return FDE{}, fmt.Errorf("CIE: %w", err)
	}
	init, err := parseCIE(cb)
	if err != nil {
		return FDE{}, fmt.Errorf("CIE at %#x: %w", cieAt, err)
	}
	start := at + 8 + uint64(int64(int32(le.Uint32(fb[4:]))))
	size := uint64(le.Uint32(fb[8:]))
	augLen, n := binary.Uvarint(fb[12:])
	if n <= 0 || augLen > uint64(len(fb)-12-n) {
		return FDE{}, errors.New("bad augmentation data length")
	}
	prog := fb[12+n+int(augLen):]
	rows, err := runCFA(init, prog, start, start+size)
	if err != nil {
		return FDE{}, err
	}
	return FDE{Start: start, End: start + size, Rows: rows}, nil
}

// parseCIE checks that a CIE is the kind Write emits (the fields an
// unwinder needs to read our FDEs) and returns its initial instructions.
func parseCIE(b []byte) ([]byte, error) {
	if len(b) < 4 || le.Uint32(b) != 0 {
		return nil, errors.New("not a CIE (id is not 0)")
	}
	b = b[4:]
	want := cie[8:] // after length and id: version, "zR", factors, RA, augmentation
	fixed := 1 + 3 + 1 + 1 + 1 + 2
	if len(b) < fixed || string(b[:fixed]) != string(want[:fixed]) {
		return nil, fmt.Errorf("header % x, want % x (version 1, \"zR\", code alignment 1, data alignment -8, RA column 16, pcrel sdata4 pointers)", b[:min(fixed, len(b))], want[:fixed])
	}
	return b[fixed:], nil
}

// runCFA interprets a CIE's initial instructions and an FDE's program
// over [start, end) into rows.
func runCFA(init, prog []byte, start, end uint64) ([]FrameRow, error) {
	type state struct {
		reg       uint64
		off, ra   int64
		raDefined bool
	}
	var cur state
	var saved []state
	var rows []FrameRow
	loc := start
	exec := func(p []byte, inCIE bool) error {
		for len(p) > 0 {
			op := p[0]
			p = p[1:]
			uleb := func() (uint64, error) {
				v, n := binary.Uvarint(p)
				if n <= 0 {
					return 0, errors.New("truncated LEB128 operand")
				}
				p = p[n:]
				return v, nil
			}
			advance := func(delta uint64) error {
				if inCIE {
					return errors.New("an advance in a CIE's initial instructions")
				}
				if delta > end-loc {
					return fmt.Errorf("advances to %#x, past the FDE's end %#x", loc+delta, end)
				}
				if delta > 0 {
					rows = append(rows, FrameRow{Start: loc, End: loc + delta, CFAReg: cur.reg, CFAOffset: cur.off, RAOffset: cur.ra})
				}
				loc += delta
				return nil
			}
			var err error
			switch {
			case op&0xc0 == cfaAdvanceLoc:
				err = advance(uint64(op & 0x3f))
			case op&0xc0 == cfaOffset:
				var v uint64
				if v, err = uleb(); err == nil {
					if op&0x3f != dwRegRA {
						return fmt.Errorf("saves register %d: the stack model saves none", op&0x3f)
					}
					cur.ra, cur.raDefined = -8*int64(v), true
				}
			case op&0xc0 == cfaRestore:
				return fmt.Errorf("unsupported DW_CFA_restore of register %d", op&0x3f)
			case op == cfaNop:
			case op == cfaAdvanceLoc1 && len(p) >= 1:
				err = advance(uint64(p[0]))
				p = p[1:]
			case op == cfaAdvanceLoc2 && len(p) >= 2:
				err = advance(uint64(le.Uint16(p)))
				p = p[2:]
			case op == cfaAdvanceLoc4 && len(p) >= 4:
				err = advance(uint64(le.Uint32(p)))
				p = p[4:]
			case op == cfaDefCFA:
				if cur.reg, err = uleb(); err == nil {
					var o uint64
					o, err = uleb()
					cur.off = int64(o)
				}
			case op == cfaDefCFARegister:
				cur.reg, err = uleb()
			case op == cfaDefCFAOffset:
				var o uint64
				o, err = uleb()
				cur.off = int64(o)
			case op == cfaRememberState:
				saved = append(saved, cur)
			case op == cfaRestoreState:
				if len(saved) == 0 {
					return errors.New("DW_CFA_restore_state without a remembered state")
				}
				cur, saved = saved[len(saved)-1], saved[:len(saved)-1]
			default:
				return fmt.Errorf("unsupported or truncated CFA instruction %#x", op)
			}
			if err != nil {
				return err
			}
		}
		return nil
	}
	if err := exec(init, true); err != nil {
		return nil, fmt.Errorf("initial instructions: %w", err)
	}
	if !cur.raDefined {
		return nil, errors.New("the CIE does not say where the return address is")
	}
	if err := exec(prog, false); err != nil {
		return nil, err
	}
	if loc < end {
		rows = append(rows, FrameRow{Start: loc, End: end, CFAReg: cur.reg, CFAOffset: cur.off, RAOffset: cur.ra})
	}
	return rows, nil
}

// rowAt returns the row covering address a.
func rowAt(fdes []FDE, a uint64) (FrameRow, bool) {
	i := sort.Search(len(fdes), func(i int) bool { return fdes[i].End > a })
	if i == len(fdes) || fdes[i].Start > a {
		return FrameRow{}, false
	}
	for _, r := range fdes[i].Rows {
		if a >= r.Start && a < r.End {
			return r, true
		}
	}
	return FrameRow{}, false
}

// checkUnwindTables applies rule "eh-frame" (structure: what every image
// with unwind tables must satisfy, with no stack model at hand).
func (c *checker) checkUnwindTables(f *elf.File) {
	hasProg := false
	for _, p := range f.Progs {
		hasProg = hasProg || p.Type == ptGNUEHFrame
	}
	if !hasProg && f.Section(ehFrameSection) == nil && f.Section(ehFrameHdrSection) == nil {
		return // an image from before unwind tables
	}
	fdes, err := ReadUnwind(c.b)
	if err != nil {
		c.fail("eh-frame", "%v", err)
		return
	}
	if s := f.Section(ehFrameHdrSection); s == nil || !hasProg {
		c.fail("eh-frame", "want both section %s and PT_GNU_EH_FRAME", ehFrameHdrSection)
	} else {
		for _, p := range f.Progs {
			if p.Type == ptGNUEHFrame && (p.Vaddr != s.Addr || p.Memsz != s.Size) {
				c.fail("eh-frame", "PT_GNU_EH_FRAME [%#x, +%#x) is not section %s [%#x, +%#x)", p.Vaddr, p.Memsz, s.Name, s.Addr, s.Size)
			}
		}
	}
	text := f.Section(".text")
	for i, fde := range fdes {
		if text == nil || fde.Start < text.Addr || fde.End > text.Addr+text.Size {
			c.fail("eh-frame", "FDE %d [%#x, %#x) is not inside .text", i, fde.Start, fde.End)
		}
		for _, r := range fde.Rows {
			if r.CFAReg != dwRegRSP || r.CFAOffset < 8 || r.RAOffset != -8 {
				c.fail("eh-frame", "FDE %d at %#x: CFA = reg%d%+d, return address at CFA%+d: want CFA = RSP+8+depth and the return address at CFA-8", i, r.Start, r.CFAReg, r.CFAOffset, r.RAOffset)
				break
			}
		}
	}
	syms, err := f.DynamicSymbols()
	if err != nil {
		return // rule "dynamic" reports it
	}
	for _, s := range syms {
		if s.Section == elf.SHN_UNDEF || elf.ST_TYPE(s.Info) != elf.STT_FUNC || s.Size == 0 {
			continue
		}
		i := sort.Search(len(fdes), func(i int) bool { return fdes[i].End > s.Value })
		if i == len(fdes) || fdes[i].Start > s.Value || fdes[i].End < s.Value+s.Size {
			c.fail("eh-frame", "function %s [%#x, +%d) is not covered by one FDE", s.Name, s.Value, s.Size)
		}
	}
}

// CheckUnwind proves that the unwind tables of an image file agree with a
// stack model (as Image.Stack: code offset -> bytes below the return
// address at that instruction): at every instruction the model has a depth
// for, the row of the address the table gives has CFA = RSP+8+depth and
// the return address at CFA-8 (UnwindProblems). It also applies Check. The
// error lists every disagreement.
func CheckUnwind(file []byte, depth map[int]int) error {
	var vs []Violation
	if err := Check(file); err != nil {
		var ce *CheckError
		if errors.As(err, &ce) {
			vs = append(vs, ce.Violations...)
		} else {
			return err
		}
	}
	ps, err := UnwindProblems(file, depth)
	if err != nil {
		vs = append(vs, Violation{"unwind-model", err.Error()})
	}
	for _, p := range ps {
		vs = append(vs, Violation{"unwind-model", p.Msg})
	}
	if len(vs) == 0 {
		return nil
	}
	return &CheckError{Violations: vs}
}

// UnwindProblems lists every instruction, by code offset (Problem.Offset
// is an offset into .text here), at which the unwind tables disagree with
// the stack model depth; an error if the tables cannot be read.
func UnwindProblems(file []byte, depth map[int]int) ([]Problem, error) {
	fdes, err := ReadUnwind(file)
	if err != nil {
		return nil, err
	}
	text, _, err := Section(file, ".text")
	if err != nil {
		return nil, err
	}
	offs := make([]int, 0, len(depth))
	for o := range depth {
		offs = append(offs, o)
	}
	sort.Ints(offs)
	var ps []Problem
	for _, o := range offs {
		d := depth[o]
		a := uint64(text + o)
		r, ok := rowAt(fdes, a)
		switch {
		case !ok:
			ps = append(ps, Problem{Check: "unwind-model", Offset: int64(o), Msg: fmt.Sprintf("code offset %#x (address %#x, depth %d): no FDE covers it", o, a, d)})
		case r.CFAReg != dwRegRSP || r.CFAOffset != int64(8+d) || r.RAOffset != -8:
			ps = append(ps, Problem{Check: "unwind-model", Offset: int64(o), Msg: fmt.Sprintf("code offset %#x (address %#x): the table says CFA = reg%d%+d, return address at CFA%+d; the stack model says depth %d: CFA = RSP%+d, return address at CFA-8", o, a, r.CFAReg, r.CFAOffset, r.RAOffset, d, 8+d)})
		}
	}
	return ps, nil
}
