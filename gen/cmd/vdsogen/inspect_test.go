package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/vdsogen/vdsogen/internal/elfimage"
	"github.com/vdsogen/vdsogen/layout"
)

// handVariant is a hand-built variant with a site of every kind and a
// restartable region, and its code:
//
//	0x00 f (32 bytes): static_branch k at 0x00 (NOP5, body at 0x1d),
//	     alternative tsc at 0x05 (holds rdtsc), static_call cb at 0x0a
//	     (CALL g), three_label k at 0x0f (l_out 0x13), region seq
//	     [0x13, +4) with its abort handler at 0x1c after the signature
//	0x40 g, 0x60 h
//	0x66 the replacement pool
func handVariant() (layout.Variant, []byte) {
	code := []byte{
		0x0f, 0x1f, 0x44, 0x00, 0x00, // NOP5
		0x0f, 0x31, 0x0f, 0x1f, 0x00, // RDTSC; NOP3
		0xe8, 0x31, 0x00, 0x00, 0x00, // CALL g
		0x90, 0x90, 0x90, 0x90, // three-label region
		0x48, 0x89, 0xc0, 0x90, 0xc3, // critical section; RET
		0x56, 0x53, 0x47, 0x53, // layout.RegionSignature
		0xc3, 0x90, 0xc3, // abort: RET; body: NOP; RET
	}
	code = append(code, bytes.Repeat([]byte{0xcc}, 0x40-len(code))...)
	code = append(code, 0x31, 0xc0, 0xc3) // g
	code = append(code, bytes.Repeat([]byte{0xcc}, 0x60-len(code))...)
	code = append(code, 0xb8, 0x01, 0x00, 0x00, 0x00, 0xc3) // h
	pool := len(code)
	code = append(code, 0x0f, 0x31, 0x0f, 0xae, 0xe8, 0x0f, 0x31, 0x0f, 0x01, 0xf9)
	v := layout.Variant{
		Name: "host", Symbol: "hand_host", Size: len(code), Pool: pool,
		Entries: []layout.Entry{{Name: "f", Offset: 0, Size: 32}, {Name: "g", Offset: 0x40, Size: 3}, {Name: "h", Offset: 0x60, Size: 6}},
		Sites: []layout.Site{
			{Kind: layout.StaticBranch, Key: "k", Entry: "f", Offset: 0, Bytes: code[0:5:5], Target: 0x1d, Source: "asm.go:10"},
			{Kind: layout.Alternative, Key: "tsc", Entry: "f", Offset: 5, Bytes: code[5:10:10], Source: "asm.go:11", Choice: "rdtsc", Choices: []layout.Choice{
				{Name: "rdtsc", Bytes: []byte{0x0f, 0x31, 0x0f, 0x1f, 0x00}, Offset: pool},
				{Name: "lfence", Feature: layout.FeatureLFENCERDTSC, Bytes: []byte{0x0f, 0xae, 0xe8, 0x0f, 0x31}, Offset: pool + 2},
				{Name: "rdtscp", Feature: layout.FeatureRDTSCP, Bytes: []byte{0x0f, 0x01, 0xf9, 0x66, 0x90}, Offset: pool + 7},
			}},
			{Kind: layout.StaticCall, Key: "cb", Entry: "f", Offset: 10, Bytes: code[10:15:15], On: true, Source: "asm.go:12", Choice: "g", Choices: []layout.Choice{
				{Name: "g", Bytes: []byte{0xe8, 0x31, 0x00, 0x00, 0x00}, Offset: 0x40},
				{Name: "h", Bytes: []byte{0xe8, 0x51, 0x00, 0x00, 0x00}, Offset: 0x60},
			}},
			{Kind: layout.ThreeLabel, Key: "k", Entry: "f", Offset: 15, Bytes: code[15:19:19], Target: 0x13, Source: "asm.go:13"},
		},
		Regions: []layout.Region{{Name: "seq", Entry: "f", Start: 0x13, PostCommit: 4, Abort: 0x1c, Source: "asm.go:14"}},
	}
	return v, code
}

// wantTable are lines the descriptor table of handVariant must have.
var wantTable = []string{
	`^  SITE +KEY +ENTRY +OFFSET +SIZE +ON +CHOICE +TARGET +SOURCE$`,
	`^  static_branch +k +f +0x0000 +5 +false +- +0x001d +asm\.go:10$`,
	`^  alternative +tsc +f +0x0005 +5 +false +rdtsc +0x0000 +asm\.go:11$`,
	`^  static_call +cb +f +0x000a +5 +true +g +0x0000 +asm\.go:12$`,
	`^  three_label +k +f +0x000f +4 +false +- +0x0013 +asm\.go:13$`,
	`^  CHOICE +OF +AT +FEATURE +OFFSET +BYTES$`,
	`^  rdtsc \* +alternative tsc +0x0005 +- +0x0066 +0f 31 0f 1f 00$`,
	`^  lfence +alternative tsc +0x0005 +lfence_rdtsc +0x0068 +0f ae e8 0f 31$`,
	`^  rdtscp +alternative tsc +0x0005 +rdtscp +0x006d +0f 01 f9 66 90$`,
	`^  g \* +static_call cb +0x000a +- +0x0040 +e8 31 00 00 00$`,
	`^  h +static_call cb +0x000a +- +0x0060 +e8 51 00 00 00$`,
	`^  replacement pool: 0x0066-0x0070 \(10 bytes\)$`,
	`^  REGION +ENTRY +START +POST_COMMIT +ABORT +SOURCE$`,
	`^  seq +f +0x0013 +4 +0x001c +asm\.go:14$`,
}

// matchLines fails the test for every pattern no line of out matches.
func matchLines(t *testing.T, out string, patterns []string) {
	t.Helper()
	for _, p := range patterns {
		if !regexp.MustCompile(`(?m)` + p).MatchString(out) {
			t.Errorf("no line matches %s", p)
		}
	}
	if t.Failed() {
		t.Logf("output:\n%s", out)
	}
}

// TestDescriptorTable: inspect's descriptor table shows every kind, every
// choice (the held one starred) and every region of a variant.
func TestDescriptorTable(t *testing.T) {
	v, _ := handVariant()
	var b strings.Builder
	describeVariant(&v).print(&b, v.Size)
	matchLines(t, b.String(), wantTable)
}

// writeHandImage writes the ELF image of handVariant to dir and returns
// its path.
func writeHandImage(t *testing.T, dir string, edit func(code []byte)) string {
	t.Helper()
	v, code := handVariant()
	img := elfimage.Image{Program: "hand", Variant: v.Name, Code: bytes.Clone(code),
		Pages:   elfimage.LayoutPages([]string{"page"}, []int{64}),
		Markers: &elfimage.Markers{Pool: v.Pool, Sites: v.Sites, Regions: v.Regions}}
	for _, e := range v.Entries {
		img.Entries = append(img.Entries, elfimage.Entry{Name: e.Name, Offset: e.Offset, Size: e.Size})
	}
	b, err := elfimage.Write(img)
	if err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		f, size, err := elfimage.Section(b, ".text")
		if err != nil {
			t.Fatal(err)
		}
		edit(b[f : f+size])
	}
	path := filepath.Join(dir, "zhand_host.so")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestInspectELF: inspect reads an image's entries from its dynamic
// symbols and its descriptor table from .vdsogen_markers, without the Go
// table; it is the table's own.
func TestInspectELF(t *testing.T) {
	path := writeHandImage(t, t.TempDir(), nil)
	var stdout, stderr strings.Builder
	if code := run([]string{"inspect", path}, &stdout, &stderr); code != 0 || stderr.Len() > 0 {
		t.Fatalf("exit %d, stderr %s", code, stderr.String())
	}
	out := stdout.String()
	matchLines(t, out, append([]string{
		`^image .*zhand_host\.so: program hand, variant host, 112 bytes of code at 0x[0-9a-f]+$`,
		`^data pages: page at -4096 \(64 bytes\)$`,
		`^  ENTRY +OFFSET +SIZE$`,
		`^  f +0x0000 +32$`,
		`^  g +0x0040 +3$`,
		`^  h +0x0060 +6$`,
	}, wantTable...))
	// The descriptor part is exactly what the table gives.
	v, _ := handVariant()
	var fromTable strings.Builder
	describeVariant(&v).print(&fromTable, v.Size)
	if !strings.HasSuffix(out, fromTable.String()) {
		t.Errorf("the image's table differs from the layout table's:\n%s\nwant it to end with\n%s", out, fromTable.String())
	}

	stdout.Reset()
	if code := run([]string{"inspect", "-json", path}, &stdout, &stderr); code != 0 {
		t.Fatalf("-json: exit %d, stderr %s", code, stderr.String())
	}
	var rep struct{ Images []elfReport }
	if err := json.Unmarshal([]byte(stdout.String()), &rep); err != nil {
		t.Fatal(err)
	}
	want := describe("", v.Pool, v.Sites, v.Regions)
	var wantEntries []elfEntry
	for _, e := range v.Entries {
		wantEntries = append(wantEntries, elfEntry{e.Name, e.Offset, e.Size})
	}
	if len(rep.Images) != 1 || rep.Images[0].Markers == nil || !reflect.DeepEqual(*rep.Images[0].Markers, want) || !reflect.DeepEqual(rep.Images[0].Entries, wantEntries) || rep.Images[0].Variant != "host" {
		t.Errorf("-json: %s\nwant markers %+v", stdout.String(), want)
	}
	if !strings.Contains(stdout.String(), `"post_commit_offset": 4`) || !strings.Contains(stdout.String(), `"feature": "rdtscp"`) {
		t.Errorf("-json lacks fields:\n%s", stdout.String())
	}
}

// TestInspectELFBad: a broken image exits 1 with the check's finding, a
// mix of images and package files is a usage error.
func TestInspectELFBad(t *testing.T) {
	dir := t.TempDir()
	path := writeHandImage(t, dir, func(code []byte) { code[0x1b] = 0x90 }) // the signature
	var stdout, stderr strings.Builder
	if code := run([]string{"inspect", path}, &stdout, &stderr); code != 1 || !strings.Contains(stderr.String(), "markers: region 0 (seq)") {
		t.Errorf("broken signature: exit %d, stderr %s", code, stderr.String())
	}
	stderr.Reset()
	if code := run([]string{"inspect", path, "zhand_layout_amd64.go"}, &stdout, &stderr); code != 2 || !strings.Contains(stderr.String(), "not both") {
		t.Errorf("mixed arguments: exit %d, stderr %s", code, stderr.String())
	}
	stderr.Reset()
	os.WriteFile(filepath.Join(dir, "junk.so"), []byte("\x7fELF junk"), 0o644)
	if code := run([]string{"inspect", filepath.Join(dir, "junk.so")}, &stdout, &stderr); code != 1 || !strings.Contains(stderr.String(), "junk.so") {
		t.Errorf("junk: exit %d, stderr %s", code, stderr.String())
	}
}
