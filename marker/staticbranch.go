package marker

import (
	"bytes"

	"golang.org/x/arch/x86/x86asm"

	"github.com/vdsogen/vdsogen/layout"
)

// staticBranch is layout.StaticBranch: a 5-byte site, NOP5 where the key
// is off, JMP rel32 to the out-of-line body (Site.Target) where it is on.
type staticBranch struct{}

func (staticBranch) Kind() layout.Kind { return layout.StaticBranch }

func (staticBranch) Traits() Traits { return Traits{Atomic: true} }

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
