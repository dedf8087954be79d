package gen

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"
	"github.com/mmcloughlin/avo/x86"

	"github.com/vdsogen/vdsogen/dsl"
)

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
