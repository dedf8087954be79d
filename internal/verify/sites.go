package verify

import (
	"bytes"

	"github.com/vdsogen/vdsogen/layout"
	"github.com/vdsogen/vdsogen/marker"
)

// sites: every shared variant declares the same sites; each lies in its
// entry, starts and ends on an instruction boundary, and holds what its
// marker declares (and what the table records); outside the sites, every
// shared variant has the same instructions as the first.
func sites(p *Pass) {
	for _, im := range p.images {
		if im.v.Standalone && len(im.v.Sites) > 0 {
			p.tableErrorf([]string{im.v.Name}, "", 0, "a standalone variant has %d marker sites; it should have none", len(im.v.Sites))
		}
	}
	if len(p.shared) == 0 {
		return
	}
	for im, ref := range p.againstFirst() {
		if p.countsDiffer(im, ref, "sites", len(im.v.Sites), len(ref.v.Sites)) {
			return
		}
		for i, s := range im.v.Sites {
			r := ref.v.Sites[i]
			// Alternatives and static calls point at the choice each variant
			// took; the set of choices is the same.
			sameTarget := s.Target == r.Target || marker.TraitsOf(s.Kind).Choices
			if s.Kind != r.Kind || s.Key != r.Key || s.Entry != r.Entry || s.Offset != r.Offset || len(s.Bytes) != len(r.Bytes) || !sameTarget || !sameChoices(s, r) {
				p.tableErrorf([]string{im.v.Name, ref.v.Name}, s.Entry, s.Offset, "site %d is %s %s at %#x (%d bytes) in variant %s but %s %s at %#x (%d bytes) in variant %s",
					i, s.Kind, s.Key, s.Offset, len(s.Bytes), im.v.Name, r.Kind, r.Key, r.Offset, len(r.Bytes), ref.v.Name)
				return
			}
		}
	}
	for _, im := range p.shared {
		for _, s := range im.v.Sites {
			p.site(im, s)
		}
	}
	ref := p.shared[0]
	inSite := make([]bool, len(ref.b))
	for _, s := range ref.v.Sites {
		for i := max(s.Offset, 0); i < s.Offset+len(s.Bytes) && i < len(inSite); i++ {
			inSite[i] = true
		}
	}
	for im, ref := range p.againstFirst() {
		if len(im.b) != len(ref.b) {
			continue // Entries reported it
		}
		for i := 0; i < len(ref.b); i++ {
			if inSite[i] {
				continue
			}
			at, last, same := compareAt(im, ref, i)
			if !same {
				wrong, right := p.culprit(im, ref, at)
				p.errorf(wrong, at, []*image{right}, "variants %s and %s differ outside any marker site", im.v.Name, ref.v.Name)
			}
			i = last
		}
	}
}

// site checks one site of one variant.
func (p *Pass) site(im *image, s layout.Site) {
	start, end := s.Offset, s.Offset+len(s.Bytes)
	if start < 0 || end > len(im.b) || len(s.Bytes) == 0 {
		p.tableErrorf([]string{im.v.Name}, s.Entry, start, "%s %s site [%#x, %#x) is not inside the %d-byte image", s.Kind, s.Key, start, end, len(im.b))
		return
	}
	if e, ok := im.v.Entry(s.Entry); !ok || start < e.Offset || end > e.Offset+e.Size {
		p.errorf(im, start, nil, "%s %s site [%#x, %#x) is not inside entry %q", s.Kind, s.Key, start, end, s.Entry)
	}
	got := bytes.Clone(im.b[start:end])
	for _, r := range s.Relocs {
		if r.Offset >= 0 && r.Offset+4 <= len(got) {
			clear(got[r.Offset : r.Offset+4])
		}
	}
	if !bytes.Equal(got, s.Bytes) {
		p.errorf(im, start, nil, "%s %s site holds % x, the table records % x", s.Kind, s.Key, got, s.Bytes)
	}
	for _, b := range []int{start, end} {
		if in := im.covering(b); !im.boundary(b) && in != nil {
			p.errorf(im, b, nil, "%s %s site [%#x, %#x) does not %s on an instruction boundary: the instruction at %#x runs to %#x",
				s.Kind, s.Key, start, end, map[bool]string{true: "start", false: "end"}[b == start], in.off, in.end())
		}
	}
	u, ok := marker.For(s.Kind)
	if !ok {
		p.errorf(im, start, nil, "unknown marker kind %q", s.Kind)
		return
	}
	u.Check(view{im}, s, func(off int, format string, args ...any) { p.errorf(im, off, nil, format, args...) })
}
