package verify

import "fmt"

// StackDepths runs the flow and stack rules alone on in and returns, for every
// variant, the stack depth it proved at every instruction start that
// control reaches from an entry (or from a restart at a region's abort
// handler): bytes pushed below the return address, so the canonical frame
// address there is RSP + 8 + depth. It fails if the rule found anything:
// a depth it could not prove is no basis for unwind tables. The stack rule
// takes the flow rule's graphs as its argument, as in Verify.
func StackDepths(in *Input) (map[string]map[int]int, error) {
	p := newPass(in)
	p.rule = "flow"
	fr := flow(p)
	p.rule = "stack"
	sr := stack(p, fr)
	if err := p.Report.Err(); err != nil {
		return nil, fmt.Errorf("stack depths: %w", err)
	}
	return sr.depth, nil
}

// StackModels returns, for every shared variant of in.Table, the stack depth at
// every instruction of its image that the unwind tables must describe:
// where control reaches in the variant itself, the depth the verifier's
// stack rule proved there; elsewhere outside the variant's sites (code a
// live switch or a load-time choice can make reachable, such as a static
// branch body that is off here but on in another variant, whose bytes are
// the same in every shared variant), the depth proved in the first other
// shared variant that reaches it.
func StackModels(in *Input) (map[string]map[int]int, error) {
	t := in.Table
	depths, err := StackDepths(in)
	if err != nil {
		return nil, err
	}
	out := map[string]map[int]int{}
	for _, v := range t.Variants {
		if v.Standalone {
			continue
		}
		m := map[int]int{}
		for o, d := range depths[v.Name] {
			m[o] = d
		}
		inSite := func(o int) bool {
			for _, s := range v.Sites {
				if o >= s.Offset && o < s.Offset+len(s.Bytes) {
					return true
				}
			}
			return false
		}
		for _, w := range t.Variants {
			if w.Standalone || w.Name == v.Name {
				continue
			}
			for o, d := range depths[w.Name] {
				if _, ok := m[o]; !ok && o < v.Pool && !inSite(o) {
					m[o] = d
				}
			}
		}
		out[v.Name] = m
	}
	return out, nil
}
