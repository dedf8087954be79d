package marker

import (
	"bytes"

	"golang.org/x/arch/x86/x86asm"

	"github.com/vdsogen/vdsogen/layout"
)

// alternative is layout.Alternative: an N-way replacement of one site, as
// the kernel's alternatives. The site holds one choice padded with NOPs to
// the longest; every choice is assembled once in the replacement pool,
// where a loader copies it from, by CPU feature, before the code runs.
type alternative struct{}

func (alternative) Kind() layout.Kind { return layout.Alternative }

func (alternative) Traits() Traits { return Traits{Choices: true, PoolChoices: true, LoadTime: true} }

// Check: the site holds the choice the table names; every choice, as a
// loader would apply it, is the choice's bytes from the replacement pool
// followed by NOP padding, fits the site, and is whole instructions that
// neither branch, touch the stack nor refer to memory by RIP (they must
// mean the same at the site and in the pool).
func (alternative) Check(im Image, s layout.Site, report Reporter) {
	start := s.Offset
	if len(s.Choices) < 2 {
		report(start, "alternative %s has %d choices, want at least 2", s.Key, len(s.Choices))
		return
	}
	cur, ok := s.ChoiceNamed(s.Choice)
	if !ok {
		report(start, "alternative %s: the table says the site holds choice %q, which is not one of its choices", s.Key, s.Choice)
		return
	}
	code, pool := im.Code(), im.Variant().Pool
	if held := code[start : start+len(s.Bytes)]; !bytes.Equal(held, cur.Bytes) {
		report(start, "alternative %s holds % x, not its choice %s (% x)", s.Key, held, cur.Name, cur.Bytes)
	}
	for _, c := range s.Choices {
		if len(c.Bytes) != len(s.Bytes) {
			report(start, "alternative %s: choice %s is %d bytes with its padding, the site %d", s.Key, c.Name, len(c.Bytes), len(s.Bytes))
			continue
		}
		n := im.PoolLen(c)
		if c.Offset < pool || c.Offset+n > len(code) || n > len(c.Bytes) {
			report(start, "alternative %s: choice %s at %#x (%d bytes) is not inside the replacement pool [%#x, %#x) or is longer than the site",
				s.Key, c.Name, c.Offset, n, pool, len(code))
			continue
		}
		if !bytes.Equal(code[c.Offset:c.Offset+n], c.Bytes[:n]) {
			report(c.Offset, "alternative %s: choice %s in the pool is % x, the table records % x", s.Key, c.Name, code[c.Offset:c.Offset+n], c.Bytes[:n])
			continue
		}
		checkChoiceCode(im, s, c, n, report)
	}
}

// checkChoiceCode decodes choice c as a loader applies it and checks each
// instruction; findings point at the choice's copy in the pool, whose
// source is the choice's DSL line.
func checkChoiceCode(im Image, s layout.Site, c layout.Choice, n int, report Reporter) {
	for off := 0; off < len(c.Bytes); {
		at := c.Offset + min(off, n-1) // where it is in the pool (padding: the last byte)
		in, err := x86asm.Decode(c.Bytes[off:], 64)
		if err != nil || in.Len == 0 {
			report(at, "alternative %s: choice %s does not decode at byte %d", s.Key, c.Name, off)
			return
		}
		if off >= n && in.Op != x86asm.NOP {
			report(at, "alternative %s: choice %s is padded with %v, not NOPs", s.Key, c.Name, in)
			return
		}
		if off < n && off+in.Len > n {
			report(at, "alternative %s: choice %s's instruction at byte %d runs into its padding", s.Key, c.Name, off)
			return
		}
		f := im.Facts(Inst{Off: at, Inst: in})
		if !f.StackKnown || f.StackDelta != 0 || in.Op == x86asm.CALL || in.Op == x86asm.RET {
			report(at, "alternative %s: choice %s changes the stack (%v): the depth must be the same at every boundary of every choice", s.Key, c.Name, in)
		}
		if f.Relative || f.Terminal || isBranch(in.Op) {
			report(at, "alternative %s: choice %s branches (%v): choices are straight-line code", s.Key, c.Name, in)
		}
		if f.RIPRelative {
			report(at, "alternative %s: choice %s refers to memory RIP-relative (%v): it would mean another address at the site", s.Key, c.Name, in)
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
