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

func (staticCall) Kind() layout.Kind { return layout.StaticCall }

func (staticCall) Traits() Traits { return Traits{Choices: true, Atomic: true} }

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
