package downstreamtest

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/vdsogen/vdsogen/layout"
)

// generateArgs is the example's //go:generate command after "go".
var generateArgs = []string{"run", "asm.go", "-out", ".", "-name", "ticks", "-variants", "variants.toml"}

// dumpTest is added to the copy of the example: it writes the generated
// layout table as JSON, so that this test reads what the downstream
// package compiled, not a parse of the generated source.
const dumpTest = `package ticks

import (
	"encoding/json"
	"os"
	"testing"
)

func TestZZDumpLayout(t *testing.T) {
	path := os.Getenv("TICKS_LAYOUT_JSON")
	if path == "" {
		t.Skip("TICKS_LAYOUT_JSON not set")
	}
	b, err := json.Marshal(Layout())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}
`

// TestDownstream runs the downstream flow on a copy of testdata/downstream:
// go generate and go test in it, the layout, and the golden check on drift.
func TestDownstream(t *testing.T) {
	needToolchain(t)
	t.Parallel()
	dir := t.TempDir()
	copyDownstream(t, dir)
	env := goEnv()
	gitInit(t, dir, env)

	// Regenerating the committed example changes nothing: its generated
	// files are golden, and so are go.mod and go.sum (complete).
	must(t, dir, env, "go", "generate", "./...")
	if st := must(t, dir, env, "git", "status", "--porcelain"); st != "" {
		if *update {
			copyBack(t, dir)
		}
		diff := must(t, dir, env, "git", "diff", "--stat")
		t.Fatalf("go generate ./... changed the committed example (testdata/downstream):\n%s%s\nIf the generator's output changed on purpose, run go test ./internal/downstreamtest -run TestDownstream -update; if go.mod or go.sum changed, run go mod tidy in testdata/downstream.", st, diff)
	}

	// The example's own tests call every stub of every variant; the dump
	// test hands the layout table over.
	if err := os.WriteFile(filepath.Join(dir, "zz_dump_test.go"), []byte(dumpTest), 0o644); err != nil {
		t.Fatal(err)
	}
	jsonPath := filepath.Join(t.TempDir(), "layout.json")
	out := must(t, dir, goEnv("TICKS_LAYOUT_JSON="+jsonPath), "go", "test", "-count=1", "./...")
	if !strings.Contains(out, "ok  \texample.com/ticks") {
		t.Errorf("go test ./... in the example: want ok for example.com/ticks, got\n%s", out)
	}
	b, err := os.ReadFile(jsonPath)
	if err != nil {
		t.Fatalf("the layout dump: %v", err)
	}
	var table layout.Table
	if err := json.Unmarshal(b, &table); err != nil {
		t.Fatal(err)
	}
	checkLayout(t, &table)
	if err := os.Remove(filepath.Join(dir, "zz_dump_test.go")); err != nil {
		t.Fatal(err)
	}

	// Drift: turn the offset off in variant clamped without regenerating.
	toml := filepath.Join(dir, "variants.toml")
	src, err := os.ReadFile(toml)
	if err != nil {
		t.Fatal(err)
	}
	edited := regexp.MustCompile(`(\[variant\.clamped\]\noffset = )true`).ReplaceAll(src, []byte("${1}false"))
	if bytes.Equal(edited, src) {
		t.Fatal("variants.toml: found no [variant.clamped] with offset = true to edit")
	}
	if err := os.WriteFile(toml, edited, 0o644); err != nil {
		t.Fatal(err)
	}
	r := run(t, dir, env, "go", append(generateArgs, "-check")...)
	if r.code != 1 {
		t.Fatalf("-check on a drifted tree: exit %d, want 1; output:\n%s", r.code, r.out)
	}
	for _, want := range []string{
		"generated files are out of date; run go generate:",
		"\tzticks_clamped_amd64.s: differs, line ",
		`want "// StaticBranch offset (asm.go:`, // the site is now off
		"\tzticks_layout_amd64.go: differs, line ",
		"\tzticks_layout.json: differs, line ",
	} {
		if !strings.Contains(r.out, want) {
			t.Errorf("-check on drift: output lacks %q:\n%s", want, r.out)
		}
	}
	if strings.Contains(r.out, "zticks_base_amd64.s") || strings.Contains(r.out, "zticks_shifted_amd64.s") {
		t.Errorf("-check on drift names files that did not change:\n%s", r.out)
	}
	// -check wrote nothing; the other golden check (regenerate, then
	// git status) shows exactly the drifted files.
	if st := must(t, dir, env, "git", "status", "--porcelain"); st != " M variants.toml\n" {
		t.Errorf("after -check, git status --porcelain = %q, want only variants.toml modified", st)
	}
	must(t, dir, env, "go", "generate", "./...")
	if st := must(t, dir, env, "git", "status", "--porcelain"); st != " M variants.toml\n M zticks_clamped_amd64.s\n M zticks_layout.json\n M zticks_layout_amd64.go\n" {
		t.Errorf("after go generate on the drifted variants, git status --porcelain =\n%s\nwant variants.toml, zticks_clamped_amd64.s and zticks_layout{.json,_amd64.go} modified", st)
	}
	must(t, dir, env, "go", append(generateArgs, "-check")...)
}

// checkLayout: three shared variants with the example's keys, every entry
// at the same offset with the same size in all of them, and the marker
// sites each variant's keys call for.
func checkLayout(t *testing.T, table *layout.Table) {
	t.Helper()
	if table.Program != "ticks" {
		t.Errorf("program %q, want ticks", table.Program)
	}
	keys := map[string]map[string]bool{
		"base":    {"offset": false, "clamp": false},
		"shifted": {"offset": true, "clamp": false},
		"clamped": {"offset": true, "clamp": true},
	}
	if len(table.Variants) != len(keys) {
		t.Fatalf("%d variants, want %d", len(table.Variants), len(keys))
	}
	ref := table.Variants[0]
	if len(ref.Entries) != 2 {
		t.Fatalf("variant %s has %d entries, want ticks_now and ticks_since", ref.Name, len(ref.Entries))
	}
	for _, v := range table.Variants {
		want, ok := keys[v.Name]
		if !ok {
			t.Errorf("unexpected variant %s", v.Name)
			continue
		}
		if v.Standalone {
			t.Errorf("variant %s is standalone", v.Name)
		}
		for k, on := range want {
			if v.Keys[k] != on {
				t.Errorf("variant %s: key %s = %v, want %v", v.Name, k, v.Keys[k], on)
			}
		}
		if v.Size != ref.Size {
			t.Errorf("variant %s is %d bytes, variant %s %d", v.Name, v.Size, ref.Name, ref.Size)
		}
		if len(v.Entries) != len(ref.Entries) {
			t.Errorf("variant %s has %d entries, variant %s %d", v.Name, len(v.Entries), ref.Name, len(ref.Entries))
			continue
		}
		for i, e := range v.Entries {
			if e != ref.Entries[i] {
				t.Errorf("entry %s: %+v in variant %s, %+v in variant %s", e.Name, e, v.Name, ref.Entries[i], ref.Name)
			}
		}
		kinds := map[layout.Kind]int{}
		for _, s := range v.Sites {
			kinds[s.Kind]++
			if s.On != want[s.Key] {
				t.Errorf("variant %s: %s site of %s at %d: on = %v, want %v", v.Name, s.Key, s.Entry, s.Offset, s.On, want[s.Key])
			}
			switch {
			case s.Kind == layout.StaticBranch && s.Key != "offset", s.Kind == layout.ThreeLabel && s.Key != "clamp":
				t.Errorf("variant %s: %s site on key %s", v.Name, s.Kind, s.Key)
			}
		}
		if kinds[layout.StaticBranch] != 2 || kinds[layout.ThreeLabel] != 2 {
			t.Errorf("variant %s: sites %v, want 2 static branches and 2 three-label regions (one each per entry)", v.Name, kinds)
		}
	}
}

// copyBack copies the regenerated files (and go.mod and go.sum, with the
// relative replace restored) of dir into testdata/downstream.
func copyBack(t *testing.T, dir string) {
	t.Helper()
	dst := downstreamDir(t)
	names, err := filepath.Glob(filepath.Join(dir, "z*"))
	if err != nil {
		t.Fatal(err)
	}
	stale, _ := filepath.Glob(filepath.Join(dst, "zticks_*"))
	for _, f := range stale {
		os.Remove(f)
	}
	for _, f := range append(names, filepath.Join(dir, "go.mod"), filepath.Join(dir, "go.sum")) {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if filepath.Base(f) == "go.mod" {
			b = bytes.Replace(b, []byte("replace "+modulePath+" => "+root(t)), []byte(committedReplace), 1)
		}
		if err := os.WriteFile(filepath.Join(dst, filepath.Base(f)), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("-update: copied the regenerated files into %s", dst)
}
