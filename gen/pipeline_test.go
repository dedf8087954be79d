package gen

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"regexp"
	"runtime"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"
	"github.com/mmcloughlin/avo/x86"

	"github.com/vdsogen/vdsogen/dsl"
	"github.com/vdsogen/vdsogen/internal/gotable"
	"github.com/vdsogen/vdsogen/layout"
	"github.com/vdsogen/vdsogen/variants"
)

func TestMain(m *testing.M) {
	code := m.Run()
	for _, r := range cache.m {
		if r.dir != "" {
			os.RemoveAll(r.dir)
		}
	}
	os.Exit(code)
}

// goodProgram has two entries: f with a static branch whose body reads the
// data page, g with a three-label region whose apply reads it too.
func goodProgram(t *testing.T, sbKey, tlKey string) *dsl.Program {
	b := dsl.New()
	pg := b.DataPage("page", 64)
	addPageSum(b, pg, "f", sbKey)
	b.Entry("g", "func(a int64, p *TS) int64")
	addPageRegion(b, pg, tlKey)
	return mustProgram(t, b)
}

// addPageSum adds an entry name returning its argument plus the page's
// word at 0, plus the word at 8 where key's static branch is on.
func addPageSum(b *dsl.Builder, pg *dsl.Page, name, key string) {
	b.Entry(name, "func(x int64, p *TS) int64")
	b.Add(x86.MOVQ(pg.At(0), reg.RAX))
	b.StaticBranch(key, func() {
		b.Add(x86.ADDQ(pg.At(8), reg.RAX))
	})
	b.Add(x86.ADDQ(reg.RDI, reg.RAX))
	b.Add(x86.RET())
}

// addPageRegion adds to the current entry a three-label region on key:
// the argument plus the page's word at 16, plus one, stored at *p
// (applyBytes, then tailBytes).
func addPageRegion(b *dsl.Builder, pg *dsl.Page, key string) {
	b.Add(x86.MOVQ(reg.RDI, reg.RAX))
	b.ThreeLabel(key, func() {
		b.Add(x86.ADDQ(pg.At(16), reg.RAX)) // 48 03 05 rel32: 7 bytes
		b.Add(x86.ADDL(operand.U8(1), reg.EAX))
	}, func() {
		b.Add(x86.MOVQ(reg.RAX, operand.Mem{Base: reg.RSI})) // 48 89 06
		b.Add(x86.RET())                                     // c3
	})
}

// fuzzProgram has every kind of item measure walks: instructions with and
// without data references, branches, labels, raw bytes, both markers.
func fuzzProgram() (*dsl.Program, error) {
	b := dsl.New()
	pg := b.DataPage("page", 64)
	b.Entry("f", "func(x int64) int64")
	b.Add(x86.MOVQ(pg.At(0), reg.RAX))
	b.StaticBranch("timens", func() { b.Add(x86.ADDQ(pg.At(8), reg.RAX)) })
	b.Label("loop")
	b.Add(x86.DECQ(reg.RDI))
	b.Add(x86.JNZ(dsl.L("loop")))
	b.Bytes(0x0f, 0x1f, 0x00)
	b.Add(x86.RET())
	b.Entry("g", "func(x int64) int64")
	addPageRegion(b, pg, "timens")
	return b.Program()
}

var (
	tailBytes  = []byte{0x48, 0x89, 0x06, 0xc3}
	applyBytes = []byte{0x48, 0x03, 0x05, 0, 0, 0, 0, 0x83, 0xc0, 0x01} // rel32 cleared in the table
)

func goodOutput(t *testing.T) (*Output, string) {
	return cachedGenerate(t, "good", func(t *testing.T) (*dsl.Program, *variants.Set) {
		return goodProgram(t, "timens", "timens"), nil
	})
}

func variant(t *testing.T, tab *layout.Table, name string) *layout.Variant {
	t.Helper()
	v, ok := tab.Variant(name)
	if !ok {
		t.Fatalf("no variant %s in the layout", name)
	}
	return v
}

func siteOf(t *testing.T, v *layout.Variant, kind layout.Kind) layout.Site {
	t.Helper()
	var found []layout.Site
	for _, s := range v.Sites {
		if s.Kind == kind {
			found = append(found, s)
		}
	}
	if len(found) != 1 {
		t.Fatalf("variant %s has %d %s sites, want 1", v.Name, len(found), kind)
	}
	return found[0]
}

func TestGenerateFiles(t *testing.T) {
	o, _ := goodOutput(t)
	var names []string
	for name, text := range o.Files {
		names = append(names, name)
		if strings.HasSuffix(name, ".json") {
			if !layout.IsGeneratedJSON(text) {
				t.Errorf("%s is not a generated layout table:\n%.200s", name, text)
			}
			continue
		}
		if !bytes.HasPrefix(text, []byte(header+"\n")) {
			t.Errorf("%s does not start with %q:\n%.200s", name, header, text)
		}
	}
	sort.Strings(names)
	want := []string{"zvd_host_amd64.s", "zvd_layout.json", "zvd_layout_amd64.go", "zvd_stubs_amd64.go", "zvd_stubs_amd64.s", "zvd_timens_amd64.s"}
	if !slices.Equal(names, want) {
		t.Errorf("files %q, want %q", names, want)
	}
	if o.Assemblies < 1 || o.Assemblies > maxAssemblies {
		t.Errorf("Assemblies = %d", o.Assemblies)
	}
	for _, f := range []string{"zvd_host_amd64.s", "zvd_timens_amd64.s", "zvd_stubs_amd64.s"} {
		if !bytes.Contains(o.Files[f], []byte(`#include "textflag.h"`)) {
			t.Errorf("%s does not include textflag.h", f)
		}
	}
	stubs := string(o.Files["zvd_stubs_amd64.go"])
	for _, s := range []string{"package target", "func f_host(x int64, p *TS) int64", "func g_timens(a int64, p *TS) int64", "func vd_host_addr() unsafe.Pointer", "//go:noescape"} {
		if !strings.Contains(stubs, s) {
			t.Errorf("stubs file lacks %q:\n%s", s, stubs)
		}
	}
	if !strings.Contains(string(o.Files["zvd_layout_amd64.go"]), "var vdLayout = layout.Table{") {
		t.Errorf("layout file lacks the table:\n%s", o.Files["zvd_layout_amd64.go"])
	}
}

func TestGenerateLayout(t *testing.T) {
	o, _ := goodOutput(t)
	host, tns := variant(t, o.Layout, "host"), variant(t, o.Layout, "timens")
	if !slices.Equal(host.Entries, tns.Entries) {
		t.Errorf("entries differ: host %+v, timens %+v", host.Entries, tns.Entries)
	}
	if host.Size != tns.Size {
		t.Errorf("sizes differ: host %d, timens %d", host.Size, tns.Size)
	}
	if len(host.Entries) != 2 || host.Entries[0].Name != "f" || host.Entries[1].Name != "g" {
		t.Fatalf("entries %+v, want f and g", host.Entries)
	}
	// f's site sits 7 bytes into f (after a MOVQ from the page): at a
	// 16- or 8-aligned entry it would cross an 8-byte window, so f goes to
	// the first 4-aligned offset. g has no site and is 16-byte aligned.
	if got := host.Entries[0].Offset; got != 4 {
		t.Errorf("entry f at %d, want 4", got)
	}
	if got := host.Entries[1].Offset; got%entryAlign != 0 {
		t.Errorf("entry g at %d, not %d-byte aligned", got, entryAlign)
	}
	for i, e := range host.Entries {
		if e.Size <= 0 || e.Offset+e.Size > host.Size {
			t.Errorf("entry %s: offset %d size %d outside the %d-byte image", e.Name, e.Offset, e.Size, host.Size)
		}
		if i > 0 && e.Offset < host.Entries[i-1].Offset+host.Entries[i-1].Size {
			t.Errorf("entry %s overlaps %s", e.Name, host.Entries[i-1].Name)
		}
	}
	f := host.Entries[0]

	// Static branch: NOP5 in host, E9 rel32 to its body in timens, at the
	// same offset inside one 8-byte window, the body inside entry f.
	hs, ts := siteOf(t, host, layout.StaticBranch), siteOf(t, tns, layout.StaticBranch)
	if hs.Offset != ts.Offset || hs.Target != ts.Target {
		t.Errorf("static site at %d->%d in host, %d->%d in timens", hs.Offset, hs.Target, ts.Offset, ts.Target)
	}
	if hs.On || !ts.On || hs.Key != "timens" || hs.Entry != "f" || ts.Entry != "f" {
		t.Errorf("static sites %+v / %+v", hs, ts)
	}
	if !bytes.Equal(hs.Bytes, []byte{0x0f, 0x1f, 0x44, 0x00, 0x00}) {
		t.Errorf("host static site % x, want NOP5", hs.Bytes)
	}
	if len(ts.Bytes) != 5 || ts.Bytes[0] != 0xe9 {
		t.Fatalf("timens static site % x, want E9 rel32", ts.Bytes)
	}
	rel := int32(binary.LittleEndian.Uint32(ts.Bytes[1:]))
	if got := ts.Offset + 5 + int(rel); got != ts.Target {
		t.Errorf("timens JMP reaches %d, body at %d", got, ts.Target)
	}
	if ts.Target <= ts.Offset || ts.Target >= f.Offset+f.Size {
		t.Errorf("body at %d is not after the site (%d) inside entry f [%d,%d)", ts.Target, ts.Offset, f.Offset, f.Offset+f.Size)
	}
	if ts.Offset/8 != (ts.Offset+4)/8 {
		t.Errorf("static site [%d,%d) crosses an 8-byte window", ts.Offset, ts.Offset+5)
	}
	if !strings.HasPrefix(hs.Source, "pipeline_test.go:") {
		t.Errorf("site source %q, want pipeline_test.go:line", hs.Source)
	}

	// Three-label: timens runs apply (its data reference zeroed and listed
	// as a reloc), host has the tail and INT3 only.
	hr, tr := siteOf(t, host, layout.ThreeLabel), siteOf(t, tns, layout.ThreeLabel)
	if hr.Offset != tr.Offset || hr.Target != tr.Target || len(hr.Bytes) != len(tr.Bytes) {
		t.Errorf("three-label region [%d,%d) in host, [%d,%d) in timens", hr.Offset, hr.Target, tr.Offset, tr.Target)
	}
	if hr.Target-hr.Offset != len(hr.Bytes) {
		t.Errorf("region [%d,%d) holds %d bytes", hr.Offset, hr.Target, len(hr.Bytes))
	}
	if !bytes.Equal(tr.Bytes, applyBytes) {
		t.Errorf("timens region % x, want % x", tr.Bytes, applyBytes)
	}
	if len(tr.Relocs) != 1 || tr.Relocs[0].Offset != 3 || tr.Relocs[0].Addend != 16 || !strings.HasSuffix(tr.Relocs[0].Symbol, "page") {
		t.Errorf("timens region relocs %+v, want one at 3 to page+16", tr.Relocs)
	}
	if len(hr.Relocs) != 0 {
		t.Errorf("host region relocs %+v, want none", hr.Relocs)
	}
	if !bytes.HasPrefix(hr.Bytes, tailBytes) {
		t.Fatalf("host region % x does not start with the tail % x", hr.Bytes, tailBytes)
	}
	for i, c := range hr.Bytes[len(tailBytes):] {
		if c != 0xcc {
			t.Errorf("host region byte %d is %#x, want INT3: % x", len(tailBytes)+i, c, hr.Bytes)
			break
		}
	}
}

// TestGenerateSymbols: every TEXT symbol of the generated assembly is
// declared once (they all land in the target package).
func TestGenerateSymbols(t *testing.T) {
	o, _ := goodOutput(t)
	checkTextSymbols(t, o)
}

var textRE = regexp.MustCompile(`(?m)^TEXT ·([A-Za-z0-9_]+)\(SB\)`)

func checkTextSymbols(t *testing.T, o *Output) {
	t.Helper()
	for _, d := range duplicateSymbols(o) {
		t.Error(d)
	}
}

func duplicateSymbols(o *Output) []string {
	var dups []string
	seen := map[string]string{}
	for name, text := range o.Files {
		if !strings.HasSuffix(name, ".s") {
			continue
		}
		for _, m := range textRE.FindAllSubmatch(text, -1) {
			sym := string(m[1])
			if prev, dup := seen[sym]; dup {
				dups = append(dups, fmt.Sprintf("TEXT ·%s is declared in %s and %s", sym, prev, name))
			}
			seen[sym] = name
		}
	}
	if len(seen) == 0 {
		dups = append(dups, "no TEXT symbols found")
	}
	sort.Strings(dups)
	return dups
}

func TestGenerateDeterministic(t *testing.T) {
	o, dir := goodOutput(t)
	prog := goodProgram(t, "timens", "timens")
	again := mustGenerate(t, prog, dir, nil)
	sameFiles(t, "second run", o.Files, again.Files)
	old := runtime.GOMAXPROCS(1)
	one := mustGenerate(t, prog, dir, nil)
	runtime.GOMAXPROCS(old)
	sameFiles(t, "GOMAXPROCS=1", o.Files, one.Files)
}

func sameFiles(t *testing.T, what string, a, b map[string][]byte) {
	t.Helper()
	if !slices.Equal(sortedNames(a), sortedNames(b)) {
		t.Errorf("%s: files %q, want %q", what, sortedNames(b), sortedNames(a))
		return
	}
	for name := range a {
		if !bytes.Equal(a[name], b[name]) {
			t.Errorf("%s: %s differs: %s", what, name, firstDiff(b[name], a[name]))
		}
	}
}

const variantsTOML = `# three shared variants and a standalone one
[variant.a]
sb = false
tl = false

[variant.b]
sb = true
tl = false

[variant.c]
sb = true
tl = true

[variant.solo]
standalone = true
sb = false
tl = false
`

func variantsOutput(t *testing.T) (*Output, string) {
	return cachedGenerate(t, "variants", func(t *testing.T) (*dsl.Program, *variants.Set) {
		set, err := variants.Parse("v.toml", []byte(variantsTOML))
		if err != nil {
			t.Fatal(err)
		}
		return goodProgram(t, "sb", "tl"), set
	})
}

func TestGenerateVariantsFile(t *testing.T) {
	o, _ := variantsOutput(t)
	for _, f := range []string{"zvd_a_amd64.s", "zvd_b_amd64.s", "zvd_c_amd64.s", "zvd_solo_amd64.s"} {
		if _, ok := o.Files[f]; !ok {
			t.Errorf("no %s among %q", f, sortedNames(o.Files))
		}
	}
	a, b, c, solo := variant(t, o.Layout, "a"), variant(t, o.Layout, "b"), variant(t, o.Layout, "c"), variant(t, o.Layout, "solo")
	for _, v := range []*layout.Variant{b, c} {
		if !slices.Equal(a.Entries, v.Entries) || a.Size != v.Size {
			t.Errorf("variant %s: entries %+v size %d, variant a: %+v size %d", v.Name, v.Entries, v.Size, a.Entries, a.Size)
		}
		if len(v.Sites) != 2 {
			t.Errorf("variant %s has %d sites, want 2", v.Name, len(v.Sites))
		}
	}
	if siteOf(t, a, layout.StaticBranch).On || !siteOf(t, b, layout.StaticBranch).On || siteOf(t, b, layout.ThreeLabel).On || !siteOf(t, c, layout.ThreeLabel).On {
		t.Error("site On flags do not follow the variants' keys")
	}
	if !solo.Standalone || a.Standalone {
		t.Error("Standalone flags wrong")
	}
	if solo.Size >= a.Size {
		t.Errorf("standalone image is %d bytes, shared ones %d: the elided markers should make it smaller", solo.Size, a.Size)
	}
	for _, e := range solo.Entries {
		if e.Offset%entryAlign != 0 {
			t.Errorf("standalone entry %s at %d, not aligned", e.Name, e.Offset)
		}
	}
	if len(solo.Sites) != 0 {
		t.Errorf("standalone variant has sites %+v", solo.Sites)
	}
	for _, s := range []string{"func f_solo(x int64, p *TS) int64", "func g_c(a int64, p *TS) int64"} {
		if !strings.Contains(string(o.Files["zvd_stubs_amd64.go"]), s) {
			t.Errorf("stubs lack %q", s)
		}
	}
	checkTextSymbols(t, o)
}

func TestGenerateErrors(t *testing.T) {
	file := callerFile()
	tests := []struct {
		name  string
		build func(b *dsl.Builder) int // returns the line to blame
		set   string                   // variants file, "" for the built-in set
		pos   func(t *testing.T, line int) string
		msgs  []string
	}{
		{name: "unknown key", build: func(b *dsl.Builder) int {
			b.Entry("f", "func()")
			l := nextLine()
			b.StaticBranch("nokey", func() { b.NOP() })
			b.Add(x86.RET())
			return l
		}, msgs: []string{`unknown key "nokey"`, "built-in variants", "[timens]"}},
		{name: "unknown key in file", set: "[variant.a]\nk = false\n[variant.b]\nk = true\n", build: func(b *dsl.Builder) int {
			b.Entry("f", "func()")
			b.StaticBranch("k", func() { b.NOP() })
			l := nextLine()
			b.ThreeLabel("other", func() { b.NOP() }, func() { b.Add(x86.RET()) })
			return l
		}, msgs: []string{`unknown key "other"`, "v.toml", "[k]"}},
		{name: "unused key in file", set: "[variant.a]\nk = false\nextra = true\n[variant.b]\nk = true\nextra = false\n", build: func(b *dsl.Builder) int {
			b.Entry("f", "func()")
			b.StaticBranch("k", func() { b.NOP() })
			b.Add(x86.RET())
			return 0
		}, pos: func(*testing.T, int) string { return "v.toml:3:1" }, msgs: []string{`key "extra" is set by variant "a" but no routine uses it`}},
		{name: "tail longer than apply", build: func(b *dsl.Builder) int {
			b.Entry("f", "func()")
			l := nextLine()
			b.ThreeLabel("timens", func() {
				b.NOP()
			}, func() {
				b.Add(x86.MOVQ(reg.RAX, operand.Mem{Base: reg.RSI}))
				b.Add(x86.RET())
			})
			return l
		}, msgs: []string{`ThreeLabel "timens": the tail is 4 bytes, longer than the 1-byte apply region`, `variant "host"`}},
		{name: "undeclared data page", build: readsPage("nopage", 8, 0),
			msgs: []string{`data page "nopage": package target declares no variable nopage`}},
		{name: "data page not a variable", build: readsPage("TS", 8, 0),
			msgs: []string{`data page "TS": package target declares no variable TS`}},
		{name: "data page too large", build: readsPage("page", 128, 100),
			msgs: []string{`data page "page": variable page is 64 bytes, smaller than the 128`}},
		{name: "seven parameters", build: func(b *dsl.Builder) int {
			l := nextLine()
			b.Entry("f", "func(a, b, c, d, e, f, g int64) int64")
			b.Add(x86.RET())
			return l
		}, msgs: []string{`entry "f": 7 parameters; the C ABI passes at most 6`}},
		{name: "struct parameter", build: func(b *dsl.Builder) int {
			l := nextLine()
			b.Entry("f", "func(ts TS) int64")
			b.Add(x86.RET())
			return l
		}, msgs: []string{`entry "f": ts has type`, "TS", "only integers, bool, uintptr and pointers"}},
		{name: "unnamed parameter", build: func(b *dsl.Builder) int {
			l := nextLine()
			b.Entry("f", "func(int64) int64")
			b.Add(x86.RET())
			return l
		}, msgs: []string{`entry "f": parameter 1 has no name`}},
		{name: "two results", build: func(b *dsl.Builder) int {
			l := nextLine()
			b.Entry("f", "func(a int64) (int64, int64)")
			b.Add(x86.RET())
			return l
		}, msgs: []string{`entry "f": 2 results`}},
		{name: "bad signature", build: func(b *dsl.Builder) int {
			l := nextLine()
			b.Entry("f", "func(a Nope)")
			b.Add(x86.RET())
			return l
		}, msgs: []string{`entry "f": signature "func(a Nope)"`, "undefined"}},
		{name: "toolchain", build: func(b *dsl.Builder) int {
			b.Entry("f", "func()")
			l := nextLine()
			b.Add(x86.MOVQ(operand.Mem{Base: reg.RAX, Index: reg.RBX, Scale: 3}, reg.RCX))
			b.Add(x86.RET())
			return l
		}, msgs: []string{"zvd_host_amd64.s:", "bad scale: 3"}},
		{name: "toolchain after markers", build: func(b *dsl.Builder) int {
			// The printed file has comments, labels and one BYTE line per
			// raw byte before the bad line; the mapping must still hold.
			b.Entry("f", "func()")
			b.StaticBranch("timens", func() { b.NOP() })
			b.ThreeLabel("timens", func() { b.Bytes(0x90, 0x90, 0x90) }, func() { b.Add(x86.RET()) })
			b.Entry("g", "func()")
			b.Label("g_top")
			b.NOP()
			l := nextLine()
			b.Add(x86.MOVQ(operand.Mem{Base: reg.RAX, Index: reg.RBX, Scale: 5}, reg.RCX))
			b.Add(x86.JMP(dsl.L("g_top")))
			return l
		}, msgs: []string{"zvd_host_amd64.s:", "bad scale: 5"}},
		{name: "toolchain in static branch body", build: func(b *dsl.Builder) int {
			b.Entry("f", "func()")
			var l int
			b.StaticBranch("timens", func() {
				b.NOP()
				l = nextLine()
				b.Add(x86.MOVQ(operand.Mem{Base: reg.RAX, Index: reg.RBX, Scale: 6}, reg.RCX))
			})
			b.Add(x86.RET())
			return l
		}, msgs: []string{"zvd_host_amd64.s:", "bad scale: 6"}},
	}
	dir := newTarget(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := dsl.New()
			line := tt.build(b)
			prog := mustProgram(t, b)
			var set *variants.Set
			if tt.set != "" {
				var err error
				if set, err = variants.Parse("v.toml", []byte(tt.set)); err != nil {
					t.Fatal(err)
				}
			}
			o, err := generate(t, prog, dir, set)
			if err == nil {
				t.Fatalf("Generate succeeded with files %q, want an error", sortedNames(o.Files))
			}
			pos := ""
			if tt.pos != nil {
				pos = tt.pos(t, line)
			} else {
				pos = srcPos(t, file, line)
			}
			wantMsg(t, err, pos, tt.msgs...)
		})
	}
}

// TestGenerateSeveralSignatureErrors: every bad entry is reported at once.
func TestGenerateSeveralSignatureErrors(t *testing.T) {
	file := callerFile()
	b := dsl.New()
	bad := map[string]string{
		"a": "func(a, b, c, d, e, f, g int64)", // too many parameters
		"b": "func(ts TS)",                     // a struct
		"c": "func(int64)",                     // an unnamed parameter
	}
	line := 0
	for _, name := range []string{"a", "b", "c"} {
		line = nextLine()
		b.Entry(name, bad[name])
		b.Add(x86.RET())
	}
	_, err := generate(t, mustProgram(t, b), newTarget(t), nil)
	l := dslErrors(t, err)
	if len(l) != len(bad) {
		t.Fatalf("%d errors, want %d:\n%v", len(l), len(bad), err)
	}
	for name := range bad {
		wantMsg(t, err, srcPos(t, file, line), fmt.Sprintf("entry %q", name))
	}
}

// TestEntryNameCollisions: generated label and symbol names are built by
// joining names with "_"; distinct user names must still give distinct
// generated names (or a clear error before assembling).
func TestEntryNameCollisions(t *testing.T) {
	t.Run("entry f and f_end", func(t *testing.T) {
		b := dsl.New()
		b.Entry("f", "func()")
		b.Add(x86.RET())
		b.Entry("f_end", "func()")
		b.Add(x86.RET())
		_, err := generate(t, mustProgram(t, b), newTarget(t), nil)
		if err != nil && strings.Contains(err.Error(), "toolchain rejected") {
			t.Fatalf("regression: entries f and f_end both produce label vg_f_end (gen/expand.go:82-83 entryLabel/entryEndLabel) and the program fails in the assembler:\n%v", err)
		}
		if err != nil {
			t.Fatal(err)
		}
	})
	t.Run("entry named like the program", func(t *testing.T) {
		b := dsl.New()
		b.Entry("vd", "func()")
		b.Add(x86.RET())
		o, err := generate(t, mustProgram(t, b), newTarget(t), nil)
		if err != nil {
			if strings.Contains(err.Error(), "vd") {
				return // a clear error is fine
			}
			t.Fatal(err)
		}
		if dups := duplicateSymbols(o); len(dups) > 0 {
			t.Fatalf("%s\nregression: entry vd of program vd gets stub vd_host (gen/stubs.go:31 stubName) which is also the image symbol vd_host (gen/gen.go:103 imageSymbol): the generated package does not link", strings.Join(dups, "\n"))
		}
	})
}

// TestGenerateContext: a cancelled context stops the pipeline with an error.
func TestGenerateContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := Generate(ctx, goodProgram(t, "timens", "timens"), Config{Name: "vd", Dir: newTarget(t)})
	if err == nil {
		t.Fatal("Generate with a cancelled context succeeded")
	}
}

func TestGenerateBadConfig(t *testing.T) {
	prog := goodProgram(t, "timens", "timens")
	dir := newTarget(t)
	for _, tt := range []struct {
		cfg Config
		msg string
	}{
		{Config{Name: "Vd", Dir: dir}, `program name "Vd" must match`},
		{Config{Name: "vd", Dir: dir, Pkg: "other"}, "-pkg other, but the package in"},
		{Config{Name: "vd", Dir: t.TempDir()}, "holds no Go package"},
	} {
		_, err := Generate(context.Background(), prog, tt.cfg)
		if err == nil || !strings.Contains(err.Error(), tt.msg) {
			t.Errorf("Generate(%+v) = %v, want %q", tt.cfg, err, tt.msg)
		}
	}
}

// TestTableFileDeterministic: the layout file does not depend on map order
// (keys of several variants).
func TestTableFileDeterministic(t *testing.T) {
	o, _ := variantsOutput(t)
	for range 20 {
		b, err := gotable.Render("target", "vdLayout", o.Layout)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(b, o.Files["zvd_layout_amd64.go"]) {
			t.Fatalf("tableFile output varies: %s", firstDiff(b, o.Files["zvd_layout_amd64.go"]))
		}
	}
}

// readsPage builds one entry reading offset off of the data page symbol,
// declared size bytes large; the line to blame is the declaration's.
func readsPage(symbol string, size, off int) func(b *dsl.Builder) int {
	return func(b *dsl.Builder) int {
		l := nextLine()
		pg := b.DataPage(symbol, size)
		b.Entry("f", "func()")
		b.Add(x86.MOVQ(pg.At(off), reg.RAX))
		b.Add(x86.RET())
		return l
	}
}
