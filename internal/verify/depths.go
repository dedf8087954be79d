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
