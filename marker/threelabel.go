package marker

import "github.com/vdsogen/vdsogen/layout"

// threeLabel is layout.ThreeLabel: the region [l_call, l_out) runs apply
// where the key is on and holds the tail, padded with INT3, where it is
// off; Site.Target is l_out, where the tail's own copy follows.
type threeLabel struct{}

func init() { Register(threeLabel{}) }

// The blocks of a three-label region, in this order.
const (
	ThreeLabelApply = "apply"
	ThreeLabelTail  = "tail"
	// labelOut is l_out, where the tail's own copy starts.
	labelOut = "out"
)

func (threeLabel) Kind() layout.Kind { return layout.ThreeLabel }

// Traits: a region of several instructions, never switched live; control
// leaves it through the tail in every variant.
func (threeLabel) Traits() Traits { return Traits{Exit: ThreeLabelTail, TargetRole: labelOut} }

// Declare: apply and tail; apply is not empty (the off layout needs the
// room), the tail is a complete exit and holds no label (it is assembled
// twice where the key is off).
func (threeLabel) Declare(d Declaration) {
	dc := d.Decl()
	word := dc.Kind.Word()
	if len(dc.Blocks) != 2 || dc.Blocks[0].Name != ThreeLabelApply || dc.Blocks[1].Name != ThreeLabelTail {
		d.Errorf(-1, "%s %q takes two blocks, %s and %s, not %q", word, dc.Key, ThreeLabelApply, ThreeLabelTail, dc.Names())
		return
	}
	if d.Empty(1) || !d.Exits(1) {
		d.Errorf(-1, "%s %q: the tail must be a complete exit ending in RET or JMP", word, dc.Key)
	}
	if d.Empty(0) {
		d.Errorf(-1, "%s %q has an empty apply block: there is no room to place the tail", word, dc.Key)
	}
	d.ForbidLabels(1, "a "+word+" tail", "the tail is assembled twice in variants where the key is off; jump to a label outside the region instead")
}

// Expand: l_call, then apply where the key is on, or the tail and INT3
// filler to apply's length where it is off; l_out and the tail; end. A
// standalone variant places only what runs.
func (threeLabel) Expand(x Emitter, d Decl, v Variant) {
	const apply, tail = 0, 1
	if v.Standalone {
		x.Note(": " + onOff(v.On) + ", elided")
		if v.On {
			x.Block(apply)
		}
		x.Block(tail)
		return
	}
	x.Note(": " + onOff(v.On))
	x.Label("call")
	if v.On {
		x.Block(apply)
	} else {
		x.Block(tail)
		if pad := x.Param("pad"); pad > 0 {
			x.Raw(INT3s(pad))
		}
	}
	x.Label(labelOut)
	x.Block(tail)
	x.Label("end")
}

// Plan: where the key is off, INT3 filler makes the tail as long as the
// longest apply of the variants where it is on.
func (threeLabel) Plan(p Planner, d Decl) {
	length := func(v string) int {
		call, _ := p.Label(v, "call")
		out, _ := p.Label(v, labelOut)
		return out - call
	}
	region := -1 // no variant has the key on
	for _, v := range p.Shared() {
		if v.On {
			region = max(region, length(v.Name))
		}
	}
	for _, v := range p.Shared() {
		if v.On {
			continue
		}
		tail := length(v.Name) - p.Param(v.Name, "pad")
		pad := 0
		if region >= 0 {
			if tail > region {
				p.Errorf("%s %q: the tail is %d bytes, longer than the %d-byte apply region it replaces in variant %q; shorten the tail or lengthen apply",
					d.Kind.Word(), d.Key, tail, region, v.Name)
				continue
			}
			pad = region - tail
		}
		p.Pad(v.Name, "pad", pad)
	}
}

// Locate: the region [l_call, l_out); the target is l_out.
func (threeLabel) Locate(m Measured, d Decl, v Variant) (Span, bool) {
	call, ok := m.Label("call")
	if !ok {
		return Span{}, false
	}
	out, _ := m.Label(labelOut)
	return Span{Start: call, End: out, Target: out}, true
}

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
