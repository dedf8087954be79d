package gen

import (
	"bytes"
	"context"
	"errors"
	"regexp"
	"strings"
	"testing"

	"github.com/mmcloughlin/avo/reg"
	"github.com/mmcloughlin/avo/x86"

	"github.com/vdsogen/vdsogen/dsl"
	"github.com/vdsogen/vdsogen/internal/verify"
)

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
