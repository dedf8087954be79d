package dsl

import (
	"regexp"

	"github.com/vdsogen/vdsogen/layout"
)

// StaticBranchNode is a static branch: a 5-byte site that is NOP5 where Key
// is off and JMP rel32 to Body where it is on. Body is placed out of line at
// the end of the entry, in every variant; unless it ends in RET or JMP it
// jumps back to the instruction after the site.
type StaticBranchNode struct {
	Key  string
	Body []Node
	Pos  Pos
	ID   int
}

// ThreeLabelNode is a three-label region. Where Key is on, Apply runs at
// l_call and falls into Tail at l_out. Where Key is off, Tail is assembled
// at l_call, INT3 fills the rest up to l_out, and the copy of Tail at l_out
// stays in place, so both layouts have the same length.
type ThreeLabelNode struct {
	Key   string
	Apply []Node
	Tail  []Node
	Pos   Pos
	ID    int
}

// Position reports where the marker was written.
func (n *StaticBranchNode) Position() Pos { return n.Pos }

// MarkerKey is the variant key that switches the marker.
func (n *StaticBranchNode) MarkerKey() string { return n.Key }

// MarkerID numbers the marker in program order.
func (n *StaticBranchNode) MarkerID() int { return n.ID }

// MarkerKind is layout.StaticBranch.
func (n *StaticBranchNode) MarkerKind() layout.Kind { return layout.StaticBranch }

// Position reports where the marker was written.
func (n *ThreeLabelNode) Position() Pos { return n.Pos }

// MarkerKey is the variant key that switches the marker.
func (n *ThreeLabelNode) MarkerKey() string { return n.Key }

// MarkerID numbers the marker in program order.
func (n *ThreeLabelNode) MarkerID() int { return n.ID }

// MarkerKind is layout.ThreeLabel.
func (n *ThreeLabelNode) MarkerKind() layout.Kind { return layout.ThreeLabel }

var keyPattern = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)

// StaticBranch records a static branch on key whose out-of-line body is
// what body emits.
func (b *Builder) StaticBranch(key string, body func()) { b.staticBranch(here(1), key, body) }

// StaticBranch records a static branch in the default program.
func StaticBranch(key string, body func()) { std().staticBranch(here(1), key, body) }

func (b *Builder) staticBranch(p Pos, key string, body func()) {
	n := &StaticBranchNode{Key: key, Pos: p}
	if !b.openMarker(p, key, n) {
		return
	}
	b.record(n, &n.Body, body)
	b.closeMarker(p, n)
}

// ThreeLabel records a three-label region on key: apply runs where key is
// on and falls into tail; where key is off only tail runs.
func (b *Builder) ThreeLabel(key string, apply, tail func()) {
	b.threeLabel(here(1), key, apply, tail)
}

// ThreeLabel records a three-label region in the default program.
func ThreeLabel(key string, apply, tail func()) { std().threeLabel(here(1), key, apply, tail) }

func (b *Builder) threeLabel(p Pos, key string, apply, tail func()) {
	n := &ThreeLabelNode{Key: key, Pos: p}
	if !b.openMarker(p, key, n) {
		return
	}
	b.record(n, &n.Apply, apply)
	b.record(n, &n.Tail, tail)
	b.closeMarker(p, n)
}

// openMarker checks that a marker may start here.
func (b *Builder) openMarker(p Pos, key string, n Marker) bool {
	kind := n.MarkerKind().Word()
	if b.marker != nil {
		b.errorf(p, "%s inside another marker (at %s): markers cannot nest; move it out of the enclosing block", kind, b.marker.Position())
		return false
	}
	if b.dst == nil {
		b.errorf(p, "%s outside an entry: call Entry first", kind)
		return false
	}
	if !keyPattern.MatchString(key) {
		b.errorf(p, "%s key %q must match %s", kind, key, keyPattern)
		return false
	}
	return true
}

// record runs fn with its output going to dst, and restores the entry's
// body as the destination afterwards.
func (b *Builder) record(n Marker, dst *[]Node, fn func()) {
	saved := b.dst
	b.dst, b.marker = dst, n
	defer func() { b.dst, b.marker = saved, nil }()
	if fn != nil {
		fn()
	}
}

func (b *Builder) closeMarker(p Pos, n Marker) {
	switch n := n.(type) {
	case *StaticBranchNode:
		n.ID = b.nextID
	case *ThreeLabelNode:
		n.ID = b.nextID
	case *AlternativeNode:
		n.ID = b.nextID
	case *StaticCallNode:
		n.ID = b.nextID
	}
	b.nextID++
	b.prog.Markers = append(b.prog.Markers, n)
	b.node(p, n)
}

// AlternativeNode is an N-way replacement of one site, as the kernel's
// alternatives: each variant assembles the choice its key names (the first
// when the variants file does not set the key), padded with multi-byte
// NOPs to the longest choice. Every choice is also assembled once in the
// image's replacement pool, so that a loader can apply another at load
// time by CPU feature. Choices must be position-independent straight-line
// code: no labels, branches or data-page references.
type AlternativeNode struct {
	Key     string
	Choices []*AltChoice
	Pos     Pos
	ID      int
}

// AltChoice is one choice of an Alternative; build it with Alt.
type AltChoice struct {
	Name string
	// Feature is the CPU feature the choice needs at load time ("" for
	// none): layout.FeatureRDTSCP or layout.FeatureLFENCERDTSC.
	Feature string
	Body    []Node
	Pos     Pos
	emit    func()
}

// Alt declares a choice of an Alternative named name, needing CPU feature
// feature ("" for none), whose instructions are what body emits.
func Alt(name, feature string, body func()) *AltChoice {
	return &AltChoice{Name: name, Feature: feature, Pos: here(1), emit: body}
}

// StaticCallNode is a direct CALL rel32 to one of Targets (entries of the
// program), chosen per variant by Key (the first target when the variants
// file does not set the key) and re-targetable at load time. There is no
// indirect branch anywhere: the point of static calls.
type StaticCallNode struct {
	Key     string
	Targets []string
	Pos     Pos
	ID      int
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

// Position reports where the marker was written.
func (n *AlternativeNode) Position() Pos { return n.Pos }

// MarkerKey is the variant key that picks the choice.
func (n *AlternativeNode) MarkerKey() string { return n.Key }

// MarkerID numbers the marker in program order.
func (n *AlternativeNode) MarkerID() int { return n.ID }

// MarkerKind is layout.Alternative.
func (n *AlternativeNode) MarkerKind() layout.Kind { return layout.Alternative }

// ChoiceNames lists the names of the choices, in order.
func (n *AlternativeNode) ChoiceNames() []string {
	var out []string
	for _, c := range n.Choices {
		out = append(out, c.Name)
	}
	return out
}

// Position reports where the marker was written.
func (n *StaticCallNode) Position() Pos { return n.Pos }

// MarkerKey is the variant key that picks the target.
func (n *StaticCallNode) MarkerKey() string { return n.Key }

// MarkerID numbers the marker in program order.
func (n *StaticCallNode) MarkerID() int { return n.ID }

// MarkerKind is layout.StaticCall.
func (n *StaticCallNode) MarkerKind() layout.Kind { return layout.StaticCall }

// ChoiceNames lists the targets, in order.
func (n *StaticCallNode) ChoiceNames() []string { return append([]string(nil), n.Targets...) }

// Position reports where the region was written.
func (n *RegionNode) Position() Pos { return n.Pos }

// ChoiceMarker is a marker whose key names one of several choices (a
// string in the variants file) rather than switching it on or off.
type ChoiceMarker interface {
	Marker
	ChoiceNames() []string
}

// Alternative records an alternative on key with the given choices; the
// first is the default.
func (b *Builder) Alternative(key string, choices ...*AltChoice) {
	b.alternative(here(1), key, choices)
}

// Alternative records an alternative in the default program.
func Alternative(key string, choices ...*AltChoice) { std().alternative(here(1), key, choices) }

func (b *Builder) alternative(p Pos, key string, choices []*AltChoice) {
	n := &AlternativeNode{Key: key, Pos: p}
	if !b.openMarker(p, key, n) {
		return
	}
	for _, c := range choices {
		if c == nil {
			b.errorf(p, "Alternative %q: a nil choice; build choices with Alt", key)
			continue
		}
		cc := &AltChoice{Name: c.Name, Feature: c.Feature, Pos: c.Pos}
		b.record(n, &cc.Body, c.emit)
		n.Choices = append(n.Choices, cc)
	}
	b.closeMarker(p, n)
}

// StaticCall records a static call on key to one of targets (entry
// names); the first is the default.
func (b *Builder) StaticCall(key string, targets ...string) {
	b.staticCall(here(1), key, targets)
}

// StaticCall records a static call in the default program.
func StaticCall(key string, targets ...string) { std().staticCall(here(1), key, targets) }

func (b *Builder) staticCall(p Pos, key string, targets []string) {
	n := &StaticCallNode{Key: key, Targets: append([]string(nil), targets...), Pos: p}
	if !b.openMarker(p, key, n) {
		return
	}
	b.closeMarker(p, n)
}

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
