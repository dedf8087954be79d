package dsl

import (
	"github.com/mmcloughlin/avo/operand"
)

// check finds the mistakes that only show once the whole program exists.
func (b *Builder) check() {
	p := b.prog
	if len(p.Entries) == 0 {
		b.errorf(Pos{}, "the program declares no entry: call Entry at least once")
	}
	labels := map[string]Pos{}
	var refs []labelRef
	pages := map[string]*Page{}
	for _, pg := range p.Pages {
		pages["·"+pg.Symbol] = pg
	}
	for _, e := range p.Entries {
		if len(e.Body) == 0 {
			b.errorf(e.Pos, "entry %q is empty", e.Name)
			continue
		}
		if !terminal(e.Body) {
			last := e.Body[len(e.Body)-1]
			b.errorf(last.Position(), "entry %q can fall off its end: its last instruction is not RET or JMP", e.Name)
		}
		walk(e.Body, func(n Node, inTail bool) {
			switch n := n.(type) {
			case *LabelNode:
				if inTail {
					b.errorf(n.Pos, "label %q inside a ThreeLabel tail: the tail is assembled twice in variants where the key is off; jump to a label outside the region instead", n.Name)
				}
				if first, dup := labels[n.Name]; dup {
					b.errorf(n.Pos, "label %q defined twice (first at %s)", n.Name, first)
				}
				labels[n.Name] = n.Pos
			case *Inst:
				if t := n.Inst.TargetLabel(); t != nil {
					refs = append(refs, labelRef{string(*t), n.Pos})
				}
				b.checkOperands(n, pages)
			case *StaticBranchNode:
				if len(n.Body) == 0 {
					b.errorf(n.Pos, "StaticBranch %q has an empty body", n.Key)
				}
			case *ThreeLabelNode:
				if len(n.Tail) == 0 || !terminal(n.Tail) {
					b.errorf(n.Pos, "ThreeLabel %q: the tail must be a complete exit ending in RET or JMP", n.Key)
				}
				if len(n.Apply) == 0 {
					b.errorf(n.Pos, "ThreeLabel %q has an empty apply block: there is no room to place the tail", n.Key)
				}
			}
		})
	}
	for _, r := range refs {
		if _, ok := labels[r.name]; !ok {
			b.errorf(r.pos, "branch to undefined label %q", r.name)
		}
	}
}

type labelRef struct {
	name string
	pos  Pos
}

// checkOperands requires every symbol reference to be a declared data page.
func (b *Builder) checkOperands(n *Inst, pages map[string]*Page) {
	for _, op := range n.Inst.Operands {
		m, ok := op.(operand.Mem)
		if !ok || m.Symbol.Name == "" {
			continue
		}
		pg, ok := pages[m.Symbol.Name]
		if !ok {
			b.errorf(n.Pos, "%s refers to %s, which is not a declared data page: declare it with DataPage", n.Inst.Opcode, m.Symbol.Name)
			continue
		}
		if m.Disp < 0 || m.Disp >= pg.Size {
			b.errorf(n.Pos, "%s refers to offset %d of data page %q, outside its %d bytes", n.Inst.Opcode, m.Disp, pg.Symbol, pg.Size)
		}
	}
}

// terminal reports whether control cannot fall off the end of nodes.
func terminal(nodes []Node) bool {
	if len(nodes) == 0 {
		return false
	}
	switch n := nodes[len(nodes)-1].(type) {
	case *Inst:
		return n.Inst.IsTerminal || n.Inst.IsUnconditionalBranch()
	case *ThreeLabelNode:
		return terminal(n.Tail)
	}
	return false
}

// walk visits every node, descending into marker blocks; inTail is true
// inside a ThreeLabel tail.
func walk(nodes []Node, visit func(n Node, inTail bool)) {
	var rec func([]Node, bool)
	rec = func(nodes []Node, inTail bool) {
		for _, n := range nodes {
			visit(n, inTail)
			switch n := n.(type) {
			case *StaticBranchNode:
				rec(n.Body, inTail)
			case *ThreeLabelNode:
				rec(n.Apply, inTail)
				rec(n.Tail, true)
			}
		}
	}
	rec(nodes, false)
}
