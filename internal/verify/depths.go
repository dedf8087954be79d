package verify

import "fmt"

// StackDepths runs the stack rule alone on in and returns, for every
// variant, the stack depth it proved at every instruction start that
// control reaches from an entry (or from a restart at a region's abort
// handler): bytes pushed below the return address, so the canonical frame
// address there is RSP + 8 + depth. It fails if the rule found anything:
// a depth it could not prove is no basis for unwind tables.
func StackDepths(in *Input) (map[string]map[int]int, error) {
	p := newPass(in)
	p.rule = "stack"
	Stack(p)
	if err := p.Report.Err(); err != nil {
		return nil, fmt.Errorf("stack depths: %w", err)
	}
	return p.depth, nil
}
