package gen

import (
	"errors"
	"strings"
	"testing"

	"github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"
	"github.com/mmcloughlin/avo/x86"

	"github.com/vdsogen/vdsogen/dsl"
)

// TestUnbalancedPushPop: the assembler's "unbalanced PUSH/POP" names no
// line; the generator names the RET and what unbalanced it, in every way
// the stack can be off at a RET in text order (a push left, a pop too
// many, a word push); a push in a marker's out-of-line body, after the RET
// in the text, passes the assembler and is the verifier's finding at the
// RET. A balanced push/pop is accepted.
func TestUnbalancedPushPop(t *testing.T) {
	file := callerFile()
	for _, tc := range []struct {
		name string
		// body adds what comes before the entry's RET and returns the
		// line the message names as the cause (0: none).
		body func(b *dsl.Builder) (cause int)
		msg  string
	}{
		{"push left", func(b *dsl.Builder) int {
			push := nextLine()
			b.Add(x86.PUSHQ(reg.RBX))
			b.Add(x86.MOVQ(operand.U32(1), reg.RAX))
			return push
		}, "8 bytes are still pushed: the PUSHQ at pushpop_test.go:"},
		{"pop too many", func(b *dsl.Builder) int {
			b.Add(x86.POPQ(reg.RBX))
			return 0
		}, "8 bytes more were popped than pushed"},
		{"word push", func(b *dsl.Builder) int {
			push := nextLine()
			b.Add(x86.PUSHW(reg.BX))
			return push
		}, "2 bytes are still pushed: the PUSHW at"},
		{"in a marker body", func(b *dsl.Builder) int {
			// The body is out of line, after the RET in the text: the
			// assembler accepts it, the verifier follows the flow.
			b.StaticBranch("timens", func() {
				b.Add(x86.PUSHQ(reg.RBX))
			})
			return 0
		}, "returns with 8 bytes still on the stack"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := dsl.New()
			b.Entry("f", "func() int64")
			cause := tc.body(b)
			ret := nextLine()
			b.Add(x86.RET())
			_, err := generate(t, mustProgram(t, b), newTarget(t), nil)
			msgs := []string{tc.msg}
			if cause != 0 {
				msgs = append(msgs, "RET with an unbalanced stack", "unbalanced PUSH/POP", srcPos(t, file, cause))
			}
			if err != nil {
				// The verifier indents its findings under a heading.
				err = errors.New(strings.ReplaceAll(err.Error(), "\n\t", "\n"))
			}
			wantMsg(t, err, srcPos(t, file, ret), msgs...)
		})
	}
	t.Run("balanced", func(t *testing.T) {
		t.Parallel()
		b := dsl.New()
		b.Entry("f", "func() int64")
		b.Add(x86.PUSHQ(reg.RBX))
		b.Add(x86.MOVQ(reg.RDI, reg.RBX))
		b.Add(x86.MOVQ(reg.RBX, reg.RAX))
		b.Add(x86.POPQ(reg.RBX))
		b.Add(x86.RET())
		if _, err := generate(t, mustProgram(t, b), newTarget(t), nil); err != nil {
			t.Errorf("balanced in text order, but: %v", err)
		}
	})
}

// TestGenerateStack: the report carries every entry's maximum depth.
func TestGenerateStack(t *testing.T) {
	b := dsl.New()
	b.Entry("f", "func()")
	b.Add(x86.PUSHQ(reg.RBX))
	b.Add(x86.PUSHQ(reg.RBP))
	b.Add(x86.SUBQ(operand.U8(16), reg.RSP))
	b.Add(x86.ADDQ(operand.U8(16), reg.RSP))
	b.Add(x86.POPQ(reg.RBP))
	b.Add(x86.POPQ(reg.RBX))
	b.StaticBranch("timens", func() { b.NOP() })
	b.Add(x86.RET())
	o, err := generate(t, mustProgram(t, b), newTarget(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"host", "timens"} {
		if m, ok := o.Verify.MaxStack(v, "f"); !ok || m != 32 {
			t.Errorf("%s: max stack %d (%v), want 32", v, m, ok)
		}
	}
	// Only a static branch differs: one atomic instruction.
	if len(o.Verify.Pairs) != 1 || !o.Verify.Pairs[0].Switchable {
		t.Errorf("pairs %+v, want host/timens switchable", o.Verify.Pairs)
	}
}
