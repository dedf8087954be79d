package gen

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/arch/x86/x86asm"

	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"

	"github.com/vdsogen/vdsogen/dsl"
	dx "github.com/vdsogen/vdsogen/dsl/x86"
	"github.com/vdsogen/vdsogen/internal/harness"
)

// stringInsts are dsl/x86's string instructions, which avo's database
// lacks and the wrappers build by hand, by wrapper name.
var stringInsts = []struct {
	name string
	emit func()
}{
	{"MOVSB", dx.MOVSB},
	{"MOVSW", dx.MOVSW},
	{"MOVSL", dx.MOVSL},
	{"MOVSQ", dx.MOVSQ},
	{"STOSB", dx.STOSB},
	{"STOSW", dx.STOSW},
	{"STOSL", dx.STOSL},
	{"STOSQ", dx.STOSQ},
	{"LODSB", dx.LODSB},
	{"LODSW", dx.LODSW},
	{"LODSL", dx.LODSL},
	{"LODSQ", dx.LODSQ},
	{"CMPSB", dx.CMPSB},
	{"CMPSW", dx.CMPSW},
	{"CMPSL", dx.CMPSL},
	{"CMPSQ", dx.CMPSQ},
	{"SCASB", dx.SCASB},
	{"SCASW", dx.SCASW},
	{"SCASL", dx.SCASL},
	{"SCASQ", dx.SCASQ},
	{"REP_MOVSB", dx.REP_MOVSB},
	{"REP_MOVSW", dx.REP_MOVSW},
	{"REP_MOVSL", dx.REP_MOVSL},
	{"REP_MOVSQ", dx.REP_MOVSQ},
	{"REP_STOSB", dx.REP_STOSB},
	{"REP_STOSW", dx.REP_STOSW},
	{"REP_STOSL", dx.REP_STOSL},
	{"REP_STOSQ", dx.REP_STOSQ},
	{"REP_LODSB", dx.REP_LODSB},
	{"REP_LODSW", dx.REP_LODSW},
	{"REP_LODSL", dx.REP_LODSL},
	{"REP_LODSQ", dx.REP_LODSQ},
	{"REP_CMPSB", dx.REP_CMPSB},
	{"REP_CMPSW", dx.REP_CMPSW},
	{"REP_CMPSL", dx.REP_CMPSL},
	{"REP_CMPSQ", dx.REP_CMPSQ},
	{"REP_SCASB", dx.REP_SCASB},
	{"REP_SCASW", dx.REP_SCASW},
	{"REP_SCASL", dx.REP_SCASL},
	{"REP_SCASQ", dx.REP_SCASQ},
	{"REPN_CMPSB", dx.REPN_CMPSB},
	{"REPN_CMPSW", dx.REPN_CMPSW},
	{"REPN_CMPSL", dx.REPN_CMPSL},
	{"REPN_CMPSQ", dx.REPN_CMPSQ},
	{"REPN_SCASB", dx.REPN_SCASB},
	{"REPN_SCASW", dx.REPN_SCASW},
	{"REPN_SCASL", dx.REPN_SCASL},
	{"REPN_SCASQ", dx.REPN_SCASQ},
}

// goAsmText is how Go's assembler spells a wrapper: REP_MOVSB is the two
// instructions "REP; MOVSB".
func goAsmText(name string) string {
	if prefix, op, ok := strings.Cut(name, "_"); ok {
		return prefix + "; " + op
	}
	return name
}

// TestNewFamiliesAssemble: a program using every string instruction (alone
// and with each repeat prefix) and UD2 generates, verifies, and its image
// is byte for byte what Go's assembler makes of the same instructions
// written by hand; every instruction decodes to its operation, with its
// prefix, at its Intel encoding.
func TestNewFamiliesAssemble(t *testing.T) {
	b := dsl.Reset()
	defer dsl.Reset()
	dsl.Entry("s", "func(dst, src *byte, n uint64)")
	var ref strings.Builder
	ref.WriteString("#include \"textflag.h\"\nTEXT ·ref(SB), NOSPLIT|NOFRAME, $0\n")
	for _, in := range stringInsts {
		in.emit()
		fmt.Fprintf(&ref, "\t%s\n", goAsmText(in.name))
	}
	dx.JMP(dsl.L("done"))
	dx.UD2() // no path reaches it
	dsl.Label("done")
	dx.RET()
	ref.WriteString("\tJMP done\n\tUD2\ndone:\n\tRET\n")

	out := mustGenerate(t, mustProgram(t, b), newTarget(t), nil)
	host, ok := out.Layout.Variant("host")
	if !ok {
		t.Fatal("no host variant")
	}
	file := "zvd_host_amd64.s"
	genText, ok := out.Files[file]
	if !ok {
		t.Fatalf("no %s among %d files", file, len(out.Files))
	}
	res, err := harness.Build(context.Background(), harness.Input{
		AsmFiles: map[string][]byte{"gen_amd64.s": genText, "ref_amd64.s": []byte(ref.String())},
		Images:   []string{host.Symbol, "ref"},
	})
	if err != nil {
		t.Fatal(err)
	}
	got, want := res.Images[host.Symbol].Bytes, res.Images["ref"].Bytes
	if !bytes.Equal(got, want) {
		t.Fatalf("the DSL's image differs from the hand-written assembly:\ngot  % x\nwant % x", got, want)
	}

	// Decode the image instruction by instruction.
	wantOp := func(name string) (op string, prefix x86asm.Prefix) {
		p, o, ok := strings.Cut(name, "_")
		if !ok {
			o = p
		}
		switch p {
		case "REP":
			prefix = x86asm.PrefixREP
		case "REPN":
			prefix = x86asm.PrefixREPN
		}
		if base, ok := strings.CutSuffix(o, "L"); ok {
			o = base + "D" // x86asm's MOVSD is Go's MOVSL
		}
		return o, prefix
	}
	off := 0
	for _, in := range stringInsts {
		d, err := x86asm.Decode(got[off:], 64)
		if err != nil {
			t.Fatalf("%s at %#x: %v", in.name, off, err)
		}
		op, prefix := wantOp(in.name)
		if d.Op.String() != op || hasPrefix(d, x86asm.PrefixREP) != (prefix == x86asm.PrefixREP) || hasPrefix(d, x86asm.PrefixREPN) != (prefix == x86asm.PrefixREPN) {
			t.Errorf("%s at %#x decodes as %v (prefixes %v)", in.name, off, d, d.Prefix[:2])
		}
		off += d.Len
	}
	// A few encodings from the Intel manual, in the image's order.
	for _, enc := range [][]byte{{0xa4}, {0x48, 0xa5}, {0xf3, 0xa4}, {0xf3, 0x48, 0xab}, {0xf3, 0xa6}, {0xf2, 0xae}, {0xf2, 0x48, 0xaf}, {0x0f, 0x0b}} {
		if !bytes.Contains(got, enc) {
			t.Errorf("the image lacks % x", enc)
		}
	}
}

func hasPrefix(d x86asm.Inst, p x86asm.Prefix) bool {
	for _, q := range d.Prefix {
		if q&0xff == p {
			return true
		}
	}
	return false
}

// TestNewFamiliesVerdicts: the verifier's verdict on the string
// instructions and UD2, case by case: accepted where their implicit
// memory is the caller's (or a read of the stack), refused with a finding
// at the instruction's line where it may be a data page, a store through
// a copy of SP, a segment override or a reachable trap.
func TestNewFamiliesVerdicts(t *testing.T) {
	file := filepath.Base(callerFile())
	ret := func(*dsl.Page) { dx.RET() }
	cases := []verdictCase{
		{name: "each string instruction on the caller's memory", before: func(*dsl.Page) {
			for _, in := range stringInsts {
				dx.MOVQ(RDX, RCX)
				in.emit()
			}
		}},
		// Reads of the stack are harmless.
		{name: "REP; MOVSB reading the stack", before: func(*dsl.Page) { dx.MOVQ(RSP, RSI); dx.MOVL(U32(8), ECX) }, at: func() { dx.REP_MOVSB() }},
		{name: "UD2 that no path reaches", before: ret, at: func() { dx.UD2() }},
		{name: "SYSCALL, the fallback", before: func(*dsl.Page) { dx.MOVL(U32(228), EAX) }, at: func() { dx.SYSCALL() }},
		{name: "reachable UD2", before: func(*dsl.Page) { dx.TESTQ(RDI, RDI); dx.JEQ(dsl.L("out")) }, at: func() { dx.UD2() },
			after: func(*dsl.Page) { dsl.Label("out"); dx.RET() },
			want:  "flow: variant host, entry f, offset 0x5: control reaches UD2, an undefined-instruction trap (#UD) [host: UD2]"},
		{name: "STOSQ into a data page", before: func(p *dsl.Page) { dx.LEAQ(p.At(0), RDI) }, at: func() { dx.STOSQ() },
			want: "pages: variant host, entry f, offset 0x7: STOSQ addresses memory through DI implicitly, which may hold a data page's address"},
		{name: "REP; LODSB from a data page", before: func(p *dsl.Page) { dx.LEAQ(p.At(8), RSI); dx.MOVL(U32(4), ECX) }, at: func() { dx.REP_LODSB() },
			want: "pages: variant host, entry f, offset 0xc: LODSB addresses memory through SI implicitly, which may hold a data page's address"},
		{name: "CMPSB against a data page", before: func(p *dsl.Page) { dx.LEAQ(p.At(0), RDI) }, at: func() { dx.REPN_CMPSB() },
			want: "pages: variant host, entry f, offset 0x7: CMPSB addresses memory through DI implicitly"},
		{name: "REP; STOSQ over the caller's frame", before: func(*dsl.Page) { dx.MOVQ(RSP, RDI); dx.MOVL(U32(4), ECX) }, at: func() { dx.REP_STOSQ() },
			want: "pages: variant host, entry f, offset 0x8: STOSQ stores CX times 8 bytes through DI, which may hold an address computed from SP"},
		{name: "MOVSQ into a stack address built with LEAQ", before: func(*dsl.Page) { dx.LEAQ(Mem{Base: RSP, Disp: -8}, RDI); dx.ADDQ(U8(16), RDI) },
			at: func() { dx.MOVSQ() }, want: "MOVSQ stores 8 bytes through DI, which may hold an address computed from SP"},
		{name: "explicit store through a copy of SP", before: func(*dsl.Page) { dx.MOVQ(RSP, RBX) },
			at: func() { dx.MOVQ(RAX, Mem{Base: RBX, Disp: 8}) }, want: "MOV stores 8 bytes through BX, which may hold an address computed from SP"},
		{name: "a copy of SP through memory", before: func(*dsl.Page) { dx.PUSHQ(RSP); dx.POPQ(RDI) }, at: func() { dx.STOSB() },
			want: "STOSB stores 1 bytes through DI, which may hold an address computed from SP"},
		{name: "MOVSB with an FS override", at: func() { dsl.Bytes(0x64, 0xa4) }, // FS: MOVSB
			want: "reach: variant host, entry f, offset 0x0: MOVSB with a segment override: its operand FS:(SI) is relative to segment FS"},
	}
	runVerdicts(t, file, cases)
}
