package verify

import (
	"bytes"
	"encoding/binary"
	"slices"

	"golang.org/x/arch/x86/x86asm"

	"github.com/vdsogen/vdsogen/layout"
)

// regions: every restartable region lies in its entry, starts and ends
// (post-commit) on instruction boundaries, has an abort handler outside
// the critical section that starts on an instruction boundary right after
// the signature (a never-executed UD1 whose last 4 bytes are
// layout.RegionSignature, after an instruction that does not fall into
// it); no branch goes to the abort handler (only a restart enters it); the
// stack depth is the same everywhere in the critical section (the stack
// rule follows the handler from the depth at the region's start); and
// every shared variant has the same regions.
func regions(p *Pass, fr *flowResult, sr *stackResult) {
	for _, im := range p.images {
		for _, r := range im.v.Regions {
			p.region(im, r, fr, sr)
		}
	}
	for im, ref := range p.againstFirst() {
		if !slices.Equal(im.v.Regions, ref.v.Regions) {
			p.tableErrorf([]string{im.v.Name, ref.v.Name}, "", 0, "variants %s and %s declare different regions: %+v and %+v", im.v.Name, ref.v.Name, im.v.Regions, ref.v.Regions)
		}
	}
}

func (p *Pass) region(im *image, r layout.Region, fr *flowResult, sr *stackResult) {
	end := r.Start + r.PostCommit
	e, ok := im.v.Entry(r.Entry)
	if !ok || r.PostCommit <= 0 || r.Start < e.Offset || end > e.Offset+e.Size || r.Abort < e.Offset || r.Abort >= e.Offset+e.Size {
		p.tableErrorf([]string{im.v.Name}, r.Entry, r.Start, "region %s [%#x, %#x) with abort at %#x is not inside entry %s", r.Name, r.Start, end, r.Abort, r.Entry)
		return
	}
	for _, b := range []int{r.Start, end, r.Abort} {
		if !im.boundary(b) {
			p.errorf(im, b, nil, "region %s: %#x is not an instruction boundary", r.Name, b)
			return
		}
	}
	if r.Abort >= r.Start && r.Abort < end {
		p.errorf(im, r.Abort, nil, "region %s: the abort handler at %#x is inside the critical section [%#x, %#x)", r.Name, r.Abort, r.Start, end)
	}
	sig := im.covering(r.Abort - 1)
	var word [4]byte
	binary.LittleEndian.PutUint32(word[:], layout.RegionSignature)
	if r.Abort < 4 || !bytes.Equal(im.b[r.Abort-4:r.Abort], word[:]) || sig == nil || sig.bad || sig.Op != x86asm.UD1 || sig.end() != r.Abort {
		p.errorf(im, r.Abort, nil, "region %s: the abort handler is not preceded by the signature (UD1 ending in % x)", r.Name, word)
		return
	}
	if prev := im.covering(sig.off - 1); prev != nil {
		if c, _ := classify(prev); c == flowNext || c == flowCond || c == flowCall {
			p.errorf(im, sig.off, nil, "region %s: control falls into the signature before the abort handler from %s", r.Name, im.show(prev))
		}
	}
	// Only a restart enters the abort handler: a branch to it would run
	// the handler from a state no restart produces.
	if g := fr.graph(im, e); g != nil {
		for _, off := range g.reached {
			for _, ed := range g.succ[off] {
				if ed.to == r.Abort && ed.kind != edgeAbort {
					p.errorf(im, off, nil, "region %s: control goes to the abort handler at %#x other than by a restart", r.Name, r.Abort)
				}
			}
		}
	}
	d0, ok := sr.at(im, r.Start)
	if !ok {
		return // unreachable: stack says nothing of it either
	}
	for _, in := range im.instsIn(r.Start, end) {
		if d, ok := sr.at(im, in.off); ok && d != d0 {
			p.errorf(im, in.off, nil, "region %s: the stack depth is %d bytes here but %d at the region's start: a restart at the abort handler would not know which", r.Name, d, d0)
			return
		}
	}
}
