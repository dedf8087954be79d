package marker

import (
	"bytes"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/arch/x86/x86asm"

	"github.com/vdsogen/vdsogen/layout"
)

// alternative is layout.Alternative: an N-way replacement of one site, as
// the kernel's alternatives. The site holds one choice padded with NOPs to
// the longest; every choice is assembled once in the replacement pool,
// where a loader copies it from, by CPU feature, before the code runs.
type alternative struct{}

func init() { Register(alternative{}) }

func (alternative) Kind() layout.Kind { return layout.Alternative }

func (alternative) Traits() Traits { return Traits{Choices: true, PoolChoices: true, LoadTime: true} }

// Declare: at least two choices with distinct names the variants file can
// spell, each needing a feature a loader can test, each straight-line,
// position-independent code (its bytes must mean the same at the site and
// in the pool).
func (alternative) Declare(d Declaration) {
	dc := d.Decl()
	word := dc.Kind.Word()
	if len(dc.Blocks) < 2 {
		d.Errorf(-1, "%s %q has %d choice(s): it needs at least two (write the instructions directly for one)", word, dc.Key, len(dc.Blocks))
	}
	seen := map[string]int{}
	for i, c := range dc.Blocks {
		if !KeyPattern.MatchString(c.Name) {
			d.Errorf(i, "%s %q: choice name %q must match %s (the variants file names it)", word, dc.Key, c.Name, KeyPattern)
		}
		if first, dup := seen[c.Name]; dup {
			d.Errorf(i, "%s %q: choice %q declared twice (first at %s)", word, dc.Key, c.Name, d.Position(first))
		} else {
			seen[c.Name] = i
		}
		if !slices.Contains(layout.Features, c.Feature) {
			d.Errorf(i, "%s %q: choice %q needs CPU feature %q, which no loader can test; use %s or \"\" (none)",
				word, dc.Key, c.Name, c.Feature, quoteAll(layout.Features[1:]))
		}
		where := fmt.Sprintf("%s %q choice %q", word, dc.Key, c.Name)
		d.ForbidLabels(i, where, "choices are straight-line code, assembled both at the site and in the replacement pool")
		d.ForbidBranches(i, where, "choices cannot branch (their bytes must mean the same at the site and in the replacement pool)")
		d.ForbidPageRefs(i, where, "choices must be position-independent; load the address before the "+word)
	}
}

// quoteAll spells names as "a", "b".
func quoteAll(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = strconv.Quote(n)
	}
	return strings.Join(q, ", ")
}

// Expand: the chosen choice padded with NOPs to the longest at the site;
// every choice once in the replacement pool. A standalone variant has no
// pool: only the chosen choice, unpadded.
func (alternative) Expand(x Emitter, d Decl, v Variant) {
	held := d.Blocks[v.Choice].Name
	if v.Standalone {
		x.Note(": " + held + ", elided")
		x.Block(v.Choice)
		return
	}
	x.Note(": " + held)
	x.Label("site")
	x.Block(v.Choice)
	for _, nop := range NopFill(x.Param("pad")) {
		x.Raw(nop)
	}
	x.Label("end")
	x.Pool(func() {
		x.Note(" choices")
		for i := range d.Blocks {
			x.Label(choiceRole(i))
			x.Block(i)
			x.Label(choiceRole(i) + "_end")
		}
	})
}

func choiceRole(i int) string { return fmt.Sprintf("c%d", i) }

// Plan: the site is as long as the longest choice, measured in the pool
// (the same in every shared variant).
func (alternative) Plan(p Planner, d Decl) {
	shared := p.Shared()
	if len(shared) == 0 {
		return
	}
	length := func(i int) int {
		start, _ := p.Label(shared[0].Name, choiceRole(i))
		end, _ := p.Label(shared[0].Name, choiceRole(i)+"_end")
		return end - start
	}
	longest := 0
	for i := range d.Blocks {
		longest = max(longest, length(i))
	}
	if longest == 0 {
		p.Errorf("%s %q: every choice is empty; give at least one an instruction", d.Kind.Word(), d.Key)
		return
	}
	for _, v := range shared {
		p.Pad(v.Name, "pad", longest-length(v.Choice))
	}
}

// Locate: the padded site; every choice is its pool bytes padded to the
// site, and the target is the held choice's copy in the pool.
func (alternative) Locate(m Measured, d Decl, v Variant) (Span, bool) {
	start, ok := m.Label("site")
	if !ok {
		return Span{}, false
	}
	end, _ := m.Label("end")
	s := Span{Start: start, End: end, Choice: d.Blocks[v.Choice].Name}
	for i, c := range d.Blocks {
		from, _ := m.Label(choiceRole(i))
		to, _ := m.Label(choiceRole(i) + "_end")
		b := append([]byte(nil), m.Bytes(from, to)...)
		for _, nop := range NopFill(end - start - len(b)) {
			b = append(b, nop...)
		}
		s.Choices = append(s.Choices, layout.Choice{Name: c.Name, Feature: c.Feature, Bytes: b, Offset: from})
		if i == v.Choice {
			s.Target = from
		}
	}
	return s, true
}

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
