package gen

import (
	"fmt"

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
	// tailPad[id] is the INT3 filler after a three-label tail placed at
	// l_call (variants where the key is off).
	tailPad map[int]int
	// rel[id] is the rel32 of an on static branch or of a static call.
	rel map[int]int32
	// altPad[id] is the NOP padding after an alternative's choice.
	altPad map[int]int
}

func newParams(entries int) *params {
	return &params{entryPad: make([]int, entries), tailPad: map[int]int{}, rel: map[int]int32{}, altPad: map[int]int{}}
}

func (p *params) equal(q *params) bool {
	if len(p.entryPad) != len(q.entryPad) || len(p.tailPad) != len(q.tailPad) || len(p.rel) != len(q.rel) || len(p.altPad) != len(q.altPad) {
		return false
	}
	for k, v := range p.altPad {
		if w, ok := q.altPad[k]; !ok || w != v {
			return false
		}
	}
	for i := range p.entryPad {
		if p.entryPad[i] != q.entryPad[i] {
			return false
		}
	}
	for k, v := range p.tailPad {
		if q.tailPad[k] != v {
			return false
		}
	}
	for k, v := range p.rel {
		if w, ok := q.rel[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// Labels the generator places; users may not start a label with "vg_".
func entryLabel(name string) string    { return "vg_entry_" + name }
func entryEndLabel(name string) string { return "vg_end_" + name }
func siteLabel(id int) string          { return fmt.Sprintf("vg_sb%d", id) }
func siteRetLabel(id int) string       { return fmt.Sprintf("vg_sb%d_ret", id) }
func bodyLabel(id int) string          { return fmt.Sprintf("vg_sb%d_body", id) }
func callLabel(id int) string          { return fmt.Sprintf("vg_tl%d_call", id) }
func outLabel(id int) string           { return fmt.Sprintf("vg_tl%d_out", id) }
func endLabel(id int) string           { return fmt.Sprintf("vg_tl%d_end", id) }
func altLabel(id int) string           { return fmt.Sprintf("vg_alt%d", id) }
func altEndLabel(id int) string        { return fmt.Sprintf("vg_alt%d_end", id) }
func poolLabel(id, choice int) string  { return fmt.Sprintf("vg_alt%d_c%d", id, choice) }
func poolEndLabel(id, choice int) string {
	return fmt.Sprintf("vg_alt%d_c%d_end", id, choice)
}
func callSiteLabel(id int) string     { return fmt.Sprintf("vg_sc%d", id) }
func regionStartLabel(id int) string  { return fmt.Sprintf("vg_rg%d_start", id) }
func regionCommitLabel(id int) string { return fmt.Sprintf("vg_rg%d_commit", id) }
func regionAbortLabel(id int) string  { return fmt.Sprintf("vg_rg%d_abort", id) }

// poolStartLabel marks the start of the replacement pool.
const poolStartLabel = "vg_pool"

// chosen returns the index of the choice a variant takes for a choice
// marker: the one its key names, or the first.
func chosen(v *variants.Variant, n dsl.ChoiceMarker) int {
	c, ok := v.Choices[n.MarkerKey()]
	if !ok {
		return 0
	}
	for i, name := range n.ChoiceNames() {
		if name == c {
			return i
		}
	}
	return 0 // checkKeys rejected an unknown choice before
}

// expand lays out one variant of the program: markers take the form the
// variant's keys select, everything else is copied as written.
func expand(prog *dsl.Program, v *variants.Variant, p *params) []item {
	var out []item
	emit := func(it item) { out = append(out, it) }
	var nodes func([]dsl.Node)
	var deferred []dsl.Node // static branch bodies and region aborts, placed after the entry
	var alts []*dsl.AlternativeNode
	nodes = func(ns []dsl.Node) {
		for _, n := range ns {
			switch n := n.(type) {
			case *dsl.Inst:
				emit(item{kind: itemInst, inst: n.Inst, pos: n.Pos})
			case *dsl.LabelNode:
				emit(item{kind: itemLabel, label: n.Name, pos: n.Pos})
			case *dsl.Raw:
				emit(item{kind: itemRaw, raw: n.Bytes, pos: n.Pos})
			case *dsl.StaticBranchNode:
				on := v.Keys[n.Key]
				if v.Standalone {
					emit(item{kind: itemComment, text: fmt.Sprintf("%s %s (%s): %s, elided", n.MarkerKind().Word(), n.Key, n.Pos.Short(), onOff(on))})
					if on {
						nodes(n.Body)
					}
					continue
				}
				emit(item{kind: itemComment, text: fmt.Sprintf("%s %s (%s): %s", n.MarkerKind().Word(), n.Key, n.Pos.Short(), onOff(on))})
				emit(item{kind: itemLabel, label: siteLabel(n.ID), pos: n.Pos})
				if on {
					emit(item{kind: itemRaw, raw: jmpRel32(p.rel[n.ID]), pos: n.Pos})
				} else {
					emit(item{kind: itemRaw, raw: marker.NOP5, pos: n.Pos})
				}
				emit(item{kind: itemLabel, label: siteRetLabel(n.ID), pos: n.Pos})
				deferred = append(deferred, n)
			case *dsl.AlternativeNode:
				c := chosen(v, n)
				if v.Standalone {
					emit(item{kind: itemComment, text: fmt.Sprintf("%s %s (%s): %s, elided", n.MarkerKind().Word(), n.Key, n.Pos.Short(), n.Choices[c].Name)})
					nodes(n.Choices[c].Body)
					continue
				}
				emit(item{kind: itemComment, text: fmt.Sprintf("%s %s (%s): %s", n.MarkerKind().Word(), n.Key, n.Pos.Short(), n.Choices[c].Name)})
				emit(item{kind: itemLabel, label: altLabel(n.ID), pos: n.Pos})
				nodes(n.Choices[c].Body)
				for _, nop := range marker.NopFill(p.altPad[n.ID]) {
					emit(item{kind: itemRaw, raw: nop, pos: n.Pos})
				}
				emit(item{kind: itemLabel, label: altEndLabel(n.ID), pos: n.Pos})
				alts = append(alts, n)
			case *dsl.StaticCallNode:
				c := chosen(v, n)
				emit(item{kind: itemComment, text: fmt.Sprintf("%s %s (%s): %s", n.MarkerKind().Word(), n.Key, n.Pos.Short(), n.Targets[c])})
				emit(item{kind: itemLabel, label: callSiteLabel(n.ID), pos: n.Pos})
				emit(item{kind: itemRaw, raw: marker.Rel32(marker.OpCALLRel32, p.rel[n.ID]), pos: n.Pos})
			case *dsl.RegionNode:
				emit(item{kind: itemComment, text: fmt.Sprintf("Region %s (%s)", n.Name, n.Pos.Short())})
				emit(item{kind: itemLabel, label: regionStartLabel(n.ID), pos: n.Pos})
				nodes(n.Body)
				emit(item{kind: itemLabel, label: regionCommitLabel(n.ID), pos: n.Pos})
				deferred = append(deferred, n)
			case *dsl.ThreeLabelNode:
				on := v.Keys[n.Key]
				if v.Standalone {
					emit(item{kind: itemComment, text: fmt.Sprintf("%s %s (%s): %s, elided", n.MarkerKind().Word(), n.Key, n.Pos.Short(), onOff(on))})
					if on {
						nodes(n.Apply)
					}
					nodes(n.Tail)
					continue
				}
				emit(item{kind: itemComment, text: fmt.Sprintf("%s %s (%s): %s", n.MarkerKind().Word(), n.Key, n.Pos.Short(), onOff(on))})
				emit(item{kind: itemLabel, label: callLabel(n.ID), pos: n.Pos})
				if on {
					nodes(n.Apply)
				} else {
					nodes(n.Tail)
					if pad := p.tailPad[n.ID]; pad > 0 {
						emit(item{kind: itemRaw, raw: marker.INT3s(pad), pos: n.Pos})
					}
				}
				emit(item{kind: itemLabel, label: outLabel(n.ID), pos: n.Pos})
				nodes(n.Tail)
				emit(item{kind: itemLabel, label: endLabel(n.ID), pos: n.Pos})
			default:
				panic(fmt.Sprintf("gen: unknown node %T", n))
			}
		}
	}
	for i, e := range prog.Entries {
		if pad := p.entryPad[i]; pad > 0 {
			emit(item{kind: itemRaw, raw: marker.INT3s(pad), pos: e.Pos})
		}
		emit(item{kind: itemComment, text: fmt.Sprintf("entry %s (%s)", e.Name, e.Pos.Short())})
		emit(item{kind: itemLabel, label: entryLabel(e.Name), pos: e.Pos})
		deferred = deferred[:0]
		nodes(e.Body)
		// Out-of-line static branch bodies (present in every shared variant)
		// and region abort handlers, in program order.
		for j := 0; j < len(deferred); j++ {
			switch n := deferred[j].(type) {
			case *dsl.StaticBranchNode:
				emit(item{kind: itemComment, text: fmt.Sprintf("%s %s body (%s)", n.MarkerKind().Word(), n.Key, n.Pos.Short())})
				emit(item{kind: itemLabel, label: bodyLabel(n.ID), pos: n.Pos})
				nodes(n.Body)
				if !endsTerminal(n.Body) {
					emit(item{kind: itemInst, inst: jmpTo(siteRetLabel(n.ID)), pos: n.Pos})
				}
			case *dsl.RegionNode:
				emit(item{kind: itemComment, text: fmt.Sprintf("Region %s abort handler (%s), after its signature", n.Name, n.Pos.Short())})
				emit(item{kind: itemRaw, raw: regionSignature(), pos: n.Pos})
				emit(item{kind: itemLabel, label: regionAbortLabel(n.ID), pos: n.Pos})
				nodes(n.Abort)
			}
		}
		emit(item{kind: itemLabel, label: entryEndLabel(e.Name), pos: e.Pos})
	}
	// The replacement pool: every choice of every alternative, assembled
	// once, after the last entry (the kernel's .altinstr_replacement).
	if len(alts) > 0 {
		emit(item{kind: itemLabel, label: poolStartLabel})
	}
	for _, n := range alts {
		emit(item{kind: itemComment, text: fmt.Sprintf("%s %s (%s) choices", n.MarkerKind().Word(), n.Key, n.Pos.Short())})
		for i, c := range n.Choices {
			emit(item{kind: itemLabel, label: poolLabel(n.ID, i), pos: c.Pos})
			nodes(c.Body)
			emit(item{kind: itemLabel, label: poolEndLabel(n.ID, i), pos: c.Pos})
		}
	}
	return out
}

func onOff(on bool) string {
	if on {
		return "on"
	}
	return "off"
}

func jmpRel32(rel int32) []byte { return marker.Rel32(marker.OpJMPRel32, rel) }

func jmpTo(label string) *ir.Instruction {
	return &ir.Instruction{
		Opcode:     "JMP",
		Operands:   []operand.Op{operand.LabelRef(label)},
		IsBranch:   true,
		IsTerminal: false,
	}
}

// endsTerminal reports whether control cannot fall off the end of ns.
func endsTerminal(ns []dsl.Node) bool {
	if len(ns) == 0 {
		return false
	}
	switch n := ns[len(ns)-1].(type) {
	case *dsl.Inst:
		return n.Inst.IsTerminal || n.Inst.IsUnconditionalBranch()
	case *dsl.ThreeLabelNode:
		return endsTerminal(n.Tail)
	case *dsl.RegionNode:
		return endsTerminal(n.Body)
	}
	return false
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
