package verify

import (
	"strings"
	"testing"
)

// TestStringInstructions: string instructions written over one reached
// instruction of the reference (MOVQ 224(R10), DX in clock_getres, where
// R10 holds vdsoData), by class: through a data page's address (each
// operation, SI or DI, repeated or not), a store through a copy of SP
// (explicit MOVQ or LEAQ, repeated or not), a segment override; and the
// forms the verifier accepts (DS: and 32-bit addressing on the caller's
// memory; reading the stack is accepted, but the pointer stays a stack
// address).
func TestStringInstructions(t *testing.T) {
	const (
		siPage = "\x4c\x89\xd6" // MOVQ R10, SI
		diPage = "\x4c\x89\xd7" // MOVQ R10, DI
		siSP   = "\x48\x89\xe6" // MOVQ SP, SI
		diSP   = "\x48\x89\xe7" // MOVQ SP, DI
	)
	cases := []struct {
		name  string
		setup string // bytes before the string instruction
		op    string // the string instruction
		rule  string // "" when accepted
		msg   string
	}{
		{"LODSB from a page", siPage, "\xac", "pages", "LODSB addresses memory through SI implicitly, which may hold a data page's address"},
		{"REP; LODSQ from a page", siPage, "\xf3\x48\xad", "pages", "LODSQ addresses memory through SI implicitly"},
		{"REP; MOVSQ from a page", siPage, "\xf3\x48\xa5", "pages", "MOVSQ addresses memory through SI implicitly"},
		{"CMPSW against a page", siPage, "\x66\xa7", "pages", "CMPSW addresses memory through SI implicitly"},
		{"STOSB into a page", diPage, "\xaa", "pages", "STOSB addresses memory through DI implicitly"},
		{"REP; STOSQ into a page", diPage, "\xf3\x48\xab", "pages", "STOSQ addresses memory through DI implicitly"},
		{"REPNE; SCASB over a page", diPage, "\xf2\xae", "pages", "SCASB addresses memory through DI implicitly"},
		{"REPE; CMPSD against a page", diPage, "\xf3\xa7", "pages", "CMPSD addresses memory through DI implicitly"},
		{"REP; STOSB over the caller's frame", diSP, "\xf3\xaa", "pages", "STOSB stores CX times 1 bytes through DI, which may hold an address computed from SP"},
		{"MOVSQ into the return address", diSP, "\x48\xa5", "pages", "MOVSQ stores 8 bytes through DI, which may hold an address computed from SP"},
		{"STOSW through LEAQ 8(SP)", "\x48\x8d\x7c\x24\x08", "\x66\xab", "pages", "STOSW stores 2 bytes through DI, which may hold an address computed from SP"},
		{"explicit store through a copy of SP", "\x48\x89\xe3", "\x48\x89\x03", "pages", "MOV stores 8 bytes through BX, which may hold an address computed from SP"},
		{"FS: MOVSB", "", "\x64\xa4", "reach", "MOVSB with a segment override: its operand FS:(SI) is relative to segment FS"},
		{"GS: REP; LODSB", "", "\x65\xf3\xac", "reach", "LODSB with a segment override: its operand GS:(SI)"},
		// Reading the stack is harmless, but SI, advanced by the string
		// instruction, still points into it where clock_getres then
		// stores its result through SI.
		{"REP; MOVSB reading the stack, then a store through SI", siSP, "\xf3\xa4", "pages", "MOV stores 8 bytes through SI, which may hold an address computed from SP"},
		{"LODSQ reading the stack, then a store through SI", siSP, "\x48\xad", "pages", "MOV stores 8 bytes through SI, which may hold an address computed from SP"},
		// (clock_getres's DI is its clock id, no pointer: MOVSB would
		// store through it, which the pages rule refuses.)
		{"DS: LODSB (flat in 64-bit mode)", "", "\x3e\xac", "", ""},
		// An address-size prefix truncates SI and DI to 32 bits: the
		// pointers the caller passed are no longer what is addressed.
		{"MOVSB with 32-bit addresses", "", "\x67\xa4", "reach", "memory operand (EDI) uses 32-bit addressing"},
		{"REPNE; SCASQ on the caller's memory", "", "\xf2\x48\xaf", "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := &mut{t: t, in: referenceInput(t)}
			x := m.at(eGetres, bytesAre(0x49, 0x8b, 0x92, 0xe0, 0x00, 0x00, 0x00)) // MOVQ 224(R10), DX
			code := c.setup + c.op
			if len(code) > x.Len {
				t.Fatalf("%d bytes do not fit over the %d of %v", len(code), x.Len, x.Inst)
			}
			m.write(x.off, []byte(code+strings.Repeat("\x90", x.Len-len(code))), shared...)
			r := Verify(m.in)
			if c.rule == "" {
				if !r.OK() {
					t.Fatalf("refused: %v", r.Err())
				}
				return
			}
			at := x.off + len(c.setup)
			if c.setup == siSP {
				// MOVQ $0, (SI): the first store through SI.
				at = m.at(eGetres, after(x.off, bytesAre(0x48, 0xc7, 0x06, 0x00, 0x00, 0x00, 0x00))).off
			}
			checkFinding(t, m.in, r, where{c.rule, "host", eGetres, at, c.msg})
		})
	}
}
