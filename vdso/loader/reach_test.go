package loader

import "testing"

// TestBranchTargetsOutOfRange: a range a bad table gives is clipped, never
// an index past the code.
func TestBranchTargetsOutOfRange(t *testing.T) {
	code := []byte{0xeb, 0x00, 0xe8, 0x00, 0x00, 0x00, 0x00, 0xc3} // JMP +0; CALL +0; RET
	for _, r := range [][2]int{{-5, 3}, {0, 100}, {6, 2}, {100, 200}, {-10, -1}} {
		_ = branchTargets(code, r[0], r[1])
	}
	if got := branchTargets(code, -5, 100); len(got) != 2 || got[0] != 2 || got[1] != 7 {
		t.Errorf("targets %v, want [2 7]", got)
	}
}
