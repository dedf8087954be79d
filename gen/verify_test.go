package gen

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"regexp"
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
			b.Add(x86.MOVQ(reg.RCX, reg.RAX))
			return push
		}, "8 bytes are still pushed: the PUSHQ at verify_test.go:"},
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
	b.Bytes(0x48, 0x83, 0xec, 0x10) // SUBQ $16, SP
	b.Bytes(0x48, 0x83, 0xc4, 0x10) // ADDQ $16, SP
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

// TestGenerateVerifiesStubs: Generate proves the stubs it writes on their
// linked bytes, for every argument width and signedness the C ABI widens
// (a signed byte, an unsigned half-word, a bool, an int32, a pointer, a
// uintptr; results of 1, 2, 4 and 8 bytes), and the same check refuses
// the files once a stub is corrupted.
func TestGenerateVerifiesStubs(t *testing.T) {
	b := dsl.New()
	b.Entry("narrow", "func(a int8, b uint16, c bool, d int32, e *TS, f uintptr) bool")
	b.Add(x86.XORL(reg.EAX, reg.EAX))
	b.Add(x86.RET())
	b.Entry("half", "func(x int16) uint16")
	b.Add(x86.XORL(reg.EAX, reg.EAX))
	b.Add(x86.RET())
	b.Entry("word", "func() int32")
	b.Add(x86.XORL(reg.EAX, reg.EAX))
	b.Add(x86.RET())
	b.Entry("none", "func()")
	b.Add(x86.RET())
	prog := mustProgram(t, b)
	dir := newTarget(t)
	o, err := generate(t, prog, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	// avo aligns operands with spaces; one space reads (and edits) simpler.
	spaces := regexp.MustCompile(` +`)
	asm := spaces.ReplaceAllString(string(o.Files["zvd_stubs_amd64.s"]), " ")
	for _, want := range []string{"MOVBLSX a+0(FP), DI", "MOVWLZX b+2(FP), SI", "MOVBLZX c+4(FP), DX", "MOVL d+8(FP), CX", "MOVQ e+16(FP), R8", "MOVQ f+24(FP), R9", "MOVB AL, ret+32(FP)", "MOVWLSX x+0(FP), DI", "MOVW AX, ret+8(FP)"} {
		if !strings.Contains(asm, want) {
			t.Errorf("the stubs lack %q:\n%s", want, asm)
		}
	}
	pkg, err := loadPackage(context.Background(), dir, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ name, old, new, want string }{
		{"zero- instead of sign-extended", "MOVBLSX a+0(FP), DI", "MOVBLZX a+0(FP), DI", "stubs: variant host, entry narrow, offset 0x4: stub narrow_host: a different instruction; want MOVBLSX 0x10(SP), DI"},
		{"result stored 4 bytes wide", "MOVW AX, ret+8(FP)", "MOVL AX, ret+8(FP)", "stub half_host: register EAX instead of AX"},
		{"call of the other variant", "CALL ·vd_timens+", "CALL ·vd_host+", "stub word_timens: reaches vd_host+"},
		{"Go declaration changed", "func none_host()", "func none_host(x int)", "func none_host is declared func(x int); the stub of entry none in variant host"},
	} {
		t.Run(c.name, func(t *testing.T) {
			files := map[string][]byte{}
			for name, b := range o.Files {
				files[name] = bytes.Clone(b)
			}
			files["zvd_stubs_amd64.s"] = []byte(asm)
			file := "zvd_stubs_amd64.s"
			if strings.HasPrefix(c.old, "func ") {
				file = "zvd_stubs_amd64.go"
			}
			if bytes.Count(files[file], []byte(c.old)) < 1 {
				t.Fatalf("%q is not in %s", c.old, file)
			}
			if c.name == "call of the other variant" {
				// word_timens is the only stub whose call is followed by a
				// 4-byte result store of an entry without arguments.
				files[file] = bytes.Replace(files[file], []byte("TEXT ·word_timens(SB), NOSPLIT, $0-4\n\tCALL ·vd_timens+"), []byte("TEXT ·word_timens(SB), NOSPLIT, $0-4\n\tCALL ·vd_host+"), 1)
			} else {
				files[file] = bytes.Replace(files[file], []byte(c.old), []byte(c.new), 1)
			}
			err := verifyStubs(context.Background(), prog, o.Layout, files, "zvd_stubs_amd64.s", "zvd_stubs_amd64.go", pkg.types)
			var ve *verify.Error
			if !errors.As(err, &ve) {
				t.Fatalf("verifyStubs = %v, want a *verify.Error", err)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error does not report %q:\n%v", c.want, err)
			}
		})
	}
}
