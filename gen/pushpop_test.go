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
		name    string
		program func(b *dsl.Builder) (ret, cause int)
		msg     string
	}{
		{"push left", func(b *dsl.Builder) (int, int) {
			b.Entry("f", "func() int64")
			push := nextLine()
			b.Add(x86.PUSHQ(reg.RBX))
			b.Add(x86.MOVQ(operand.U32(1), reg.RAX))
			ret := nextLine()
			b.Add(x86.RET())
			return ret, push
		}, "8 bytes are still pushed: the PUSHQ at pushpop_test.go:"},
		{"pop too many", func(b *dsl.Builder) (int, int) {
			b.Entry("f", "func() int64")
			b.Add(x86.POPQ(reg.RBX))
			ret := nextLine()
			b.Add(x86.RET())
			return ret, 0
		}, "8 bytes more were popped than pushed"},
		{"word push", func(b *dsl.Builder) (int, int) {
			b.Entry("f", "func() int64")
			push := nextLine()
			b.Add(x86.PUSHW(reg.BX))
			ret := nextLine()
			b.Add(x86.RET())
			return ret, push
		}, "2 bytes are still pushed: the PUSHW at"},
		{"in a marker body", func(b *dsl.Builder) (int, int) {
			b.Entry("f", "func() int64")
			b.StaticBranch("timens", func() {
				b.Add(x86.PUSHQ(reg.RBX))
			})
			ret := nextLine()
			b.Add(x86.RET())
			// The body is out of line, after the RET in the text: the
			// assembler accepts it, the verifier follows the flow.
			return ret, 0
		}, "returns with 8 bytes still on the stack"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := dsl.New()
			ret, cause := tc.program(b)
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
