package x86_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"
	avox86 "github.com/mmcloughlin/avo/x86"

	"github.com/vdsogen/vdsogen/dsl"
	"github.com/vdsogen/vdsogen/dsl/x86"
	"github.com/vdsogen/vdsogen/internal/callsite"
)

// The tests record through dsl's package-level builder as a generator
// program does; they stand in for gen, the driver dsl.Std requires.
func init() { dsl.RegisterDriver("the x86 tests") }

// next returns the line after the caller's: write it on the line before
// the call that an error must blame.
var next = callsite.NextLine

// errorsOf returns the program's errors, failing if there are none.
func errorsOf(t *testing.T, err error) dsl.ErrorList {
	t.Helper()
	var l dsl.ErrorList
	if !errors.As(err, &l) {
		t.Fatalf("Program: got %v, want an ErrorList", err)
	}
	return l
}

// TestBlame: a mistake made through a function of this package is blamed
// on the caller's line and named after the instruction, not after the
// generated wrapper or dsl.Builder.Add; a mistake made through Add on an
// explicit Builder is blamed the same way.
func TestBlame(t *testing.T) {
	type mistake struct {
		line int
		call string
		msg  string
	}
	cases := []struct {
		name string
		prog func(b *dsl.Builder) []mistake
	}{
		{"operands no form takes", func(*dsl.Builder) []mistake {
			l := next()
			x86.MOVQ(reg.AL, reg.RBX)
			x86.RET()
			return []mistake{{l, "MOVQ", "MOVQ: "}}
		}},
		{"vector register", func(*dsl.Builder) []mistake {
			l := next()
			x86.MOVQ(reg.X0, reg.RAX)
			x86.RET()
			return []mistake{{l, "MOVQ", "MOVQ: X0 is not a general-purpose register"}}
		}},
		{"explicit builder, vector register", func(b *dsl.Builder) []mistake {
			l := next()
			b.Add(avox86.PADDQ(reg.X1, reg.X0))
			l2 := next()
			b.Add(avox86.MOVQ(reg.AL, reg.RBX))
			b.Add(avox86.RET())
			return []mistake{{l, "Add", "PADDQ: X1 is not a general-purpose register"}, {l2, "Add", "MOVQ: bad operands"}}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := dsl.Reset()
			defer dsl.Reset()
			b.Entry("f", "func()")
			want := c.prog(b)
			_, err := b.Program()
			got := errorsOf(t, err)
			if len(got) != len(want) {
				t.Fatalf("got %d errors, want %d:\n%v", len(got), len(want), err)
			}
			for i, w := range want {
				e := got[i]
				if !strings.HasSuffix(e.Pos.File, "x86_test.go") || e.Pos.Line != w.line || e.Pos.Call != w.call || !strings.Contains(e.Msg, w.msg) {
					t.Errorf("error %d: %s:%d (%s) %q; want x86_test.go:%d (%s) containing %q", i, e.Pos.File, e.Pos.Line, e.Pos.Call, e.Msg, w.line, w.call, w.msg)
				}
			}
		})
	}
}

// TestStringRecords: a string instruction with a repeat prefix is one
// node, at the caller's line and named after the wrapper, holding the
// prefix and the instruction as Go's assembler writes them on one line.
func TestStringRecords(t *testing.T) {
	b := dsl.Reset()
	defer dsl.Reset()
	dsl.Entry("f", "func()")
	type rec struct {
		line         int
		call, opcode string
	}
	var want []rec
	l := next()
	x86.REP_MOVSB()
	want = append(want, rec{l, "REP_MOVSB", "REP; MOVSB"})
	l = next()
	x86.REPN_SCASQ()
	want = append(want, rec{l, "REPN_SCASQ", "REPN; SCASQ"})
	l = next()
	x86.STOSL()
	want = append(want, rec{l, "STOSL", "STOSL"})
	l = next()
	x86.UD2()
	want = append(want, rec{l, "UD2", "UD2"})
	x86.RET()
	prog, err := b.Program()
	if err != nil {
		t.Fatal(err)
	}
	body := prog.Entries[0].Body
	if len(body) != len(want)+1 {
		t.Fatalf("body has %d nodes, want %d", len(body), len(want)+1)
	}
	for i, w := range want {
		n, ok := body[i].(*dsl.Inst)
		if !ok || n.Inst.Opcode != w.opcode || len(n.Inst.Operands) != 0 || n.Pos.Line != w.line || n.Pos.Call != w.call {
			t.Errorf("node %d is %#v, want %q at line %d called %s", i, body[i], w.opcode, w.line, w.call)
		}
	}
}

// TestRecords: the functions append to the default program, at the
// caller's line, and NOP is a real one-byte instruction.
func TestRecords(t *testing.T) {
	b := dsl.Reset()
	defer dsl.Reset()
	dsl.Entry("f", "func() uint64")
	movLine := next()
	x86.MOVQ(operand.U32(7), reg.RAX)
	nopLine := next()
	x86.NOP()
	x86.RET()
	prog, err := b.Program()
	if err != nil {
		t.Fatal(err)
	}
	body := prog.Entries[0].Body
	if len(body) != 3 {
		t.Fatalf("body has %d nodes, want 3", len(body))
	}
	mov, ok := body[0].(*dsl.Inst)
	if !ok || mov.Inst.Opcode != "MOVQ" || mov.Pos.Line != movLine || mov.Pos.Call != "MOVQ" {
		t.Errorf("first node %#v, want MOVQ at line %d", body[0], movLine)
	}
	nop, ok := body[1].(*dsl.Raw)
	if !ok || string(nop.Bytes) != "\x90" || nop.Pos.Line != nopLine || nop.Pos.Call != "NOP" {
		t.Errorf("second node %#v, want raw 0x90 at line %d", body[1], nopLine)
	}
}
