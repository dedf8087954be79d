package marker

import (
	"bytes"

	"golang.org/x/arch/x86/x86asm"

	"github.com/vdsogen/vdsogen/layout"
)

// staticCall is layout.StaticCall: a CALL rel32 whose target is one of a
// declared set of entries (its choices), picked per variant and
// re-targetable at load time or live: there is no indirect branch.
type staticCall struct{}

func init() { Register(staticCall{}) }

// Check: CALL rel32 to the entry the table names, one of its declared
// targets, each of which is an entry start other than the caller; every
// choice is the CALL that reaches its target; the site sits in one patch
// window so that it can be re-targeted live.
func (staticCall) Check(im Image, s layout.Site, report Reporter) {
	start := s.Offset
	in, ok := im.InstAt(start)
	if len(s.Bytes) != 5 || im.Code()[start] != OpCALLRel32 || !ok || in.Bad || in.Op != x86asm.CALL || in.Len != 5 {
		report(start, "static call %s: the site is not CALL rel32", s.Key)
		return
	}
	if a := im.Addr() + uint64(start); CrossesWindow(a, 5) {
		report(start, "static call %s site crosses an %d-byte window (at address %#x): it cannot be re-targeted atomically", s.Key, PatchWindow, a)
	}
	t := im.Facts(in).Target
	cur, ok := s.ChoiceNamed(s.Choice)
	if !ok || t != cur.Offset || t != s.Target {
		report(start, "static call %s calls %#x, but the table says its target is %q at %#x", s.Key, t, s.Choice, s.Target)
	}
	if len(s.Choices) == 0 {
		report(start, "static call %s declares no target", s.Key)
	}
	for _, c := range s.Choices {
		e, ok := im.EntryStarting(c.Offset)
		if !ok || e.Name != c.Name {
			report(start, "static call %s: target %s at %#x is not the start of entry %s", s.Key, c.Name, c.Offset, c.Name)
			continue
		}
		if e.Name == s.Entry {
			report(start, "static call %s: entry %s can call itself: its stack depth is unbounded", s.Key, e.Name)
		}
		if want := Rel32(OpCALLRel32, int32(c.Offset-(start+5))); !bytes.Equal(c.Bytes, want) {
			report(start, "static call %s: the bytes recorded for target %s are % x, not CALL rel32 to %#x (% x)", s.Key, c.Name, c.Bytes, c.Offset, want)
		}
	}
}

// Kind and Traits: one CALL instruction, re-targetable live, whose
// choices are the entries it may call.
func (staticCall) Kind() layout.Kind { return layout.StaticCall }
func (staticCall) Traits() Traits    { return Traits{Choices: true, Atomic: true, Calls: true} }

// Declare: at least one target, each a distinct entry other than the
// caller, all of one signature (the caller passes the same arguments to
// whichever it calls). Recursion through other entries is the DSL's
// whole-program check of every Calls kind.
func (staticCall) Declare(d Declaration) {
	dc := d.Decl()
	word := dc.Kind.Word()
	if len(dc.Blocks) == 0 {
		d.Errorf(-1, "%s %q has no target: name at least one entry", word, dc.Key)
		return
	}
	seen := map[string]bool{}
	first, firstSig := "", ""
	for i, t := range dc.Blocks {
		if t.Code {
			d.Errorf(i, "%s %q: target %q has code; a static call's targets are entry names", word, dc.Key, t.Name)
		}
		if seen[t.Name] {
			d.Errorf(-1, "%s %q: target %q listed twice", word, dc.Key, t.Name)
			continue
		}
		seen[t.Name] = true
		sig, ok := d.Entry(t.Name)
		switch {
		case !ok:
			d.Errorf(-1, "%s %q: target %q is not an entry of the program; declare it with Entry", word, dc.Key, t.Name)
		case t.Name == d.Caller():
			d.Errorf(-1, "%s %q: entry %q calls itself: the stack would be unbounded", word, dc.Key, t.Name)
		case first == "":
			first, firstSig = t.Name, sig
		case sig != firstSig:
			d.Errorf(-1, "%s %q: targets %q (%s) and %q (%s) have different signatures; every target must take the same arguments and return the same result",
				word, dc.Key, first, firstSig, t.Name, sig)
		}
	}
}

// Expand: CALL rel32 to the target the variant picks, in every variant
// (standalone ones too: a call is not elided).
func (staticCall) Expand(x Emitter, d Decl, v Variant) {
	x.Note(": " + d.Blocks[v.Choice].Name)
	x.Label("site")
	x.Raw(Rel32(OpCALLRel32, int32(x.Param("rel"))))
}

// Plan: the displacement from the end of the site to the picked entry.
func (staticCall) Plan(p Planner, d Decl) {
	for _, v := range p.All() {
		site, _ := p.Label(v.Name, "site")
		p.Set(v.Name, "rel", p.Entry(v.Name, d.Blocks[v.Choice].Name)-(site+len(NOP5)))
	}
}

// Locate: the five bytes of the CALL; every target is a choice, the CALL
// that reaches it. A standalone variant's call is plain code, not a site.
func (staticCall) Locate(m Measured, d Decl, v Variant) (Span, bool) {
	site, ok := m.Label("site")
	if !ok || v.Standalone {
		return Span{}, false
	}
	s := Span{Start: site, End: site + len(NOP5), Choice: d.Blocks[v.Choice].Name}
	for _, t := range d.Blocks {
		off := m.Entry(t.Name)
		s.Choices = append(s.Choices, layout.Choice{Name: t.Name, Bytes: Rel32(OpCALLRel32, int32(off-(site+len(NOP5)))), Offset: off})
	}
	s.Target = m.Entry(s.Choice)
	return s, true
}
