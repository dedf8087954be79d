package verify

import (
	"github.com/vdsogen/vdsogen/layout"
	"github.com/vdsogen/vdsogen/marker"
)

// view is the marker.Image of a decoded image: what a kind's site check
// (marker.Unit.Check) sees of it.
type view struct{ im *image }

func (v view) Code() []byte             { return v.im.b }
func (v view) Addr() uint64             { return v.im.addr }
func (v view) Variant() *layout.Variant { return v.im.v }
func (v view) Boundary(off int) bool    { return v.im.boundary(off) }
func (v view) Render(off int) string    { return v.im.render(off) }

func (v view) EntryAt(off int) (layout.Entry, bool)       { return v.im.entryAt(off) }
func (v view) EntryStarting(off int) (layout.Entry, bool) { return v.im.entryStarting(off) }
func (v view) PoolLen(c layout.Choice) int                { return poolLen(v.im, c) }

func (v view) InstAt(off int) (marker.Inst, bool) {
	in := v.im.instAt(off)
	if in == nil {
		return marker.Inst{}, false
	}
	return public(in), true
}

func (v view) Same(a, b marker.Inst) bool {
	x, y := private(a), private(b)
	return v.im.key(&x) == v.im.key(&y)
}

func (v view) Facts(in marker.Inst) marker.Facts {
	x := private(in)
	f := marker.Facts{Terminal: terminal(&x)}
	f.Target, f.Relative = relTarget(&x)
	f.StackDelta, f.StackKnown = stackDelta(&x)
	_, f.RIPRelative = ripMem(&x)
	return f
}

func public(in *inst) marker.Inst { return marker.Inst{Off: in.off, Bad: in.bad, Inst: in.Inst} }
func private(in marker.Inst) inst { return inst{off: in.Off, bad: in.Bad, Inst: in.Inst} }
