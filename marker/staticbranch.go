package marker

import (
	"bytes"

	"golang.org/x/arch/x86/x86asm"

	"github.com/vdsogen/vdsogen/layout"
)

// staticBranch is layout.StaticBranch: a 5-byte site, NOP5 where the key
// is off, JMP rel32 to the out-of-line body (Site.Target) where it is on.
type staticBranch struct{}

func init() { Register(staticBranch{}) }

// StaticBranchBody names a static branch's one block, its out-of-line body.
const StaticBranchBody = "body"

func (staticBranch) Kind() layout.Kind { return layout.StaticBranch }

func (staticBranch) Traits() Traits { return Traits{Atomic: true, TargetRole: StaticBranchBody} }

// Declare: one body, holding code (it is placed out of line in every
// variant, so an empty one is a mistake, not an off branch).
func (staticBranch) Declare(d Declaration) {
	dc := d.Decl()
	if len(dc.Blocks) != 1 {
		d.Errorf(-1, "%s %q takes one body, not %d blocks", dc.Kind.Word(), dc.Key, len(dc.Blocks))
		return
	}
	if d.Empty(0) {
		d.Errorf(-1, "%s %q has an empty body", dc.Kind.Word(), dc.Key)
	}
}

// Expand: the site, NOP5 or JMP rel32 to the body, which follows the
// entry and jumps back after the site unless it exits. A standalone
// variant places the body inline where the key is on, nothing where off.
func (staticBranch) Expand(x Emitter, d Decl, v Variant) {
	if v.Standalone {
		x.Note(": " + onOff(v.On) + ", elided")
		if v.On {
			x.Block(0)
		}
		return
	}
	x.Note(": " + onOff(v.On))
	x.Label("site")
	if v.On {
		x.Raw(Rel32(OpJMPRel32, int32(x.Param("rel"))))
	} else {
		x.Raw(NOP5)
	}
	x.Label("ret")
	x.OutOfLine(func() {
		x.Note(" body")
		x.Label(StaticBranchBody)
		x.Block(0)
		if !x.Exits(0) {
			x.JumpTo("ret")
		}
	})
}

// Plan: the displacement from the end of an on site to the body.
func (staticBranch) Plan(p Planner, d Decl) {
	for _, v := range p.Shared() {
		if v.On {
			site, _ := p.Label(v.Name, "site")
			body, _ := p.Label(v.Name, StaticBranchBody)
			p.Set(v.Name, "rel", body-(site+len(NOP5)))
		}
	}
}

// Locate: the five site bytes; the target is the body.
func (staticBranch) Locate(m Measured, d Decl, v Variant) (Span, bool) {
	site, ok := m.Label("site")
	if !ok {
		return Span{}, false
	}
	body, _ := m.Label(StaticBranchBody)
	return Span{Start: site, End: site + len(NOP5), Target: body}, true
}

func onOff(on bool) string {
	if on {
		return "on"
	}
	return "off"
}

// Check: five bytes inside one patch window; NOP5 where off; where on, a
// JMP rel32 to the body, an instruction of the same entry.
func (staticBranch) Check(im Image, s layout.Site, report Reporter) {
	start, end := s.Offset, s.Offset+len(s.Bytes)
	if len(s.Bytes) != len(NOP5) {
		report(start, "static branch %s site is %d bytes, want 5", s.Key, len(s.Bytes))
		return
	}
	if a := im.Addr() + uint64(start); CrossesWindow(a, len(NOP5)) {
		report(start, "static branch %s site crosses an %d-byte window (at address %#x): it cannot be patched atomically", s.Key, PatchWindow, a)
	}
	site := im.Code()[start:end]
	if !s.On {
		if !bytes.Equal(site, NOP5) {
			report(start, "static branch %s is off but its site is not NOP5 (0f 1f 44 00 00)", s.Key)
		}
		return
	}
	in, ok := im.InstAt(start)
	if site[0] != OpJMPRel32 || !ok || in.Bad || in.Op != x86asm.JMP || in.Len != 5 {
		report(start, "static branch %s is on but its site is not JMP rel32", s.Key)
		return
	}
	if t := im.Facts(in).Target; t != s.Target {
		report(start, "static branch %s jumps to %#x, not to its body at %#x", s.Key, t, s.Target)
	} else if e, ok := im.EntryAt(t); !ok || e.Name != s.Entry || !im.Boundary(t) {
		report(start, "static branch %s body at %#x is not an instruction of entry %s", s.Key, t, s.Entry)
	}
}
