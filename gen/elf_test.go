package gen

import (
	"bytes"
	"cmp"
	"context"
	"debug/elf"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"testing"

	"github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"
	"github.com/mmcloughlin/avo/x86"
	"golang.org/x/arch/x86/x86asm"

	"github.com/vdsogen/vdsogen/dsl"
	"github.com/vdsogen/vdsogen/internal/elfimage"
	"github.com/vdsogen/vdsogen/layout"
)

// TestGenerateELF: with Config.ELF every shared variant gets an image that
// passes elfimage's checks, with equal symbols in every variant, and every
// data reference resolved against the documented page placement, including
// one whose PC-relative field is followed by an immediate.
func TestGenerateELF(t *testing.T) {
	dir := t.TempDir()
	for name, s := range map[string]string{
		"go.mod":    "module example.com/target\n\ngo 1.22\n",
		"target.go": "package target\n\nvar page [64]byte\n\nvar page2 [4096]byte\n\ntype TS struct{ A, B int64 }\n",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b := dsl.New()
	pg := b.DataPage("page", 64)
	pg2 := b.DataPage("page2", 4096)
	b.Entry("f", "func(x int64, p *TS) int64")
	b.Add(x86.MOVQ(pg.At(8), reg.RAX))
	b.Add(x86.CMPL(pg2.At(100), operand.U8(7))) // 83 3d rel32 imm8: the field is not last
	b.StaticBranch("timens", func() {
		b.Add(x86.ADDQ(pg.At(16), reg.RAX))
	})
	b.Add(x86.RET())
	b.Entry("g", "func(a int64, p *TS) int64")
	b.Add(x86.MOVQ(reg.RDI, reg.RAX))
	b.Add(x86.RET())
	prog := mustProgram(t, b)
	o, err := Generate(context.Background(), prog, Config{Name: "vd", Dir: dir, ELF: true})
	if err != nil {
		t.Fatal(err)
	}
	// Deterministic: the same bytes again (the harness links anew).
	o2, err := Generate(context.Background(), prog, Config{Name: "vd", Dir: dir, ELF: true})
	if err != nil {
		t.Fatal(err)
	}
	for f, b := range o.Files {
		if !bytes.Equal(b, o2.Files[f]) {
			t.Errorf("%s differs between two runs", f)
		}
	}
	// Written with the rest; a stale image of a removed variant goes, a
	// foreign .so stays.
	if err := Write(dir, "vd", o.Files); err != nil {
		t.Fatal(err)
	}
	stale := filepath.Join(dir, "zvd_gone.so")
	foreign := filepath.Join(dir, "zvd_foreign.so")
	os.WriteFile(stale, o.Files["zvd_host.so"], 0o644)
	os.WriteFile(foreign, []byte("\x7fELF not ours"), 0o644)
	if err := Check(dir, "vd", o.Files); err == nil {
		t.Error("Check misses the stale image")
	}
	if err := Write(dir, "vd", o.Files); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("stale image not removed: %v", err)
	}
	if _, err := os.Stat(foreign); err != nil {
		t.Errorf("foreign .so removed: %v", err)
	}
	if err := Check(dir, "vd", o.Files); err != nil {
		t.Error(err)
	}

	var sos []string
	for f := range o.Files {
		if filepath.Ext(f) == ".so" {
			sos = append(sos, f)
		}
	}
	sort.Strings(sos)
	if want := []string{"zvd_host.so", "zvd_timens.so"}; !slices.Equal(sos, want) {
		t.Fatalf("images %q, want %q", sos, want)
	}
	images := map[string][]byte{}
	for _, f := range sos {
		images[f] = o.Files[f]
	}
	if err := elfimage.CheckSame(images); err != nil {
		t.Fatal(err)
	}
	// page: 64 bytes, 2 pages below; page2: the page right below the image.
	wantTargets := []int64{-2*4096 + 8, -4096 + 100, -2*4096 + 16}
	for _, f := range sos {
		file := o.Files[f]
		pages, prog, variant, err := elfimage.Pages(file)
		if err != nil || prog != "vd" || len(pages) != 2 || pages[0] != (elfimage.Page{Symbol: "page", Index: 2, Size: 64}) || pages[1] != (elfimage.Page{Symbol: "page2", Index: 1, Size: 4096}) {
			t.Errorf("%s: pages %+v %q %q %v", f, pages, prog, variant, err)
		}
		ef, err := elf.NewFile(bytes.NewReader(file))
		if err != nil {
			t.Fatal(err)
		}
		text := ef.Section(".text")
		code, _ := text.Data()
		v := variant
		lv, _ := o.Layout.Variant(v)
		for _, e := range lv.Entries {
			s, err := elfimage.Lookup(file, "__vdso_"+e.Name, "LINUX_2.6")
			if err != nil || s.Value != text.Addr+uint64(e.Offset) || s.Size != uint64(e.Size) {
				t.Errorf("%s: %s: %+v %v", f, e.Name, s, err)
			}
		}
		var targets []int64
		for off := 0; off < len(code); {
			d, err := x86asm.Decode(code[off:], 64)
			if err != nil {
				off++
				continue
			}
			for _, a := range d.Args {
				if m, ok := a.(x86asm.Mem); ok && m.Base == x86asm.RIP {
					// x86asm zero-extends disp32: sign-extend it.
					targets = append(targets, int64(text.Addr)+int64(off+d.Len)+int64(int32(m.Disp)))
				}
			}
			off += d.Len
		}
		if !slices.Equal(targets, wantTargets) {
			t.Errorf("%s: RIP-relative targets %v, want %v", f, targets, wantTargets)
		}
		checkELFMarkers(t, f, file, lv, len(code))
	}
}

// checkELFMarkers: the image's .vdsogen_markers section holds the sites
// and regions of its layout-table variant (with their Relocs, which
// version 2 records) and the pool, at the end of the image when there is none.
func checkELFMarkers(t *testing.T, name string, file []byte, v *layout.Variant, size int) {
	t.Helper()
	m, err := elfimage.ReadMarkers(file)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if len(v.Sites) == 0 {
		t.Fatalf("%s: the table has no sites: nothing to compare", name)
	}
	want := v.Sites
	if !reflect.DeepEqual(m.Sites, want) || !reflect.DeepEqual(m.Regions, v.Regions) {
		t.Errorf("%s: descriptors %+v, want sites %+v, regions %+v", name, m, want, v.Regions)
	}
	if wantPool := cmp.Or(v.Pool, size); m.Pool != wantPool {
		t.Errorf("%s: pool %#x, want %#x", name, m.Pool, wantPool)
	}
}
