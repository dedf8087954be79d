package elfimage

import (
	"bytes"
	"strings"
	"testing"

	"github.com/vdsogen/vdsogen/layout"
)

// TestDescribeVariant: an image describes its own variant: entries from
// its symbols, sites and regions from its section, keys from its switch
// sites; a site whose field the writer relocated reads back as referring
// to data.
func TestDescribeVariant(t *testing.T) {
	img := markerImage()
	b := mustWrite(t, img)
	program, v, _, err := DescribeVariant(b)
	if err != nil {
		t.Fatal(err)
	}
	if program != "clock" || v.Name != "host" || v.Size != len(img.Code) || v.Pool != img.Markers.Pool {
		t.Fatalf("program %q variant %q size %d pool %d", program, v.Name, v.Size, v.Pool)
	}
	if len(v.Entries) != len(img.Entries) {
		t.Fatalf("entries %+v", v.Entries)
	}
	for i, e := range img.Entries {
		if got := v.Entries[i]; got != (layout.Entry{Name: e.Name, Offset: e.Offset, Size: e.Size}) {
			t.Errorf("entry %d: %+v, want %+v", i, got, e)
		}
	}
	if len(v.Sites) != len(img.Markers.Sites) || len(v.Regions) != 1 {
		t.Fatalf("%d sites, %d regions", len(v.Sites), len(v.Regions))
	}
	for i, s := range v.Sites {
		if s.Kind != img.Markers.Sites[i].Kind || len(s.Relocs) != 0 {
			t.Errorf("site %d: %+v", i, s)
		}
	}
	if on, ok := v.Keys["timens"]; !ok || on {
		t.Errorf("keys %v: want timens off (a switch), and no choice key", v.Keys)
	}
	if _, ok := v.Keys["tsc"]; ok {
		t.Errorf("keys %v name a choice key", v.Keys)
	}

	// The relocated LEAQ of testImage, declared as a site.
	ri := testImage()
	e := ri.Entries[0]
	site := bytes.Clone(ri.Code[e.Offset : e.Offset+7])
	copy(site[3:], []byte{0, 0, 0, 0})
	ri.Markers = &Markers{Pool: len(ri.Code), Sites: []layout.Site{{Kind: layout.StaticBranch, Key: "k", Entry: e.Name, Offset: e.Offset, Bytes: site}}}
	_, rv, _, err := DescribeVariant(mustWrite(t, ri))
	if err != nil || len(rv.Sites) != 1 || len(rv.Sites[0].Relocs) == 0 || rv.Sites[0].Relocs[0].Offset < 3 || rv.Sites[0].Relocs[0].Offset > 6 {
		t.Fatalf("relocated site described as %+v, %v", rv.Sites, err)
	}

	// Without a section: the entries, no sites, the pool at the end.
	ri.Markers = nil
	_, nv, _, err := DescribeVariant(mustWrite(t, ri))
	if err != nil || len(nv.Sites) != 0 || nv.Pool != nv.Size || len(nv.Entries) == 0 {
		t.Fatalf("image without markers described as %+v, %v", nv, err)
	}

	for name, bad := range map[string][]byte{"empty": nil, "truncated": b[:len(b)/3], "not elf": []byte("hello")} {
		if _, _, _, err := DescribeVariant(bad); err == nil {
			t.Errorf("%s: described", name)
		}
	}
}

// TestDescribeImages: the images of one program make one table; an image
// filed under another variant's name is refused.
func TestDescribeImages(t *testing.T) {
	b := mustWrite(t, markerImage())
	tab, err := DescribeImages(map[string][]byte{"host": b})
	if err != nil || tab.Program != "clock" || len(tab.Variants) != 1 || tab.Variants[0].Name != "host" {
		t.Fatalf("%+v, %v", tab, err)
	}
	if _, err := DescribeImages(map[string][]byte{"timens": b}); err == nil || !strings.Contains(err.Error(), `names variant "host"`) {
		t.Errorf("an image filed under another name: %v", err)
	}
}
