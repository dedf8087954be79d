package gen

import (
	"fmt"

	"github.com/vdsogen/vdsogen/dsl"
	"github.com/vdsogen/vdsogen/marker"
	"github.com/vdsogen/vdsogen/variants"
)

// entryAlign is the preferred alignment of an entry point, as compilers
// align functions; the atomicity of static-branch sites takes precedence.
const entryAlign = 16

// plan computes the next padding from the current measurement: INT3 filler
// after three-label tails, entry offsets shared by all shared variants,
// and the rel32 of every on static branch.
func plan(prog *dsl.Program, set *variants.Set, ms map[string]*measured, cur map[string]*params) (map[string]*params, error) {
	next := map[string]*params{}
	for _, v := range set.Variants {
		next[v.Name] = newParams(len(prog.Entries))
	}
	shared := set.Shared()
	// growth[v][i] is how much entry i of v grows from the new tail padding.
	growth := map[string][]int{}
	for _, v := range set.Variants {
		growth[v.Name] = make([]int, len(prog.Entries))
	}
	var errs dsl.ErrorList
	for i, e := range prog.Entries {
		for _, mk := range markersOf(e.Body) {
			switch n := mk.(type) {
			case *dsl.ThreeLabelNode:
				region := -1 // the apply length, from variants where the key is on
				for _, v := range shared {
					m := ms[v.Name]
					if v.Keys[n.Key] {
						region = max(region, m.labels[outLabel(n.ID)]-m.labels[callLabel(n.ID)])
					}
				}
				for _, v := range shared {
					if v.Keys[n.Key] {
						continue
					}
					m := ms[v.Name]
					old := cur[v.Name].tailPad[n.ID]
					tail := m.labels[outLabel(n.ID)] - m.labels[callLabel(n.ID)] - old
					pad := 0
					if region >= 0 {
						if tail > region {
							errs = append(errs, &dsl.Error{Pos: n.Pos, Msg: fmt.Sprintf(
								"%s %q: the tail is %d bytes, longer than the %d-byte apply region it replaces in variant %q; shorten the tail or lengthen apply",
								n.MarkerKind().Word(), n.Key, tail, region, v.Name)})
							continue
						}
						pad = region - tail
					}
					next[v.Name].tailPad[n.ID] = pad
					growth[v.Name][i] += pad - old
				}
			case *dsl.StaticBranchNode:
				for _, v := range shared {
					if !v.Keys[n.Key] {
						continue
					}
					m := ms[v.Name]
					next[v.Name].rel[n.ID] = int32(m.labels[bodyLabel(n.ID)] - (m.labels[siteLabel(n.ID)] + len(marker.NOP5)))
				}
			case *dsl.StaticCallNode:
				for i := range set.Variants {
					v := &set.Variants[i]
					m := ms[v.Name]
					target := m.labels[entryLabel(n.Targets[chosen(v, n)])]
					next[v.Name].rel[n.ID] = int32(target - (m.labels[callSiteLabel(n.ID)] + len(marker.NOP5)))
				}
			case *dsl.AlternativeNode:
				// The pool is the same in every shared variant: measure the
				// choices' lengths there, in the first.
				m := ms[shared[0].Name]
				longest := 0
				for c := range n.Choices {
					longest = max(longest, m.labels[poolEndLabel(n.ID, c)]-m.labels[poolLabel(n.ID, c)])
				}
				if longest == 0 {
					errs = append(errs, &dsl.Error{Pos: n.Pos, Msg: fmt.Sprintf("%s %q: every choice is empty; give at least one an instruction", n.MarkerKind().Word(), n.Key)})
					continue
				}
				for j := range shared {
					v := &shared[j]
					c := chosen(v, n)
					pad := longest - (m.labels[poolEndLabel(n.ID, c)] - m.labels[poolLabel(n.ID, c)])
					growth[v.Name][i] += pad - cur[v.Name].altPad[n.ID]
					next[v.Name].altPad[n.ID] = pad
				}
			}
		}
	}
	if len(errs) > 0 {
		return nil, errs
	}
	if err := placeEntries(prog, shared, ms, growth, next, true); err != nil {
		return nil, err
	}
	for _, v := range set.Variants {
		if v.Standalone {
			if err := placeEntries(prog, []variants.Variant{v}, ms, growth, next, false); err != nil {
				return nil, err
			}
		}
	}
	return next, nil
}

// placeEntries gives every entry of a group of variants one common offset:
// the first offset after the longest previous entry that is aligned as well
// as possible while keeping every static-branch site of the entry inside
// one patch window.
func placeEntries(prog *dsl.Program, group []variants.Variant, ms map[string]*measured, growth map[string][]int, next map[string]*params, sites bool) error {
	cursor := map[string]int{}
	for i, e := range prog.Entries {
		c := 0
		for _, v := range group {
			c = max(c, cursor[v.Name])
		}
		var rel []int
		var relPos []dsl.Pos
		if sites {
			m := ms[group[0].Name]
			start := m.labels[entryLabel(e.Name)]
			for _, mk := range markersOf(e.Body) {
				switch n := mk.(type) {
				case *dsl.StaticBranchNode:
					rel = append(rel, m.labels[siteLabel(n.ID)]-start)
					relPos = append(relPos, n.Pos)
				case *dsl.StaticCallNode: // re-targetable live, like a static branch
					rel = append(rel, m.labels[callSiteLabel(n.ID)]-start)
					relPos = append(relPos, n.Pos)
				}
			}
		}
		d, ok := chooseOffset(c, rel)
		if !ok {
			return dsl.ErrorList{{Pos: relPos[len(relPos)-1], Msg: fmt.Sprintf(
				"entry %q: static-branch sites at entry offsets %v cannot all sit inside %d-byte windows (needed for atomic patching) at any entry offset; move a site by adding or removing an instruction before it",
				e.Name, rel, marker.PatchWindow)}}
		}
		for _, v := range group {
			m := ms[v.Name]
			length := m.labels[entryEndLabel(e.Name)] - m.labels[entryLabel(e.Name)] + growth[v.Name][i]
			next[v.Name].entryPad[i] = d - cursor[v.Name]
			cursor[v.Name] = d + length
		}
	}
	return nil
}

// chooseOffset picks the entry offset at or after c that has the best
// alignment and keeps every site (at the given offsets from the entry)
// within a patch window.
func chooseOffset(c int, sites []int) (int, bool) {
	fits := func(d int) bool {
		for _, r := range sites {
			if marker.CrossesWindow(uint64(d+r), len(marker.NOP5)) {
				return false
			}
		}
		return true
	}
	for _, align := range []int{entryAlign, 8, 4, 2, 1} {
		for d := (c + align - 1) / align * align; d < c+4*entryAlign; d += align {
			if fits(d) {
				return d, true
			}
		}
	}
	return 0, false
}

// markersOf lists the markers of an entry body in order, those inside
// regions included (markers do not nest in markers).
func markersOf(ns []dsl.Node) []dsl.Marker {
	var out []dsl.Marker
	for _, n := range ns {
		switch n := n.(type) {
		case dsl.Marker:
			out = append(out, n)
		case *dsl.RegionNode:
			out = append(out, markersOf(n.Body)...)
			out = append(out, markersOf(n.Abort)...)
		}
	}
	return out
}
