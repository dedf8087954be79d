package gen

import (
	"bytes"
	"fmt"
	"strings"

	"golang.org/x/arch/x86/x86asm"

	"github.com/vdsogen/vdsogen/internal/harness"
)

// placed is one byte-carrying item at its measured place in the image.
type placed struct {
	off, len int
	it       *item
	// dec is the decoded instruction (for instructions and raw bytes that
	// decode; raw INT3 filler decodes byte by byte).
	dec x86asm.Inst
	// ref is the data symbol and offset a RIP-relative operand resolves to.
	ref *dataRef
}

type dataRef struct {
	sym string
	off int64
}

// measured is a variant image as the toolchain assembled it.
type measured struct {
	symbol string
	addr   uint64
	image  []byte
	labels map[string]int
	placed []placed
}

// measure walks a variant's items in step with its real bytes: labels get
// the current offset, raw bytes must be found verbatim, every instruction
// must decode, and together they must cover the image exactly.
func measure(symbol string, items []item, img harness.Image, res *harness.Result) (*measured, error) {
	m := &measured{symbol: symbol, addr: img.Addr, image: img.Bytes, labels: map[string]int{}}
	off := 0
	for i := range items {
		it := &items[i]
		switch it.kind {
		case itemLabel:
			m.labels[it.label] = off
		case itemRaw:
			end := off + len(it.raw)
			if end > len(img.Bytes) || !bytes.Equal(img.Bytes[off:end], it.raw) {
				return nil, fmt.Errorf("%s: image %s: bytes at offset %#x are not the % x the program placed there", it.pos, symbol, off, it.raw)
			}
			p := placed{off: off, len: len(it.raw), it: it}
			if d, err := x86asm.Decode(it.raw, 64); err == nil && d.Len == len(it.raw) {
				p.dec = d
			}
			m.placed = append(m.placed, p)
			off = end
		case itemInst:
			if off >= len(img.Bytes) {
				return nil, fmt.Errorf("%s: image %s ends at %#x before %s", it.pos, symbol, off, it.inst.Opcode)
			}
			d, err := x86asm.Decode(img.Bytes[off:], 64)
			if err != nil {
				return nil, fmt.Errorf("%s: image %s: cannot decode the bytes of %s at offset %#x: %v", it.pos, symbol, it.inst.Opcode, off, err)
			}
			if !sameKind(it.inst.Opcode, d) {
				return nil, fmt.Errorf("%s: image %s: %s assembled to %v at offset %#x: the program and the bytes are out of step", it.pos, symbol, it.inst.Opcode, d, off)
			}
			p := placed{off: off, len: d.Len, it: it, dec: d}
			if ref, ok := ripTarget(d, img.Addr+uint64(off)); ok {
				if sym, o, ok := res.Resolve(ref); ok {
					p.ref = &dataRef{sym: sym, off: o}
				}
			}
			m.placed = append(m.placed, p)
			off += d.Len
		}
	}
	if off != len(img.Bytes) {
		return nil, fmt.Errorf("image %s: the program accounts for %d bytes but the toolchain produced %d", symbol, off, len(img.Bytes))
	}
	return m, nil
}

// sameKind is a coarse check that an instruction decoded from the bytes is
// the one the program emitted: returns and branches must line up, which
// catches any drift between the walk and the bytes.
func sameKind(goOp string, d x86asm.Inst) bool {
	name := d.Op.String()
	switch {
	case goOp == "RET":
		return d.Op == x86asm.RET
	case goOp == "JMP":
		return d.Op == x86asm.JMP
	case strings.HasPrefix(goOp, "J"):
		return strings.HasPrefix(name, "J")
	case goOp == "CALL":
		return d.Op == x86asm.CALL
	}
	return !strings.HasPrefix(name, "J") && d.Op != x86asm.RET
}

// ripTarget returns the absolute address a RIP-relative memory operand of
// d refers to, for an instruction at pc.
func ripTarget(d x86asm.Inst, pc uint64) (uint64, bool) {
	for _, a := range d.Args {
		if mem, ok := a.(x86asm.Mem); ok && mem.Base == x86asm.RIP {
			return pc + uint64(d.Len) + uint64(int64(int32(mem.Disp))), true // x86asm zero-extends disp32
		}
	}
	return 0, false
}

// at returns the placed item that covers offset off.
func (m *measured) at(off int) *placed {
	lo, hi := 0, len(m.placed)
	for lo < hi {
		mid := (lo + hi) / 2
		p := &m.placed[mid]
		switch {
		case off < p.off:
			hi = mid
		case off >= p.off+p.len:
			lo = mid + 1
		default:
			return p
		}
	}
	return nil
}
