package marker

import (
	"strings"
	"testing"

	"github.com/vdsogen/vdsogen/layout"
)

// TestSwap: the swap rule's steps, one class of site per row, from the
// built-in kinds' traits (vdso/loader's TestSwapRuleAgreement runs the
// same classes through the verifier and the loader).
func TestSwap(t *testing.T) {
	jmp := Rel32(OpJMPRel32, 16)
	call1, call2 := Rel32(OpCALLRel32, 16), Rel32(OpCALLRel32, 32)
	movl1, movl2 := []byte{0xb8, 1, 0, 0, 0}, []byte{0xb8, 2, 0, 0, 0}
	twoInsts := []byte{0x90, 0x0f, 0x1f, 0x40, 0x00} // NOP; NOP4
	alt := []layout.Choice{{Name: "one", Bytes: movl1}, {Name: "two", Feature: layout.FeatureRDTSCP, Bytes: movl2}}
	calls := []layout.Choice{{Name: "f", Bytes: call1, Offset: 21}, {Name: "g", Bytes: call2, Offset: 37}}
	site := func(k layout.Kind, b []byte, choices []layout.Choice) layout.Site {
		return layout.Site{Kind: k, Key: "k", Entry: "e", Offset: 0, Bytes: b, Choices: choices}
	}
	side := func(s layout.Site, addr uint64) SwapSide { return SwapSide{Site: s, Held: s.Bytes, Addr: addr} }
	for _, tc := range []struct {
		name   string
		a, b   SwapSide
		differ bool
		pinned bool
		want   SwapStep
		why    string
	}{
		{"static branch flips", side(site(layout.StaticBranch, NOP5, nil), 0), side(site(layout.StaticBranch, jmp, nil), 0), true, false, SwapPatch, ""},
		{"pinning a kind without choices changes nothing", side(site(layout.StaticBranch, NOP5, nil), 0), side(site(layout.StaticBranch, jmp, nil), 0), true, true, SwapPatch, ""},
		{"static branch equal", side(site(layout.StaticBranch, NOP5, nil), 4), side(site(layout.StaticBranch, NOP5, nil), 4), false, false, SwapSame, ""},
		{"across a window here", side(site(layout.StaticBranch, NOP5, nil), 4), side(site(layout.StaticBranch, jmp, nil), 3), true, false, SwapUnsafe, "crosses an 8-byte window"},
		{"across a window there", side(site(layout.StaticBranch, NOP5, nil), 3), side(site(layout.StaticBranch, jmp, nil), 4), true, false, SwapUnsafe, "crosses an 8-byte window"},
		{"atomic kind, two instructions", side(site(layout.StaticBranch, twoInsts, nil), 0), side(site(layout.StaticBranch, jmp, nil), 0), true, false, SwapUnsafe, "not one whole instruction"},
		{"three-label region", side(site(layout.ThreeLabel, twoInsts, nil), 0), side(site(layout.ThreeLabel, movl1, nil), 0), true, false, SwapUnsafe, "5-byte region of several instructions"},
		{"three-label, one instruction each", side(site(layout.ThreeLabel, movl2, nil), 0), side(site(layout.ThreeLabel, movl1, nil), 0), true, false, SwapUnsafe, "kind three_label is not atomic"},
		{"three-label equal", side(site(layout.ThreeLabel, twoInsts, nil), 0), side(site(layout.ThreeLabel, twoInsts, nil), 0), false, false, SwapSame, ""},
		{"static call re-targeted", side(site(layout.StaticCall, call1, calls), 0), side(site(layout.StaticCall, call2, calls), 0), true, false, SwapPatch, ""},
		{"static call pinned", side(site(layout.StaticCall, call1, calls), 4), side(site(layout.StaticCall, call2, calls), 4), true, true, SwapKeep, ""},
		{"static call, other targets", side(site(layout.StaticCall, call1, calls), 0), side(site(layout.StaticCall, call1, calls[:1]), 0), false, false, SwapMismatch, "declare different choices"},
		{"alternative, other choice held", side(site(layout.Alternative, movl1, alt), 4), side(site(layout.Alternative, movl2, alt), 4), true, false, SwapKeep, ""},
		{"alternative, several instructions held", side(site(layout.Alternative, twoInsts, alt), 4), side(site(layout.Alternative, movl2, alt), 4), true, false, SwapKeep, ""},
		{"alternative, a feature differs", side(site(layout.Alternative, movl1, alt), 0), side(site(layout.Alternative, movl1, []layout.Choice{alt[0], {Name: "two", Bytes: movl2}}), 0), false, false, SwapMismatch, "declare different choices"},
		{"other kind", side(site(layout.StaticBranch, NOP5, nil), 0), side(site(layout.ThreeLabel, NOP5, nil), 0), false, false, SwapMismatch, "describe different sites"},
		{"other length", side(site(layout.StaticBranch, NOP5, nil), 0), side(site(layout.StaticBranch, NOP5[:4], nil), 0), false, false, SwapMismatch, "describe different sites"},
		{"not held", side(site(layout.StaticBranch, NOP5, nil), 0), SwapSide{Site: site(layout.StaticBranch, NOP5, nil)}, false, false, SwapMismatch, "does not hold"},
		{"unknown kind", side(site("nope", movl1, nil), 0), side(site("nope", movl2, nil), 0), true, false, SwapUnsafe, "kind nope is not registered"},
	} {
		d := Swap(tc.a, tc.b, tc.differ, tc.pinned)
		if d.Step != tc.want || d.Step.Refused() != (tc.why != "") || !strings.Contains(d.Why, tc.why) {
			t.Errorf("%s: step %d (%q), want %d (%q)", tc.name, d.Step, d.Why, tc.want, tc.why)
		}
	}
}
