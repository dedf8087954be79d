package gen

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

var updateBad = flag.Bool("update-bad", false, "rewrite testdata/bad/*/want.txt from what the generator says")

// The bad-input corpus, testdata/bad: one directory per case, holding what
// a user's package directory would hold (asm.go, variants.toml, target.go,
// stale outputs) plus
//
//	want.txt   the generator's whole stderr; $DIR stands for the case's
//	           directory. A file starting with "TODO(" marks a case the
//	           generator does not reject yet: the test skips it.
//	args       the flags (default: -out . [-variants variants.toml])
//	modes.txt  "0444 name" lines: file modes to set after copying
//
// A file x.gz is copied as x, decompressed (the huge-file case). A case
// without asm.go runs testdata/bad/_prog/asm.go, a good program, with its
// own variants file or flags; a case without target.go gets _prog's.
const badDir = "../testdata/bad"

// minBadCases is the size the corpus must keep.
const minBadCases = 25

// goodGenerator is _prog's binary; its outputs in _prog's package are the
// "previous generation" every case starts from.
const goodGenerator = "_prog"

// corpusModule is a temporary module that requires this one through a
// replace directive, so that generator programs in it import
// github.com/vdsogen/vdsogen as a downstream repository does.
type corpusModule struct {
	dir  string // the module root
	root string // this module's root
	bin  string // where binaries go
	env  []string
}

// newCorpusModule makes the module in a fresh temporary directory, removed
// when the test ends.
func newCorpusModule(t *testing.T) *corpusModule {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	gomod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	// The programs import avo directly; require the version this module
	// uses so that the module graph is complete (-mod=readonly).
	m := regexp.MustCompile(`(?m)^\s*(?:require\s+)?github\.com/mmcloughlin/avo (v\S+)`).FindSubmatch(gomod)
	goLine := regexp.MustCompile(`(?m)^go \S+$`).Find(gomod)
	if m == nil || goLine == nil {
		t.Fatalf("cannot find the go line and avo's version in %s/go.mod", root)
	}
	dir := t.TempDir()
	c := &corpusModule{dir: filepath.Join(dir, "mod"), root: root, bin: filepath.Join(dir, "bin")}
	for _, d := range []string{c.dir, c.bin} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	mod := fmt.Sprintf("module example.com/corpus\n\n%s\n\nrequire (\n\tgithub.com/mmcloughlin/avo %s\n\tgithub.com/vdsogen/vdsogen v0.0.0\n)\n\nreplace github.com/vdsogen/vdsogen => %s\n", goLine, m[1], root)
	sum, err := os.ReadFile(filepath.Join(root, "go.sum"))
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(c.dir, "go.mod"), []byte(mod), 0o644)
	writeFile(t, filepath.Join(c.dir, "go.sum"), sum, 0o644)
	c.env = append(os.Environ(), "GOFLAGS=-mod=readonly", "GOPROXY=off", "GOWORK=off")
	return c
}

func writeFile(t *testing.T, path string, b []byte, mode fs.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, b, mode); err != nil {
		t.Fatal(err)
	}
}

// build compiles the generator program asm.go in dir of the module into a
// binary named name. With trim, asm.go's recorded path is just "asm.go":
// positions then resolve against the working directory, so one binary can
// serve every case directory that holds a copy of the same asm.go.
func (c *corpusModule) build(dir, name string, trim bool) (string, error) {
	bin := filepath.Join(c.bin, name)
	args := []string{"build", "-o", bin}
	if trim {
		args = append(args, "-gcflags=-trimpath="+dir)
	}
	cmd := exec.Command("go", append(args, "asm.go")...)
	cmd.Dir = dir
	cmd.Env = c.env
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build in %s: %v\n%s", dir, err, out)
	}
	return bin, nil
}

// buildAll compiles the generator programs of cases in one go build, which
// shares the loading and compiling of their common dependencies (a build
// per case costs a go command each): each asm.go is copied alone into
// progs/<case>, its //go:build ignore line blanked (lines keep their
// numbers; -tags ignore would also select the standard library's
// generator programs), built with its recorded path trimmed to
// "asm.go" so that positions resolve against the case directory the binary
// runs in, as they do for a program built there.
func (c *corpusModule) buildAll(cases []*badCase) error {
	// -mod=mod: packages of the module (unlike files named on the command
	// line) need every indirect requirement listed; the temporary go.mod
	// gets them from the module cache (GOPROXY=off).
	args := []string{"build", "-mod=mod", "-o", c.bin + string(filepath.Separator)}
	var pkgs []string
	for _, bc := range cases {
		dir := filepath.Join(c.dir, "progs", bc.name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		src, err := os.ReadFile(filepath.Join(bc.dir, "asm.go"))
		if err != nil {
			return err
		}
		src = bytes.Replace(src, []byte("//go:build ignore\n"), []byte("//\n"), 1)
		if err := os.WriteFile(filepath.Join(dir, "asm.go"), src, 0o644); err != nil {
			return err
		}
		args = append(args, "-gcflags=example.com/corpus/progs/"+bc.name+"=-trimpath="+dir)
		pkgs = append(pkgs, "./progs/"+bc.name)
		bc.bin = filepath.Join(c.bin, bc.name)
	}
	cmd := exec.Command("go", append(args, pkgs...)...)
	cmd.Dir = c.dir
	cmd.Env = c.env
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build of %d generator programs: %v\n%s", len(cases), err, out)
	}
	return nil
}

// run is one run of a generator binary.
type run struct {
	code           int
	stdout, stderr string
	took           time.Duration
}

// runGenerator runs bin in dir with args and extra environment, TMPDIR set
// to tmp (when not empty).
func runGenerator(t *testing.T, bin, dir, tmp string, env []string, args ...string) run {
	t.Helper()
	// A bound against a hung generator, not a timing: a cold build cache on
	// a saturated 2-core machine took over two minutes.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = dir
	cmd.Env = append(append(os.Environ(), "GOWORK=off"), env...)
	if tmp != "" {
		cmd.Env = append(cmd.Env, "TMPDIR="+tmp)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	r := run{stdout: stdout.String(), stderr: stderr.String(), took: time.Since(start)}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	default:
		t.Fatalf("running %s: %v", bin, err)
	}
	return r
}

// copyTree copies the files under src into dst: a path that exists in dst
// with another type is replaced, x.gz is written decompressed as x.
func copyTree(t *testing.T, src, dst string, skip func(rel string) bool) {
	t.Helper()
	if err := os.MkdirAll(dst, 0o755); err != nil {
		t.Fatal(err)
	}
	err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		if rel == "." || skip != nil && skip(rel) {
			return nil
		}
		to := filepath.Join(dst, rel)
		if d.IsDir() {
			if fi, err := os.Lstat(to); err == nil && !fi.IsDir() {
				os.Remove(to)
			}
			return os.MkdirAll(to, 0o755)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if name, ok := strings.CutSuffix(to, ".gz"); ok {
			zr, err := gzip.NewReader(bytes.NewReader(b))
			if err != nil {
				return err
			}
			if b, err = io.ReadAll(zr); err != nil {
				return err
			}
			to = name
		}
		if fi, err := os.Lstat(to); err == nil && fi.IsDir() {
			os.RemoveAll(to)
		}
		return os.WriteFile(to, b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// badCase is one case of the corpus, set up in the corpus module.
type badCase struct {
	name string
	src  string // testdata/bad/<name>
	dir  string // its copy in the module
	args []string
	want string
	todo bool
	own  bool // has its own asm.go
	bin  string
}

func loadBadCases(t *testing.T) []*badCase {
	t.Helper()
	ents, err := os.ReadDir(badDir)
	if err != nil {
		t.Fatal(err)
	}
	var cases []*badCase
	for _, e := range ents {
		if !e.IsDir() || strings.HasPrefix(e.Name(), "_") || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		c := &badCase{name: e.Name(), src: filepath.Join(badDir, e.Name()), args: []string{"-out", "."}}
		if b, err := os.ReadFile(filepath.Join(c.src, "args")); err == nil {
			c.args = strings.Fields(string(b))
		} else if _, err := os.Stat(filepath.Join(c.src, "variants.toml")); err == nil {
			c.args = append(c.args, "-variants", "variants.toml")
		} else if _, err := os.Stat(filepath.Join(c.src, "variants.toml.gz")); err == nil {
			c.args = append(c.args, "-variants", "variants.toml")
		}
		if b, err := os.ReadFile(filepath.Join(c.src, "want.txt")); err == nil {
			c.want = string(b)
			c.todo = strings.HasPrefix(c.want, "TODO(")
		} else if !*updateBad {
			t.Fatalf("case %s has no want.txt (run go test -run TestBadInputs -update-bad to create it)", c.name)
		}
		_, err := os.Stat(filepath.Join(c.src, "asm.go"))
		c.own = err == nil
		cases = append(cases, c)
	}
	if len(cases) < minBadCases {
		t.Errorf("the corpus holds %d cases, want at least %d", len(cases), minBadCases)
	}
	return cases
}

// caseFiles are the files of a case that are not inputs.
func caseFiles(rel string) bool { return rel == "want.txt" || rel == "args" || rel == "modes.txt" }

// setup copies a case into the module: the previous good generation (the
// outputs _prog wrote), then _prog's program and target package, then the
// case's own files; and sets the modes modes.txt asks for.
func (c *badCase) setup(t *testing.T, m *corpusModule, prev map[string][]byte) {
	t.Helper()
	c.dir = filepath.Join(m.dir, c.name)
	if err := os.Mkdir(c.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, b := range prev {
		writeFile(t, filepath.Join(c.dir, name), b, 0o644)
	}
	for _, f := range []string{"asm.go", "target.go"} {
		b, err := os.ReadFile(filepath.Join(badDir, goodGenerator, f))
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(c.dir, f), b, 0o644)
	}
	copyTree(t, c.src, c.dir, caseFiles)
	if b, err := os.ReadFile(filepath.Join(c.src, "modes.txt")); err == nil {
		for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			var mode, name string
			if _, err := fmt.Sscan(line, &mode, &name); err != nil {
				t.Fatalf("%s/modes.txt: %q: %v", c.src, line, err)
			}
			perm, err := strconv.ParseUint(mode, 8, 32)
			if err != nil {
				t.Fatalf("%s/modes.txt: %q: %v", c.src, line, err)
			}
			if err := os.Chmod(filepath.Join(c.dir, name), fs.FileMode(perm)); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// normalize makes the generator's stderr independent of where it ran.
func (c *badCase) normalize(s string, m *corpusModule) string {
	for _, r := range []struct{ from, to string }{{c.dir, "$DIR"}, {m.dir, "$MODULE"}, {m.root, "$ROOT"}} {
		s = strings.ReplaceAll(s, r.from, r.to)
	}
	return s
}

// parallelDo runs f for every element of xs, at most n at a time.
func parallelDo[T any](n int, xs []T, f func(T)) {
	sem := make(chan struct{}, n)
	var wg sync.WaitGroup
	for _, x := range xs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			f(x)
		}()
	}
	wg.Wait()
}

// TestBadInputs runs every case of testdata/bad as a user would (the
// generator program in the package directory, flags as go:generate gives
// them) in a directory that already holds a previous good generation, and
// checks that
//   - the generator exits with status 1 and its stderr is want.txt: the
//     error names the user's file:line:col (or the path at fault) and says
//     what to do;
//   - the directory is byte-for-byte unchanged: names, contents and modes,
//     no temporary file left, nothing added or removed;
//   - nothing is left in $TMPDIR (the harness cleans up).
func TestBadInputs(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs a generator program per case (~30 s)")
	}
	t.Parallel()
	start := time.Now()
	m := newCorpusModule(t)
	cases := loadBadCases(t)

	// The good program: build it, and run it once in its own package to
	// get the previous generation every case starts from.
	good := filepath.Join(m.dir, goodGenerator)
	copyTree(t, filepath.Join(badDir, goodGenerator), good, nil)
	goodBin, err := m.build(good, "good", true)
	if err != nil {
		t.Fatal(err)
	}
	if r := runGenerator(t, goodBin, good, t.TempDir(), nil, "-out", "."); r.code != 0 {
		t.Fatalf("the good program failed (exit %d):\n%s", r.code, r.stderr)
	}
	prev := generated(t, good, "ztarget_")
	if len(prev) < 5 {
		t.Fatalf("the good program wrote %d files, want at least 5", len(prev))
	}

	for _, c := range cases {
		c.setup(t, m, prev)
		c.bin = goodBin
	}
	var own []*badCase
	for _, c := range cases {
		if c.own {
			own = append(own, c)
		}
	}
	if err := m.buildAll(own); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d cases set up, %d programs built in %v", len(cases), len(own)+1, time.Since(start).Round(time.Millisecond))

	sem := make(chan struct{}, 4)
	t.Run("case", func(t *testing.T) {
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				t.Parallel()
				sem <- struct{}{}
				defer func() { <-sem }()
				c.check(t, m)
			})
		}
	})
	t.Logf("corpus of %d cases: %v in all", len(cases), time.Since(start).Round(time.Millisecond))
}

func (c *badCase) check(t *testing.T, m *corpusModule) {
	before := snapshot(t, c.dir)
	tmp := t.TempDir()
	r := runGenerator(t, c.bin, c.dir, tmp, nil, c.args...)
	got := c.normalize(r.stderr, m)
	if c.todo {
		if r.code == 0 {
			first, _, _ := strings.Cut(c.want, "\n")
			t.Skipf("%s (the generator accepts this input)", first)
		}
		t.Errorf("marked %q but the generator now rejects it (exit %d); record what it says with -update-bad:\n%s", strings.SplitN(c.want, "\n", 2)[0], r.code, got)
		return
	}
	t.Logf("exit %d after %v", r.code, r.took.Round(time.Millisecond))
	if r.code != 1 {
		t.Errorf("exit status %d, want 1; stderr:\n%s", r.code, got)
	}
	if r.stdout != "" {
		t.Errorf("stdout is not empty:\n%s", r.stdout)
	}
	if *updateBad {
		if err := os.WriteFile(filepath.Join(c.src, "want.txt"), []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	} else if got != c.want {
		t.Errorf("stderr differs from %s/want.txt (run with -update-bad to accept)\ngot:\n%s\nwant:\n%s", c.src, got, c.want)
	}
	if !strings.HasSuffix(got, "\n") || strings.TrimSpace(got) == "" {
		t.Errorf("stderr %q is not a non-empty message ending in a newline", got)
	}
	sameSnapshot(t, "after the failed run", before, snapshot(t, c.dir))
	if left, _ := os.ReadDir(tmp); len(left) > 0 {
		var names []string
		for _, e := range left {
			names = append(names, e.Name())
		}
		t.Errorf("left in $TMPDIR: %q", names)
	}
	c.checkPositioned(t, got)
}

// userPos is a position in the user's generator program or variants file.
var userPos = regexp.MustCompile(`(^|\s)(asm\.go|variants\.toml):\d+:\d+: `)

// pathCases are cases whose fault is a path, not a line: the message must
// name it (as the user gave it).
var pathCases = map[string]string{
	"missing_out_dir":       "-out ./nope: ",
	"out_not_a_package":     "./docs ",
	"pkg_mismatch":          "-pkg other",
	"missing_variants_file": "nope.toml",
	"readonly_output":       "ztarget_host_amd64.s ",
	"output_is_directory":   "ztarget_timens_amd64.s ",
	"renamed_program":       "ztarget_stubs_amd64.go: ",
}

// knownGaps are cases whose message does not name file:line:col yet, with
// where that is to be fixed. A case that gets its position fails until it
// is removed from here.
var knownGaps = map[string]string{}

// checkPositioned: the message names the user's file:line:col, or for a
// path fault the path.
func (c *badCase) checkPositioned(t *testing.T, got string) {
	t.Helper()
	ok := userPos.MatchString(got)
	if p, isPath := pathCases[c.name]; isPath {
		ok = strings.Contains(got, p)
	}
	gap, isGap := knownGaps[c.name]
	switch {
	case isGap && ok:
		t.Errorf("the message is positioned now: remove the case from knownGaps (%s)", gap)
	case isGap:
		t.Logf("known gap, message not positioned: %s", gap)
	case !ok && pathCases[c.name] != "":
		t.Errorf("the message does not name %q", pathCases[c.name])
	case !ok:
		t.Errorf("the message has no asm.go:line:col or variants.toml:line:col")
	}
}

// TestBadCorpusComplete: every case directory has its expected error,
// and each of the kinds of bad input is in the corpus.
func TestBadCorpusComplete(t *testing.T) {
	ents, err := os.ReadDir(badDir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		if e.IsDir() && !strings.HasPrefix(e.Name(), "_") {
			names = append(names, e.Name())
			if _, err := os.Stat(filepath.Join(badDir, e.Name(), "want.txt")); err != nil {
				t.Errorf("case %s: %v", e.Name(), err)
			}
		}
	}
	if len(names) < minBadCases {
		t.Errorf("%d cases, want at least %d", len(names), minBadCases)
	}
	for _, want := range []string{
		// variants files
		"syntax_error", "unknown_table", "unknown_top_key", "duplicate_variant", "key_set_twice", "wrong_type",
		"empty_file", "huge_file", "binary_garbage", "key_unused_by_program",
		// DSL programs
		"unknown_marker_key", "nested_markers", "duplicate_entry", "tail_does_not_fit", "falls_off_end",
		"site_cannot_be_placed", "undeclared_page", "page_not_in_package", "stack_differs_across_site",
		// toolchain and outputs
		"assembler_rejects", "missing_out_dir", "readonly_output", "output_is_directory",
		// adoption mistakes
		"no_gen_main", "no_gen_main_check", "no_build_ignore", "renamed_program", "unbalanced_push",
	} {
		if !slices.Contains(names, want) {
			t.Errorf("the corpus has no case %s", want)
		}
	}
}
