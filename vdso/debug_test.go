package vdso

import (
	"bytes"
	"context"
	"debug/elf"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/vdsogen/vdsogen/internal/elfimage"
	"github.com/vdsogen/vdsogen/internal/realtools"
	"github.com/vdsogen/vdsogen/internal/verify"
)

// TestImageDebugInfo checks the committed images with binutils: readelf
// and objdump read them (unwind tables, DWARF, symbols) without a warning;
// readelf's CFA at every instruction the verifier reaches equals
// RSP+8+depth of the stack depths it proves, re-derived here from the
// committed assembly (and elfimage.CheckUnwind agrees); addr2line maps the
// start of every source span (every entry among them) to its asm.go line;
// and .symtab names every marker site and region.
func TestImageDebugInfo(t *testing.T) {
	readelf := realtools.Need(t, "readelf", "binutils")
	objdump := realtools.Need(t, "objdump", "binutils")
	addr2line := realtools.Need(t, "addr2line", "binutils")
	pkg, err := verify.Load([]string{"."})
	if err != nil {
		t.Fatal(err)
	}
	in, err := pkg.Assemble(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	depths, err := verify.StackDepths(in)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range clockLayout.Variants {
		if v.Standalone {
			continue
		}
		t.Run(v.Name, func(t *testing.T) {
			path := "zclock_" + v.Name + ".so"
			file, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if err := elfimage.CheckUnwind(file, depths[v.Name]); err != nil {
				t.Errorf("CheckUnwind: %v", err)
			}
			out := realtools.Run(t, readelf, "-a", "-W", "--debug-dump=frames-interp,info,decodedline,abbrev", path)
			realtools.Run(t, objdump, "-d", "-l", "--dwarf=frames,info,rawline", path)
			text, _, err := elfimage.Section(file, ".text")
			if err != nil {
				t.Fatal(err)
			}
			problems, n := realtools.CompareCFA(out, text, depths[v.Name])
			for _, p := range problems {
				t.Error(p)
			}
			if n == 0 || n != len(depths[v.Name]) {
				t.Errorf("readelf compared %d instructions of %d", n, len(depths[v.Name]))
			}

			args := []string{"-e", path}
			var want []string
			for _, s := range v.Source {
				args = append(args, fmt.Sprintf("%#x", text+s.Offset))
				want = append(want, fileLine(s.Source))
			}
			got := strings.Split(strings.TrimSpace(realtools.Run(t, addr2line, args...)), "\n")
			if len(got) != len(want) {
				t.Fatalf("addr2line printed %d lines for %d addresses", len(got), len(want))
			}
			for i := range want {
				if got[i] != want[i] {
					t.Errorf("addr2line at offset %#x: %s, want %s", v.Source[i].Offset, got[i], want[i])
				}
			}
			entryLines := 0
			for _, e := range v.Entries {
				if v.SourceAt(e.Offset) != "" && strings.Contains(v.SourceAt(e.Offset), "asm.go:") {
					entryLines++
				}
			}
			if entryLines != len(v.Entries) {
				t.Errorf("%d of %d entries start at an asm.go line", entryLines, len(v.Entries))
			}

			f, err := elf.NewFile(bytes.NewReader(file))
			if err != nil {
				t.Fatal(err)
			}
			syms, err := f.Symbols()
			if err != nil {
				t.Fatal(err)
			}
			at := map[string]uint64{}
			for _, s := range syms {
				at[s.Name] = s.Value
			}
			name := func(n string, off int) {
				if a, ok := at[n]; !ok || a != uint64(text+off) {
					t.Errorf(".symtab: %s at %#x (%v), want %#x", n, a, ok, text+off)
				}
			}
			for _, e := range v.Entries {
				name(e.Name, e.Offset)
				name("__vdso_"+e.Name, e.Offset)
			}
			seen := map[string]int{}
			for _, s := range v.Sites {
				base := s.Entry + "." + string(s.Kind) + "." + s.Key
				if k := seen[base]; k > 0 {
					base = fmt.Sprintf("%s.%d", base, k)
				}
				seen[s.Entry+"."+string(s.Kind)+"."+s.Key]++
				name(base, s.Offset)
			}
			for _, r := range v.Regions {
				name(r.Entry+".region."+r.Name, r.Start)
				name(r.Entry+".region."+r.Name+".abort", r.Abort)
			}
		})
	}
}

// fileLine is a table source position as file:line: tables cite file:line,
// older ones file:line:col.
func fileLine(pos string) string {
	if parts := strings.Split(pos, ":"); len(parts) > 2 {
		return strings.Join(parts[:2], ":")
	}
	return pos
}
