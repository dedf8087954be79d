package verify

import (
	"fmt"

	"golang.org/x/arch/x86/x86asm"

	"github.com/vdsogen/vdsogen/layout"
	"github.com/vdsogen/vdsogen/marker"
)

// reach: no instruction refers outside its image except to a declared
// data page (the pages rule bounds every access to one); every direct
// branch or call lands on an instruction inside the image (a call or jump
// to another entry only at its start); there is no indirect branch or
// call, no absolute and no segment-relative memory operand. It looks at
// every instruction of every entry, reached or not.
func reach(p *Pass) {
	pages := map[string]int{}
	for _, pg := range p.In.Table.Pages {
		pages[pg.Symbol] = pg.Size
	}
	reachChoices(p)
	for _, im := range p.images {
		for _, e := range im.entries {
			ins := im.instsIn(e.Offset, e.Offset+e.Size)
			for i := range ins {
				in := &ins[i]
				if in.bad {
					continue
				}
				p.reachInst(im, e, in, pages)
			}
		}
	}
}

func (p *Pass) reachInst(im *image, e layout.Entry, in *inst, pages map[string]int) {
	off := in.off
	if (in.Op == x86asm.JMP || in.Op == x86asm.CALL) && in.Args[0] != nil {
		if _, ok := in.Args[0].(x86asm.Rel); !ok {
			p.errorf(im, off, nil, "indirect %s: every branch must be direct", in.Op)
			return
		}
	}
	if t, ok := relTarget(in); ok {
		switch te, inEntry := im.entryAt(t); {
		case t < 0 || t >= len(im.b):
			p.errorf(im, off, nil, "%s goes to %#x, outside the %d-byte image", in.Op, t, len(im.b))
		case !inEntry:
			p.errorf(im, off, nil, "%s goes to %#x, between entries", in.Op, t)
		case te.Name != e.Name && t != te.Offset:
			p.errorf(im, off, nil, "%s goes to %#x, inside entry %s but not to its start", in.Op, t, te.Name)
		case !im.boundary(t):
			p.errorf(im, off, nil, "%s goes to %#x, inside the instruction at %#x", in.Op, t, im.covering(t).off)
		}
		return
	}
	if why, ok := bitString(in); ok {
		p.errorf(im, off, nil, "%s", why)
	}
	for _, a := range in.Args {
		m, ok := a.(x86asm.Mem)
		if !ok {
			continue
		}
		switch {
		case addr32(in, m):
			p.errorf(im, off, nil, "memory operand %s uses 32-bit addressing (an address-size prefix 0x67): the CPU truncates the address to 32 bits, so it is not the 64-bit pointer (an EIP-relative operand is not RIP-relative)", memString(m))
		case m.Segment != 0 && !flatStringOperand(in, m):
			if f := family(m.Base); stringOps[in.Op] != nil && (f == 6 || f == 7) { // SI, DI
				p.errorf(im, off, nil, "%s with a segment override: its operand %s:(%s) is relative to segment %s, which may not be flat (FS and GS are thread pointers)", in.Op, m.Segment, regName(m.Base), m.Segment)
				break
			}
			p.errorf(im, off, nil, "memory operand relative to segment %s refers outside the image", m.Segment)
		case m.Base == x86asm.RIP:
			rel := int64(in.end()) + int64(int32(m.Disp))
			if rel >= 0 && rel < int64(len(im.b)) {
				continue // inside the image
			}
			abs := im.addr + uint64(rel)
			sym, o, ok := im.resolve(abs)
			if _, declared := pages[sym]; !ok || !declared {
				// Not a page: named relative to the image, never by a
				// harness address.
				what := fmt.Sprintf("image%+#x, in no symbol of the build", rel)
				if ok {
					what = fmt.Sprintf("%s%+d", sym, o)
				}
				p.errorf(im, off, nil, "refers to %s, which is not a declared data page", what)
			}
		case m.Base == 0 && m.Index == 0:
			p.errorf(im, off, nil, "refers to the absolute address %#x", m.Disp)
		}
	}
}

// addr32 reports whether in computes m's address in 32 bits: an
// address-size prefix makes x86asm show EIP, ESP, EDI... as the base and
// the CPU zero-extends the 32-bit sum, which is another address.
func addr32(in *inst, m x86asm.Mem) bool {
	return in.AddrSize == 32 || m.Base == x86asm.EIP || width(m.Base) == 32 || width(m.Index) == 32
}

// reachChoices checks every instruction of every alternative's choice as
// the loader applies it, as flow and reach check an entry's: a choice runs
// at its site, so no trap, refused instruction or memory operand reach
// refuses may hide in one (the marker's check covers branches, the stack
// and RIP-relative operands). Findings point at the choice's copy in the
// replacement pool.
func reachChoices(p *Pass) {
	for _, im := range p.images {
		for _, s := range im.v.Sites {
			if !marker.TraitsOf(s.Kind).PoolChoices {
				continue
			}
			for _, c := range s.Choices {
				n := poolLen(im, c)
				for off := 0; off < len(c.Bytes); {
					at := c.Offset + min(off, max(n-1, 0))
					d, err := x86asm.Decode(c.Bytes[off:], 64)
					if err != nil || d.Len == 0 || d.Op == 0 {
						p.errorf(im, at, nil, "alternative %s: choice %s holds bytes that do not decode as an instruction at byte %d (#UD)", s.Key, c.Name, off)
						break
					}
					x := inst{off: at, Inst: d}
					if class, why := classify(&x); class == flowTrap || class == flowRefused {
						p.errorf(im, at, nil, "alternative %s: choice %s holds %s", s.Key, c.Name, why)
					}
					if why, ok := bitString(&x); ok {
						p.errorf(im, at, nil, "alternative %s: choice %s: %s", s.Key, c.Name, why)
					}
					for _, a := range d.Args {
						m, ok := a.(x86asm.Mem)
						switch {
						case !ok || m.Base == x86asm.RIP:
							// RIP-relative: the marker refuses it in a choice
						case addr32(&x, m):
							p.errorf(im, at, nil, "alternative %s: choice %s: memory operand %s uses 32-bit addressing (an address-size prefix 0x67): the CPU truncates the address to 32 bits", s.Key, c.Name, memString(m))
						case m.Segment != 0 && !flatStringOperand(&x, m):
							p.errorf(im, at, nil, "alternative %s: choice %s: memory operand relative to segment %s", s.Key, c.Name, m.Segment)
						case m.Base == 0 && m.Index == 0:
							p.errorf(im, at, nil, "alternative %s: choice %s refers to the absolute address %#x", s.Key, c.Name, m.Disp)
						}
					}
					off += d.Len
				}
			}
		}
	}
}

// bitString says why a bit test of memory with a register bit offset is
// refused: the CPU addresses the byte at the operand plus the offset
// divided by 8 (signed, up to 2^60 bytes away), which no operand shows.
func bitString(in *inst) (string, bool) {
	switch in.Op {
	case x86asm.BT, x86asm.BTS, x86asm.BTR, x86asm.BTC:
	default:
		return "", false
	}
	m, mem := in.Args[0].(x86asm.Mem)
	if _, reg := in.Args[1].(x86asm.Reg); !mem || !reg {
		return "", false
	}
	return fmt.Sprintf("%s of memory %s with a register bit offset addresses the byte the offset divided by 8 away, which the verifier cannot bound (load the word, then test the bit in a register)", in.Op, memString(m)), true
}
