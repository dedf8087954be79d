package gen

import (
	"errors"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/mmcloughlin/avo/reg"
	"github.com/mmcloughlin/avo/x86"

	"github.com/vdsogen/vdsogen/dsl"
	"github.com/vdsogen/vdsogen/internal/verify"
)

// TestGenerateRunsVerifier: Generate refuses a program the verifier
// rejects on the assembled bytes, writes nothing, and names the check,
// variant, entry, offset, instruction and program line.
func TestGenerateRunsVerifier(t *testing.T) {
	file := filepath.Base(callerFile())
	tests := []struct {
		name  string
		build func(b *dsl.Builder) int
		want  string // the finding, with FILE:LINE for the blamed line
	}{
		// The assembler refuses unbalanced PUSHQ/POPQ and avo these
		// operands, but raw bytes get through: the verifier reads bytes.
		{"indirect jump", func(b *dsl.Builder) int {
			b.Entry("f", "func()")
			l := nextLine()
			b.Add(x86.JMP(reg.RAX))
			return l
		}, "\tFILE:LINE:4: reach: variant host, entry f, offset 0x0: indirect JMP: every branch must be direct [host: JMP AX]\n"},
		{"unbalanced push", func(b *dsl.Builder) int {
			b.Entry("f", "func()")
			b.Bytes(0x53) // PUSHQ BX
			l := nextLine()
			b.Add(x86.RET())
			return l
		}, "\tFILE:LINE:4: stack: variant host, entry f, offset 0x1: returns with 8 bytes still on the stack [host: RET]\n"},
		{"push inside a marker", func(b *dsl.Builder) int {
			b.Entry("f", "func()")
			l := nextLine()
			b.ThreeLabel("timens", func() {
				b.Bytes(0x53, 0x90, 0x90) // PUSHQ BX
			}, func() { b.Add(x86.RET()) })
			return l
		}, ": stack: variants timens, host, entry f, offset 0x3: stack depth leaving the three_label timens site is 8 bytes in variant timens but 0 in variant host"},
		{"absolute address", func(b *dsl.Builder) int {
			b.Entry("f", "func()")
			l := nextLine()
			b.Bytes(0x48, 0x8b, 0x04, 0x25, 0x00, 0x10, 0x00, 0x00) // MOVQ 0x1000, AX
			b.Add(x86.RET())
			return l
		}, "\tFILE:LINE:4: reach: variant host, entry f, offset 0x0: refers to the absolute address 0x1000 [host: MOVQ 0x1000, AX]\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := newTarget(t)
			before := snapshot(t, dir)
			b := dsl.New()
			line := tt.build(b)
			_, err := generate(t, mustProgram(t, b), dir, nil)
			var ve *verify.Error
			if !errors.As(err, &ve) {
				t.Fatalf("Generate = %v, want a *verify.Error", err)
			}
			want := strings.NewReplacer("FILE", file, "LINE", strconv.Itoa(line)).Replace(tt.want)
			if !strings.Contains(err.Error()+"\n", want) {
				t.Errorf("error does not report\n\t%s\ngot:\n%v", want, err)
			}
			sameSnapshot(t, "after a failed verification", before, snapshot(t, dir))
		})
	}
}
