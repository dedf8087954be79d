package verify

import (
	"bytes"
	"encoding/binary"
	"sort"

	"golang.org/x/arch/x86/x86asm"

	"github.com/vdsogen/vdsogen/layout"
)

// sameChoices reports whether two variants' sites offer the same choices.
func sameChoices(a, b layout.Site) bool {
	if len(a.Choices) != len(b.Choices) {
		return false
	}
	for i := range a.Choices {
		x, y := a.Choices[i], b.Choices[i]
		if x.Name != y.Name || x.Feature != y.Feature || x.Offset != y.Offset || !bytes.Equal(x.Bytes, y.Bytes) {
			return false
		}
	}
	return true
}

// poolLen is how many bytes of the replacement pool choice c of im
// occupies: up to the next choice, or to the end of the image.
func poolLen(im *image, c layout.Choice) int {
	i := sort.SearchInts(im.pool, c.Offset+1)
	if i < len(im.pool) {
		return im.pool[i] - c.Offset
	}
	return len(im.b) - c.Offset
}

// alternative checks an alternative site of one variant: it holds the
// choice the table names; every choice, as a loader would apply it, is the
// choice's bytes from the replacement pool followed by NOP padding, fits
// the site, is whole instructions that neither branch, touch the stack nor
// refer to memory by RIP (they must mean the same at the site and in the
// pool).
func (p *Pass) alternative(im *image, s layout.Site) {
	start := s.Offset
	if len(s.Choices) < 2 {
		p.errorf(im, start, nil, "alternative %s has %d choices, want at least 2", s.Key, len(s.Choices))
		return
	}
	cur, ok := s.ChoiceNamed(s.Choice)
	if !ok {
		p.errorf(im, start, nil, "alternative %s: the table says the site holds choice %q, which is not one of its choices", s.Key, s.Choice)
		return
	}
	if !bytes.Equal(im.b[start:start+len(s.Bytes)], cur.Bytes) {
		p.errorf(im, start, nil, "alternative %s holds % x, not its choice %s (% x)", s.Key, im.b[start:start+len(s.Bytes)], cur.Name, cur.Bytes)
	}
	for _, c := range s.Choices {
		if len(c.Bytes) != len(s.Bytes) {
			p.errorf(im, start, nil, "alternative %s: choice %s is %d bytes with its padding, the site %d", s.Key, c.Name, len(c.Bytes), len(s.Bytes))
			continue
		}
		n := poolLen(im, c)
		if c.Offset < im.v.Pool || c.Offset+n > len(im.b) || n > len(c.Bytes) {
			p.errorf(im, start, nil, "alternative %s: choice %s at %#x (%d bytes) is not inside the replacement pool [%#x, %#x) or is longer than the site",
				s.Key, c.Name, c.Offset, n, im.v.Pool, len(im.b))
			continue
		}
		if !bytes.Equal(im.b[c.Offset:c.Offset+n], c.Bytes[:n]) {
			p.errorf(im, c.Offset, nil, "alternative %s: choice %s in the pool is % x, the table records % x", s.Key, c.Name, im.b[c.Offset:c.Offset+n], c.Bytes[:n])
			continue
		}
		p.choiceCode(im, s, c, n)
	}
}

// choiceCode decodes choice c as a loader applies it and checks each
// instruction; findings point at the choice's copy in the pool, whose
// source is the choice's DSL line.
func (p *Pass) choiceCode(im *image, s layout.Site, c layout.Choice, n int) {
	for off := 0; off < len(c.Bytes); {
		at := c.Offset + min(off, n-1) // where it is in the pool (padding: the last byte)
		in, err := x86asm.Decode(c.Bytes[off:], 64)
		if err != nil || in.Len == 0 {
			p.errorf(im, at, nil, "alternative %s: choice %s does not decode at byte %d", s.Key, c.Name, off)
			return
		}
		if off >= n && in.Op != x86asm.NOP {
			p.errorf(im, at, nil, "alternative %s: choice %s is padded with %v, not NOPs", s.Key, c.Name, in)
			return
		}
		if off < n && off+in.Len > n {
			p.errorf(im, at, nil, "alternative %s: choice %s's instruction at byte %d runs into its padding", s.Key, c.Name, off)
			return
		}
		x := inst{off: at, Inst: in}
		if d, ok := stackDelta(&x); !ok || d != 0 || in.Op == x86asm.CALL || in.Op == x86asm.RET {
			p.errorf(im, at, nil, "alternative %s: choice %s changes the stack (%v): the depth must be the same at every boundary of every choice", s.Key, c.Name, in)
		}
		if _, isRel := relTarget(&x); isRel || terminal(&x) || isBranch(in.Op) {
			p.errorf(im, at, nil, "alternative %s: choice %s branches (%v): choices are straight-line code", s.Key, c.Name, in)
		}
		if _, rip := ripMem(&x); rip {
			p.errorf(im, at, nil, "alternative %s: choice %s refers to memory RIP-relative (%v): it would mean another address at the site", s.Key, c.Name, in)
		}
		off += in.Len
	}
}

func isBranch(op x86asm.Op) bool {
	switch op {
	case x86asm.JMP, x86asm.CALL, x86asm.RET, x86asm.LCALL, x86asm.LJMP, x86asm.LOOP, x86asm.LOOPE, x86asm.LOOPNE,
		x86asm.JCXZ, x86asm.JECXZ, x86asm.JRCXZ, x86asm.SYSCALL, x86asm.INT, x86asm.UD2:
		return true
	}
	return x86asm.JA <= op && op <= x86asm.JS // the conditional jumps
}

// staticCall checks a static-call site of one variant: CALL rel32 to the
// entry the table names, one of its declared targets, each of which is an
// entry start; every choice is the CALL that reaches its target; the site
// sits in one patch window so that it can be re-targeted live.
func (p *Pass) staticCall(im *image, s layout.Site) {
	start := s.Offset
	in := im.instAt(start)
	if len(s.Bytes) != 5 || im.b[start] != opCALLrel32 || in == nil || in.bad || in.Op != x86asm.CALL || in.Len != 5 {
		p.errorf(im, start, nil, "static call %s: the site is not CALL rel32", s.Key)
		return
	}
	if a := im.addr + uint64(start); a%patchWindow+5 > patchWindow {
		p.errorf(im, start, nil, "static call %s site crosses an %d-byte window (at address %#x): it cannot be re-targeted atomically", s.Key, patchWindow, a)
	}
	t, _ := relTarget(in)
	cur, ok := s.ChoiceNamed(s.Choice)
	if !ok || t != cur.Offset || t != s.Target {
		p.errorf(im, start, nil, "static call %s calls %#x, but the table says its target is %q at %#x", s.Key, t, s.Choice, s.Target)
	}
	if len(s.Choices) == 0 {
		p.errorf(im, start, nil, "static call %s declares no target", s.Key)
	}
	for _, c := range s.Choices {
		e, ok := im.entryStarting(c.Offset)
		if !ok || e.Name != c.Name {
			p.errorf(im, start, nil, "static call %s: target %s at %#x is not the start of entry %s", s.Key, c.Name, c.Offset, c.Name)
			continue
		}
		if e.Name == s.Entry {
			p.errorf(im, start, nil, "static call %s: entry %s can call itself: its stack depth is unbounded", s.Key, e.Name)
		}
		want := []byte{opCALLrel32, 0, 0, 0, 0}
		binary.LittleEndian.PutUint32(want[1:], uint32(int32(c.Offset-(start+5))))
		if !bytes.Equal(c.Bytes, want) {
			p.errorf(im, start, nil, "static call %s: the bytes recorded for target %s are % x, not CALL rel32 to %#x (% x)", s.Key, c.Name, c.Bytes, c.Offset, want)
		}
	}
}
