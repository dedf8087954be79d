package vdso

import (
	"bytes"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/vdsogen/vdsogen/internal/elfimage"
	"github.com/vdsogen/vdsogen/layout"
	"github.com/vdsogen/vdsogen/vdso/loader"
)

// TestDescribeImagesMatchesTable: what the images say of themselves
// (their notes, symbols and .vdsogen_markers) is what the generated Go
// table says, for every shared variant: entries, pool, regions and every
// site field the section records; a site carries data references in the
// file exactly where it does in the table.
func TestDescribeImagesMatchesTable(t *testing.T) {
	got, err := elfimage.DescribeImages(ELFImages())
	if err != nil {
		t.Fatal(err)
	}
	want := Layout()
	if got.Program != want.Program || len(got.Pages) != len(want.Pages) {
		t.Fatalf("program %q pages %v, want %q %v", got.Program, got.Pages, want.Program, want.Pages)
	}
	for i := range want.Pages {
		if got.Pages[i].Symbol != want.Pages[i].Symbol {
			t.Errorf("page %d: %+v, want %+v", i, got.Pages[i], want.Pages[i])
		}
	}
	for _, wv := range want.Variants {
		if wv.Standalone {
			continue // no image: a standalone variant is Go stubs only
		}
		gv, ok := got.Variant(wv.Name)
		if !ok {
			t.Errorf("variant %s: no image describes it", wv.Name)
			continue
		}
		if gv.Size != wv.Size || gv.Pool != wv.Pool || len(gv.Entries) != len(wv.Entries) || len(gv.Sites) != len(wv.Sites) || len(gv.Regions) != len(wv.Regions) {
			t.Fatalf("%s: size %d pool %d, %d entries, %d sites, %d regions; the table: %d %d %d %d %d", wv.Name,
				gv.Size, gv.Pool, len(gv.Entries), len(gv.Sites), len(gv.Regions), wv.Size, wv.Pool, len(wv.Entries), len(wv.Sites), len(wv.Regions))
		}
		for i, e := range wv.Entries {
			// An image records no Go signature: that is the stubs' business.
			if g := gv.Entries[i]; g.Name != e.Name || g.Offset != e.Offset || g.Size != e.Size {
				t.Errorf("%s: entry %+v, the table %+v", wv.Name, gv.Entries[i], e)
			}
		}
		for i, r := range wv.Regions {
			if gv.Regions[i] != r {
				t.Errorf("%s: region %+v, the table %+v", wv.Name, gv.Regions[i], r)
			}
		}
		for i, ws := range wv.Sites {
			gs := gv.Sites[i]
			if gs.Kind != ws.Kind || gs.Key != ws.Key || gs.Entry != ws.Entry || gs.On != ws.On || gs.Offset != ws.Offset ||
				gs.Target != ws.Target || gs.Source != ws.Source || gs.Choice != ws.Choice || !bytes.Equal(gs.Bytes, ws.Bytes) ||
				len(gs.Choices) != len(ws.Choices) || (len(gs.Relocs) > 0) != (len(ws.Relocs) > 0) {
				t.Errorf("%s: site %d:\n%+v\nthe table:\n%+v", wv.Name, i, gs, ws)
				continue
			}
			for j, c := range ws.Choices {
				g := gs.Choices[j]
				if g.Name != c.Name || g.Feature != c.Feature || g.Offset != c.Offset || !bytes.Equal(g.Bytes, c.Bytes) {
					t.Errorf("%s: site %d choice %d: %+v, the table %+v", wv.Name, i, j, g, c)
				}
			}
		}
	}
}

// TestLoadFileAlone loads vdso/zclock_host.so with no Go table: the loader
// applies the CPU's choice of the tsc alternative from the sites the file
// describes, and clock_gettime through the loaded image lies between two
// kernel reads for every data-page clock.
func TestLoadFileAlone(t *testing.T) {
	im, err := loader.LoadFile("zclock_host.so", loader.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer im.Close()
	if im.Variant() != "host" {
		t.Fatalf("variant %q, want host (from the file's note)", im.Variant())
	}
	want := readCPUInfo(t).policy()
	if got := im.Choices()["tsc"]; got != want {
		t.Fatalf("tsc = %s, /proc/cpuinfo says %s", got, want)
	}
	checkTSCSites(t, im, "host", want)
	_, _, tk, stop := manualTimekeeper(t, im)
	defer stop()
	read := ldClock(ldEntry(t, im, "clock_gettime"))
	for _, clock := range []int32{unix.CLOCK_REALTIME, unix.CLOCK_MONOTONIC, unix.CLOCK_BOOTTIME, unix.CLOCK_MONOTONIC_RAW} {
		for i := range 2000 {
			if v, kb, ka := readBetween(t, "clock_gettime", read, clock); v < kb-tolerance || v > ka+tolerance {
				t.Fatalf("clock %d read %d: %v outside [%v, %v]", clock, i, v, kb, ka)
			}
			if i%500 == 0 {
				if err := tk.Refresh(); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	if err := im.Switch("timens"); err == nil {
		t.Error("an image loaded from one file switched to a variant it does not have")
	}
}

// TestLoadRefusesForeignTable: an image's own descriptors must agree with
// the layout table it is loaded with; a table whose site moved, changed
// kind or changed bytes is refused before anything is mapped.
func TestLoadRefusesForeignTable(t *testing.T) {
	for name, tamper := range map[string]func(s *layout.Site){
		"offset": func(s *layout.Site) { s.Offset++ },
		"kind":   func(s *layout.Site) { s.Kind = layout.ThreeLabel },
		"bytes":  func(s *layout.Site) { s.Bytes = append([]byte{0x90}, s.Bytes[1:]...) },
		"choice": func(s *layout.Site) { s.Choice = "elsewhere" },
	} {
		tab := *Layout()
		tab.Variants = slices.Clone(tab.Variants)
		for i := range tab.Variants {
			if len(tab.Variants[i].Sites) > 0 {
				tab.Variants[i].Sites = slices.Clone(tab.Variants[i].Sites)
				tamper(&tab.Variants[i].Sites[0])
			}
		}
		im, err := loader.Load(ELFImages(), &tab, "host", loader.Options{})
		if err == nil {
			im.Close()
			t.Errorf("%s: a table that disagrees with the images' descriptors was accepted", name)
		} else if !strings.Contains(err.Error(), elfimage.MarkersSection) {
			t.Errorf("%s: %v", name, err)
		}
	}
}
