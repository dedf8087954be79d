package dsl

import (
	"strings"

	"github.com/mmcloughlin/avo/operand"

	"github.com/vdsogen/vdsogen/layout"
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
					b.errorf(n.Pos, "%s %q has an empty body", n.MarkerKind().Word(), n.Key)
				}
			case *AlternativeNode:
				b.checkAlternative(n)
			case *StaticCallNode:
				b.checkStaticCall(e, n)
			case *RegionNode:
				if len(n.Body) == 0 {
					b.errorf(n.Pos, "Region %q has an empty body: there is nothing to restart", n.Name)
				}
				if !terminal(n.Abort) {
					b.errorf(n.Pos, "Region %q: the abort handler must be a complete block ending in RET or JMP (it is placed out of line)", n.Name)
				}
			case *ThreeLabelNode:
				if len(n.Tail) == 0 || !terminal(n.Tail) {
					b.errorf(n.Pos, "%s %q: the tail must be a complete exit ending in RET or JMP", n.MarkerKind().Word(), n.Key)
				}
				if len(n.Apply) == 0 {
					b.errorf(n.Pos, "%s %q has an empty apply block: there is no room to place the tail", n.MarkerKind().Word(), n.Key)
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
// (names and, for alternatives, features, in the same order): the variants
// file and a loader pick by key, for all its sites at once.
func (b *Builder) checkChoiceKeys() {
	first := map[string]ChoiceMarker{}
	for _, mk := range b.prog.Markers {
		cm, ok := mk.(ChoiceMarker)
		if !ok {
			continue
		}
		f, seen := first[cm.MarkerKey()]
		if !seen {
			first[cm.MarkerKey()] = cm
			continue
		}
		if f.Position() == cm.Position() {
			continue // one helper placing the same marker in several entries
		}
		if choiceSignature(f) != choiceSignature(cm) {
			b.errorf(cm.Position(), "key %q offers %s here but %s at %s; every marker of one key must offer the same choices",
				cm.MarkerKey(), choiceSignature(cm), choiceSignature(f), f.Position())
		}
	}
}

// choiceSignature describes what a choice marker offers, for comparison
// and messages: "Alternative [a b(rdtscp)]" or "StaticCall [f g]".
func choiceSignature(cm ChoiceMarker) string {
	switch n := cm.(type) {
	case *AlternativeNode:
		var parts []string
		for _, c := range n.Choices {
			if c.Feature != "" {
				parts = append(parts, c.Name+"("+c.Feature+")")
			} else {
				parts = append(parts, c.Name)
			}
		}
		return n.MarkerKind().Word() + " [" + strings.Join(parts, " ") + "]"
	case *StaticCallNode:
		return n.MarkerKind().Word() + " [" + strings.Join(n.Targets, " ") + "]"
	}
	return "?"
}

// knownFeatures are the CPU features a loader can test for an alternative.
var knownFeatures = map[string]bool{"": true, layout.FeatureRDTSCP: true, layout.FeatureLFENCERDTSC: true}

// checkAlternative: at least two distinct, named choices of straight-line,
// position-independent code, so that their bytes are the same at the site
// and in the replacement pool.
func (b *Builder) checkAlternative(n *AlternativeNode) {
	if len(n.Choices) < 2 {
		b.errorf(n.Pos, "%s %q has %d choice(s): it needs at least two (write the instructions directly for one)", n.MarkerKind().Word(), n.Key, len(n.Choices))
	}
	seen := map[string]Pos{}
	for _, c := range n.Choices {
		if !keyPattern.MatchString(c.Name) {
			b.errorf(c.Pos, "%s %q: choice name %q must match %s (the variants file names it)", n.MarkerKind().Word(), n.Key, c.Name, keyPattern)
		}
		if first, dup := seen[c.Name]; dup {
			b.errorf(c.Pos, "%s %q: choice %q declared twice (first at %s)", n.MarkerKind().Word(), n.Key, c.Name, first)
		}
		seen[c.Name] = c.Pos
		if !knownFeatures[c.Feature] {
			b.errorf(c.Pos, "Alternative %q: choice %q needs CPU feature %q, which no loader can test; use %q, %q or \"\" (none)",
				n.Key, c.Name, c.Feature, layout.FeatureRDTSCP, layout.FeatureLFENCERDTSC)
		}
		for _, x := range c.Body {
			switch x := x.(type) {
			case *LabelNode:
				b.errorf(x.Pos, "label %q inside Alternative %q choice %q: choices are straight-line code, assembled both at the site and in the replacement pool", x.Name, n.Key, c.Name)
			case *Inst:
				if x.Inst.IsBranch || x.Inst.TargetLabel() != nil || strings.HasPrefix(x.Inst.Opcode, "CALL") {
					b.errorf(x.Pos, "%s inside Alternative %q choice %q: choices cannot branch (their bytes must mean the same at the site and in the replacement pool)", x.Inst.Opcode, n.Key, c.Name)
				}
				for _, op := range x.Inst.Operands {
					if m, ok := op.(operand.Mem); ok && m.Symbol.Name != "" {
						b.errorf(x.Pos, "%s inside Alternative %q choice %q refers to %s: choices must be position-independent; load the address before the Alternative", x.Inst.Opcode, n.Key, c.Name, m.Symbol.Name)
					}
				}
			}
		}
	}
}

// checkStaticCall: the targets are distinct entries with the caller's
// stub signature's contract (the same signature as each other).
func (b *Builder) checkStaticCall(caller *EntryPoint, n *StaticCallNode) {
	if len(n.Targets) == 0 {
		b.errorf(n.Pos, "%s %q has no target: name at least one entry", n.MarkerKind().Word(), n.Key)
		return
	}
	seen := map[string]bool{}
	var first *EntryPoint
	for _, t := range n.Targets {
		if seen[t] {
			b.errorf(n.Pos, "%s %q: target %q listed twice", n.MarkerKind().Word(), n.Key, t)
			continue
		}
		seen[t] = true
		var target *EntryPoint
		for _, e := range b.prog.Entries {
			if e.Name == t {
				target = e
			}
		}
		switch {
		case target == nil:
			b.errorf(n.Pos, "%s %q: target %q is not an entry of the program; declare it with Entry", n.MarkerKind().Word(), n.Key, t)
		case target == caller:
			b.errorf(n.Pos, "%s %q: entry %q calls itself: the stack would be unbounded", n.MarkerKind().Word(), n.Key, t)
		case first == nil:
			first = target
		case target.Signature != first.Signature:
			b.errorf(n.Pos, "%s %q: targets %q (%s) and %q (%s) have different signatures; every target must take the same arguments and return the same result",
				n.MarkerKind().Word(), n.Key, first.Name, first.Signature, t, target.Signature)
		}
	}
}

// checkCallCycles rejects static calls that can recurse: every entry's
// stack depth must stay bounded.
func (b *Builder) checkCallCycles() {
	calls := map[string][]*StaticCallNode{}
	for _, e := range b.prog.Entries {
		walk(e.Body, func(n Node, _ bool) {
			if sc, ok := n.(*StaticCallNode); ok {
				calls[e.Name] = append(calls[e.Name], sc)
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
		for _, sc := range calls[name] {
			for _, t := range sc.Targets {
				switch state[t] {
				case active:
					if t != name { // a self-call is reported by checkStaticCall
						b.errorf(sc.Pos, "%s %q: entries %s call each other: the stack would be unbounded", sc.MarkerKind().Word(), sc.Key, strings.Join(append(path, name, t), " -> "))
					}
				case unvisited:
					visit(t, append(path, name))
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
	case *RegionNode:
		return terminal(n.Body)
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
			case *AlternativeNode:
				for _, c := range n.Choices {
					rec(c.Body, inTail)
				}
			case *RegionNode:
				rec(n.Body, inTail)
				rec(n.Abort, inTail)
			}
		}
	}
	rec(nodes, false)
}
