package main

import (
	"debug/elf"
	hexenc "encoding/hex"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/vdsogen/vdsogen/internal/vdsocopy"
)

// TestMain lets the scripts run vdsogen in-process: testscript re-executes
// this test binary as the command. (testscript.RunMain, which returns an
// exit code, is deprecated in favour of Main; run returns the code and
// main passes it to os.Exit.)
func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){"vdsogen": main})
}

// TestScript runs testdata/script/*.txtar. Each script starts with a copy
// of the reference vDSO's generated files in $WORK/vdso, and has the
// command `replace file old new` to corrupt one.
func TestScript(t *testing.T) {
	if testing.Short() {
		t.Skip("assembles with the Go toolchain")
	}
	env := map[string]string{}
	for _, k := range []string{"GOCACHE", "GOPATH", "GOMODCACHE", "GOROOT"} {
		out, err := exec.Command("go", "env", k).Output()
		if err != nil {
			t.Fatalf("go env %s: %v", k, err)
		}
		env[k] = strings.TrimSpace(string(out))
	}
	generated, err := filepath.Glob("../../../vdso/zclock_*")
	if err != nil || len(generated) == 0 {
		t.Fatalf("no generated files of the reference vDSO (%v)", err)
	}
	// The copy is a package of a module of its own, so that the stubs
	// rule can type-check the stubs' Go declarations.
	root, err := filepath.Abs("../../..")
	if err != nil {
		t.Fatal(err)
	}
	module, err := vdsocopy.ModuleFiles(root, "example.com/vdsocopy")
	if err != nil {
		t.Fatal(err)
	}
	testscript.Run(t, testscript.Params{
		Dir: "testdata/script",
		Setup: func(e *testscript.Env) error {
			for k, v := range env {
				e.Setenv(k, v)
			}
			dir := filepath.Join(e.WorkDir, "vdso")
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return err
			}
			for _, f := range generated {
				b, err := os.ReadFile(f)
				if err != nil {
					return err
				}
				if err := os.WriteFile(filepath.Join(dir, filepath.Base(f)), b, 0o644); err != nil {
					return err
				}
			}
			for name, b := range module {
				if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
					return err
				}
			}
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"replace":    editFile("replace file old new", replace),
			"exits":      exits,
			"sopatch":    editFile("sopatch file section offset hexbytes", sopatch),
			"jsonschema": jsonSchemaCmd,
		},
	})
}

// exits code command args...: runs command like exec and checks its exit
// status; stdout and stderr can be matched afterwards.
func exits(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: exits code command [args...]")
	}
	want, err := strconv.Atoi(args[0])
	ts.Check(err)
	got := 0
	if err := ts.Exec(args[1], args[2:]...); err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			ts.Fatalf("%v", err)
		}
		got = ee.ExitCode()
	}
	if got != want {
		ts.Fatalf("%s exited with status %d, want %d", args[1], got, want)
	}
}

// editFile makes a script command that rewrites a file, its first
// argument, in place: edit returns the new content of file name from its
// content b and the other arguments. usage is the command's usage line,
// one word per argument after the command's name.
func editFile(usage string, edit func(ts *testscript.TestScript, name string, b []byte, args []string) []byte) func(ts *testscript.TestScript, neg bool, args []string) {
	return func(ts *testscript.TestScript, neg bool, args []string) {
		if neg || len(args) != len(strings.Fields(usage))-1 {
			ts.Fatalf("usage: %s", usage)
		}
		path := ts.MkAbs(args[0])
		b, err := os.ReadFile(path)
		ts.Check(err)
		ts.Check(os.WriteFile(path, edit(ts, args[0], b, args[1:]), 0o644))
	}
}

// replace file old new: replaces the first occurrence of old in file.
func replace(ts *testscript.TestScript, name string, b []byte, args []string) []byte {
	old, new := args[0], args[1]
	if !strings.Contains(string(b), old) {
		ts.Fatalf("%s does not contain %q", name, old)
	}
	return []byte(strings.Replace(string(b), old, new, 1))
}

// sopatch file section offset hexbytes: overwrites bytes of an ELF file at
// an offset inside one of its sections (e.g. the GNU hash bloom filter at
// .gnu.hash+16), so that scripts corrupt images where the layout puts
// their parts.
func sopatch(ts *testscript.TestScript, name string, b []byte, args []string) []byte {
	f, err := elf.NewFile(strings.NewReader(string(b)))
	ts.Check(err)
	s := f.Section(args[0])
	if s == nil {
		ts.Fatalf("%s has no section %s", name, args[0])
	}
	off, err := strconv.ParseUint(args[1], 0, 64)
	ts.Check(err)
	data, err := hexenc.DecodeString(args[2])
	ts.Check(err)
	if off+uint64(len(data)) > s.Size {
		ts.Fatalf("%s+%d: %d bytes do not fit the %d-byte section", args[0], off, len(data), s.Size)
	}
	copy(b[s.Offset+off:], data)
	return b
}
