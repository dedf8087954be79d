package gen

import (
	"bytes"
	"errors"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"
	"github.com/mmcloughlin/avo/x86"

	"github.com/vdsogen/vdsogen/dsl"
)

// snapshot records every file of dir: name, mode, contents.
type fileState struct {
	mode fs.FileMode
	data string
}

func snapshot(t *testing.T, dir string) map[string]fileState {
	t.Helper()
	m := map[string]fileState{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		info, err := d.Info()
		if err != nil {
			return err
		}
		st := fileState{mode: info.Mode()}
		if d.Type().IsRegular() {
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			st.data = string(b)
		}
		m[rel] = st
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func sameSnapshot(t *testing.T, what string, before, after map[string]fileState) {
	t.Helper()
	for name, a := range after {
		b, ok := before[name]
		switch {
		case !ok:
			t.Errorf("%s: %s appeared", what, name)
		case a.mode != b.mode:
			t.Errorf("%s: %s mode %v, was %v", what, name, a.mode, b.mode)
		case a.data != b.data:
			t.Errorf("%s: %s changed", what, name)
		}
	}
	for name := range before {
		if _, ok := after[name]; !ok {
			t.Errorf("%s: %s disappeared", what, name)
		}
	}
}

// writtenTarget is a fresh target package holding the good program's
// outputs, written by Write.
func writtenTarget(t *testing.T) (string, *Output) {
	t.Helper()
	o, _ := goodOutput(t)
	dir := newTarget(t)
	if err := Write(dir, "vd", o.Files); err != nil {
		t.Fatalf("Write: %v", err)
	}
	return dir, o
}

func TestWriteCheck(t *testing.T) {
	dir, o := writtenTarget(t)
	for name, want := range o.Files {
		got, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s not written as generated (%v)", name, err)
		}
		if fi, err := os.Stat(filepath.Join(dir, name)); err != nil || fi.Mode().Perm() != 0o644 {
			t.Errorf("%s: mode %v (%v), want 0644", name, fi.Mode(), err)
		}
	}
	if err := Check(dir, "vd", o.Files); err != nil {
		t.Fatalf("Check after Write: %v", err)
	}
	if s := snapshot(t, dir); len(s) != len(o.Files)+3 { // ., go.mod, target.go
		t.Errorf("directory holds %d entries, want %d: %v", len(s), len(o.Files)+3, slices.Sorted(maps.Keys(s)))
	}
}

func TestCheckDrift(t *testing.T) {
	dir, o := writtenTarget(t)
	const name = "zvd_timens_amd64.s"
	path := filepath.Join(dir, name)
	text, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// Change one byte on a known line: the first instruction after TEXT.
	lines := strings.Split(string(text), "\n")
	line := slices.IndexFunc(lines, func(l string) bool { return strings.HasPrefix(l, "\tMOVQ") })
	if line < 0 {
		t.Fatalf("no MOVQ line in %s", text)
	}
	off := len(strings.Join(lines[:line], "\n")) + 2 // the M of MOVQ
	text[off] = 'X'
	if err := os.WriteFile(path, text, 0o644); err != nil {
		t.Fatal(err)
	}
	err = Check(dir, "vd", o.Files)
	var d *Drift
	if !errors.As(err, &d) {
		t.Fatalf("Check = %v (%T), want *Drift", err, err)
	}
	if !slices.Equal(d.Changed, []string{name}) || len(d.Missing) != 0 || len(d.Stale) != 0 {
		t.Errorf("drift %+v, want only %s changed", d, name)
	}
	wantLine := "line " + strconv.Itoa(line+1) + ":"
	if !strings.Contains(d.First[name], wantLine) || !strings.Contains(d.First[name], "XOVQ") {
		t.Errorf("First[%s] = %q, want %q and the edited text", name, d.First[name], wantLine)
	}
	if msg := err.Error(); !strings.Contains(msg, name+": differs, "+wantLine) {
		t.Errorf("message %q does not name %s and %s", msg, name, wantLine)
	}

	// A missing file is reported as such.
	os.Remove(filepath.Join(dir, "zvd_layout_amd64.go"))
	if err := Check(dir, "vd", o.Files); !errors.As(err, &d) || !slices.Equal(d.Missing, []string{"zvd_layout_amd64.go"}) {
		t.Errorf("Check with a missing file = %v", err)
	}
}

func TestWriteUnchangedKeepsMtimes(t *testing.T) {
	dir, o := writtenTarget(t)
	past := time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)
	for name := range o.Files {
		if err := os.Chtimes(filepath.Join(dir, name), past, past); err != nil {
			t.Fatal(err)
		}
	}
	// One file changed: only it gets a new mtime.
	changed := maps.Clone(o.Files)
	changed["zvd_host_amd64.s"] = append(slices.Clone(o.Files["zvd_host_amd64.s"]), "// more\n"...)
	if err := Write(dir, "vd", changed); err != nil {
		t.Fatal(err)
	}
	for name := range o.Files {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if touched := !fi.ModTime().Equal(past); touched != (name == "zvd_host_amd64.s") {
			t.Errorf("%s: mtime %v (touched %v)", name, fi.ModTime(), touched)
		}
	}
	if err := Check(dir, "vd", changed); err != nil {
		t.Errorf("Check: %v", err)
	}
}

func TestFailingGenerateLeavesDirectory(t *testing.T) {
	dir, _ := writtenTarget(t)
	os.WriteFile(filepath.Join(dir, "zvd_host_amd64.s"), []byte("// hand-edited\n"), 0o600)
	before := snapshot(t, dir)
	// Fails late: after assembling, in the padding plan.
	b := dsl.New()
	b.Entry("f", "func()")
	b.ThreeLabel("timens", func() { b.NOP() }, func() {
		b.Add(x86.MOVQ(reg.RAX, reg.RBX))
		b.Add(x86.RET())
	})
	if _, err := generate(t, mustProgram(t, b), dir, nil); err == nil {
		t.Fatal("Generate succeeded")
	}
	sameSnapshot(t, "after a failing Generate", before, snapshot(t, dir))
}

func TestWriteReadOnly(t *testing.T) {
	dir, o := writtenTarget(t)
	// Every file changes; the last one written (in name order) is read-only,
	// so the others already have temporary files when Write finds out.
	changed := map[string][]byte{}
	for name, text := range o.Files {
		changed[name] = append(slices.Clone(text), "// v2\n"...)
	}
	names := sortedNames(changed)
	ro := filepath.Join(dir, names[len(names)-1])
	if err := os.Chmod(ro, 0o444); err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, dir)
	err := Write(dir, "vd", changed)
	if err == nil {
		t.Fatal("Write into a read-only file succeeded")
	}
	if !strings.Contains(err.Error(), ro) || !strings.Contains(err.Error(), "read-only") {
		t.Errorf("error %q does not say %s is read-only", err, ro)
	}
	sameSnapshot(t, "after a failing Write", before, snapshot(t, dir))
	// A read-only file whose content is already right is no obstacle.
	if err := Write(dir, "vd", o.Files); err != nil {
		t.Errorf("Write of unchanged contents with a read-only file: %v", err)
	}
}

func TestWriteNotADirectory(t *testing.T) {
	f := filepath.Join(t.TempDir(), "file")
	os.WriteFile(f, nil, 0o644)
	for _, dir := range []string{f, filepath.Join(t.TempDir(), "missing")} {
		if err := Write(dir, "vd", map[string][]byte{"zvd_x.s": []byte(header + "\n")}); err == nil || !strings.Contains(err.Error(), "directory") {
			t.Errorf("Write(%s) = %v, want an output directory error", dir, err)
		}
	}
}

// TestStale: generated files of a variant that no longer exists are
// reported by Check and removed by Write; other files are left alone.
func TestStale(t *testing.T) {
	many, _ := variantsOutput(t) // a, b, c, solo
	two, _ := goodOutput(t)      // host, timens
	dir := newTarget(t)
	if err := Write(dir, "vd", many.Files); err != nil {
		t.Fatal(err)
	}
	// Not generated by vdsogen (no header) or by another program: kept.
	keep := map[string]string{
		"zvd_handwritten.go": "package target\n",
		"zother_a_amd64.s":   header + "\n",
	}
	for name, text := range keep {
		os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644)
	}
	wantStale := []string{"zvd_a_amd64.s", "zvd_b_amd64.s", "zvd_c_amd64.s", "zvd_solo_amd64.s"}
	err := Check(dir, "vd", two.Files)
	var d *Drift
	if !errors.As(err, &d) {
		t.Fatalf("Check = %v, want *Drift", err)
	}
	if !slices.Equal(d.Stale, wantStale) {
		t.Errorf("stale %q, want %q", d.Stale, wantStale)
	}
	for _, f := range wantStale {
		if !strings.Contains(err.Error(), f+": no longer generated") {
			t.Errorf("message does not report %s:\n%v", f, err)
		}
	}
	if err := Write(dir, "vd", two.Files); err != nil {
		t.Fatal(err)
	}
	for _, f := range wantStale {
		if _, err := os.Stat(filepath.Join(dir, f)); !os.IsNotExist(err) {
			t.Errorf("stale %s still there (%v)", f, err)
		}
	}
	for name := range keep {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Errorf("%s was removed: %v", name, err)
		}
	}
	if err := Check(dir, "vd", two.Files); err != nil {
		t.Errorf("Check after Write: %v", err)
	}
}

// TestWriteRenameFails: when a rename fails (here the last destination is a
// directory), Write reports it and leaves no temporary files behind.
func TestWriteRenameFails(t *testing.T) {
	o, _ := goodOutput(t)
	dir := newTarget(t)
	names := sortedNames(o.Files)
	last := names[len(names)-1]
	if err := os.Mkdir(filepath.Join(dir, last), 0o755); err != nil {
		t.Fatal(err)
	}
	err := Write(dir, "vd", o.Files)
	if err == nil {
		t.Fatal("Write over a directory succeeded")
	}
	if !strings.Contains(err.Error(), last) {
		t.Errorf("error %q does not name %s", err, last)
	}
	var written []string
	for name := range snapshot(t, dir) {
		if strings.HasPrefix(name, ".") && name != "." {
			t.Errorf("temporary file %s left behind", name)
		}
		if _, ok := o.Files[name]; ok && name != last {
			written = append(written, name)
		}
	}
	if len(written) > 0 {
		slices.Sort(written)
		t.Errorf("after the failed Write, %q were written", written)
	}
}

// TestWriteRollsBack: a rename that fails midway (injected: the third) puts
// back everything done before it. The directory holds an older generation
// of every output and a stale generated file; after the failed Write it is
// byte for byte, mode for mode, as before, with no backup or temporary
// file left; and a Write that succeeds afterwards replaces everything.
func TestWriteRollsBack(t *testing.T) {
	o, _ := goodOutput(t)
	dir := newTarget(t)
	older := map[string][]byte{}
	for name, b := range o.Files {
		older[name] = append(append([]byte(nil), b...), "// older\n"...)
	}
	older["zvd_gone_amd64.s"] = []byte("// Code generated by vdsogen. DO NOT EDIT.\n")
	for name, b := range older {
		writeFile(t, filepath.Join(dir, name), b, 0o644)
	}
	before := snapshot(t, dir)

	calls := 0
	renameFile = func(from, to string) error {
		calls++
		if calls == 3 {
			return errors.New("injected failure")
		}
		return os.Rename(from, to)
	}
	defer func() { renameFile = os.Rename }()
	err := Write(dir, "vd", o.Files)
	if err == nil || !strings.Contains(err.Error(), "injected failure") || !strings.Contains(err.Error(), "restored") {
		t.Fatalf("Write = %v, want the injected failure and that the outputs were restored", err)
	}
	if calls < 3 {
		t.Fatalf("only %d renames: the failure was not midway", calls)
	}
	sameSnapshot(t, "after the rolled-back Write", before, snapshot(t, dir))

	renameFile = os.Rename
	if err := Write(dir, "vd", o.Files); err != nil {
		t.Fatalf("Write after the rollback: %v", err)
	}
	if err := Check(dir, "vd", o.Files); err != nil {
		t.Errorf("Check after Write: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "zvd_gone_amd64.s")); !os.IsNotExist(err) {
		t.Errorf("the stale file survived: %v", err)
	}
}

// TestRenamedProgram: after a program's -name changes, the previous name's
// outputs declare the same stubs. The renamed run refuses (writing and
// -check alike) with the files, the colliding names and the flag, and
// leaves the directory alone; -replaces removes the old outputs with the
// write, and -check then passes.
func TestRenamedProgram(t *testing.T) {
	if testing.Short() {
		t.Skip("assembles five times")
	}
	dir := newTarget(t)
	b := dsl.New()
	b.Entry("answer", "func() int64")
	b.Add(x86.MOVQ(operand.U32(42), reg.RAX))
	b.Add(x86.RET())
	run := func(want int, args ...string) string {
		t.Helper()
		var stdout, stderr strings.Builder
		if code := MainArgs(append([]string{"-out", dir}, args...), b, &stdout, &stderr); code != want {
			t.Fatalf("%q: exit %d, want %d; stderr:\n%s", args, code, want, stderr.String())
		}
		return stderr.String()
	}
	run(0, "-name", "old")
	olds := listDir(t, dir, "zold_")
	if len(olds) < 3 {
		t.Fatalf("the first run wrote %q", olds)
	}
	before := snapshot(t, dir)
	for _, args := range [][]string{{"-name", "new"}, {"-name", "new", "-check"}} {
		msg := run(1, args...)
		for _, want := range []string{"zold_stubs_amd64.go: answer_host", "zold_stubs_amd64.s: answer_host", "redeclared", "-replaces old", "nothing was written"} {
			if !strings.Contains(msg, want) {
				t.Errorf("%q: the error does not say %q:\n%s", args, want, msg)
			}
		}
		sameSnapshot(t, "after the refused run", before, snapshot(t, dir))
	}
	msg := run(1, "-name", "new", "-replaces", "old", "-check")
	for _, f := range olds {
		if !strings.Contains(msg, f+": no longer generated") {
			t.Errorf("-check -replaces old does not report %s as stale:\n%s", f, msg)
		}
	}
	run(1, "-name", "new", "-replaces", "new") // names itself
	run(2, "-name", "new", "-replaces", "../x")
	sameSnapshot(t, "after the refused runs", before, snapshot(t, dir))

	run(0, "-name", "new", "-replaces", "old")
	if left := listDir(t, dir, "zold_"); len(left) > 0 {
		t.Errorf("-replaces old left %q", left)
	}
	if len(listDir(t, dir, "znew_")) != len(olds) {
		t.Errorf("the renamed run wrote %q, want as many files as %q", listDir(t, dir, "znew_"), olds)
	}
	run(0, "-name", "new", "-check")
}

func listDir(t *testing.T, dir, prefix string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), prefix) {
			out = append(out, e.Name())
		}
	}
	slices.Sort(out)
	return out
}

// TestConflictsIgnoreOtherPrograms: a second program with its own entries
// in the same package is not a conflict, nor is a hand-written file.
func TestConflictsIgnoreOtherPrograms(t *testing.T) {
	dir := t.TempDir()
	for name, src := range map[string]string{
		"zother_stubs_amd64.go": header + "\n\npackage p\n\nfunc other_host() int64\n",
		"zother_stubs_amd64.s":  header + "\n\nTEXT ·other_host(SB), 4, $0-8\n",
		"hand.go":               "package p\n\nfunc answer_host() int64\n",
		"zhand.go":              "package p\n\nfunc answer_timens() int64\n",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ours := map[string][]byte{
		"znew_stubs_amd64.go": []byte(header + "\n\npackage p\n\nfunc answer_host() int64\nfunc answer_timens() int64\n"),
	}
	cs, err := conflicts(dir, "new", ours, nil)
	if err != nil || len(cs) != 0 {
		t.Errorf("conflicts = %v, %v; want none", cs, err)
	}
}
