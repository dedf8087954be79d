package gen

import (
	"bytes"
	"context"
	"encoding/binary"
	"slices"
	"strings"
	"testing"

	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
	"github.com/mmcloughlin/avo/x86"

	"github.com/vdsogen/vdsogen/dsl"
	"github.com/vdsogen/vdsogen/internal/verify"
	"github.com/vdsogen/vdsogen/layout"
	"github.com/vdsogen/vdsogen/variants"
)

// choiceProgram uses every marker kind that picks among choices, and a
// region: entry read has an alternative (three TSC reads of different
// lengths) inside a restartable region and a static call to one of two
// helpers.
func choiceProgram(t *testing.T) *dsl.Program {
	t.Helper()
	b := dsl.New()
	pg := b.DataPage("page", 64)
	b.Entry("read", "func() int64")
	b.Label("retry")
	b.Region("seq", func() {
		b.Add(x86.MOVL(pg.At(0), R9L))
		b.Alternative("tsc",
			dsl.Alt("rdtsc", "", func() { b.Add(x86.RDTSC()) }),
			dsl.Alt("rdtscp", layout.FeatureRDTSCP, func() { b.Add(x86.RDTSCP()) }),
			dsl.Alt("lfence_rdtsc", layout.FeatureLFENCERDTSC, func() { b.Add(x86.LFENCE()); b.Add(x86.RDTSC()) }),
		)
		b.Add(x86.CMPL(R9L, pg.At(0)))
		b.Add(x86.JNE(dsl.L("retry")))
	}, func() {
		b.Add(x86.JMP(dsl.L("retry")))
	})
	b.StaticCall("scale", "double", "triple")
	b.Add(x86.RET())
	b.Entry("double", "func() int64")
	b.Add(x86.ADDQ(RAX, RAX))
	b.Add(x86.RET())
	b.Entry("triple", "func() int64")
	b.Add(x86.IMUL3Q(U8(3), RAX, RAX))
	b.Add(x86.RET())
	return mustProgram(t, b)
}

const choiceVariants = `
[variant.a]
tsc = "lfence_rdtsc"
scale = "double"

[variant.b]
tsc = "rdtscp"
scale = "triple"

[variant.c]
standalone = true
tsc = "rdtsc"
scale = "triple"
`

func TestChoiceMarkers(t *testing.T) {
	set, err := variants.Parse("variants.toml", []byte(choiceVariants))
	if err != nil {
		t.Fatal(err)
	}
	o, err := generate(t, choiceProgram(t), newTarget(t), set)
	if err != nil {
		t.Fatalf("Generate: %v", err)
	}
	a, bv, c := variant(t, o.Layout, "a"), variant(t, o.Layout, "b"), variant(t, o.Layout, "c")
	if !slices.Equal(a.Entries, bv.Entries) {
		t.Errorf("entries differ: a %+v, b %+v", a.Entries, bv.Entries)
	}
	if len(c.Sites) != 0 {
		t.Errorf("standalone variant has sites %+v", c.Sites)
	}

	// Alternative: the site is as long as the longest choice (LFENCE;
	// RDTSC, 5 bytes); each variant holds its choice, NOP-padded; every
	// choice's bytes are in the pool after the last entry.
	aa, ba := siteOf(t, a, layout.Alternative), siteOf(t, bv, layout.Alternative)
	wantChoice := map[string][]byte{
		"rdtsc":        {0x0f, 0x31, 0x0f, 0x1f, 0x00},
		"rdtscp":       {0x0f, 0x01, 0xf9, 0x66, 0x90},
		"lfence_rdtsc": {0x0f, 0xae, 0xe8, 0x0f, 0x31},
	}
	if aa.Offset != ba.Offset || len(aa.Bytes) != 5 || len(ba.Bytes) != 5 {
		t.Fatalf("alternative site at %d (% x) in a, %d (% x) in b", aa.Offset, aa.Bytes, ba.Offset, ba.Bytes)
	}
	if aa.Choice != "lfence_rdtsc" || !bytes.Equal(aa.Bytes, wantChoice["lfence_rdtsc"]) {
		t.Errorf("a: choice %q bytes % x", aa.Choice, aa.Bytes)
	}
	if ba.Choice != "rdtscp" || !bytes.Equal(ba.Bytes, wantChoice["rdtscp"]) {
		t.Errorf("b: choice %q bytes % x", ba.Choice, ba.Bytes)
	}
	last := a.Entries[len(a.Entries)-1]
	if a.Pool < last.Offset+last.Size || a.Pool >= a.Size {
		t.Errorf("pool at %d, the last entry ends at %d, the image at %d", a.Pool, last.Offset+last.Size, a.Size)
	}
	if len(aa.Choices) != 3 {
		t.Fatalf("choices %+v", aa.Choices)
	}
	for _, ch := range aa.Choices {
		if !bytes.Equal(ch.Bytes, wantChoice[ch.Name]) {
			t.Errorf("choice %s: % x, want % x", ch.Name, ch.Bytes, wantChoice[ch.Name])
		}
		if ch.Offset < a.Pool || ch.Offset >= a.Size {
			t.Errorf("choice %s in the pool at %d, outside [%d,%d)", ch.Name, ch.Offset, a.Pool, a.Size)
		}
	}
	if f := aa.Choices[1].Feature; f != layout.FeatureRDTSCP {
		t.Errorf("rdtscp needs %q", f)
	}

	// Static call: CALL rel32 to the chosen target, re-targetable to the
	// other, inside an 8-byte window.
	as, bs := siteOf(t, a, layout.StaticCall), siteOf(t, bv, layout.StaticCall)
	double, _ := a.Entry("double")
	triple, _ := a.Entry("triple")
	for _, x := range []struct {
		s      layout.Site
		target layout.Entry
	}{{as, double}, {bs, triple}} {
		if len(x.s.Bytes) != 5 || x.s.Bytes[0] != 0xe8 {
			t.Fatalf("static call site % x", x.s.Bytes)
		}
		rel := int32(binary.LittleEndian.Uint32(x.s.Bytes[1:]))
		if got := x.s.Offset + 5 + int(rel); got != x.target.Offset || x.s.Target != got || x.s.Choice != x.target.Name {
			t.Errorf("static call reaches %d (table: %d, %s), want %s at %d", got, x.s.Target, x.s.Choice, x.target.Name, x.target.Offset)
		}
		if x.s.Offset/8 != (x.s.Offset+4)/8 {
			t.Errorf("static call site [%d,%d) crosses an 8-byte window", x.s.Offset, x.s.Offset+5)
		}
	}
	if !bytes.Equal(as.Choices[1].Bytes, bs.Bytes) || !bytes.Equal(bs.Choices[0].Bytes, as.Bytes) {
		t.Errorf("static call choices %+v / %+v do not match the other variant's bytes", as.Choices, bs.Choices)
	}

	// Region: the same in every variant; the abort handler follows the
	// signature.
	for _, v := range []*layout.Variant{a, bv, c} {
		if len(v.Regions) != 1 {
			t.Fatalf("%s: regions %+v", v.Name, v.Regions)
		}
		r := v.Regions[0]
		e, _ := v.Entry("read")
		if r.Name != "seq" || r.Entry != "read" || r.Start != e.Offset || r.PostCommit <= 0 || r.Abort <= r.Start+r.PostCommit || r.Abort >= e.Offset+e.Size {
			t.Errorf("%s: region %+v in entry %+v", v.Name, r, e)
		}
		if !strings.HasPrefix(r.Source, "markers_test.go:") {
			t.Errorf("region source %q", r.Source)
		}
	}
	if a.Regions[0] != bv.Regions[0] {
		t.Errorf("regions differ: %+v vs %+v", a.Regions[0], bv.Regions[0])
	}
	if o.Verify == nil || !o.Verify.OK() {
		t.Errorf("verify: %+v", o.Verify)
	}
}

// TestChoiceMarkersVerified writes the choice program, reads it back as
// `vdsogen verify` does (the JSON table read from the files, the assembly
// rebuilt), and checks that the verifier accepts it, finds the variants
// switchable live (the rule is marker.Swap's), and catches broken static
// calls.
func TestChoiceMarkersVerified(t *testing.T) {
	set, err := variants.Parse("variants.toml", []byte(choiceVariants))
	if err != nil {
		t.Fatal(err)
	}
	dir := newTarget(t)
	o, err := generate(t, choiceProgram(t), dir, set)
	if err != nil {
		t.Fatalf("Generate: %v", err)
	}
	if err := Write(dir, "vd", o.Files); err != nil {
		t.Fatal(err)
	}
	pkg, err := verify.Load([]string{dir})
	if err != nil {
		t.Fatal(err)
	}
	in, err := pkg.Assemble(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	r := verify.Verify(in)
	if !r.OK() {
		t.Fatalf("the written program does not verify:\n%v", r.Err())
	}
	found := false
	for _, p := range r.Pairs {
		if p.A == "a" && p.B == "b" {
			found = true
			if !p.Switchable {
				t.Errorf("a <-> b refused (%q); want switchable: the alternative keeps its load-time choice (marker.Swap), the static call is atomic", p.Why)
			}
		}
	}
	if !found {
		t.Error("no verdict on a <-> b")
	}

	a, _ := in.Table.Variant("a")
	var site *layout.Site
	for i := range a.Sites {
		if a.Sites[i].Kind == layout.StaticCall {
			site = &a.Sites[i]
		}
	}
	img := in.Images["a"].Bytes
	saved := slices.Clone(img[site.Offset : site.Offset+5])
	findings := func() []string {
		var out []string
		for _, f := range verify.Verify(in).Findings {
			out = append(out, f.String())
		}
		return out
	}
	expect := func(what, msg string) {
		t.Helper()
		got := findings()
		for _, f := range got {
			if strings.Contains(f, msg) && strings.Contains(f, "markers_test.go:") {
				t.Logf("%s: caught: %s", what, f)
				return
			}
		}
		t.Errorf("%s: want a finding %q at a markers_test.go line; got:\n\t%s", what, msg, strings.Join(got, "\n\t"))
	}

	// The CALL lands one byte into its target.
	rel := binary.LittleEndian.Uint32(img[site.Offset+1:])
	binary.LittleEndian.PutUint32(img[site.Offset+1:], rel+1)
	expect("call off target", `static call scale calls`)
	copy(img[site.Offset:], saved)

	// The site is re-targeted to triple without the table knowing.
	copy(img[site.Offset:], site.Choices[1].Bytes)
	expect("re-targeted behind the table's back", `but the table says its target is "double"`)
	copy(img[site.Offset:], saved)

	// A declared target that is not an entry start, in every variant's
	// table (the sites rule first requires the variants to agree).
	for _, name := range []string{"a", "b"} {
		v, _ := in.Table.Variant(name)
		for i := range v.Sites {
			if v.Sites[i].Kind == layout.StaticCall {
				v.Sites[i].Choices = slices.Clone(v.Sites[i].Choices)
				v.Sites[i].Choices[1].Offset++
			}
		}
	}
	expect("target not an entry", "target triple at")
	for _, name := range []string{"a", "b"} {
		v, _ := in.Table.Variant(name)
		for i := range v.Sites {
			if v.Sites[i].Kind == layout.StaticCall {
				v.Sites[i].Choices[1].Offset--
			}
		}
	}

	if got := findings(); len(got) != 0 {
		t.Errorf("restored input has findings:\n\t%s", strings.Join(got, "\n\t"))
	}
}
