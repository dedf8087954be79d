package gen

import (
	"path/filepath"
	"testing"

	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"

	"github.com/vdsogen/vdsogen/dsl"
	dx "github.com/vdsogen/vdsogen/dsl/x86"
)

// TestRedTeamVerdicts writes, as a careless user or an adversary would,
// stores through addresses the caller did not pass and encodings the CPU
// runs otherwise than x86asm decodes, each in a DSL program of its own,
// and checks that the generator refuses it at the instruction's line
// (file:line:col) with the rule, variant, entry and offset. The entry is
// f(dst, src *byte, n uint64): DI and SI are the caller's pointers, DX a
// number. (The pushes before a raw POPFQ or POP are raw bytes too: the Go
// assembler balances the PUSH and POP it sees.)
func TestRedTeamVerdicts(t *testing.T) {
	file := filepath.Base(callerFile())
	const notPassed = "an address not derived from a pointer the caller passed (DI, SI, DX, CX, R8 or R9 as received, plus an offset)"
	loadFromSrc := func(*dsl.Page) { dx.MOVQ(Mem{Base: RSI}, RAX) }
	cases := []verdictCase{
		{name: "store through a pointer loaded from the data page",
			before: func(p *dsl.Page) { dx.LEAQ(p.At(0), R10); dx.MOVQ(Mem{Base: R10, Disp: 8}, RAX) },
			at:     func() { dx.MOVQ(RBX, Mem{Base: RAX}) },
			want:   "pages: variant host, entry f, offset 0xb: MOV stores 8 bytes through (AX), " + notPassed},
		{name: "XCHG through a pointer loaded from the caller's memory", before: loadFromSrc,
			at: func() { dx.XCHGQ(RBX, Mem{Base: RAX}) }, want: "pages: variant host, entry f, offset 0x3: XCHG stores 8 bytes through (AX), " + notPassed},
		{name: "LOCK ADD through a loaded pointer", before: loadFromSrc,
			at: func() { dsl.Bytes(0xf0, 0x48, 0x01, 0x18) }, want: "pages: variant host, entry f, offset 0x3: ADD stores 8 bytes through (AX)"},
		{name: "the caller's pointer through PUSH and POP", before: func(*dsl.Page) { dx.PUSHQ(RDI); dx.POPQ(RAX) },
			at: func() { dx.MOVQ(RBX, Mem{Base: RAX}) }, want: "pages: variant host, entry f, offset 0x2: MOV stores 8 bytes through (AX), " + notPassed},
		{name: "a store through the count", at: func() { dx.MOVQ(RBX, Mem{Base: RDX}) },
			want: "pages: variant host, entry f, offset 0x0: MOV stores 8 bytes through (DX), derived from DX as the entry received it, a number by the entry's signature func(dst, src *byte, n uint64)"},
		{name: "the caller's pointer plus the caller's count",
			before: func(*dsl.Page) { dx.MOVQ(RDI, RAX); dx.ADDQ(RDX, RAX) },
			at:     func() { dx.MOVQ(RBX, Mem{Base: RAX, Disp: -8}) }},
		{name: "EIP-relative load", at: func() { dsl.Bytes(0x67, 0x8b, 0x05, 0, 0, 0, 0) },
			want: "reach: variant host, entry f, offset 0x0: memory operand (EIP) uses 32-bit addressing"},
		{name: "16-bit RET", at: func() { dsl.Bytes(0x66, 0xc3) },
			want: "flow: variant host, entry f, offset 0x0: control reaches RET with an operand-size prefix (0x66)"},
		{name: "LOCK on a register", at: func() { dsl.Bytes(0xf0, 0x48, 0x01, 0xc3) },
			want: "flow: variant host, entry f, offset 0x0: control reaches LOCK ADD, a LOCK prefix on an instruction that is not a read-modify-write of memory (#UD)"},
		{name: "BTS by a register into the caller's memory", at: func() { dx.BTSQ(RAX, Mem{Base: RDI}) },
			want: "reach: variant host, entry f, offset 0x0: BTS of memory (DI) with a register bit offset"},
		{name: "POPFQ of a constant", before: func(*dsl.Page) { dsl.Bytes(0x68, 0x00, 0x04, 0x00, 0x00) }, at: func() { dsl.Bytes(0x9d) },
			want: "flow: variant host, entry f, offset 0x5: control reaches POPFQ loads the flags from the stack"},
		{name: "POPQ (SP) over the return address", before: func(*dsl.Page) { dsl.Bytes(0x50) }, at: func() { dsl.Bytes(0x8f, 0x04, 0x24) },
			want: "stack: variant host, entry f, offset 0x1: stores 8 bytes at 8(SP) with 8 bytes pushed: into the return address or the caller's frame"},
	}
	runVerdicts(t, file, cases)
}
