package verify

import (
	"testing"

	"golang.org/x/arch/x86/x86asm"
)

// TestGoSyntax: disassembly spells conditional instructions as the Go
// assembler (and so the generated .s) does, at every operand size, and
// leaves everything else as x86asm.GoSyntax prints it.
func TestGoSyntax(t *testing.T) {
	for _, tc := range []struct {
		code []byte
		want string
	}{
		{[]byte{0x48, 0x0f, 0x47, 0xc2}, "CMOVQHI DX, AX"},
		{[]byte{0x0f, 0x42, 0xc2}, "CMOVLCS DX, AX"},
		{[]byte{0x66, 0x0f, 0x44, 0xc2}, "CMOVWEQ DX, AX"},
		{[]byte{0x48, 0x0f, 0x4c, 0xc2}, "CMOVQLT DX, AX"},
		{[]byte{0x0f, 0x94, 0xc0}, "SETEQ AL"},
		{[]byte{0x0f, 0x98, 0xc0}, "SETMI AL"},
		{[]byte{0x77, 0x00}, "JHI .+0"},
		{[]byte{0x73, 0x00}, "JCC .+0"},
		{[]byte{0x0f, 0x8b, 0, 0, 0, 0}, "JPC .+0"},
		{[]byte{0x75, 0x00}, "JNE .+0"},
		{[]byte{0xeb, 0x00}, "JMP .+0"},
		{[]byte{0x0f, 0xbe, 0xc0}, "MOVBLSX AL, AX"},
		{[]byte{0x48, 0x0f, 0xb7, 0xc2}, "MOVWQZX DX, AX"},
		{[]byte{0x48, 0x63, 0xc2}, "MOVLQSX DX, AX"},
		{[]byte{0x0f, 0xb6, 0x07}, "MOVBLZX 0(DI), AX"},
		{[]byte{0x48, 0x01, 0xd0}, "ADDQ DX, AX"},
		{[]byte{0xc3}, "RET"},
	} {
		in, err := x86asm.Decode(tc.code, 64)
		if err != nil {
			t.Fatalf("% x: %v", tc.code, err)
		}
		if got := goSyntax(in, 0, nil); got != tc.want {
			t.Errorf("% x: got %q, want %q (x86asm: %q)", tc.code, got, tc.want, x86asm.GoSyntax(in, 0, nil))
		}
	}
}
