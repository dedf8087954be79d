package marker

import (
	"bytes"
	"testing"

	"golang.org/x/arch/x86/x86asm"

	"github.com/vdsogen/vdsogen/layout"
)

// TestNopFill: every padding length is whole NOPs that decode as such and
// add up to the length.
func TestNopFill(t *testing.T) {
	for n := 0; n <= 40; n++ {
		total := 0
		for _, nop := range NopFill(n) {
			in, err := x86asm.Decode(nop, 64)
			if err != nil || in.Op != x86asm.NOP && !(in.Op == x86asm.XCHG && len(nop) <= 2) || in.Len != len(nop) {
				t.Errorf("NopFill(%d): % x decodes as %v (%v)", n, nop, in, err)
			}
			total += len(nop)
		}
		if total != n {
			t.Errorf("NopFill(%d) is %d bytes", n, total)
		}
	}
}

// TestRel32: the encodings decode to the branch they say.
func TestRel32(t *testing.T) {
	for _, tc := range []struct {
		op   byte
		want x86asm.Op
	}{{OpJMPRel32, x86asm.JMP}, {OpCALLRel32, x86asm.CALL}} {
		for _, rel := range []int32{0, 1, -5, 1 << 30, -1 << 31} {
			b := Rel32(tc.op, rel)
			in, err := x86asm.Decode(b, 64)
			if err != nil || in.Op != tc.want || in.Len != 5 || in.Args[0] != x86asm.Rel(rel) {
				t.Errorf("Rel32(%#x, %d) = % x decodes as %v (%v)", tc.op, rel, b, in, err)
			}
		}
	}
	if in, err := x86asm.Decode(NOP5, 64); err != nil || in.Op != x86asm.NOP || in.Len != 5 {
		t.Errorf("NOP5 decodes as %v (%v)", in, err)
	}
	if !bytes.Equal(INT3s(3), []byte{0xcc, 0xcc, 0xcc}) {
		t.Error("INT3s")
	}
}

// TestCrossesWindow: a site fits when it ends at or before the window end.
func TestCrossesWindow(t *testing.T) {
	for _, tc := range []struct {
		addr  uint64
		n     int
		cross bool
	}{{0, 5, false}, {3, 5, false}, {4, 5, true}, {8, 8, false}, {9, 8, true}, {15, 1, false}} {
		if got := CrossesWindow(tc.addr, tc.n); got != tc.cross {
			t.Errorf("CrossesWindow(%d, %d) = %v", tc.addr, tc.n, got)
		}
	}
}

// TestEveryKindHasAUnit: each built-in layout kind has its unit, with the
// traits the loader and the verifier rely on.
func TestEveryKindHasAUnit(t *testing.T) {
	want := map[layout.Kind]Traits{
		layout.StaticBranch: {Atomic: true, TargetRole: "body"},
		layout.ThreeLabel:   {Exit: "tail", TargetRole: "out"},
		layout.Alternative:  {Choices: true, PoolChoices: true, LoadTime: true},
		layout.StaticCall:   {Choices: true, Atomic: true, Calls: true},
	}
	for k, tr := range want {
		u, ok := For(k)
		if !ok || u.Kind() != k || u.Traits() != tr || TraitsOf(k) != tr {
			t.Errorf("%s: unit %v (%v), traits %+v, want %+v", k, u, ok, TraitsOf(k), tr)
		}
	}
	if _, ok := For("nope"); ok || TraitsOf("nope") != (Traits{}) {
		t.Error("an unknown kind has a unit")
	}
}
