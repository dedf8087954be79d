package verify

// entries: every image is as long as the table says; every entry lies in
// its image and decodes; filler between entries is INT3; and every shared
// variant has the same entries at the same offsets with the same sizes.
// (Whether a path falls off an entry's end is flow's: an unreachable last
// instruction may be anything that decodes.)
func entries(p *Pass) {
	for _, im := range p.images {
		if len(im.b) != im.v.Size {
			p.tableErrorf([]string{im.v.Name}, "", 0, "the image is %d bytes, the table says %d", len(im.b), im.v.Size)
		}
		end := 0
		for _, e := range im.v.Entries {
			switch {
			case e.Offset < 0 || e.Size <= 0 || e.Offset+e.Size > len(im.b):
				p.tableErrorf([]string{im.v.Name}, e.Name, e.Offset, "entry [%#x, %#x) is not inside the %d-byte image", e.Offset, e.Offset+e.Size, len(im.b))
				continue
			case e.Offset < end:
				p.tableErrorf([]string{im.v.Name}, e.Name, e.Offset, "entry overlaps the previous entry, which ends at %#x", end)
			}
			for _, in := range im.instsIn(end, e.Offset) {
				if !isINT3(&in) {
					p.errorf(im, in.off, nil, "filler before the entry is not INT3")
					break
				}
			}
			end = e.Offset + e.Size
			ins := im.instsIn(e.Offset, end)
			if len(ins) == 0 {
				continue
			}
			for _, in := range ins {
				if in.bad {
					p.errorf(im, in.off, nil, "the bytes % x do not decode as an instruction", im.b[in.off:min(in.off+4, end)])
					break
				}
			}
		}
		// After the last entry: INT3 filler, then the replacement pool,
		// which the sites rule checks choice by choice.
		switch {
		case im.v.Pool < end || im.v.Pool > len(im.b):
			p.tableErrorf([]string{im.v.Name}, "", im.v.Pool, "the replacement pool starts at %#x, not between the end of the last entry (%#x) and the end of the image (%#x)", im.v.Pool, end, len(im.b))
		case im.v.Pool == len(im.b) || len(im.pool) > 0:
			for _, in := range im.instsIn(end, im.v.Pool) {
				if !isINT3(&in) {
					p.errorf(im, in.off, nil, "bytes after the last entry, before the replacement pool, are not INT3 filler")
					break
				}
			}
		default:
			p.tableErrorf([]string{im.v.Name}, "", im.v.Pool, "the table puts a replacement pool at %#x but declares no site whose choices are in a pool", im.v.Pool)
		}
	}
	for im, ref := range p.againstFirst() {
		if p.countsDiffer(im, ref, "entries", len(im.v.Entries), len(ref.v.Entries)) {
			continue
		}
		for i, e := range im.v.Entries {
			r := ref.v.Entries[i]
			if e.Name != r.Name || e.Offset != r.Offset || e.Size != r.Size { // signatures: the stubs rule
				p.errorf(im, e.Offset, []*image{ref}, "entry %s is at %#x (%d bytes) in variant %s but entry %s is at %#x (%d bytes) in variant %s",
					e.Name, e.Offset, e.Size, im.v.Name, r.Name, r.Offset, r.Size, ref.v.Name)
			}
		}
	}
}
