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
		{"EIP-relative load (67 before a RIP-relative operand)", eGetres, getresLoad, []byte{0x67, 0x8b, 0x15, 0x00, 0x00, 0x00, 0x00}, "reach", "memory operand (EIP) uses 32-bit addressing"},
		{"store through a 32-bit copy of the caller's pointer", eGettime, gettimeStore, []byte{0x67, 0x48, 0x89, 0x16, 0x90, 0x90, 0x90}, "reach", "memory operand (ESI) uses 32-bit addressing"},
		{"load through a 32-bit index", eGetres, getresLoad, []byte{0x67, 0x48, 0x8b, 0x14, 0x06, 0x90, 0x90}, "reach", "uses 32-bit addressing"},
		{"STOSQ through EDI", eGettime, gettimeStore, []byte{0x67, 0x48, 0xab, 0x90, 0x90, 0x90, 0x90}, "reach", "memory operand (EDI) uses 32-bit addressing"},
		{"16-bit RET", eGetres, getresXor, []byte{0x66, 0xc3}, "flow", "RET with an operand-size prefix (0x66)"},
		{"16-bit JMP", eGetres, getresLoad, []byte{0x66, 0xeb, 0x00, 0x90, 0x90, 0x90, 0x90}, "flow", "JMP with an operand-size prefix"},
		{"16-bit CALL", eGetres, getresLoad, []byte{0x66, 0xe8, 0x00, 0x00, 0x00, 0x00, 0x90}, "flow", "CALL with an operand-size prefix"},
		{"LOCK on a register operation", eGettime, gettimeStore, []byte{0xf0, 0x48, 0x01, 0xc3, 0x90, 0x90, 0x90}, "flow", "LOCK ADD, a LOCK prefix on an instruction that is not a read-modify-write of memory (#UD)"},
		{"LOCK on a store", eGettime, gettimeStore, []byte{0xf0, 0x48, 0x89, 0x16, 0x90, 0x90, 0x90}, "flow", "LOCK MOV"},
		{"LOCK NOP", eGettime, gettimeStore, []byte{0xf0, 0x90, 0x90, 0x90, 0x90, 0x90, 0x90}, "flow", "LOCK NOP"},
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
			checkVerdict(t, m, where{c.rule, "host", c.entry, x.off, c.msg})
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

// TestStackAndMemoryForms: forms whose memory reach is not what the
// operand shows (POP's destination is computed after SP moves, the x87,
// SSE and XSAVE state saves cover hundreds of bytes, a bit test with a
// register offset addresses up to 2^60 bytes away), flags loaded from the
// stack, and every way of writing SP the stack rule does not follow.
func TestStackAndMemoryForms(t *testing.T) {
	const cannotFollow = "writes RSP in a way the verifier cannot follow"
	gettimeStore := bytesAre(0x48, 0x89, 0x16)      // MOVQ DX, (SI); MOVQ AX, 8(SI): 7 bytes
	gettimePage := bytesAre(0x41, 0x8b, 0x42, 0x04) // MOVL 4(R10), AX: 4 bytes
	cases := []struct {
		name  string
		at    func(*image, *inst) bool
		code  []byte
		rule  string // "" when accepted
		where int    // offset of the finding in code
		msg   string
	}{
		{"POPQ (SP) after a PUSH", gettimeStore, []byte{0x50, 0x8f, 0x04, 0x24, 0x90, 0x90, 0x90}, "stack", 1, "stores 8 bytes at 8(SP) with 8 bytes pushed: into the return address"},
		{"FXSAVE over the caller's frame", gettimeStore, []byte{0x50, 0x0f, 0xae, 0x04, 0x24, 0x58, 0x90}, "stack", 1, "stores 512 bytes at 0(SP) with 8 bytes pushed"},
		{"XSAVE on the stack", gettimeStore, []byte{0x50, 0x0f, 0xae, 0x24, 0x24, 0x58, 0x90}, "stack", 1, "XSAVE stores to (SP) an amount the verifier cannot size"},
		{"XRSTOR from a data page", gettimePage, []byte{0x41, 0x0f, 0xae, 0x2a}, "pages", 0, "XRSTOR accesses memory at (R10), which may be a data page's address, for a number of bytes the verifier cannot size"},
		{"BTS of the caller's memory by a register", gettimeStore, []byte{0x48, 0x0f, 0xab, 0x06, 0x90, 0x90, 0x90}, "reach", 0, "BTS of memory (SI) with a register bit offset"},
		{"BT of a data page by a register", gettimePage, []byte{0x49, 0x0f, 0xa3, 0x02}, "reach", 0, "BT of memory (R10) with a register bit offset"},
		{"POPFQ", gettimeStore, []byte{0x9c, 0x9d, 0x90, 0x90, 0x90, 0x90, 0x90}, "flow", 1, "POPFQ loads the flags from the stack"},
		{"PUSHQ $0x400; POPFQ sets DF", gettimeStore, []byte{0x68, 0x00, 0x04, 0x00, 0x00, 0x9d, 0x90}, "flow", 5, "POPFQ loads the flags"},
		{"ADDQ AX, SP", gettimeStore, []byte{0x48, 0x01, 0xc4, 0x90, 0x90, 0x90, 0x90}, "stack", 0, cannotFollow},
		{"MOVQ AX, SP", gettimeStore, []byte{0x48, 0x89, 0xc4, 0x90, 0x90, 0x90, 0x90}, "stack", 0, cannotFollow},
		{"XCHGQ AX, SP", gettimeStore, []byte{0x48, 0x94, 0x90, 0x90, 0x90, 0x90, 0x90}, "stack", 0, cannotFollow},
		{"LEAQ (SP)(AX*1), SP", gettimeStore, []byte{0x48, 0x8d, 0x24, 0x04, 0x90, 0x90, 0x90}, "stack", 0, cannotFollow},
		{"POPQ SP", gettimeStore, []byte{0x5c, 0x90, 0x90, 0x90, 0x90, 0x90, 0x90}, "stack", 0, cannotFollow},
		{"ADDL $8, SP", gettimeStore, []byte{0x83, 0xc4, 0x08, 0x90, 0x90, 0x90, 0x90}, "stack", 0, cannotFollow},
		{"store in the red zone", gettimeStore, []byte{0x48, 0x89, 0x44, 0x24, 0xf8, 0x90, 0x90}, "stack", 0, "below the stack pointer"},
		// State the caller owns: the x87 stack and control word, MXCSR,
		// the x87 unit's mode.
		{"FLD1 left on the x87 stack", gettimeStore, []byte{0xd9, 0xe8, 0x90, 0x90, 0x90, 0x90, 0x90}, "flow", 0, "FLD1, an x87 instruction"},
		{"FSTP to the caller's memory", gettimeStore, []byte{0xdd, 0x1e, 0x90, 0x90, 0x90, 0x90, 0x90}, "flow", 0, "FSTP, an x87 instruction"},
		{"FLDCW from the caller's memory", gettimeStore, []byte{0xd9, 0x2e, 0x90, 0x90, 0x90, 0x90, 0x90}, "flow", 0, "FLDCW, an x87 instruction"},
		{"LDMXCSR from the caller's memory", gettimeStore, []byte{0x0f, 0xae, 0x16, 0x90, 0x90, 0x90, 0x90}, "flow", 0, "LDMXCSR, a load of floating-point control state the caller owns"},
		{"MMX move", gettimeStore, []byte{0x48, 0x0f, 0x6e, 0xc0, 0x90, 0x90, 0x90}, "flow", 0, "an MMX register"},
		{"FNSTCW to the caller's memory", gettimeStore, []byte{0xd9, 0x3e, 0x90, 0x90, 0x90, 0x90, 0x90}, "", 0, ""},
		// Accepted: a bit test with an immediate offset stays in its
		// operand; PUSHFQ only reads the flags; reading the caller's
		// frame is harmless.
		{"BTS of the caller's memory by a constant", gettimeStore, []byte{0x48, 0x0f, 0xba, 0x2e, 0x05, 0x90, 0x90}, "", 0, ""},
		{"PUSHFQ; POPQ AX", gettimeStore, []byte{0x9c, 0x58, 0x90, 0x90, 0x90, 0x90, 0x90}, "", 0, ""},
		{"read above the return address", gettimeStore, []byte{0x48, 0x8b, 0x44, 0x24, 0x08, 0x90, 0x90}, "", 0, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := &mut{t: t, in: referenceInput(t)}
			x := m.at(eGettime, c.at)
			m.write(x.off, c.code, shared...)
			checkVerdict(t, m, where{c.rule, "host", eGettime, x.off + c.where, c.msg})
		})
	}
}

// TestBranchTargets pins where a branch may not land, by class: inside an
// instruction (its own bytes, a static branch's NOP5 a loader rewrites),
// the replacement pool, another entry's middle; and LOOP and JRCXZ are
// followed like any conditional branch. Each JMP, LOOP or JRCXZ replaces
// clock_gettime's two stores (7 bytes).
func TestBranchTargets(t *testing.T) {
	cases := []struct {
		name   string
		op     []byte // the branch opcode, rel32 (JMP) or rel8 (LOOP, JRCXZ)
		target func(m *mut, at int) int
		msg    string
	}{
		{"JMP into its own bytes", []byte{0xe9}, func(m *mut, at int) int { return at + 1 }, "inside the instruction at"},
		{"JMP into a static branch's NOP5", []byte{0xe9}, func(m *mut, at int) int { return m.site("host", "static_branch").Offset + 2 }, "inside the instruction at"},
		{"JMP into the replacement pool", []byte{0xe9}, func(m *mut, at int) int { return m.variant("host").Pool }, "between entries"},
		{"JMP into another entry's middle", []byte{0xe9}, func(m *mut, at int) int { return m.entryStart(eTime) + 1 }, "inside entry time but not to its start"},
		{"LOOP into its own bytes", []byte{0xe2}, func(m *mut, at int) int { return at + 1 }, "inside the instruction at"},
		{"JRCXZ past the entry's end", []byte{0xe3}, func(m *mut, at int) int { return m.entryEnd(eGettime) }, "goes to"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := &mut{t: t, in: referenceInput(t)}
			x := gettimeStores(m)
			end := x.off + len(c.op) + 4
			disp := rel32(end, c.target(m, x.off))
			if c.op[0] != 0xe9 {
				end = x.off + 2
				disp = []byte{byte(int8(c.target(m, x.off) - end))}
			}
			code := cat(c.op, disp)
			m.write(x.off, cat(code, repeat(0x90, 7-len(code))), shared...)
			checkFinding(t, m.in, Verify(m.in), where{"reach", "host", eGettime, x.off, c.msg})
		})
	}
}
