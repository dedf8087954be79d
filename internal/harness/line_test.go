package harness

import (
	"context"
	"testing"
)

// TestLine: Result.Line names the assembly line of each instruction as the
// toolchain recorded it, by file base name, and nothing outside the text.
func TestLine(t *testing.T) {
	src := "#include \"textflag.h\"\n\nTEXT ·img(SB), NOSPLIT|NOFRAME, $0\n\tBYTE $0xcc\n\tRET\n"
	res, err := Build(context.Background(), Input{AsmFiles: map[string][]byte{"img_amd64.s": []byte(src)}, Images: []string{"img"}})
	if err != nil {
		t.Fatal(err)
	}
	img := res.Images["img"]
	for off, want := range map[uint64]int{0: 4, 1: 5} {
		file, line, ok := res.Line(img.Addr + off)
		if !ok || file != "img_amd64.s" || line != want {
			t.Errorf("Line(img+%d) = %s:%d (%v), want img_amd64.s:%d", off, file, line, ok, want)
		}
	}
	if file, line, ok := res.Line(0); ok {
		t.Errorf("Line(0) = %s:%d, want nothing", file, line)
	}
	var none *Result
	if _, _, ok := none.Line(img.Addr); ok {
		t.Error("a nil Result has a line")
	}
}
