package gen

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/vdsogen/vdsogen/dsl"
	"github.com/vdsogen/vdsogen/internal/harness"
	"github.com/vdsogen/vdsogen/variants"
)

var updateFuzz = flag.Bool("update-fuzz", false, "rewrite the FuzzMeasure seeds in testdata/fuzz from a real assembly")

// fuzzItems are the items of every built-in variant of fuzzProgram, without
// padding (the seeds are these items as assembled).
func fuzzItems(tb testing.TB) (map[string][]item, *dsl.Program) {
	prog, err := fuzzProgram()
	if err != nil {
		tb.Fatal(err)
	}
	items := map[string][]item{}
	for _, v := range variants.Builtin().Variants {
		its, err := expand(prog, &v, newParams(len(prog.Entries)))
		if err != nil {
			tb.Fatal(err)
		}
		items[v.Name] = its
	}
	return items, prog
}

const fuzzAddr = 0x47a000

// fuzzResult places the page 4 KiB below the image, as the harness would
// find them in a binary.
func fuzzResult(sym string, addr uint64, size int) *harness.Result {
	res := &harness.Result{Symbols: []harness.Symbol{
		{Name: "page", Addr: addr - 4096, Size: 64},
		{Name: sym, Addr: addr, Size: uint64(size)},
	}}
	sort.Slice(res.Symbols, func(i, j int) bool { return res.Symbols[i].Addr < res.Symbols[j].Addr })
	return res
}

// FuzzMeasure: measure, given arbitrary bytes as the image the toolchain
// produced for a variant's items, returns an error or a consistent
// measurement; it never panics or loops. Seeds (testdata/fuzz/FuzzMeasure)
// are the real assembled bytes of both variants, which measure accepts,
// and a few broken images.
func FuzzMeasure(f *testing.F) {
	items, _ := fuzzItems(f)
	names := []string{"host", "timens"}
	f.Add(uint8(0), uint64(fuzzAddr), []byte{})
	f.Add(uint8(1), uint64(0), bytes.Repeat([]byte{0xcc}, 64))
	f.Add(uint8(0), ^uint64(0), []byte{0x0f, 0x1f, 0x44, 0x00})
	f.Fuzz(func(t *testing.T, which uint8, addr uint64, img []byte) {
		v := names[int(which)%len(names)]
		sym := "vd_" + v
		m, err := measure(sym, items[v], harness.Image{Name: sym, Addr: addr, Bytes: img}, fuzzResult(sym, addr, len(img)))
		if err != nil {
			if m != nil {
				t.Error("measure returned a measurement with an error")
			}
			if !strings.Contains(err.Error(), sym) {
				t.Errorf("error does not name the image %s: %v", sym, err)
			}
			return
		}
		// The placed items tile the image in order.
		off := 0
		for _, p := range m.placed {
			if p.off != off || p.len <= 0 {
				t.Fatalf("item at %d+%d, want it at %d", p.off, p.len, off)
			}
			if got := m.at(p.off + p.len - 1); got == nil || got.off != p.off {
				t.Fatalf("at(%d) does not find the item at %d", p.off+p.len-1, p.off)
			}
			off += p.len
		}
		if off != len(img) {
			t.Fatalf("items cover %d of %d bytes", off, len(img))
		}
		for l, o := range m.labels {
			if o < 0 || o > len(img) {
				t.Errorf("label %s at %d outside the %d-byte image", l, o, len(img))
			}
		}
		if m.at(-1) != nil || m.at(len(img)) != nil {
			t.Error("at finds an item outside the image")
		}
	})
}

// TestMeasureSeeds: the FuzzMeasure seeds are still images measure accepts
// for fuzzProgram's items, so the fuzzer starts deep inside measure. With
// -update-fuzz they are rewritten from a real assembly (do that when
// expand or fuzzProgram changes).
func TestMeasureSeeds(t *testing.T) {
	items, prog := fuzzItems(t)
	names := []string{"host", "timens"}
	if *updateFuzz {
		writeMeasureSeeds(t, prog, items, names)
	}
	for i, v := range names {
		path := filepath.Join("testdata", "fuzz", "FuzzMeasure", v)
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(string(b)), "\n")
		lit, ok := strings.CutPrefix(lines[len(lines)-1], "[]byte(")
		img, err := strconv.Unquote(strings.TrimSuffix(lit, ")"))
		if len(lines) != 4 || lines[1] != fmt.Sprintf("uint8(%d)", i) || !ok || err != nil {
			t.Fatalf("%s is not a FuzzMeasure seed for variant %s (%v):\n%s", path, v, err, b)
		}
		sym := "vd_" + v
		if _, err := measure(sym, items[v], harness.Image{Name: sym, Addr: fuzzAddr, Bytes: []byte(img)}, fuzzResult(sym, fuzzAddr, len(img))); err != nil {
			t.Errorf("measure rejects the seed %s: %v\n(run go test -run TestMeasureSeeds -update-fuzz)", path, err)
		}
	}
}

// writeMeasureSeeds assembles fuzzProgram's items and writes each
// variant's image as a seed.
func writeMeasureSeeds(t *testing.T, prog *dsl.Program, items map[string][]item, names []string) {
	in := harness.Input{AsmFiles: map[string][]byte{}, Data: map[string]int{}}
	for _, pg := range prog.Pages {
		in.Data[pg.Symbol] = pg.Size
	}
	for _, v := range names {
		p, err := printAsm("vd_"+v, items[v])
		if err != nil {
			t.Fatal(err)
		}
		in.AsmFiles[asmFile("vd", v)] = p.text
		in.Images = append(in.Images, "vd_"+v)
	}
	res, err := harness.Build(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzMeasure")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for i, v := range names {
		img := res.Images["vd_"+v].Bytes
		seed := fmt.Sprintf("go test fuzz v1\nuint8(%d)\nuint64(%d)\n[]byte(%s)\n", i, fuzzAddr, strconv.Quote(string(img)))
		if err := os.WriteFile(filepath.Join(dir, v), []byte(seed), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
