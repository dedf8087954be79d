package downstreamtest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
)

// TestScripts runs testdata/script/*.txtar. Each script starts in
// $WORK/ticks, a copy of testdata/downstream whose replace directive points
// at this module, with the go command using the caller's caches. Extra
// commands:
//
//	mtime set GLOB...  set the modification time of the matching files to 2000-01-01
//	mtime old GLOB...  every matching file still has that time (with !: some file does not)
//
// and the condition [cli]: gen/cmd/vdsogen exists, in which case it is
// built once and the vdsogen command is in PATH.
func TestScripts(t *testing.T) {
	needToolchain(t)
	t.Parallel()
	env := goEnv()
	goenv := map[string]string{}
	out, err := exec.Command("go", "env", "GOCACHE", "GOMODCACHE", "GOPATH", "GOPROXY", "GOSUMDB").Output()
	if err != nil {
		t.Fatalf("go env: %v", err)
	}
	for i, name := range []string{"GOCACHE", "GOMODCACHE", "GOPATH", "GOPROXY", "GOSUMDB"} {
		goenv[name] = strings.Split(strings.TrimRight(string(out), "\n"), "\n")[i]
	}
	cli := false
	bin := t.TempDir()
	if _, err := os.Stat(filepath.Join(root(t), "gen", "cmd", "vdsogen")); err == nil {
		cli = true
		// Without -mod=mod: building must not touch this module's go.mod.
		must(t, root(t), os.Environ(), "go", "build", "-o", filepath.Join(bin, "vdsogen"), "./gen/cmd/vdsogen")
	}
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata/script",
		RequireExplicitExec: true,
		Setup: func(e *testscript.Env) error {
			dir := filepath.Join(e.WorkDir, "ticks")
			copyDownstream(e.T().(testing.TB), dir)
			e.Cd = dir
			for k, v := range goenv {
				e.Setenv(k, v)
			}
			for _, kv := range env {
				k, v, _ := strings.Cut(kv, "=")
				if strings.HasPrefix(k, "GOFLAGS") || strings.HasPrefix(k, "GOWORK") || strings.HasPrefix(k, "GOTOOLCHAIN") {
					e.Setenv(k, v)
				}
			}
			e.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
			return nil
		},
		Condition: func(cond string) (bool, error) {
			if cond == "cli" {
				return cli, nil
			}
			return false, fmt.Errorf("unknown condition %q", cond)
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"mtime": cmdMtime,
		},
	})
}

var oldTime = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

func cmdMtime(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) < 2 || (args[0] != "set" && args[0] != "old") {
		ts.Fatalf("usage: mtime set|old GLOB...")
	}
	var files []string
	for _, g := range args[1:] {
		m, err := filepath.Glob(ts.MkAbs(g))
		ts.Check(err)
		if len(m) == 0 {
			ts.Fatalf("mtime: no file matches %s", g)
		}
		files = append(files, m...)
	}
	if args[0] == "set" {
		if neg {
			ts.Fatalf("unsupported: ! mtime set")
		}
		for _, f := range files {
			ts.Check(os.Chtimes(f, oldTime, oldTime))
		}
		return
	}
	var rewritten []string
	for _, f := range files {
		fi, err := os.Stat(f)
		ts.Check(err)
		if !fi.ModTime().Equal(oldTime) {
			rewritten = append(rewritten, filepath.Base(f))
		}
	}
	switch {
	case !neg && len(rewritten) > 0:
		ts.Fatalf("rewritten (modification time changed): %s", strings.Join(rewritten, " "))
	case neg && len(rewritten) == 0:
		ts.Fatalf("no file was rewritten")
	}
}
