package dsl

import (
	"strings"

	"github.com/mmcloughlin/avo/operand"

	"github.com/vdsogen/vdsogen/marker"
)

// check finds the mistakes that only show once the whole program exists.
func (b *Builder) check() {
	p := b.prog
	if len(p.Entries) == 0 {
		b.errorf(b.end, "the program declares no entry: call Entry at least once")
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
		if !Exits(e.Body) {
			last := e.Body[len(e.Body)-1]
			b.errorf(last.Position(), "entry %q can fall off its end: its last instruction is not RET or JMP", e.Name)
		}
		walk(e.Body, func(n Node) {
			switch n := n.(type) {
			case *LabelNode:
				if first, dup := labels[n.Name]; dup {
					b.errorf(n.Pos, "label %q defined twice (first at %s)", n.Name, first)
				}
				labels[n.Name] = n.Pos
			case *Inst:
				if t := n.Inst.TargetLabel(); t != nil {
					refs = append(refs, labelRef{string(*t), n.Pos})
				}
				b.checkOperands(n, pages)
			case *MarkerNode:
				if u, ok := marker.For(n.Kind); ok {
					u.Declare(declaration{b: b, n: n, caller: e})
				}
			case *RegionNode:
				if len(n.Body) == 0 {
					b.errorf(n.Pos, "Region %q has an empty body: there is nothing to restart", n.Name)
				}
				if !Exits(n.Abort) {
					b.errorf(n.Pos, "Region %q: the abort handler must be a complete block ending in RET or JMP (it is placed out of line)", n.Name)
				}
			}
		})
	}
	for _, r := range refs {
		if _, ok := labels[r.name]; !ok {
			b.errorf(r.pos, "branch to undefined label %q", r.name)
		}
	}
	b.checkCallCycles()
	b.checkChoiceKeys()
}

// checkChoiceKeys: every choice marker of one key offers the same choices
// (names and features, in the same order): the variants file and a loader
// pick by key, for all its sites at once.
func (b *Builder) checkChoiceKeys() {
	first := map[string]*MarkerNode{}
	for _, mk := range b.prog.Markers {
		if !marker.TraitsOf(mk.Kind).Choices {
			continue
		}
		f, seen := first[mk.Key]
		if !seen {
			first[mk.Key] = mk
			continue
		}
		if f.Pos == mk.Pos {
			continue // one helper placing the same marker in several entries
		}
		if choiceSignature(f) != choiceSignature(mk) {
			b.errorf(mk.Pos, "key %q offers %s here but %s at %s; every marker of one key must offer the same choices",
				mk.Key, choiceSignature(mk), choiceSignature(f), f.Pos)
		}
	}
}

// choiceSignature describes what a choice marker offers, for comparison
// and messages: "Alternative [a b(rdtscp)]" or "StaticCall [f g]".
func choiceSignature(n *MarkerNode) string {
	var parts []string
	for _, c := range n.Blocks {
		if c.Feature != "" {
			parts = append(parts, c.Name+"("+c.Feature+")")
		} else {
			parts = append(parts, c.Name)
		}
	}
	return n.Kind.Word() + " [" + strings.Join(parts, " ") + "]"
}

// declaration is a marker as its kind's Declare sees it.
type declaration struct {
	b      *Builder
	n      *MarkerNode
	caller *EntryPoint
}

func (d declaration) Decl() marker.Decl { return d.n.Decl() }
func (d declaration) Empty(i int) bool  { return len(d.n.Blocks[i].Body) == 0 }
func (d declaration) Exits(i int) bool  { return Exits(d.n.Blocks[i].Body) }
func (d declaration) Caller() string    { return d.caller.Name }

func (d declaration) Entry(name string) (string, bool) {
	for _, e := range d.b.prog.Entries {
		if e.Name == name {
			return e.Signature, true
		}
	}
	return "", false
}

// at is the position of block i, or of the marker.
func (d declaration) at(i int) Pos {
	if i < 0 || i >= len(d.n.Blocks) {
		return d.n.Pos
	}
	return d.n.Blocks[i].Pos
}

func (d declaration) Position(i int) string { return d.at(i).String() }

func (d declaration) Errorf(i int, format string, args ...any) { d.b.errorf(d.at(i), format, args...) }

func (d declaration) ForbidLabels(i int, where, why string) {
	walk(d.n.Blocks[i].Body, func(x Node) {
		if l, ok := x.(*LabelNode); ok {
			d.b.errorf(l.Pos, "label %q inside %s: %s", l.Name, where, why)
		}
	})
}

func (d declaration) ForbidBranches(i int, where, why string) {
	walk(d.n.Blocks[i].Body, func(x Node) {
		if in, ok := x.(*Inst); ok && (in.Inst.IsBranch || in.Inst.TargetLabel() != nil || strings.HasPrefix(in.Inst.Opcode, "CALL")) {
			d.b.errorf(in.Pos, "%s inside %s: %s", in.Inst.Opcode, where, why)
		}
	})
}

func (d declaration) ForbidPageRefs(i int, where, why string) {
	walk(d.n.Blocks[i].Body, func(x Node) {
		in, ok := x.(*Inst)
		if !ok {
			return
		}
		for _, op := range in.Inst.Operands {
			if m, ok := op.(operand.Mem); ok && m.Symbol.Name != "" {
				d.b.errorf(in.Pos, "%s inside %s refers to %s: %s", in.Inst.Opcode, where, m.Symbol.Name, why)
			}
		}
	})
}

// checkCallCycles rejects calls that can recurse (the blocks of a kind
// that Calls name its callees): every entry's stack depth must stay
// bounded.
func (b *Builder) checkCallCycles() {
	calls := map[string][]*MarkerNode{}
	for _, e := range b.prog.Entries {
		walk(e.Body, func(n Node) {
			if mk, ok := n.(*MarkerNode); ok && marker.TraitsOf(mk.Kind).Calls {
				calls[e.Name] = append(calls[e.Name], mk)
			}
		})
	}
	const (
		unvisited = iota
		active
		done
	)
	state := map[string]int{}
	var visit func(name string, path []string)
	visit = func(name string, path []string) {
		state[name] = active
		for _, mk := range calls[name] {
			for _, t := range mk.Blocks {
				switch state[t.Name] {
				case active:
					if t.Name != name { // a self-call is the kind's own report
						b.errorf(mk.Pos, "%s %q: entries %s call each other: the stack would be unbounded", mk.Kind.Word(), mk.Key, strings.Join(append(path, name, t.Name), " -> "))
					}
				case unvisited:
					visit(t.Name, append(path, name))
				}
			}
		}
		state[name] = done
	}
	for _, e := range b.prog.Entries {
		if state[e.Name] == unvisited {
			visit(e.Name, nil)
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

// Exits reports whether control cannot fall off the end of nodes: they
// end in RET or JMP, or in a marker or region that does.
func Exits(nodes []Node) bool {
	if len(nodes) == 0 {
		return false
	}
	switch n := nodes[len(nodes)-1].(type) {
	case *Inst:
		return n.Inst.IsTerminal || n.Inst.IsUnconditionalBranch()
	case *MarkerNode:
		if exit := n.Exit(); exit != nil {
			return Exits(exit.Body)
		}
	case *RegionNode:
		return Exits(n.Body)
	}
	return false
}

// walk visits every node, descending into marker blocks and regions.
func walk(nodes []Node, visit func(n Node)) {
	for _, n := range nodes {
		visit(n)
		switch n := n.(type) {
		case *MarkerNode:
			for _, bl := range n.Blocks {
				walk(bl.Body, visit)
			}
		case *RegionNode:
			walk(n.Body, visit)
			walk(n.Abort, visit)
		}
	}
}
