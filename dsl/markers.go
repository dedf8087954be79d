package dsl

import (
	"github.com/vdsogen/vdsogen/layout"
	"github.com/vdsogen/vdsogen/marker"
)

// MarkerNode is a variant marker of any kind: a place where variants may
// differ. What its blocks mean, how each variant lays it out and how it
// is verified are its kind's (package marker, one file per kind).
type MarkerNode struct {
	Kind   layout.Kind
	Key    string
	Blocks []*Block
	Pos    Pos
	// ID numbers the marker in program order.
	ID int
}

// Block is one named block of a marker: a StaticBranch's body, a
// ThreeLabel's apply and tail, an Alternative's choices (built with Alt),
// a StaticCall's targets (names without code).
type Block struct {
	Name string
	// Feature is the CPU feature an Alternative choice needs at load time
	// ("" for none): one of layout.Features.
	Feature string
	Body    []Node
	Pos     Pos
	emit    func()
}

// Position reports where the marker was written.
func (n *MarkerNode) Position() Pos { return n.Pos }

// Decl is the marker as its kind sees it.
func (n *MarkerNode) Decl() marker.Decl {
	d := marker.Decl{Kind: n.Kind, Key: n.Key, ID: n.ID, Source: n.Pos.Short()}
	for _, bl := range n.Blocks {
		d.Blocks = append(d.Blocks, marker.Block{Name: bl.Name, Feature: bl.Feature, Code: bl.emit != nil})
	}
	return d
}

// Exit is the block through which control leaves the marker in every
// variant (its kind's Traits.Exit), or nil.
func (n *MarkerNode) Exit() *Block {
	if exit := marker.TraitsOf(n.Kind).Exit; exit != "" {
		for _, bl := range n.Blocks {
			if bl.Name == exit {
				return bl
			}
		}
	}
	return nil
}

// Alt declares a choice of an Alternative named name, needing CPU feature
// feature ("" for none), whose instructions are what body emits.
func Alt(name, feature string, body func()) *Block {
	return &Block{Name: name, Feature: feature, Pos: here(1), emit: body}
}

// Part declares a named block of code for Mark.
func Part(name string, body func()) *Block {
	return &Block{Name: name, Pos: here(1), emit: body}
}

// StaticBranch records a static branch on key whose out-of-line body is
// what body emits.
func (b *Builder) StaticBranch(key string, body func()) {
	p := here(1)
	b.mark(p, layout.StaticBranch, key, []*Block{part(p, marker.StaticBranchBody, body)})
}

// StaticBranch records a static branch in the default program.
func StaticBranch(key string, body func()) {
	p := here(1)
	std().mark(p, layout.StaticBranch, key, []*Block{part(p, marker.StaticBranchBody, body)})
}

// ThreeLabel records a three-label region on key: apply runs where key is
// on and falls into tail; where key is off only tail runs.
func (b *Builder) ThreeLabel(key string, apply, tail func()) {
	p := here(1)
	b.mark(p, layout.ThreeLabel, key, []*Block{part(p, marker.ThreeLabelApply, apply), part(p, marker.ThreeLabelTail, tail)})
}

// ThreeLabel records a three-label region in the default program.
func ThreeLabel(key string, apply, tail func()) {
	p := here(1)
	std().mark(p, layout.ThreeLabel, key, []*Block{part(p, marker.ThreeLabelApply, apply), part(p, marker.ThreeLabelTail, tail)})
}

// Alternative records an alternative on key with the given choices; the
// first is the default.
func (b *Builder) Alternative(key string, choices ...*Block) {
	b.mark(here(1), layout.Alternative, key, choices)
}

// Alternative records an alternative in the default program.
func Alternative(key string, choices ...*Block) {
	std().mark(here(1), layout.Alternative, key, choices)
}

// StaticCall records a static call on key to one of targets (entry
// names); the first is the default.
func (b *Builder) StaticCall(key string, targets ...string) {
	p := here(1)
	b.mark(p, layout.StaticCall, key, nameBlocks(p, targets))
}

// StaticCall records a static call in the default program.
func StaticCall(key string, targets ...string) {
	p := here(1)
	std().mark(p, layout.StaticCall, key, nameBlocks(p, targets))
}

// part is a block a built-in word declares at p.
func part(p Pos, name string, body func()) *Block { return &Block{Name: name, Pos: p, emit: body} }

func nameBlocks(p Pos, names []string) []*Block {
	out := make([]*Block, len(names))
	for i, n := range names {
		out[i] = &Block{Name: n, Pos: p}
	}
	return out
}

// Mark records a marker of kind k on key with the given blocks (built
// with Part or Alt): the form of the built-in words for a kind registered
// with package marker.
func (b *Builder) Mark(k layout.Kind, key string, blocks ...*Block) { b.mark(here(1), k, key, blocks) }

// Mark records a marker in the default program.
func Mark(k layout.Kind, key string, blocks ...*Block) { std().mark(here(1), k, key, blocks) }

// mark checks that a marker may start here and records its blocks.
func (b *Builder) mark(p Pos, k layout.Kind, key string, blocks []*Block) {
	word := k.Word()
	switch _, known := marker.For(k); {
	case !known:
		b.errorf(p, "marker kind %q is not registered (marker.Register)", k)
		return
	case b.marker != nil:
		b.errorf(p, "%s inside another marker (at %s): markers cannot nest; move it out of the enclosing block", word, b.marker.Position())
		return
	case b.dst == nil:
		b.errorf(p, "%s outside an entry: call Entry first", word)
		return
	case !marker.KeyPattern.MatchString(key):
		b.errorf(p, "%s key %q must match %s", word, key, marker.KeyPattern)
		return
	}
	n := &MarkerNode{Kind: k, Key: key, Pos: p}
	for _, bl := range blocks {
		if bl == nil {
			b.errorf(p, "%s %q: a nil block; build blocks with Alt or Part", word, key)
			continue
		}
		cp := &Block{Name: bl.Name, Feature: bl.Feature, Pos: bl.Pos, emit: bl.emit}
		b.record(n, &cp.Body, bl.emit)
		n.Blocks = append(n.Blocks, cp)
	}
	n.ID = b.nextID
	b.nextID++
	b.prog.Markers = append(b.prog.Markers, n)
	b.node(p, n)
}

// record runs fn with its output going to dst, and restores the entry's
// body as the destination afterwards.
func (b *Builder) record(n *MarkerNode, dst *[]Node, fn func()) {
	saved := b.dst
	b.dst, b.marker = dst, n
	defer func() { b.dst, b.marker = saved, nil }()
	if fn != nil {
		fn()
	}
}

// RegionNode is a restartable region: Body is the critical section, from
// its first instruction (start) to its end (post-commit); Abort is placed
// out of line at the end of the entry, after a signature word, and is where
// a thread interrupted inside the section may be restarted. It does not
// change the code of Body; it describes it (see layout.Region).
type RegionNode struct {
	Name  string
	Body  []Node
	Abort []Node
	Pos   Pos
	ID    int
}

// Position reports where the region was written.
func (n *RegionNode) Position() Pos { return n.Pos }

// Region records a restartable region named name: body is the critical
// section, abort the handler a thread interrupted inside it restarts at.
func (b *Builder) Region(name string, body, abort func()) { b.region(here(1), name, body, abort) }

// Region records a restartable region in the default program.
func Region(name string, body, abort func()) { std().region(here(1), name, body, abort) }

func (b *Builder) region(p Pos, name string, body, abort func()) {
	switch {
	case b.marker != nil:
		b.errorf(p, "Region %q inside a marker (at %s): a marker's blocks are placed per variant; put the marker inside the region instead", name, b.marker.Position())
		return
	case b.inRegion != nil:
		b.errorf(p, "Region %q inside Region %q (at %s): regions cannot nest", name, b.inRegion.Name, b.inRegion.Pos)
		return
	case b.dst == nil:
		b.errorf(p, "Region outside an entry: call Entry first")
		return
	case !namePattern.MatchString(name):
		b.errorf(p, "Region name %q is not an identifier", name)
		return
	}
	for _, r := range b.prog.Regions {
		if r.Name == name {
			b.errorf(p, "duplicate Region %q (first declared at %s)", name, r.Pos)
			return
		}
	}
	n := &RegionNode{Name: name, Pos: p, ID: len(b.prog.Regions)}
	b.prog.Regions = append(b.prog.Regions, n)
	saved := b.dst
	b.inRegion = n
	b.dst = &n.Body
	if body != nil {
		body()
	}
	b.dst = &n.Abort
	if abort != nil {
		abort()
	}
	b.dst, b.inRegion = saved, nil
	b.node(p, n)
}
