package verify

import (
	"testing"
)

// TestEncodings: bytes the Go assembler would not emit but dsl.Bytes can,
// which x86asm decodes without complaint yet the CPU runs differently (or
// not at all), by class: 32-bit addressing (an address-size prefix makes
// RIP-relative EIP-relative and truncates every pointer), an operand-size
// prefix on a branch (AMD truncates RIP to 16 bits), a LOCK prefix where
// the CPU raises #UD; and the forms that stay accepted.
func TestEncodings(t *testing.T) {
	// The reference's MOVQ DX, (SI); MOVQ AX, 8(SI) in clock_gettime (7
	// bytes), XORL AX, AX before clock_getres's RET (2 bytes), MOVQ
	// 224(R10), DX in clock_getres (7 bytes).
	gettimeStore := func(im *image, in *inst) bool {
		if string(im.b[in.off:min(in.off+7, len(im.b))]) == "\x48\x89\x16\x48\x89\x46\x08" {
			in.Len = 7 // both stores
			return true
		}
		return false
	}
	getresXor := bytesAre(0x31, 0xc0)
	getresLoad := bytesAre(0x49, 0x8b, 0x92, 0xe0, 0x00, 0x00, 0x00)
	cases := []struct {
		name  string
		entry string
		at    func(*image, *inst) bool
		code  []byte
		rule  string // "" when accepted
		msg   string
	}{
		{"EIP-relative load (67 before a RIP-relative operand)", eGetres, getresLoad,
			[]byte{0x67, 0x8b, 0x15, 0x00, 0x00, 0x00, 0x00}, "reach", "memory operand (EIP) uses 32-bit addressing"},
		{"store through a 32-bit copy of the caller's pointer", eGettime, gettimeStore,
			[]byte{0x67, 0x48, 0x89, 0x16, 0x90, 0x90, 0x90}, "reach", "memory operand (ESI) uses 32-bit addressing"},
		{"load through a 32-bit index", eGetres, getresLoad,
			[]byte{0x67, 0x48, 0x8b, 0x14, 0x06, 0x90, 0x90}, "reach", "uses 32-bit addressing"},
		{"STOSQ through EDI", eGettime, gettimeStore,
			[]byte{0x67, 0x48, 0xab, 0x90, 0x90, 0x90, 0x90}, "reach", "memory operand (EDI) uses 32-bit addressing"},
		{"16-bit RET", eGetres, getresXor, []byte{0x66, 0xc3}, "flow", "RET with an operand-size prefix (0x66)"},
		{"16-bit JMP", eGetres, getresLoad, []byte{0x66, 0xeb, 0x00, 0x90, 0x90, 0x90, 0x90}, "flow", "JMP with an operand-size prefix"},
		{"16-bit CALL", eGetres, getresLoad, []byte{0x66, 0xe8, 0x00, 0x00, 0x00, 0x00, 0x90}, "flow", "CALL with an operand-size prefix"},
		{"LOCK on a register operation", eGettime, gettimeStore,
			[]byte{0xf0, 0x48, 0x01, 0xc3, 0x90, 0x90, 0x90}, "flow", "LOCK ADD, a LOCK prefix on an instruction that is not a read-modify-write of memory (#UD)"},
		{"LOCK on a store", eGettime, gettimeStore,
			[]byte{0xf0, 0x48, 0x89, 0x16, 0x90, 0x90, 0x90}, "flow", "LOCK MOV"},
		{"LOCK NOP", eGettime, gettimeStore,
			[]byte{0xf0, 0x90, 0x90, 0x90, 0x90, 0x90, 0x90}, "flow", "LOCK NOP"},
		// Accepted: a locked read-modify-write of the caller's memory,
		// segment prefixes the CPU ignores in 64-bit mode, a REX.W on RET.
		{"LOCK ADD to the caller's memory", eGettime, gettimeStore, []byte{0xf0, 0x48, 0x01, 0x16, 0x90, 0x90, 0x90}, "", ""},
		{"CS and DS prefixes on a store", eGettime, gettimeStore, []byte{0x2e, 0x3e, 0x48, 0x89, 0x16, 0x90, 0x90}, "", ""},
		{"REX.W RET", eGetres, getresXor, []byte{0x48, 0xc3}, "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := &mut{t: t, in: referenceInput(t)}
			x := m.at(c.entry, c.at)
			if len(c.code) != x.Len {
				t.Fatalf("%d bytes over the %d of %v", len(c.code), x.Len, x.Inst)
			}
			m.write(x.off, c.code, shared...)
			r := Verify(m.in)
			if c.rule == "" {
				if !r.OK() {
					t.Fatalf("refused: %v", r.Err())
				}
				return
			}
			checkFinding(t, m.in, r, where{c.rule, "host", c.entry, x.off, c.msg})
		})
	}
}

// TestChoiceInstructions: an alternative's choice runs at its site, so
// what flow and reach refuse in an entry is refused in a choice too (the
// marker checks only branches, the stack and RIP-relative operands). Each
// case replaces the rdtsc choice (2 bytes in the pool) in the pool and the
// table alike.
func TestChoiceInstructions(t *testing.T) {
	cases := []struct {
		name string
		code []byte
		msg  string
	}{
		{"RDMSR", []byte{0x0f, 0x32}, "choice rdtsc holds RDMSR, privileged"},
		{"STD", []byte{0xfd, 0x90}, "choice rdtsc holds STD"},
		{"LOCK NOP", []byte{0xf0, 0x90}, "choice rdtsc holds LOCK NOP"},
		{"FS: LODSB", []byte{0x64, 0xac}, "memory operand relative to segment FS"},
		{"LODSB through ESI", []byte{0x67, 0xac}, "memory operand (ESI) uses 32-bit addressing"},
		{"undecodable byte", []byte{0x06, 0x90}, "do not decode"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := &mut{t: t, in: referenceInput(t)}
			var at int
			for _, v := range shared {
				s := m.site(v, "alternative")
				ch := &s.Choices[0]
				if ch.Name != "rdtsc" || poolLen(m.image(v), *ch) != len(c.code) {
					t.Fatalf("the first choice is %s, %d bytes in the pool; the case replaces rdtsc's %d", ch.Name, poolLen(m.image(v), *ch), len(c.code))
				}
				copy(m.in.Images[v].Bytes[ch.Offset:], c.code)
				b := append([]byte(nil), ch.Bytes...)
				copy(b, c.code)
				ch.Bytes = b
				at = ch.Offset
			}
			r := Verify(m.in)
			checkFinding(t, m.in, r, where{"reach", "host", "", at, c.msg})
		})
	}
}
