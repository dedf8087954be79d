package verify

import (
	"bytes"
	"encoding/binary"
	"slices"
	"sort"

	"golang.org/x/arch/x86/x86asm"

	"github.com/vdsogen/vdsogen/layout"
)

// sameChoices reports whether two variants' sites offer the same choices.
func sameChoices(a, b layout.Site) bool {
	if len(a.Choices) != len(b.Choices) {
		return false
	}
	for i := range a.Choices {
		x, y := a.Choices[i], b.Choices[i]
		if x.Name != y.Name || x.Feature != y.Feature || x.Offset != y.Offset || !bytes.Equal(x.Bytes, y.Bytes) {
			return false
		}
	}
	return true
}

// poolLen is how many bytes of the replacement pool choice c of im
// occupies: up to the next choice, or to the end of the image.
func poolLen(im *image, c layout.Choice) int {
	i := sort.SearchInts(im.pool, c.Offset+1)
	if i < len(im.pool) {
		return im.pool[i] - c.Offset
	}
	return len(im.b) - c.Offset
}

// Regions: every restartable region lies in its entry, starts and ends
// (post-commit) on instruction boundaries, has an abort handler outside
// the critical section that starts on an instruction boundary right after
// the signature (a never-executed UD1 whose last 4 bytes are
// layout.RegionSignature, after an instruction that does not fall into
// it); the stack depth is the same everywhere in the critical section and
// where its abort handler starts (Stack follows the handler with it); and
// every shared variant has the same regions.
func Regions(p *Pass) {
	for _, im := range p.images {
		for _, r := range im.v.Regions {
			p.region(im, r)
		}
	}
	if len(p.shared) < 2 {
		return
	}
	ref := p.shared[0]
	for _, im := range p.shared[1:] {
		if !slices.Equal(im.v.Regions, ref.v.Regions) {
			p.tableErrorf([]string{im.v.Name, ref.v.Name}, "", 0, "variants %s and %s declare different regions: %+v and %+v", im.v.Name, ref.v.Name, im.v.Regions, ref.v.Regions)
		}
	}
}

func (p *Pass) region(im *image, r layout.Region) {
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
	if prev := im.covering(sig.off - 1); prev != nil && !terminal(prev) {
		p.errorf(im, sig.off, nil, "region %s: control falls into the signature before the abort handler from %s", r.Name, im.show(prev))
	}
	depths := p.depth[im.v.Name]
	d0, ok := depths[r.Start]
	if !ok {
		return // unreachable: Stack says nothing of it either
	}
	for _, in := range im.instsIn(r.Start, end) {
		if d, ok := depths[in.off]; ok && d != d0 {
			p.errorf(im, in.off, nil, "region %s: the stack depth is %d bytes here but %d at the region's start: a restart at the abort handler would not know which", r.Name, d, d0)
			return
		}
	}
}
