package verify

// culprit orders two shared variants that differ at off outside every
// site: the one whose bytes are wrong first, when that can be told. The
// other shared variants vote by which side's instruction they hold; with
// none, a standalone variant votes by the instructions it has for the same
// program line of the same entry (its layout differs, its code for a line
// outside the markers does not). Without a vote the order is kept.
func (p *Pass) culprit(a, b *image, off int) (wrong, right *image) {
	ia, ib := a.covering(off), b.covering(off)
	if ia == nil || ib == nil {
		return a, b
	}
	ka, kb := a.key(ia), b.key(ib)
	forA, forB := 0, 0
	for _, o := range p.shared {
		if o == a || o == b {
			continue
		}
		if io := o.covering(off); io != nil && io.off == ia.off {
			switch o.key(io) {
			case ka:
				forA++
			case kb:
				forB++
			}
		}
	}
	if forA == 0 && forB == 0 {
		line, entry := a.v.SourceAt(ia.off), a.entryName(ia.off)
		if line == "" || line != b.v.SourceAt(ib.off) {
			return a, b
		}
		la, lb := lineKeys(a, entry, line), lineKeys(b, entry, line)
		for _, im := range p.images {
			if !im.v.Standalone {
				continue
			}
			switch ls := lineKeys(im, entry, line); {
			case equalKeys(ls, la) && !equalKeys(ls, lb):
				forA++
			case equalKeys(ls, lb) && !equalKeys(ls, la):
				forB++
			}
		}
	}
	if forA > forB {
		return b, a
	}
	return a, b
}

// lineKeys are the keys of the instructions of entry that program line
// produced in im.
func lineKeys(im *image, entry, line string) []string {
	e, ok := im.v.Entry(entry)
	if !ok {
		return nil
	}
	var out []string
	for _, in := range im.instsIn(e.Offset, e.Offset+e.Size) {
		if !in.bad && im.v.SourceAt(in.off) == line {
			out = append(out, im.key(&in))
		}
	}
	return out
}

func equalKeys(a, b []string) bool {
	if len(a) != len(b) || len(a) == 0 {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
