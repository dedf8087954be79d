package harness

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

func needGo(t testing.TB) {
	t.Helper()
	if _, err := goCommand(); err != nil {
		t.Skip(err)
	}
}

// withTempDir points TMPDIR at a fresh directory and returns it.
func withTempDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	t.Setenv("TMPDIR", dir)
	return dir
}

func checkEmpty(t *testing.T, dir string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		t.Errorf("left behind in TMPDIR: %s", e.Name())
	}
}

const imgAsm = `#include "textflag.h"

TEXT ·img(SB), NOSPLIT|NOFRAME, $0
	MOVQ ·page+8(SB), AX
	RET
`

func TestImageAndResolve(t *testing.T) {
	needGo(t)
	tmp := withTempDir(t)
	res, err := Build(context.Background(), Input{
		AsmFiles: map[string][]byte{"zimg_amd64.s": []byte(imgAsm)},
		Images:   []string{"img"},
		Data:     map[string]int{"page": 64},
	})
	if err != nil {
		t.Fatal(err)
	}
	checkEmpty(t, tmp)

	img, ok := res.Images["img"]
	if !ok {
		t.Fatalf("no image img in %v", res.Images)
	}
	b := img.Bytes
	t.Logf("img at %#x: % x", img.Addr, b)
	// MOVQ sym(SB), AX is REX.W 8B /r with ModRM 05 (RIP-relative disp32),
	// then RET.
	if len(b) != 8 || b[0] != 0x48 || b[1] != 0x8b || b[2] != 0x05 || b[len(b)-1] != 0xc3 {
		t.Fatalf("img bytes % x, want 48 8b 05 <disp32> c3", b)
	}
	if img.Name != "img" {
		t.Errorf("Name = %q", img.Name)
	}
	disp := int32(binary.LittleEndian.Uint32(b[3:7]))
	target := uint64(int64(img.Addr) + 7 + int64(disp))
	sym, off, ok := res.Resolve(target)
	if !ok || sym != "page" || off != 8 {
		t.Errorf("Resolve(%#x) = %q, %d, %v; want page, 8, true", target, sym, off, ok)
	}
	if sym, off, ok := res.Resolve(img.Addr + 3); !ok || sym != "img" || off != 3 {
		t.Errorf("Resolve(img+3) = %q, %d, %v; want img, 3, true", sym, off, ok)
	}
	if _, _, ok := res.Resolve(0); ok {
		t.Errorf("Resolve(0) found a symbol")
	}

	var names []string
	for i, s := range res.Symbols {
		names = append(names, fmt.Sprintf("%s@%#x+%d", s.Name, s.Addr, s.Size))
		if i > 0 && res.Symbols[i-1].Addr > s.Addr {
			t.Errorf("Symbols not sorted by Addr at %d", i)
		}
		if strings.HasPrefix(s.Name, "main.") || strings.HasSuffix(s.Name, ".abi0") {
			t.Errorf("symbol name %q not stripped", s.Name)
		}
	}
	t.Logf("symbols: %v", names)
	for _, want := range []Symbol{{"img", img.Addr, 8}, {"page", target - 8, 64}} {
		found := false
		for _, s := range res.Symbols {
			found = found || s == want
		}
		if !found {
			t.Errorf("Symbols has no %+v", want)
		}
	}
}

func TestTwoImages(t *testing.T) {
	needGo(t)
	asm := `#include "textflag.h"

TEXT ·first(SB), NOSPLIT|NOFRAME, $0
	MOVQ $1, AX
	RET

TEXT ·second(SB), NOSPLIT|NOFRAME, $0
	MOVQ ·d(SB), AX
	ADDQ $2, AX
	CALL ·first(SB)
	RET
`
	res, err := Build(context.Background(), Input{
		AsmFiles: map[string][]byte{"zfirst_amd64.s": []byte(asm[:strings.Index(asm, "TEXT ·second")]), "zsecond_amd64.s": []byte("#include \"textflag.h\"\n\n" + asm[strings.Index(asm, "TEXT ·second"):])},
		Images:   []string{"first", "second"},
		Data:     map[string]int{"d": 8, "unused": 16, "empty": 0},
	})
	if err != nil {
		t.Fatal(err)
	}
	a, b := res.Images["first"], res.Images["second"]
	if len(a.Bytes) == 0 || len(b.Bytes) == 0 {
		t.Fatalf("empty image: first % x, second % x", a.Bytes, b.Bytes)
	}
	if a.Addr < b.Addr+uint64(len(b.Bytes)) && b.Addr < a.Addr+uint64(len(a.Bytes)) {
		t.Errorf("images overlap: first [%#x,+%d), second [%#x,+%d)", a.Addr, len(a.Bytes), b.Addr, len(b.Bytes))
	}
	if a.Bytes[len(a.Bytes)-1] != 0xc3 || b.Bytes[len(b.Bytes)-1] != 0xc3 {
		t.Errorf("images do not end in RET: % x / % x", a.Bytes, b.Bytes)
	}
	// Every declared data array is kept, even one no image references.
	for _, name := range []string{"d", "unused", "empty", "first", "second"} {
		found := false
		for _, s := range res.Symbols {
			found = found || s.Name == name
		}
		if !found {
			t.Errorf("no symbol %q in %+v", name, res.Symbols)
		}
	}
	// The CALL in second targets first.
	call := b.Bytes[len(b.Bytes)-6:]
	if call[0] != 0xe8 {
		t.Fatalf("second does not end in CALL rel32; RET: % x", b.Bytes)
	}
	target := uint64(int64(b.Addr) + int64(len(b.Bytes)-1) + int64(int32(binary.LittleEndian.Uint32(call[1:5]))))
	if sym, off, ok := res.Resolve(target); !ok || sym != "first" || off != 0 {
		t.Errorf("CALL target resolves to %q, %d, %v; want first, 0", sym, off, ok)
	}
}

// buildFails runs Build on in, in a fresh temporary directory, and returns
// the *BuildError it must fail with and that directory.
func buildFails(t *testing.T, in Input) (*BuildError, string) {
	t.Helper()
	needGo(t)
	tmp := withTempDir(t)
	_, err := Build(context.Background(), in)
	var be *BuildError
	if !errors.As(err, &be) {
		t.Fatalf("err = %v, want a *BuildError", err)
	}
	t.Logf("%v", err)
	return be, tmp
}

func TestBuildError(t *testing.T) {
	asm := `#include "textflag.h"

TEXT ·img(SB), NOSPLIT|NOFRAME, $0
	FROBNICATE AX
	RET
`
	be, tmp := buildFails(t, Input{
		AsmFiles: map[string][]byte{"zbad_amd64.s": []byte(asm)},
		Images:   []string{"img"},
	})
	if !strings.Contains(be.Output, "zbad_amd64.s:4:") {
		t.Errorf("output does not name zbad_amd64.s:4:\n%s", be.Output)
	}
	if !strings.Contains(be.Output, "\nzbad_amd64.s:4: ") && !strings.HasPrefix(be.Output, "zbad_amd64.s:4: ") {
		t.Errorf("no line starts with the bare file name:\n%s", be.Output)
	}
	for _, bad := range []string{tmp, "vdsogen-harness-", "./zbad"} {
		if strings.Contains(be.Output, bad) {
			t.Errorf("output contains %q:\n%s", bad, be.Output)
		}
	}
	checkEmpty(t, tmp)
}

func TestMissingSymbolIsBuildError(t *testing.T) {
	be, tmp := buildFails(t, Input{
		AsmFiles: map[string][]byte{"zimg_amd64.s": []byte(imgAsm)},
		Images:   []string{"img", "nosuch"},
		Data:     map[string]int{"page": 64},
	})
	if !strings.Contains(be.Output, "nosuch") {
		t.Errorf("the build error does not name nosuch:\n%s", be.Output)
	}
	checkEmpty(t, tmp)
}

func TestCompileErrorInData(t *testing.T) {
	// A 1<<40-byte array is too large for the compiler.
	be, tmp := buildFails(t, Input{Data: map[string]int{"huge": 1 << 40}})
	if strings.Contains(be.Output, tmp) {
		t.Errorf("output contains %q:\n%s", tmp, be.Output)
	}
	checkEmpty(t, tmp)
}

func TestCancel(t *testing.T) {
	needGo(t)
	tmp := withTempDir(t)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := Build(ctx, Input{AsmFiles: map[string][]byte{"zimg_amd64.s": []byte(imgAsm)}, Images: []string{"img"}, Data: map[string]int{"page": 64}})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("already cancelled: err = %v, want context.Canceled", err)
	}
	checkEmpty(t, tmp)

	// Cancel while the toolchain runs. A fresh instruction makes sure the
	// assembler and linker actually run rather than hitting the cache.
	asm := imgAsm + fmt.Sprintf("\nTEXT ·other(SB), NOSPLIT|NOFRAME, $0\n\tMOVQ $%d, AX\n\tRET\n", time.Now().UnixNano()&0x7fffffff)
	ctx, cancel = context.WithTimeout(context.Background(), 60*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = Build(ctx, Input{AsmFiles: map[string][]byte{"zimg_amd64.s": []byte(asm)}, Images: []string{"img", "other"}, Data: map[string]int{"page": 64}})
	t.Logf("cancelled build returned after %v: %v", time.Since(start), err)
	switch {
	case err == nil:
		t.Log("build finished before the deadline")
	case !errors.Is(err, context.DeadlineExceeded):
		t.Errorf("err = %v, want context.DeadlineExceeded", err)
	}
	checkEmpty(t, tmp)
}

func TestValidate(t *testing.T) {
	asm := map[string][]byte{"zimg_amd64.s": []byte(imgAsm)}
	tests := []struct {
		name string
		in   Input
		want string
	}{
		{"bad image name", Input{AsmFiles: asm, Images: []string{"clock-host"}}, `image name "clock-host" is not a Go identifier`},
		{"middle dot", Input{AsmFiles: asm, Images: []string{"·img"}}, `image name "·img" is not a Go identifier`},
		{"keyword", Input{AsmFiles: asm, Images: []string{"func"}}, `image name "func" is not a Go identifier`},
		{"empty image", Input{AsmFiles: asm, Images: []string{""}}, `image name "" is not a Go identifier`},
		{"image keep", Input{AsmFiles: asm, Images: []string{"keep"}}, `image name "keep" collides`},
		{"image main", Input{AsmFiles: asm, Images: []string{"main"}}, `image name "main" collides`},
		{"image twice", Input{AsmFiles: asm, Images: []string{"img", "img"}}, `image "img" is listed twice`},
		{"bad data name", Input{AsmFiles: asm, Data: map[string]int{"1page": 8}}, `data name "1page" is not a Go identifier`},
		{"data keep", Input{AsmFiles: asm, Data: map[string]int{"keep": 8}}, `data name "keep" collides`},
		{"data main", Input{AsmFiles: asm, Data: map[string]int{"main": 8}}, `data name "main" collides`},
		{"data init", Input{AsmFiles: asm, Data: map[string]int{"init": 8}}, `data name "init" collides`},
		{"data image", Input{AsmFiles: asm, Images: []string{"img"}, Data: map[string]int{"img": 8}}, `data "img" has the same name as an image`},
		{"negative size", Input{AsmFiles: asm, Data: map[string]int{"page": -1}}, `data "page" has negative size -1`},
		{"not .s", Input{AsmFiles: map[string][]byte{"x.go": nil}}, `"x.go" must end in .s`},
		{"only .s", Input{AsmFiles: map[string][]byte{".s": nil}}, `".s" must end in .s`},
		{"slash", Input{AsmFiles: map[string][]byte{"../x.s": nil}}, `"../x.s" must not contain a path separator`},
		{"backslash", Input{AsmFiles: map[string][]byte{`a\x.s`: nil}}, `must not contain a path separator`},
		{"dot file", Input{AsmFiles: map[string][]byte{".x.s": nil}}, `".x.s" must not start with '.'`},
		{"underscore file", Input{AsmFiles: map[string][]byte{"_x.s": nil}}, `"_x.s" must not start with '_'`},
		{"keep file", Input{AsmFiles: map[string][]byte{"keep_amd64.s": nil}}, `"keep_amd64.s" is used by the harness itself`},
		{"empty file name", Input{AsmFiles: map[string][]byte{"": nil}}, `empty assembly file name`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Build(context.Background(), tt.in)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want it to contain %q", err, tt.want)
			}
			var be *BuildError
			if errors.As(err, &be) {
				t.Errorf("validation error is a *BuildError")
			}
		})
	}
}

func TestExcludedFile(t *testing.T) {
	needGo(t)
	tmp := withTempDir(t)
	for _, in := range []Input{
		{AsmFiles: map[string][]byte{"zimg_arm64.s": []byte(imgAsm)}},
		{AsmFiles: map[string][]byte{"zimg.s": []byte("//go:build ignore\n\n" + imgAsm)}},
	} {
		_, err := Build(context.Background(), in)
		if err == nil || !strings.Contains(err.Error(), "go build would ignore this file") {
			t.Errorf("err = %v, want a complaint that the file is ignored", err)
		}
	}
	checkEmpty(t, tmp)
}

func TestCleanOutput(t *testing.T) {
	got := cleanOutput("# vdsogenharness\n./z_amd64.s:4: unrecognized instruction \"X\"\nasm: assembly of ./z_amd64.s failed\n/tmp/r/mod/main.go:3:5: bad\n/tmp/r/work/b001 gone\n../up stays\n", "/tmp/r", "/tmp/r/mod")
	want := "# vdsogenharness\nz_amd64.s:4: unrecognized instruction \"X\"\nasm: assembly of z_amd64.s failed\nmain.go:3:5: bad\nwork/b001 gone\n../up stays\n"
	if got != want {
		t.Errorf("cleanOutput:\n%s\nwant:\n%s", got, want)
	}
}

func TestResolveZeroSize(t *testing.T) {
	r := &Result{Symbols: []Symbol{{"a", 0x100, 0x10}, {"z", 0x110, 0}, {"b", 0x110, 8}, {"e", 0x200, 0}}}
	for _, tt := range []struct {
		addr uint64
		sym  string
		off  int64
		ok   bool
	}{
		{0x100, "a", 0, true}, {0x10f, "a", 15, true}, {0x110, "b", 0, true}, {0x117, "b", 7, true},
		{0x118, "", 0, false}, {0x200, "e", 0, true}, {0x201, "", 0, false}, {0xff, "", 0, false},
	} {
		sym, off, ok := r.Resolve(tt.addr)
		if sym != tt.sym || off != tt.off || ok != tt.ok {
			t.Errorf("Resolve(%#x) = %q, %d, %v; want %q, %d, %v", tt.addr, sym, off, ok, tt.sym, tt.off, tt.ok)
		}
	}
}

// TestWarmBuildTime reports how long a Build of a small image takes once the
// cache is warm (run with -v).
func TestWarmBuildTime(t *testing.T) {
	needGo(t)
	if testing.Short() {
		t.Skip("short")
	}
	in := Input{AsmFiles: map[string][]byte{"zimg_amd64.s": []byte(imgAsm)}, Images: []string{"img"}, Data: map[string]int{"page": 64}}
	if _, err := Build(context.Background(), in); err != nil { // warm up
		t.Fatal(err)
	}
	for i := range 3 {
		// A new instruction each time, so the assembler and linker run.
		in.AsmFiles["zimg_amd64.s"] = []byte(imgAsm + fmt.Sprintf("\tMOVQ $%d, BX\n", time.Now().UnixNano()&0xffff+int64(i)))
		start := time.Now()
		if _, err := Build(context.Background(), in); err != nil {
			t.Fatal(err)
		}
		t.Logf("warm Build, changed .s: %v", time.Since(start))
	}
	start := time.Now()
	if _, err := Build(context.Background(), in); err != nil {
		t.Fatal(err)
	}
	t.Logf("warm Build, unchanged .s: %v", time.Since(start))
}

func BenchmarkBuild(b *testing.B) {
	needGo(b)
	in := Input{AsmFiles: map[string][]byte{"zimg_amd64.s": []byte(imgAsm)}, Images: []string{"img"}, Data: map[string]int{"page": 64}}
	for b.Loop() {
		if _, err := Build(context.Background(), in); err != nil {
			b.Fatal(err)
		}
	}
}

// The go command must be on PATH in the environment this test runs in (it
// is under `go test`); this keeps goCommand's fallback honest.
func TestGoCommand(t *testing.T) {
	p, err := goCommand()
	if err != nil {
		t.Skip(err)
	}
	if out, err := exec.Command(p, "version").CombinedOutput(); err != nil {
		t.Errorf("%s version: %v\n%s", p, err, out)
	}
	t.Setenv("PATH", t.TempDir())
	if q, err := goCommand(); err != nil {
		t.Logf("no fallback: %v", err)
	} else if _, err := os.Stat(q); err != nil {
		t.Errorf("fallback %s: %v", q, err)
	}
}
