package marker

import (
	"regexp"

	"github.com/vdsogen/vdsogen/layout"
)

// KeyPattern is what a marker key, and a choice name the variants file
// spells, must match.
var KeyPattern = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)

// Decl is a marker as the program declares it, as its kind sees it. The
// code of its blocks stays the DSL's: a kind places a block by its index
// and asks the Declaration about its code.
type Decl struct {
	Kind layout.Kind
	Key  string
	// ID numbers the marker in program order; the generator's labels for
	// it carry the number.
	ID int
	// Source is where the marker was written (file:line).
	Source string
	Blocks []Block
}

// Block is one named block of a marker: a static branch's body, a
// three-label region's apply and tail, an alternative's choices, a static
// call's targets (names without code).
type Block struct {
	Name    string
	Feature string
	// Code: the block was given code (a function), even one that emits
	// nothing; a name-only block has none.
	Code bool
}

// Names lists the names of d's blocks, in order: a choice marker's choices.
func (d Decl) Names() []string {
	out := make([]string, len(d.Blocks))
	for i, b := range d.Blocks {
		out[i] = b.Name
	}
	return out
}

// Declaration is what a kind may ask of a marker's code as written, and
// where it reports a mistake in it; the DSL implements it. Every report is
// made at the position of what it names: the marker, a block, or the
// offending instruction or label.
type Declaration interface {
	Decl() Decl
	// Empty reports whether block i holds no instruction or bytes.
	Empty(i int) bool
	// Exits reports whether control cannot fall off the end of block i: it
	// ends in RET or JMP.
	Exits(i int) bool
	// Entry returns the Go signature of the program's entry name, if it is
	// one; Caller is the entry the marker sits in.
	Entry(name string) (signature string, ok bool)
	Caller() string
	// Errorf reports a mistake at the marker (block < 0) or at block i;
	// Position is where that is, for a message that names it.
	Errorf(block int, format string, args ...any)
	Position(block int) string
	// ForbidLabels reports every label in block i as "label L inside
	// where: why".
	ForbidLabels(i int, where, why string)
	// ForbidBranches reports every branch, call or label reference in
	// block i as "OP inside where: why".
	ForbidBranches(i int, where, why string)
	// ForbidPageRefs reports every data-page reference in block i as "OP
	// inside where refers to SYM: why".
	ForbidPageRefs(i int, where, why string)
}

// Variant is what a kind sees of one variant while it lays out a marker:
// the variant's setting of the marker's key, resolved.
type Variant struct {
	Name string
	// On: the key is on (switch kinds).
	On bool
	// Choice is the index of the block the key picks (choice kinds): the
	// one the variants file names, or the first.
	Choice int
	// Standalone: the variant is not switched with the others, so its
	// markers are elided to straight code where the kind allows.
	Standalone bool
}

// Emitter lays out one marker in one variant, in program order; the
// generator implements it. Labels are the marker's own, named by a role
// ("site", "body"); the generator makes them unique.
type Emitter interface {
	// Note writes a comment that names the marker ("StaticBranch k
	// (asm.go:12)") followed by text.
	Note(text string)
	Label(role string)
	// Raw places literal bytes.
	Raw(b []byte)
	// Block places the code of block i.
	Block(i int)
	// Exits reports whether block i ends in RET or JMP.
	Exits(i int) bool
	// JumpTo places a JMP to the marker's label role.
	JumpTo(role string)
	// OutOfLine places what fn emits after the body of the marker's entry;
	// Pool, in the replacement pool after every entry.
	OutOfLine(fn func())
	Pool(fn func())
	// Param is the value of the marker's parameter name in this variant,
	// as the last Plan set it (0 before the first).
	Param(name string) int
}

// Planner is the measurement of the last layout, from which Plan sets the
// next round's parameters; the generator repeats until they settle.
type Planner interface {
	// Shared lists the variants switched with each other (they share
	// every entry offset); All every variant.
	Shared() []Variant
	All() []Variant
	// Label is the offset of the marker's label role in variant v.
	Label(v, role string) (int, bool)
	// Entry is the offset of the program's entry name in variant v.
	Entry(v, name string) int
	// Param is the current value of parameter name in variant v.
	Param(v, name string) int
	// Pad sets padding parameter name: n bytes the marker adds inside its
	// entry in variant v (the entry grows by the change).
	Pad(v, name string, n int)
	// Set sets a parameter that does not change the layout's length, such
	// as a displacement.
	Set(v, name string, n int)
	// Errorf reports a mistake of the declaration, at the marker.
	Errorf(format string, args ...any)
}

// Measured is one laid-out variant, as Locate reads it.
type Measured interface {
	Label(role string) (int, bool)
	Entry(name string) int
	// Bytes are the image's bytes [start, end).
	Bytes(start, end int) []byte
}

// Span is a marker's site in one variant and what the layout table records
// of it besides its kind, key and bytes.
type Span struct {
	Start, End int
	Target     int
	Choice     string
	Choices    []layout.Choice
}

// Generator is the generator's half of a kind: what the DSL checks of a
// declaration, how a variant lays it out, how the padding and
// displacements settle, and where its site is.
type Generator interface {
	// Declare checks a declaration beyond what holds for every kind (a
	// valid key, no nesting, inside an entry).
	Declare(d Declaration)
	// Expand lays out d in variant v.
	Expand(x Emitter, d Decl, v Variant)
	// Plan sets d's parameters for the next layout from the last one.
	Plan(p Planner, d Decl)
	// Locate finds d's site in a laid-out variant; ok is false where the
	// variant has none (an elided marker).
	Locate(m Measured, d Decl, v Variant) (s Span, ok bool)
}
