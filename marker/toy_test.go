package marker_test

import (
	"bytes"
	"context"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/mmcloughlin/avo/x86"

	"github.com/vdsogen/vdsogen/dsl"
	"github.com/vdsogen/vdsogen/gen"
	"github.com/vdsogen/vdsogen/internal/callsite"
	"github.com/vdsogen/vdsogen/internal/elfimage"
	"github.com/vdsogen/vdsogen/internal/verify"
	"github.com/vdsogen/vdsogen/layout"
	"github.com/vdsogen/vdsogen/marker"
	"github.com/vdsogen/vdsogen/variants"
	"github.com/vdsogen/vdsogen/vdso/loader"
)

// toyPause is a kind defined outside the package, from this file alone: a
// 2-byte site that holds PAUSE (f3 90) where its key is on and the 2-byte
// NOP (66 90) where it is off, one instruction either way, so swap-safe.
type toyPause struct{}

// toyKind is the kind's name, descriptor code and DSL word.
var toyKind = layout.RegisterKind("toy_pause", 200, "ToyPause")

var (
	toyOn  = []byte{0xf3, 0x90}
	toyOff = []byte{0x66, 0x90}
)

// The one registration line.
func init() { marker.Register(toyPause{}) }

func (toyPause) Kind() layout.Kind     { return toyKind }
func (toyPause) Traits() marker.Traits { return marker.Traits{Atomic: true} }

// Declare: a toy marker has no blocks.
func (toyPause) Declare(d marker.Declaration) {
	if dc := d.Decl(); len(dc.Blocks) != 0 {
		d.Errorf(0, "%s %q takes no blocks, not %q", dc.Kind.Word(), dc.Key, dc.Names())
	}
}

// Expand: the site's two bytes, as the key says.
func (toyPause) Expand(x marker.Emitter, d marker.Decl, v marker.Variant) {
	x.Label("site")
	if v.On {
		x.Raw(toyOn)
	} else {
		x.Raw(toyOff)
	}
}

// Plan: nothing to pad; the site is as long in every variant.
func (toyPause) Plan(marker.Planner, marker.Decl) {}

func (toyPause) Locate(m marker.Measured, d marker.Decl, v marker.Variant) (marker.Span, bool) {
	site, ok := m.Label("site")
	return marker.Span{Start: site, End: site + len(toyOn)}, ok
}

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

// TestToyKindCheck: a kind added from this file alone has its name, code
// and word, and the verifier runs its own check: sound bytes pass, wrong
// ones are found (TestToyKindGenerated has the generator make them).
func TestToyKindCheck(t *testing.T) {
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
}

// toyProgram is a one-entry program written with the DSL: the toy site
// (twice, so that one sits past the entry's start), then return 7.
func toyProgram(b *dsl.Builder) {
	b.Entry("f", "func() int32")
	b.Mark(toyKind, "k")
	b.Bytes(0xb8, 7, 0, 0, 0) // MOVL $7, AX
	b.Mark(toyKind, "k")
	b.Add(x86.RET())
}

const toyVariants = `
[variant.off]
k = false

[variant.on]
k = true
`

// generateToy generates the program build writes into a fresh target
// package, with the off and on variants.
func generateToy(t *testing.T, build func(b *dsl.Builder), elf bool) (*gen.Output, error) {
	t.Helper()
	b := dsl.New()
	build(b)
	prog, err := b.Program()
	if err != nil {
		t.Fatal(err)
	}
	set, err := variants.Parse("variants.toml", []byte(toyVariants))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for name, src := range map[string]string{"go.mod": "module example.com/toy\n\ngo 1.22\n", "toy.go": "package toy\n"} {
		if err := os.WriteFile(dir+"/"+name, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return gen.Generate(context.Background(), prog, gen.Config{Name: "toy", Dir: dir, Variants: set, ELF: elf})
}

// TestToyKindGenerated: the toy kind goes through the whole pipeline from
// this file: the DSL records it, the generator expands it per variant and
// verifies the assembled bytes (with the toy's own check), the ELF images
// carry its sites by code, and the loader loads the images alone and
// switches the sites live.
func TestToyKindGenerated(t *testing.T) {
	out, err := generateToy(t, toyProgram, true)
	if err != nil {
		t.Fatalf("Generate: %v", err)
	}
	if !out.Verify.OK() || len(out.Verify.Pairs) != 1 || !out.Verify.Pairs[0].Switchable {
		t.Fatalf("verify: %v, pairs %+v", out.Verify.Err(), out.Verify.Pairs)
	}
	files := map[string][]byte{}
	for _, v := range out.Layout.Variants {
		want := toyOff
		if v.Name == "on" {
			want = toyOn
		}
		if len(v.Sites) != 2 {
			t.Fatalf("%s: %d sites, want 2", v.Name, len(v.Sites))
		}
		for _, s := range v.Sites {
			if s.Kind != toyKind || s.Key != "k" || s.Entry != "f" || !bytes.Equal(s.Bytes, want) || s.On != (v.Name == "on") {
				t.Errorf("%s: site %+v, want %s holding % x", v.Name, s, toyKind, want)
			}
		}
		so := out.Files[layout.Files("toy").ELF(v.Name)]
		_, desc, _, err := elfimage.DescribeVariant(so)
		if err != nil || len(desc.Sites) != 2 || desc.Sites[1].Kind != toyKind || desc.Sites[1].Offset != v.Sites[1].Offset {
			t.Fatalf("%s: the image describes %+v, %v", v.Name, desc.Sites, err)
		}
		files[v.Name] = so
	}
	verifyFiles(t, files, "")
	// A toy site corrupted in the file is the verifier's finding, from the
	// images alone.
	bad := map[string][]byte{"off": files["off"], "on": slices.Clone(files["on"])}
	on := out.Layout.Variants[1]
	text := bytes.Index(bad["on"], append(slices.Clone(toyOn), 0xb8)) // the first site, then MOVL $7, AX
	if on.Name != "on" || text < 0 {
		t.Fatalf("cannot find the first toy site of variant on in its image")
	}
	copy(bad["on"][text:], []byte{0x90, 0x90})
	verifyFiles(t, bad, "toy pause k holds 90 90, want f3 90") // the toy's own Check

	im, err := loader.Load(files, nil, "off", loader.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer im.Close()
	fn, err := im.Entry("f")
	if err != nil {
		t.Fatal(err)
	}
	if got := loader.CallIP(fn, 0, nil); int32(got) != 7 {
		t.Fatalf("f() = %d under off, want 7", got)
	}
	if err := im.Switch("on"); err != nil {
		t.Fatalf("switch off -> on: %v", err)
	}
	if got := im.Mapped()[fn-im.Base():][:2]; !bytes.Equal(got, toyOn) {
		t.Fatalf("after the switch the site holds % x, want % x", got, toyOn)
	}
	if got := loader.CallIP(fn, 0, nil); int32(got) != 7 {
		t.Fatalf("f() = %d under on, want 7", got)
	}
}

// verifyFiles verifies the images alone (vdsogen verify x.so); want is
// "" for no finding, or what one must say.
func verifyFiles(t *testing.T, files map[string][]byte, want string) {
	t.Helper()
	dir := t.TempDir()
	var images []*verify.ELF
	for name, b := range files {
		path := dir + "/" + name + ".so"
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		e, err := verify.ReadELF(path)
		if err != nil {
			t.Fatal(err)
		}
		images = append(images, e)
	}
	findings, _, err := verify.VerifyImages(images)
	if err != nil {
		t.Fatal(err)
	}
	var msgs []string
	for _, f := range findings {
		msgs = append(msgs, f.Finding.String())
	}
	all := strings.Join(msgs, "\n")
	if (want == "") != (len(findings) == 0) || !strings.Contains(all, want) {
		t.Fatalf("verify of the images: %d findings, want %q:\n%s", len(findings), want, all)
	}
}

// TestToyKindDeclare: the toy's declaration check runs from the DSL and
// blames the user's line.
func TestToyKindDeclare(t *testing.T) {
	b := dsl.New()
	b.Entry("f", "func() int32")
	line := callsite.NextLine()
	b.Mark(toyKind, "k", dsl.Part("x", func() { b.NOP() }))
	b.Add(x86.RET())
	_, err := b.Program()
	if err == nil || !strings.Contains(err.Error(), "toy_test.go:"+strconv.Itoa(line)+":") || !strings.Contains(err.Error(), `ToyPause "k" takes no blocks, not ["x"]`) {
		t.Fatalf("got %v", err)
	}
}

// badLocate is a kind whose Locate is wrong: it puts the site past the
// end of the image. The generator must refuse it, not index past the
// image.
type badLocate struct{ toyPause }

var badKind = layout.RegisterKind("bad_locate", 201, "BadLocate")

func init() { marker.Register(badLocate{}) }

func (badLocate) Kind() layout.Kind     { return badKind }
func (badLocate) Traits() marker.Traits { return marker.Traits{} }

func (badLocate) Locate(m marker.Measured, d marker.Decl, v marker.Variant) (marker.Span, bool) {
	site, ok := m.Label("site")
	return marker.Span{Start: site, End: site + 1<<20}, ok
}

// badExpand is a kind whose Expand places a block its markers do not have.
type badExpand struct{ badLocate }

var badExpandKind = layout.RegisterKind("bad_expand", 202, "BadExpand")

func init() { marker.Register(badExpand{}) }

func (badExpand) Kind() layout.Kind { return badExpandKind }

func (badExpand) Expand(x marker.Emitter, d marker.Decl, v marker.Variant) {
	x.Label("site")
	x.Block(3)
}

// TestKindMistakes: a kind is Go code outside the generator; its mistakes
// (a block its markers lack, a site outside the image) are the generator's
// errors at the marker's line, not a crash.
func TestKindMistakes(t *testing.T) {
	for _, tc := range []struct {
		kind layout.Kind
		want string
	}{
		{badExpandKind, "places block 3 of 0 (a bug in the kind's Expand)"},
		{badKind, "at [0x0, 0x100000), outside the 3-byte image (a bug in the kind's Locate)"},
	} {
		t.Run(string(tc.kind), func(t *testing.T) {
			var line int
			_, err := generateToy(t, func(b *dsl.Builder) {
				b.Entry("f", "func() int32")
				line = callsite.NextLine()
				b.Mark(tc.kind, "k")
				b.Add(x86.RET())
			}, false)
			if err == nil || !strings.Contains(err.Error(), "toy_test.go:"+strconv.Itoa(line)+":") || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q at line %d", err, tc.want, line)
			}
		})
	}
}
