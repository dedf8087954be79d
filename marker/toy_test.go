package marker_test

import (
	"bytes"
	"slices"
	"strings"
	"testing"

	"github.com/vdsogen/vdsogen/internal/elfimage"
	"github.com/vdsogen/vdsogen/internal/verify"
	"github.com/vdsogen/vdsogen/layout"
	"github.com/vdsogen/vdsogen/marker"
	"github.com/vdsogen/vdsogen/vdso/loader"
)

// toyPause is a kind defined outside the package, from this file alone: a
// 2-byte site that holds PAUSE (f3 90) where its key is on and the 2-byte
// NOP (66 90) where it is off, one instruction either way, so swap-safe.
type toyPause struct{}

const toyKind layout.Kind = "toy_pause"

var (
	toyOn  = []byte{0xf3, 0x90}
	toyOff = []byte{0x66, 0x90}
)

// The registration: the kind's name, code and word, then its unit.
func init() { layout.RegisterKind(toyKind, 200, "ToyPause"); marker.Register(toyPause{}) }

func (toyPause) Kind() layout.Kind     { return toyKind }
func (toyPause) Traits() marker.Traits { return marker.Traits{Atomic: true} }

func (toyPause) Check(im marker.Image, s layout.Site, report marker.Reporter) {
	want := toyOff
	if s.On {
		want = toyOn
	}
	if got := im.Code()[s.Offset : s.Offset+len(s.Bytes)]; !bytes.Equal(got, want) {
		report(s.Offset, "toy pause %s holds % x, want % x", s.Key, got, want)
	}
}

// toyTable is a one-entry program, f: the toy site, then RET, in a
// variant where the key is off and one where it is on.
func toyTable(onBytes []byte) (*layout.Table, map[string][]byte) {
	t := &layout.Table{Program: "toy"}
	code := map[string][]byte{}
	for _, on := range []bool{false, true} {
		name, site := "off", toyOff
		if on {
			name, site = "on", onBytes
		}
		code[name] = append(slices.Clone(site), 0xc3)
		t.Variants = append(t.Variants, layout.Variant{
			Name: name, Symbol: "toy_" + name, Size: 3, Pool: 3, Keys: map[string]bool{"k": on},
			Entries: []layout.Entry{{Name: "f", Offset: 0, Size: 3}},
			Sites:   []layout.Site{{Kind: toyKind, Key: "k", Entry: "f", On: on, Offset: 0, Bytes: slices.Clone(site), Source: "toy.go:1"}},
		})
	}
	return t, code
}

func verifyToy(onBytes []byte) *verify.Report {
	t, code := toyTable(onBytes)
	in := &verify.Input{Table: t, Images: map[string]verify.Image{}}
	for name, c := range code {
		in.Images[name] = verify.Image{Addr: 0x1000, Bytes: c}
	}
	return verify.Verify(in)
}

// TestToyKindRoundTrip: a kind added from this file alone is verified by
// its own check (sound bytes pass, wrong bytes are found), travels through
// the ELF descriptor section by its code, and is loaded and switched live
// by the loader from the image files alone, as its traits allow.
func TestToyKindRoundTrip(t *testing.T) {
	if k, ok := layout.KindOfCode(toyKind.Code()); !ok || k != toyKind || toyKind.Word() != "ToyPause" {
		t.Fatalf("layout: code %d names %q (%v), word %q", toyKind.Code(), k, ok, toyKind.Word())
	}

	// The verifier runs the kind's check.
	if r := verifyToy(toyOn); !r.OK() {
		t.Fatalf("sound toy program: %v", r.Err())
	}
	r := verifyToy([]byte{0x90, 0x90}) // two NOPs: not what an on toy site holds
	if r.OK() || !strings.Contains(r.Err().Error(), "toy pause k holds 90 90, want f3 90") {
		t.Fatalf("wrong toy site bytes: %v", r.Err())
	}
	if rs := verifyToy(toyOn); len(rs.Pairs) != 1 || !rs.Pairs[0].Switchable {
		t.Errorf("the toy variants are not live-switchable: %+v", rs.Pairs)
	}

	// The ELF section carries the kind by its code; the file describes it.
	tab, code := toyTable(toyOn)
	files := map[string][]byte{}
	for _, v := range tab.Variants {
		b, err := elfimage.Write(elfimage.Image{
			Program: "toy", Variant: v.Name, Code: code[v.Name],
			Entries: []elfimage.Entry{{Name: "f", Offset: 0, Size: 3}},
			Markers: &elfimage.Markers{Pool: v.Pool, Sites: v.Sites},
		})
		if err != nil {
			t.Fatal(err)
		}
		files[v.Name] = b
		_, got, _, err := elfimage.DescribeVariant(b)
		if err != nil || len(got.Sites) != 1 || got.Sites[0].Kind != toyKind || !bytes.Equal(got.Sites[0].Bytes, v.Sites[0].Bytes) || got.Sites[0].On != v.Sites[0].On {
			t.Fatalf("%s: described as %+v, %v", v.Name, got.Sites, err)
		}
	}

	// The loader takes the sites from the files and switches the toy site.
	im, err := loader.Load(files, nil, "off", loader.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer im.Close()
	fn, err := im.Entry("f")
	if err != nil {
		t.Fatal(err)
	}
	loader.CallIP(fn, 0, nil) // 66 90; c3
	if err := im.Switch("on"); err != nil {
		t.Fatalf("switch off -> on: %v", err)
	}
	if got := im.Mapped()[fn-im.Base():][:2]; !bytes.Equal(got, toyOn) {
		t.Fatalf("after the switch the site holds % x, want % x", got, toyOn)
	}
	loader.CallIP(fn, 0, nil) // f3 90; c3
}
