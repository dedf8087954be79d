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

// plan computes the next parameters from the current measurement: each
// marker's own (its kind's Plan: padding, displacements), then entry
// offsets shared by all shared variants.
func plan(prog *dsl.Program, set *variants.Set, ms map[string]*measured, cur map[string]*params) (map[string]*params, error) {
	next := map[string]*params{}
	// growth[v][i] is how much entry i of v grows from the new padding.
	growth := map[string][]int{}
	for _, v := range set.Variants {
		next[v.Name] = newParams(len(prog.Entries))
		growth[v.Name] = make([]int, len(prog.Entries))
	}
	var errs dsl.ErrorList
	for i, e := range prog.Entries {
		for _, n := range markersOf(e.Body) {
			u, _ := marker.For(n.Kind)
			u.Plan(&planner{set: set, n: n, entry: i, ms: ms, cur: cur, next: next, growth: growth, errs: &errs}, n.Decl())
		}
	}
	if len(errs) > 0 {
		return nil, errs
	}
	shared := set.Shared()
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

// planner is marker.Planner for marker n, in entry number entry.
type planner struct {
	set    *variants.Set
	n      *dsl.MarkerNode
	entry  int
	ms     map[string]*measured
	cur    map[string]*params
	next   map[string]*params
	growth map[string][]int
	errs   *dsl.ErrorList
}

func (p *planner) variants(vs []variants.Variant) []marker.Variant {
	out := make([]marker.Variant, len(vs))
	for i := range vs {
		out[i] = resolve(&vs[i], p.n)
	}
	return out
}

func (p *planner) Shared() []marker.Variant { return p.variants(p.set.Shared()) }
func (p *planner) All() []marker.Variant    { return p.variants(p.set.Variants) }

// Label and Entry read variant v's measurement as Locate reads it.
func (p *planner) Label(v, role string) (int, bool) { return located{p.ms[v], p.n.ID}.Label(role) }
func (p *planner) Entry(v, name string) int         { return located{p.ms[v], p.n.ID}.Entry(name) }

func (p *planner) Param(v, name string) int { return p.cur[v].marker[paramKey{p.n.ID, name}] }

func (p *planner) Pad(v, name string, n int) {
	p.growth[v][p.entry] += n - p.Param(v, name)
	p.Set(v, name, n)
}

func (p *planner) Set(v, name string, n int) { p.next[v].marker[paramKey{p.n.ID, name}] = n }

func (p *planner) Errorf(format string, args ...any) {
	*p.errs = append(*p.errs, &dsl.Error{Pos: p.n.Pos, Msg: fmt.Sprintf(format, args...)})
}

// placeEntries gives every entry of a group of variants one common offset:
// the first offset after the longest previous entry that is aligned as well
// as possible while keeping every atomic site of the entry (its kind's
// Traits.Atomic) inside one patch window.
func placeEntries(prog *dsl.Program, group []variants.Variant, ms map[string]*measured, growth map[string][]int, next map[string]*params, sites bool) error {
	cursor := map[string]int{}
	for i, e := range prog.Entries {
		c := 0
		for _, v := range group {
			c = max(c, cursor[v.Name])
		}
		var atomic []span
		var atomicPos []dsl.Pos
		if sites {
			m := ms[group[0].Name]
			start := m.labels[entryLabel(e.Name)]
			for _, n := range markersOf(e.Body) {
				u, _ := marker.For(n.Kind)
				if !u.Traits().Atomic {
					continue
				}
				if s, ok := u.Locate(located{m, n.ID}, n.Decl(), resolve(&group[0], n)); ok {
					atomic = append(atomic, span{s.Start - start, s.End - s.Start})
					atomicPos = append(atomicPos, n.Pos)
				}
			}
		}
		d, ok := chooseOffset(c, atomic)
		if !ok {
			offs := make([]int, len(atomic))
			for i, s := range atomic {
				offs[i] = s.off
			}
			return dsl.ErrorList{{Pos: atomicPos[len(atomicPos)-1], Msg: fmt.Sprintf(
				"entry %q: atomic sites at entry offsets %v cannot all sit inside %d-byte windows (needed for live patching) at any entry offset; move a site by adding or removing an instruction before it",
				e.Name, offs, marker.PatchWindow)}}
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

// span is a site's offset from its entry and its length.
type span struct{ off, n int }

// chooseOffset picks the entry offset at or after c that has the best
// alignment and keeps every site within a patch window.
func chooseOffset(c int, sites []span) (int, bool) {
	fits := func(d int) bool {
		for _, s := range sites {
			if marker.CrossesWindow(uint64(d+s.off), s.n) {
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
func markersOf(ns []dsl.Node) []*dsl.MarkerNode {
	var out []*dsl.MarkerNode
	for _, n := range ns {
		switch n := n.(type) {
		case *dsl.MarkerNode:
			out = append(out, n)
		case *dsl.RegionNode:
			out = append(out, markersOf(n.Body)...)
			out = append(out, markersOf(n.Abort)...)
		}
	}
	return out
}

// located is marker.Measured for marker id in a measured variant.
type located struct {
	m  *measured
	id int
}

func (l located) Label(role string) (int, bool) {
	off, ok := l.m.labels[markerLabel(l.id, role)]
	return off, ok
}

func (l located) Entry(name string) int       { return l.m.labels[entryLabel(name)] }
func (l located) Bytes(start, end int) []byte { return l.m.image[start:end] }
