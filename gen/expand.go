package gen

import (
	"fmt"
	"maps"
	"slices"

	"github.com/mmcloughlin/avo/attr"
	"github.com/mmcloughlin/avo/ir"
	"github.com/mmcloughlin/avo/operand"

	"github.com/vdsogen/vdsogen/dsl"
	"github.com/vdsogen/vdsogen/layout"
	"github.com/vdsogen/vdsogen/marker"
	"github.com/vdsogen/vdsogen/variants"
)

// regionSignature is the never-executed instruction placed right before a
// region's abort handler: UD1 EAX, [RAX+disp32] whose disp32 is
// layout.RegionSignature, as rseq places RSEQ_SIG before its abort_ip.
func regionSignature() []byte {
	s := layout.RegionSignature
	return []byte{0x0f, 0xb9, 0x80, byte(s), byte(s >> 8), byte(s >> 16), byte(s >> 24)}
}

type itemKind int

const (
	itemLabel itemKind = iota
	itemInst
	itemRaw
	itemComment
)

// item is one element of a variant's image, in order. Labels and comments
// take no bytes; every other item maps to real bytes in the image.
type item struct {
	kind  itemKind
	label string
	inst  *ir.Instruction
	raw   []byte
	text  string // comment
	pos   dsl.Pos
}

// params are what the padding fixed point decides; expand applies them.
type params struct {
	// entryPad[i] is the number of INT3 bytes before entry i.
	entryPad []int
	// marker holds each marker's parameters (marker.Emitter.Param), by
	// marker ID and name.
	marker map[paramKey]int
}

type paramKey struct {
	id   int
	name string
}

func newParams(entries int) *params {
	return &params{entryPad: make([]int, entries), marker: map[paramKey]int{}}
}

func (p *params) equal(q *params) bool {
	return slices.Equal(p.entryPad, q.entryPad) && maps.Equal(p.marker, q.marker)
}

// Labels the generator places; users may not start a label with "vg_".
func entryLabel(name string) string    { return "vg_entry_" + name }
func entryEndLabel(name string) string { return "vg_end_" + name }

// markerLabel is the label a marker's kind calls role.
func markerLabel(id int, role string) string { return fmt.Sprintf("vg_m%d_%s", id, role) }

func regionStartLabel(id int) string  { return fmt.Sprintf("vg_rg%d_start", id) }
func regionCommitLabel(id int) string { return fmt.Sprintf("vg_rg%d_commit", id) }
func regionAbortLabel(id int) string  { return fmt.Sprintf("vg_rg%d_abort", id) }

// poolStartLabel marks the start of the replacement pool.
const poolStartLabel = "vg_pool"

// resolve is variant v as marker n's kind sees it: n's key looked up.
func resolve(v *variants.Variant, n *dsl.MarkerNode) marker.Variant {
	mv := marker.Variant{Name: v.Name, On: v.Keys[n.Key], Standalone: v.Standalone}
	if c, ok := v.Choices[n.Key]; ok {
		for i, b := range n.Blocks {
			if b.Name == c {
				mv.Choice = i // checkKeys rejected an unknown choice before
			}
		}
	}
	return mv
}

// expansion is one variant's image being laid out.
type expansion struct {
	v   *variants.Variant
	p   *params
	out []item
	// deferred is placed after the current entry's body: static branch
	// bodies and region abort handlers, in program order; pool after the
	// last entry.
	deferred, pool []func()
	// errs are the mistakes of kinds' Expand (Go code outside the
	// generator), at their markers.
	errs dsl.ErrorList
}

func (x *expansion) emit(it item) { x.out = append(x.out, it) }

// expand lays out one variant of the program: markers take the form their
// kind gives the variant's keys, everything else is copied as written.
func expand(prog *dsl.Program, v *variants.Variant, p *params) ([]item, error) {
	x := &expansion{v: v, p: p}
	for i, e := range prog.Entries {
		if pad := p.entryPad[i]; pad > 0 {
			x.emit(item{kind: itemRaw, raw: marker.INT3s(pad), pos: e.Pos})
		}
		x.emit(item{kind: itemComment, text: fmt.Sprintf("entry %s (%s)", e.Name, e.Pos.Short())})
		x.emit(item{kind: itemLabel, label: entryLabel(e.Name), pos: e.Pos})
		x.deferred = x.deferred[:0]
		x.nodes(e.Body)
		for j := 0; j < len(x.deferred); j++ { // an abort handler may defer a body
			x.deferred[j]()
		}
		x.emit(item{kind: itemLabel, label: entryEndLabel(e.Name), pos: e.Pos})
	}
	// The replacement pool, assembled once after the last entry (the
	// kernel's .altinstr_replacement).
	if len(x.pool) > 0 {
		x.emit(item{kind: itemLabel, label: poolStartLabel})
	}
	for _, fn := range x.pool {
		fn()
	}
	if len(x.errs) > 0 {
		return nil, x.errs
	}
	return x.out, nil
}

func (x *expansion) nodes(ns []dsl.Node) {
	for _, n := range ns {
		switch n := n.(type) {
		case *dsl.Inst:
			x.emit(item{kind: itemInst, inst: n.Inst, pos: n.Pos})
		case *dsl.LabelNode:
			x.emit(item{kind: itemLabel, label: n.Name, pos: n.Pos})
		case *dsl.Raw:
			x.emit(item{kind: itemRaw, raw: n.Bytes, pos: n.Pos})
		case *dsl.MarkerNode:
			u, _ := marker.For(n.Kind) // the DSL recorded registered kinds only
			u.Expand(&emitter{x: x, n: n}, n.Decl(), resolve(x.v, n))
		case *dsl.RegionNode:
			x.emit(item{kind: itemComment, text: fmt.Sprintf("Region %s (%s)", n.Name, n.Pos.Short())})
			x.emit(item{kind: itemLabel, label: regionStartLabel(n.ID), pos: n.Pos})
			x.nodes(n.Body)
			x.emit(item{kind: itemLabel, label: regionCommitLabel(n.ID), pos: n.Pos})
			x.deferred = append(x.deferred, func() {
				x.emit(item{kind: itemComment, text: fmt.Sprintf("Region %s abort handler (%s), after its signature", n.Name, n.Pos.Short())})
				x.emit(item{kind: itemRaw, raw: regionSignature(), pos: n.Pos})
				x.emit(item{kind: itemLabel, label: regionAbortLabel(n.ID), pos: n.Pos})
				x.nodes(n.Abort)
			})
		default:
			panic(fmt.Sprintf("gen: unknown node %T", n))
		}
	}
}

// emitter is marker.Emitter for marker n of an expansion.
type emitter struct {
	x *expansion
	n *dsl.MarkerNode
}

func (e *emitter) Note(text string) {
	e.x.emit(item{kind: itemComment, text: fmt.Sprintf("%s %s (%s)%s", e.n.Kind.Word(), e.n.Key, e.n.Pos.Short(), text)})
}

func (e *emitter) Label(role string) {
	e.x.emit(item{kind: itemLabel, label: markerLabel(e.n.ID, role), pos: e.n.Pos})
}

func (e *emitter) Raw(b []byte) { e.x.emit(item{kind: itemRaw, raw: b, pos: e.n.Pos}) }
func (e *emitter) Block(i int) {
	if e.valid(i) {
		e.x.nodes(e.n.Blocks[i].Body)
	}
}

func (e *emitter) Exits(i int) bool { return e.valid(i) && dsl.Exits(e.n.Blocks[i].Body) }

// valid reports whether the marker has block i, and records the kind's
// mistake where it has not.
func (e *emitter) valid(i int) bool {
	if i >= 0 && i < len(e.n.Blocks) {
		return true
	}
	e.x.errs = append(e.x.errs, &dsl.Error{Pos: e.n.Pos, Msg: fmt.Sprintf("%s %q: its kind places block %d of %d (a bug in the kind's Expand)", e.n.Kind.Word(), e.n.Key, i, len(e.n.Blocks))})
	return false
}
func (e *emitter) OutOfLine(fn func()) {
	e.x.deferred = append(e.x.deferred, fn)
}
func (e *emitter) Pool(fn func())        { e.x.pool = append(e.x.pool, fn) }
func (e *emitter) Param(name string) int { return e.x.p.marker[paramKey{e.n.ID, name}] }

func (e *emitter) JumpTo(role string) {
	e.x.emit(item{kind: itemInst, inst: jmpTo(markerLabel(e.n.ID, role)), pos: e.n.Pos})
}

func jmpTo(label string) *ir.Instruction {
	return &ir.Instruction{
		Opcode:     "JMP",
		Operands:   []operand.Op{operand.LabelRef(label)},
		IsBranch:   true,
		IsTerminal: false,
	}
}

// function turns a variant's items into an avo function for printing.
func function(symbol string, items []item) *ir.Function {
	fn := ir.NewFunction(symbol)
	// NOFRAME keeps the assembler from inserting a BP frame around CALLs, and
	// NOSPLIT from inserting a stack check: either would shift every offset.
	fn.Attributes = attr.NOSPLIT | attr.NOFRAME
	for _, it := range items {
		switch it.kind {
		case itemLabel:
			fn.AddLabel(ir.Label(it.label))
		case itemInst:
			fn.AddInstruction(it.inst)
		case itemComment:
			fn.AddComment(it.text)
		case itemRaw:
			for _, b := range it.raw {
				fn.AddInstruction(&ir.Instruction{Opcode: "BYTE", Operands: []operand.Op{operand.U8(b)}})
			}
		}
	}
	return fn
}
