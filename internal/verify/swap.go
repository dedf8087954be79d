package verify

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/vdsogen/vdsogen/layout"
	"github.com/vdsogen/vdsogen/marker"
)

// swap: for each pair of variants, whether it can be switched live: both
// shared, no difference outside sites, and every site allowed by
// marker.Swap, the rule the loader switches by (a site of a LoadTime kind
// keeps its applied choice; a differing site is rewritten only if its
// kind is Atomic and it is one whole instruction inside one patch
// window). The verifier judges the images as generated: no key is pinned
// by a loader's override.
func swap(p *Pass) {
	for i, a := range p.images {
		for _, b := range p.images[i+1:] {
			p.Report.Pairs = append(p.Report.Pairs, p.pair(a, b))
		}
	}
}

func (p *Pass) pair(a, b *image) Pair {
	pr := Pair{A: a.v.Name, B: b.v.Name}
	if a.v.Standalone || b.v.Standalone {
		for _, im := range []*image{a, b} {
			if im.v.Standalone {
				pr.Why = append(pr.Why, fmt.Sprintf("variant %s is standalone: it has a layout of its own", im.v.Name))
			}
		}
		return pr
	}
	if len(a.b) != len(b.b) || len(a.v.Sites) != len(b.v.Sites) {
		pr.Why = append(pr.Why, "the images have different layouts")
		return pr
	}
	differs := map[int]bool{}
	for _, d := range diffs(a, b) {
		if d.Site < 0 {
			pr.Why = append(pr.Why, fmt.Sprintf("they differ at %#x, outside any marker site", d.Offset))
			continue
		}
		differs[d.Site] = true
	}
	for k, s := range a.v.Sites {
		d := marker.Swap(swapSide(a, s), swapSide(b, b.v.Sites[k]), differs[k], false)
		if d.Step.Refused() {
			pr.Why = append(pr.Why, fmt.Sprintf("%s %s at %#x (%s): %s", s.Kind, s.Key, s.Offset, s.Source, d.Why))
		}
	}
	pr.Switchable = len(pr.Why) == 0
	return pr
}

// swapSide is site s of im as the swap rule sees it; an image that does
// not hold the whole site holds nothing of it.
func swapSide(im *image, s layout.Site) marker.SwapSide {
	side := marker.SwapSide{Site: s, Addr: im.addr + uint64(s.Offset)}
	if end := s.Offset + len(s.Bytes); s.Offset >= 0 && end <= len(im.b) {
		side.Held = im.b[s.Offset:end]
	}
	return side
}

// Difference is a run of instructions at which two variants differ.
type Difference struct {
	Offset, End int
	Entry       string
	// Site indexes the table's sites of the variants, -1 if the difference
	// is outside every site.
	Site int
	// A and B are the bytes of each variant; InstA and InstB their
	// instructions, one "offset: instruction" each, a run of INT3 filler
	// as one.
	A     []byte   `json:"-"`
	B     []byte   `json:"-"`
	InstA []string `json:"inst_a"`
	InstB []string `json:"inst_b"`
}

// diffs lists the differences between two variants of one layout,
// instruction by instruction; a whole differing site is one Difference.
func diffs(a, b *image) []Difference {
	n := min(len(a.b), len(b.b))
	siteAt := make([]int, n)
	for i := range siteAt {
		siteAt[i] = -1
	}
	for k, s := range a.v.Sites {
		for i := max(s.Offset, 0); i < s.Offset+len(s.Bytes) && i < n; i++ {
			siteAt[i] = k
		}
	}
	var out []Difference
	for i := 0; i < n; i++ {
		if k := siteAt[i]; k >= 0 {
			s := a.v.Sites[k]
			end := min(s.Offset+len(s.Bytes), n)
			if !sameRun(a, b, s.Offset, end) {
				out = append(out, diffRun(a, b, s.Offset, end, k))
			}
			i = end - 1
			continue
		}
		if _, last, same := compareAt(a, b, i); same {
			i = last
			continue
		}
		x, y := a.covering(i), b.covering(i)
		start, end := i, i+1
		if x != nil && y != nil {
			start, end = min(x.off, y.off), max(x.end(), y.end())
		}
		out = append(out, diffRun(a, b, start, min(end, n), -1))
		i = end - 1
	}
	return out
}

// sameRun reports whether [start, end) holds the same instructions in both.
func sameRun(a, b *image, start, end int) bool {
	x, y := a.instsIn(start, end), b.instsIn(start, end)
	if len(x) != len(y) {
		return false
	}
	for i := range x {
		if x[i].off != y[i].off || a.key(&x[i]) != b.key(&y[i]) {
			return false
		}
	}
	return true
}

func diffRun(a, b *image, start, end, site int) Difference {
	d := Difference{Offset: start, End: end, Entry: a.entryName(start), Site: site,
		A: bytes.Clone(a.b[start:end]), B: bytes.Clone(b.b[start:end])}
	d.InstA, d.InstB = listing(a, start, end), listing(b, start, end)
	return d
}

// listing shows the instructions in [start, end), a run of INT3 as one line.
func listing(im *image, start, end int) []string {
	var out []string
	ins := im.instsIn(start, end)
	for i := 0; i < len(ins); i++ {
		in := &ins[i]
		j := i
		for isINT3(in) && j+1 < len(ins) && isINT3(&ins[j+1]) {
			j++
		}
		if j > i {
			out = append(out, fmt.Sprintf("%#x: INT3 x%d (filler to %#x)", in.off, j-i+1, ins[j].end()))
			i = j
			continue
		}
		out = append(out, fmt.Sprintf("%#x: %s", in.off, im.show(in)))
	}
	return out
}

// Diff lists the differences between variants a and b of in, with the
// site that allows each (Site >= 0) or none.
func Diff(in *Input, a, b string) ([]Difference, error) {
	p := newPass(in)
	var x, y *image
	for _, im := range p.images {
		switch im.v.Name {
		case a:
			x = im
		case b:
			y = im
		}
	}
	var missing []string
	if x == nil {
		missing = append(missing, a)
	}
	if y == nil {
		missing = append(missing, b)
	}
	if len(missing) > 0 {
		var names []string
		for _, v := range in.Table.Variants {
			names = append(names, v.Name)
		}
		return nil, fmt.Errorf("no variant %s (variants: %s)", strings.Join(missing, ", "), strings.Join(names, ", "))
	}
	if x.v.Standalone || y.v.Standalone || len(x.b) != len(y.b) {
		return nil, fmt.Errorf("variants %s and %s do not share a layout (a standalone variant has its own)", a, b)
	}
	return diffs(x, y), nil
}
