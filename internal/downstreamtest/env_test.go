package downstreamtest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/module"
	modzip "golang.org/x/mod/zip"
)

var update = flag.Bool("update", false, "copy the regenerated files back into testdata/downstream")

const modulePath = "github.com/vdsogen/vdsogen"

// needToolchain skips tests that run the go command and git.
func needToolchain(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: the downstream tests run go generate and go test in a separate module (about 20 s)")
	}
	if runtime.GOOS != "linux" || runtime.GOARCH != "amd64" {
		t.Skipf("vdsogen generates linux/amd64 code; this is %s/%s", runtime.GOOS, runtime.GOARCH)
	}
	for _, tool := range []string{"go", "git"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not in PATH: %v", tool, err)
		}
	}
}

// root is the directory of this module.
func root(t testing.TB) string {
	t.Helper()
	dir, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "go.mod")); err != nil {
		t.Fatalf("module root: %v", err)
	}
	return dir
}

// downstreamDir is the committed example module.
func downstreamDir(t testing.TB) string { return filepath.Join(root(t), "testdata", "downstream") }

// copyDownstream copies the example module into dst and points its replace
// directive at this module's absolute path.
func copyDownstream(t testing.TB, dst string) {
	t.Helper()
	src := downstreamDir(t)
	err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if rel == "go.mod" {
			b = rewriteReplace(t, b, root(t))
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

const committedReplace = "replace " + modulePath + " => ../.."

func rewriteReplace(t testing.TB, gomod []byte, to string) []byte {
	t.Helper()
	if !bytes.Contains(gomod, []byte(committedReplace)) {
		t.Fatalf("testdata/downstream/go.mod lacks %q", committedReplace)
	}
	return bytes.Replace(gomod, []byte(committedReplace), []byte("replace "+modulePath+" => "+to), 1)
}

// goEnv is the environment of the go commands the tests run: the caller's
// caches, no workspace, module graph updates allowed, a fixed git identity.
func goEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "GOFLAGS=") || strings.HasPrefix(kv, "GOWORK=") {
			continue
		}
		env = append(env, kv)
	}
	flags := strings.TrimSpace(os.Getenv("GOFLAGS") + " -mod=mod")
	env = append(env, "GOFLAGS="+flags, "GOWORK=off", "GOTOOLCHAIN=local",
		"GIT_AUTHOR_NAME=downstream", "GIT_AUTHOR_EMAIL=downstream@example.com",
		"GIT_COMMITTER_NAME=downstream", "GIT_COMMITTER_EMAIL=downstream@example.com",
		"GIT_CONFIG_NOSYSTEM=1", "HOME="+os.Getenv("HOME"))
	return append(env, extra...)
}

// upstreamProxy is the module proxy list of the user's go command (go env
// GOPROXY), for a test's own proxy to fall back on.
func upstreamProxy() string {
	if out, err := exec.Command("go", "env", "GOPROXY").Output(); err == nil && strings.TrimSpace(string(out)) != "" {
		return strings.TrimSpace(string(out))
	}
	return "https://proxy.golang.org,direct"
}

// result is what one command did.
type result struct {
	out  string // stdout and stderr, interleaved
	code int
}

// run runs name args in dir; want is the exit code expected.
func run(t testing.TB, dir string, env []string, name string, args ...string) result {
	t.Helper()
	start := time.Now()
	cmd := exec.Command(name, args...)
	cmd.Dir, cmd.Env = dir, env
	out, err := cmd.CombinedOutput()
	r := result{out: string(out)}
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatalf("%s %s: %v", name, strings.Join(args, " "), err)
		}
		r.code = ee.ExitCode()
	}
	t.Logf("%s %s: exit %d in %v", name, strings.Join(args, " "), r.code, time.Since(start).Round(time.Millisecond))
	return r
}

// must runs a command that has to succeed.
func must(t testing.TB, dir string, env []string, name string, args ...string) string {
	t.Helper()
	r := run(t, dir, env, name, args...)
	if r.code != 0 {
		t.Fatalf("%s %s failed (exit %d):\n%s", name, strings.Join(args, " "), r.code, r.out)
	}
	return r.out
}

// gitInit makes dir a repository with everything in it committed.
func gitInit(t testing.TB, dir string, env []string) {
	t.Helper()
	must(t, dir, env, "git", "init", "-q", ".")
	must(t, dir, env, "git", "add", "-A")
	must(t, dir, env, "git", "commit", "-qm", "initial")
}

// fakeProxy writes a file-based module proxy (GOPROXY=file://...) that
// serves this module's working tree as a pseudo-version derived from its
// contents, so that a downstream module can go get it as a user would. It
// returns the proxy URL and the version.
//
// The version is unique to the tree's contents because the go command
// caches modules in GOMODCACHE by version; the test removes its copy from
// the shared cache when it ends.
func fakeProxy(t *testing.T) (url, version string) {
	t.Helper()
	// A file the module zip cannot hold makes the module impossible to
	// go get from a real proxy: report it, and serve the rest.
	src := root(t)
	checked, err := modzip.CheckDir(src)
	if len(checked.Invalid) > 0 {
		var bad []string
		for _, f := range checked.Invalid {
			bad = append(bad, fmt.Sprintf("\n\t%v", f.Err))
		}
		t.Errorf("this module cannot be published (go get would fail for every downstream user): files its module zip cannot hold:%s", strings.Join(bad, ""))
		src = t.TempDir()
		for _, f := range checked.Valid {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			f, _ = filepath.Rel(root(t), f)
			if err := os.MkdirAll(filepath.Join(src, filepath.Dir(f)), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(src, f), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	} else if err != nil {
		t.Fatalf("checking the module's files: %v", err)
	}
	var zipBuf bytes.Buffer
	probe := module.Version{Path: modulePath, Version: "v0.0.0-20000101000000-000000000000"}
	if err := modzip.CreateFromDir(&zipBuf, probe, src); err != nil {
		t.Fatalf("zipping the module: %v", err)
	}
	sum := sha256.Sum256(zipBuf.Bytes())
	version = "v0.0.0-20000101000000-" + hex.EncodeToString(sum[:6])
	mv := module.Version{Path: modulePath, Version: version}
	zipBuf.Reset()
	if err := modzip.CreateFromDir(&zipBuf, mv, src); err != nil {
		t.Fatalf("zipping the module: %v", err)
	}
	dir := t.TempDir()
	vdir := filepath.Join(dir, modulePath, "@v")
	if err := os.MkdirAll(vdir, 0o755); err != nil {
		t.Fatal(err)
	}
	gomod, err := os.ReadFile(filepath.Join(root(t), "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	info := fmt.Sprintf(`{"Version":%q,"Time":"2000-01-01T00:00:00Z"}`, version)
	for name, b := range map[string][]byte{
		filepath.Join(vdir, version+".zip"):       zipBuf.Bytes(),
		filepath.Join(vdir, version+".mod"):       gomod,
		filepath.Join(vdir, version+".info"):      []byte(info),
		filepath.Join(vdir, "list"):               nil,
		filepath.Join(dir, modulePath, "@latest"): []byte(info),
	} {
		if err := os.WriteFile(name, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { dropFromModCache(t, version) })
	return "file://" + filepath.ToSlash(dir), version
}

// dropFromModCache removes the fake version from the shared module cache
// (its files are read-only there).
func dropFromModCache(t *testing.T, version string) {
	out, err := exec.Command("go", "env", "GOMODCACHE").Output()
	if err != nil {
		t.Logf("go env GOMODCACHE: %v", err)
		return
	}
	cache := strings.TrimSpace(string(out))
	for _, p := range []string{
		filepath.Join(cache, modulePath+"@"+version),
		filepath.Join(cache, "cache", "download", modulePath, "@v", version+".zip"),
		filepath.Join(cache, "cache", "download", modulePath, "@v", version+".ziphash"),
		filepath.Join(cache, "cache", "download", modulePath, "@v", version+".mod"),
		filepath.Join(cache, "cache", "download", modulePath, "@v", version+".info"),
		filepath.Join(cache, "cache", "download", modulePath, "@v", version+".lock"),
	} {
		filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				os.Chmod(path, 0o755)
			}
			return nil
		})
		if err := os.RemoveAll(p); err != nil {
			t.Logf("cleaning the module cache: %v", err)
		}
	}
}
