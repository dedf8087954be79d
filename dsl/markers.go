package dsl

import "regexp"

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

// Position reports where the marker was written.
func (n *ThreeLabelNode) Position() Pos { return n.Pos }

// MarkerKey is the variant key that switches the marker.
func (n *ThreeLabelNode) MarkerKey() string { return n.Key }

// MarkerID numbers the marker in program order.
func (n *ThreeLabelNode) MarkerID() int { return n.ID }

var keyPattern = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)

// StaticBranch records a static branch on key whose out-of-line body is
// what body emits.
func (b *Builder) StaticBranch(key string, body func()) { b.staticBranch(here(1), key, body) }

// StaticBranch records a static branch in the default program.
func StaticBranch(key string, body func()) { std().staticBranch(here(1), key, body) }

func (b *Builder) staticBranch(p Pos, key string, body func()) {
	n := &StaticBranchNode{Key: key, Pos: p}
	if !b.openMarker(p, "StaticBranch", key, n) {
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
	if !b.openMarker(p, "ThreeLabel", key, n) {
		return
	}
	b.record(n, &n.Apply, apply)
	b.record(n, &n.Tail, tail)
	b.closeMarker(p, n)
}

// openMarker checks that a marker may start here.
func (b *Builder) openMarker(p Pos, kind, key string, n Marker) bool {
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
	}
	b.nextID++
	b.prog.Markers = append(b.prog.Markers, n)
	b.node(p, n)
}
