package vdso

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"unsafe"

	"golang.org/x/arch/x86/x86asm"

	"github.com/vdsogen/vdsogen/layout"
)

// linked returns the bytes of a variant's image as linked into this test
// binary.
func linked(t *testing.T, variant string) (*layout.Variant, []byte) {
	t.Helper()
	v, ok := clockLayout.Variant(variant)
	if !ok {
		t.Fatalf("no variant %s in the layout table", variant)
	}
	addrs := map[string]unsafe.Pointer{
		"host": clock_host_addr(), "timens": clock_timens_addr(), "nomarker": clock_nomarker_addr(),
	}
	return v, unsafe.Slice((*byte)(addrs[variant]), v.Size)
}

// TestLayoutTable: every entry has one offset and size in host and timens,
// and the linked bytes hold at each site what the table says.
func TestLayoutTable(t *testing.T) {
	host, hostBytes := linked(t, "host")
	timens, timensBytes := linked(t, "timens")
	if len(host.Entries) != len(timens.Entries) || len(host.Entries) != 6 {
		t.Fatalf("host has %d entries and timens %d, want 6 each (asm.go declares six)", len(host.Entries), len(timens.Entries))
	}
	for i, e := range host.Entries {
		if timens.Entries[i] != e {
			t.Errorf("entry %s: host %+v, timens %+v", e.Name, e, timens.Entries[i])
		}
	}
	for _, v := range []struct {
		v *layout.Variant
		b []byte
	}{{host, hostBytes}, {timens, timensBytes}} {
		for _, s := range v.v.Sites {
			got := bytes.Clone(v.b[s.Offset : s.Offset+len(s.Bytes)])
			for _, r := range s.Relocs {
				clear(got[r.Offset : r.Offset+4])
			}
			if !bytes.Equal(got, s.Bytes) {
				t.Errorf("%s: site %s at %#x: linked % x, table % x", v.v.Name, s.Kind, s.Offset, got, s.Bytes)
			}
		}
	}
}

// stream decodes code in [start, end) into instructions with branch targets
// replaced by the index of the instruction they reach, so that two streams
// can be compared independently of where they sit.
func stream(t *testing.T, code []byte, start, end int, skip func(off int, in x86asm.Inst) bool) []string {
	t.Helper()
	type decoded struct {
		off int
		in  x86asm.Inst
	}
	var ins []decoded
	index := map[int]int{}
	for off := start; off < end; {
		in, err := x86asm.Decode(code[off:], 64)
		if err != nil {
			t.Fatalf("decoding at %#x: %v", off, err)
		}
		// A skipped instruction's offset leads to the next kept one.
		index[off] = len(ins)
		if !skip(off, in) {
			ins = append(ins, decoded{off, in})
		}
		off += in.Len
	}
	var out []string
	for _, d := range ins {
		s := d.in.String()
		for _, a := range d.in.Args {
			if m, ok := a.(x86asm.Mem); ok && m.Base == x86asm.RIP {
				// Where it points, not how far: the images sit apart.
				abs := uintptr(unsafe.Pointer(&code[0])) + uintptr(d.off+d.in.Len) + uintptr(m.Disp)
				s = fmt.Sprintf("%s [abs %#x]", d.in.Op, abs)
			}
		}
		if rel, ok := d.in.Args[0].(x86asm.Rel); ok {
			target := d.off + d.in.Len + int(rel)
			idx, ok := index[target]
			if !ok {
				idx = -target // outside the stream: keep the raw offset
			}
			s = fmt.Sprintf("%s ->%d", d.in.Op, idx)
		}
		out = append(out, s)
	}
	return out
}

// TestHostPathIsMarkerFree: from the real bytes, the host variant's
// clock_gettime is the marker-free build plus one 5-byte NOP (and the
// out-of-line body nobody runs); the three-label host path is the
// marker-free one plus INT3 filler nobody runs.
func TestHostPathIsMarkerFree(t *testing.T) {
	host, hostBytes := linked(t, "host")
	free, freeBytes := linked(t, "nomarker")
	for _, name := range []string{"clock_gettime", "clock_gettime_tl"} {
		he, _ := host.Entry(name)
		fe, _ := free.Entry(name)
		var site layout.Site
		for _, s := range host.Sites {
			if s.Entry == name {
				site = s
			}
		}
		hostEnd := he.Offset + he.Size
		nops := 0
		var skip func(int, x86asm.Inst) bool
		switch site.Kind {
		case layout.StaticBranch:
			hostEnd = site.Target // the body starts the cold part
			skip = func(off int, in x86asm.Inst) bool {
				if off == site.Offset && in.Len == 5 && in.Op == x86asm.NOP {
					nops++
					return true
				}
				return false
			}
		case layout.ThreeLabel:
			// Where the key is off, the region is the tail then INT3 up to
			// l_out, and the copy of the tail at l_out is unreachable.
			tail := len(bytes.TrimRight(site.Bytes, "\xcc"))
			skip = func(off int, in x86asm.Inst) bool {
				inFiller := off >= site.Offset+tail && off < site.Target
				inCopy := off >= site.Target && off < site.Target+tail
				return inFiller || inCopy
			}
		default:
			t.Fatalf("%s: no marker site", name)
		}
		hs := stream(t, hostBytes, he.Offset, hostEnd, skip)
		fs := stream(t, freeBytes, fe.Offset, fe.Offset+fe.Size, func(int, x86asm.Inst) bool { return false })
		if strings.Join(hs, "\n") != strings.Join(fs, "\n") {
			t.Errorf("%s: host path differs from the marker-free build:\nhost:\n\t%s\nmarker-free:\n\t%s", name, strings.Join(hs, "\n\t"), strings.Join(fs, "\n\t"))
		}
		if site.Kind == layout.StaticBranch && nops != 1 {
			t.Errorf("%s: found %d NOP5 at the site, want 1", name, nops)
		}
		t.Logf("%s: host %d instructions on the path, marker-free %d", name, len(hs)+nops, len(fs))
	}
}

// TestMain checks first that the generated files are what the generator
// makes of asm.go now (its go:generate line in -check mode): a hand edit
// or a stale file fails the package at once, before any routine runs from
// an image that may no longer terminate. Skipped with -short.
func TestMain(m *testing.M) {
	flag.Parse()
	if !testing.Short() {
		if err := checkGenerated("vdso.go"); err != nil {
			fmt.Fprintln(os.Stderr, "FAIL: generated files are out of date:", err)
			os.Exit(1)
		}
	}
	os.Exit(m.Run())
}

func checkGenerated(file string) error {
	args, err := generateArgs(file)
	if err != nil {
		return err
	}
	out, err := exec.Command("go", append(args, "-check")...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("go %s -check: %v\n%s", strings.Join(args, " "), err, out)
	}
	return nil
}

// generateArgs returns the arguments of the go:generate line in file,
// without the leading "go".
func generateArgs(file string) ([]string, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "//go:generate go "); ok {
			return strings.Fields(rest), nil
		}
	}
	return nil, fmt.Errorf("%s has no //go:generate go line", file)
}
