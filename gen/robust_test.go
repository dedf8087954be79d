package gen

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// goodPackage sets up the corpus module with the good program of
// testdata/bad/_prog built, and returns a function that makes a fresh
// package directory (name) holding its target.go.
func goodPackage(t *testing.T) (m *corpusModule, bin string, pkg func(name string) string) {
	t.Helper()
	m = newCorpusModule(t)
	prog := filepath.Join(m.dir, goodGenerator)
	copyTree(t, filepath.Join(badDir, goodGenerator), prog, nil)
	// Not trimmed: asm.go's recorded path is absolute, as with go run, so
	// the columns in the outputs resolve from any working directory.
	bin, err := m.build(prog, "good", false)
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile(filepath.Join(prog, "target.go"))
	if err != nil {
		t.Fatal(err)
	}
	asm, err := os.ReadFile(filepath.Join(prog, "asm.go"))
	if err != nil {
		t.Fatal(err)
	}
	pkg = func(name string) string {
		dir := filepath.Join(m.dir, name)
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(dir, "target.go"), src, 0o644)
		writeFile(t, filepath.Join(dir, "asm.go"), asm, 0o644)
		return dir
	}
	return m, bin, pkg
}

// generated reads the files a run wrote into dir (those whose names start
// with prefix, z or z<name>_), by name.
func generated(t *testing.T, dir, prefix string) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), prefix) {
			b, err := os.ReadFile(filepath.Join(dir, e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			files[e.Name()] = b
		}
	}
	return files
}

// TestDeterministicOutputs: the same program and inputs give byte-identical
// outputs (assembly, stubs, table and ELF images) whatever GOMAXPROCS, the
// working directory and the form of -out (relative or absolute), the
// environment, map iteration (every run is a new process with a new map
// seed) and whether the Go build cache is warm or empty.
func TestDeterministicOutputs(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the generator several times, once with an empty build cache (~15 s)")
	}
	t.Parallel()
	m, bin, pkg := goodPackage(t)
	base := pkg("base")
	r := runGenerator(t, bin, base, t.TempDir(), []string{"GOMAXPROCS=1"}, "-out", ".", "-elf")
	if r.code != 0 {
		t.Fatalf("base run failed (exit %d):\n%s", r.code, r.stderr)
	}
	want := generated(t, base, "z")
	if len(want) < 7 { // 2 images, 2 ELF images, stubs .go/.s, table
		t.Fatalf("base run wrote %q, want at least 7 files", sortedNames(want))
	}
	tests := []struct {
		name string
		// cwd returns the working directory for the package dir; out
		// the -out flag.
		cwd, out func(dir string) string
		env      []string
	}{
		{name: "GOMAXPROCS=2", env: []string{"GOMAXPROCS=2"}},
		{name: "GOMAXPROCS=8", env: []string{"GOMAXPROCS=8"}},
		{name: "absolute -out from the module root",
			cwd: func(string) string { return m.dir },
			out: func(dir string) string { return dir }},
		{name: "relative -out from another directory",
			cwd: func(string) string { return filepath.Join(m.dir, goodGenerator) },
			out: func(dir string) string { return filepath.Join("..", filepath.Base(dir)) }},
		{name: "another environment",
			env: []string{"VDSOGEN_NOISE=1", "LANG=C", "LC_ALL=de_DE.UTF-8", "TZ=Asia/Tokyo", "GODEBUG=randautoseed=0"}},
		{name: "empty build cache", env: []string{"GOCACHE=" + t.TempDir()}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := pkg("run" + string(rune('a'+i)))
			cwd, out := dir, "."
			if tt.cwd != nil {
				cwd, out = tt.cwd(dir), tt.out(dir)
			}
			r := runGenerator(t, bin, cwd, t.TempDir(), tt.env, "-out", out, "-elf")
			if r.code != 0 {
				t.Fatalf("exit %d:\n%s", r.code, r.stderr)
			}
			t.Logf("took %v", r.took.Round(time.Millisecond))
			sameFiles(t, tt.name, want, generated(t, dir, "z"))
		})
	}
}

// TestInterrupt: SIGINT, SIGTERM or SIGHUP while the harness builds stops
// the generator (within a minute: it kills its go build rather than wait for
// it) with exit status 1, the output directory (which
// holds a previous generation) is unchanged, and nothing is left in
// $TMPDIR: the harness killed its go build and removed its temporary
// module.
func TestInterrupt(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and interrupts a generator")
	}
	_, bin, pkg := goodPackage(t)
	dir := pkg("target")
	if r := runGenerator(t, bin, dir, t.TempDir(), nil, "-out", "."); r.code != 0 {
		t.Fatalf("first generation failed (exit %d):\n%s", r.code, r.stderr)
	}
	// A changed program whose outputs all differ would overwrite them.
	writeFile(t, filepath.Join(dir, "target.go"), []byte("package target\n\nvar page [64]byte\n\nvar other int\n"), 0o644)
	whileBuilding := func(t *testing.T, tmp string) {
		// The harness's temporary module appears in $TMPDIR; an empty
		// build cache makes the build take seconds, minutes on a busy
		// machine: this waits for the moment, it does not time anything.
		deadline := time.Now().Add(5 * time.Minute)
		for time.Now().Before(deadline) {
			if m, _ := filepath.Glob(filepath.Join(tmp, "vdsogen-harness-*", "work", "*")); len(m) > 0 {
				time.Sleep(200 * time.Millisecond) // let the compiler start
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
		t.Fatal("the harness did not start within 5 minutes")
	}
	for _, tt := range []struct {
		name string
		sig  syscall.Signal
		// when waits until the moment to interrupt.
		when func(t *testing.T, tmp string)
	}{
		{"SIGTERM while go build runs", syscall.SIGTERM, whileBuilding},
		{"SIGHUP while go build runs", syscall.SIGHUP, whileBuilding},
		{"while go build runs", syscall.SIGINT, whileBuilding},
		{"early", syscall.SIGINT, func(t *testing.T, tmp string) { time.Sleep(50 * time.Millisecond) }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before := snapshot(t, dir)
			tmp := t.TempDir()
			cmd := exec.Command(bin, "-out", ".")
			cmd.Dir = dir
			cmd.Env = append(os.Environ(), "TMPDIR="+tmp, "GOCACHE="+t.TempDir(), "GOWORK=off")
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			tt.when(t, tmp)
			sent := time.Now()
			if err := cmd.Process.Signal(tt.sig); err != nil {
				t.Fatal(err)
			}
			var err error
			select {
			case err = <-done:
			case <-time.After(time.Minute): // a hang, not a slow machine
				cmd.Process.Kill()
				<-done
				t.Fatalf("the generator did not exit within a minute of %v", tt.sig)
			}
			took := time.Since(sent)
			t.Logf("exited %v after %v: %v; stderr: %s", took.Round(time.Millisecond), tt.sig, err, stderr.String())
			if err == nil {
				t.Fatal("the interrupted generator exited with status 0")
			}
			if ee, ok := err.(*exec.ExitError); ok && ee.ExitCode() == 1 && !strings.Contains(stderr.String(), "interrupted") {
				t.Errorf("stderr does not say the run was interrupted: %q", stderr.String())
			}
			// A killed compiler that lingered could still write: look
			// again a little later.
			for range 2 {
				if left, _ := filepath.Glob(filepath.Join(tmp, "*")); len(left) > 0 {
					t.Errorf("left in $TMPDIR: %q", left)
				}
				time.Sleep(300 * time.Millisecond)
			}
			sameSnapshot(t, "after "+tt.sig.String(), before, snapshot(t, dir))
		})
	}
}
