package marker

import "github.com/vdsogen/vdsogen/layout"

// threeLabel is layout.ThreeLabel: the region [l_call, l_out) runs apply
// where the key is on and holds the tail, padded with INT3, where it is
// off; Site.Target is l_out, where the tail's own copy follows.
type threeLabel struct{}

func (threeLabel) Kind() layout.Kind { return layout.ThreeLabel }

// Traits: a region of several instructions, never switched live.
func (threeLabel) Traits() Traits { return Traits{} }

// Check: the region ends at l_out; where the key is off it holds the tail.
func (threeLabel) Check(im Image, s layout.Site, report Reporter) {
	start, end := s.Offset, s.Offset+len(s.Bytes)
	if s.Target != end {
		report(start, "three-label %s region ends at %#x but its l_out is %#x", s.Key, end, s.Target)
		return
	}
	if !s.On {
		checkTail(im, s, report)
	}
}

// checkTail checks an off three-label region: the tail (a complete exit,
// the same instructions as the copy at l_out), then nothing but INT3.
func checkTail(im Image, s layout.Site, report Reporter) {
	start, end := s.Offset, s.Offset+len(s.Bytes)
	off := start
	var tail []Inst
	for {
		in, ok := im.InstAt(off)
		if !ok || off >= end {
			report(start, "three-label %s tail does not end in RET or JMP before l_out at %#x", s.Key, end)
			return
		}
		if in.End() > end {
			report(in.Off, "three-label %s tail does not fit: its instruction at %#x runs to %#x, past l_out at %#x", s.Key, in.Off, in.End(), end)
			return
		}
		tail = append(tail, in)
		off = in.End()
		if im.Facts(in).Terminal {
			break
		}
	}
	code := im.Code()
	for o := off; o < end; o++ {
		if code[o] != OpINT3 {
			report(o, "three-label %s: after the %d-byte tail, byte %#02x at %#x is not INT3 filler", s.Key, off-start, code[o], o)
			return
		}
	}
	c := end
	for _, in := range tail {
		cp, ok := im.InstAt(c)
		if !ok || !im.Same(cp, in) {
			report(in.Off, "three-label %s tail differs from its copy at l_out: %s at %#x", s.Key, im.Render(c), c)
			return
		}
		c = cp.End()
	}
}
