package loader

import (
	"slices"

	"golang.org/x/arch/x86/x86asm"

	"github.com/vdsogen/vdsogen/layout"
	"github.com/vdsogen/vdsogen/marker"
)

// running returns the entries that can run in an image switched between
// variants fv and tv (codes fc and tc): the exported ones, and every entry
// one of them reaches, by a direct branch or call in either variant's
// code or through a site whose kind Calls (any of its choices). A site of
// an entry that is not running may be left as loaded by a switch; one of a
// running entry may not, even if the caller never resolves that entry.
// The value is the running entry that reaches it first ("" for an
// exported one), for the errors.
func (im *Image) running(fv, tv *layout.Variant, fc, tc []byte) map[string]string {
	entries := slices.Clone(tv.Entries)
	startOf := map[int]string{}
	for _, e := range entries {
		startOf[e.Offset] = e.Name
	}
	// entryAt is the entry whose bytes hold off.
	entryAt := func(off int) (string, bool) {
		if name, ok := startOf[off]; ok {
			return name, true
		}
		for _, e := range entries {
			if off >= e.Offset && off < e.Offset+e.Size {
				return e.Name, true
			}
		}
		return "", false
	}
	out := map[string]string{}
	var work []string
	reach := func(name, from string) {
		if _, ok := out[name]; !ok {
			out[name] = from
			work = append(work, name)
		}
	}
	for _, e := range entries {
		if im.exports[e.Name] {
			reach(e.Name, "")
		}
	}
	for len(work) > 0 {
		name := work[len(work)-1]
		work = work[:len(work)-1]
		e, ok := tv.Entry(name)
		if !ok {
			continue
		}
		for _, code := range [][]byte{fc, tc} {
			for _, t := range branchTargets(code, e.Offset, e.Offset+e.Size) {
				if other, ok := entryAt(t); ok && other != name {
					reach(other, name)
				}
			}
		}
		for _, v := range []*layout.Variant{fv, tv} {
			for _, s := range v.Sites {
				if s.Entry != name || !marker.TraitsOf(s.Kind).Calls {
					continue
				}
				for _, c := range s.Choices {
					if other, ok := entryAt(c.Offset); ok && other != name {
						reach(other, name)
					}
				}
			}
		}
	}
	return out
}

// branchTargets decodes code[start:end] linearly and returns the targets
// of its relative branches and calls (an undecodable byte is skipped). A
// range outside code (a table that does not describe these images) is
// clipped to it.
func branchTargets(code []byte, start, end int) []int {
	start, end = max(start, 0), min(end, len(code))
	var out []int
	for off := start; off < end; {
		in, err := x86asm.Decode(code[off:end], 64)
		if err != nil || in.Len == 0 {
			off++
			continue
		}
		if rel, ok := in.Args[0].(x86asm.Rel); ok {
			out = append(out, off+in.Len+int(rel))
		}
		off += in.Len
	}
	return out
}
