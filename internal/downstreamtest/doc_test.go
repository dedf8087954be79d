package downstreamtest

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// A block is one fenced code block of go-generate.md with the doctest
// directive written just before it, if any:
//
//	<!-- doctest: exit N -->     the sh block below must exit with N (default 0)
//	<!-- doctest: output -->     every line of the block below must appear in
//	                             the output of the preceding sh block
//	<!-- doctest: from FILE -->  the block below appears verbatim in
//	                             testdata/downstream/FILE
type block struct {
	line      int // of the opening fence
	info      string
	directive string
	text      string
}

func parseBlocks(t *testing.T, doc string) []block {
	t.Helper()
	var out []block
	var cur *block
	directive := ""
	for i, l := range strings.Split(doc, "\n") {
		switch {
		case cur != nil && strings.TrimSpace(l) == "```":
			out = append(out, *cur)
			cur = nil
		case cur != nil:
			cur.text += l + "\n"
		case strings.HasPrefix(l, "```"):
			cur = &block{line: i + 1, info: strings.TrimSpace(strings.TrimPrefix(l, "```")), directive: directive}
			directive = ""
		case strings.HasPrefix(l, "<!-- doctest:"):
			directive = strings.TrimSpace(strings.TrimSuffix(strings.TrimPrefix(l, "<!-- doctest:"), "-->"))
		case strings.TrimSpace(l) != "":
			if directive != "" {
				t.Fatalf("go-generate.md:%d: directive %q is not followed by a code block", i+1, directive)
			}
		}
	}
	if cur != nil {
		t.Fatalf("go-generate.md:%d: unclosed code block", cur.line)
	}
	return out
}

// TestGoGenerateDoc runs every shell command of go-generate.md in order, in
// a fresh module holding the example's hand-written files, and checks the
// outputs and excerpts the document shows.
func TestGoGenerateDoc(t *testing.T) {
	needToolchain(t)
	t.Parallel()
	docPath := filepath.Join(root(t), "go-generate.md")
	src, err := os.ReadFile(docPath)
	if err != nil {
		t.Fatal(err)
	}
	blocks := parseBlocks(t, string(src))

	// The user's hand-written files; go.mod, go.sum and the generated
	// files come from the document's commands.
	dir := t.TempDir()
	entries, err := os.ReadDir(downstreamDir(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		n := e.Name()
		if e.IsDir() || n == "go.mod" || n == "go.sum" || strings.HasPrefix(n, "z") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(downstreamDir(t), n))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, n), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	proxy, version := fakeProxy(t)
	t.Logf("github.com/vdsogen/vdsogen@latest is %s", version)
	var env []string
	for _, kv := range goEnv() {
		if strings.HasPrefix(kv, "GOFLAGS=") {
			kv = "GOFLAGS=" + os.Getenv("GOFLAGS") // go.mod and go.sum as a user has them
		}
		env = append(env, kv)
	}
	env = append(env, "GOPROXY="+proxy+","+upstreamProxy(), "GONOSUMDB="+modulePath, "GONOSUMCHECK=1")
	must(t, dir, env, "git", "init", "-q", ".")

	var last *result
	ran := 0
	for _, b := range blocks {
		where := "go-generate.md:" + strconv.Itoa(b.line)
		switch {
		case b.info == "sh":
			want := 0
			if n, ok := strings.CutPrefix(b.directive, "exit "); ok {
				if want, err = strconv.Atoi(n); err != nil {
					t.Fatalf("%s: bad directive %q", where, b.directive)
				}
			} else if b.directive != "" {
				t.Fatalf("%s: directive %q does not apply to a sh block", where, b.directive)
			}
			r := run(t, dir, env, "bash", "-eo", "pipefail", "-c", b.text)
			if r.code != want {
				t.Fatalf("%s: exit %d, want %d:\n%s\noutput:\n%s", where, r.code, want, b.text, r.out)
			}
			last = &r
			ran++
		case b.directive == "output":
			if last == nil {
				t.Fatalf("%s: output block before any command", where)
			}
			for _, l := range strings.Split(strings.TrimRight(b.text, "\n"), "\n") {
				if !containsLine(last.out, l) {
					t.Errorf("%s: the document shows %q, the command printed:\n%s", where, l, last.out)
				}
			}
		case strings.HasPrefix(b.directive, "from "):
			file := strings.TrimSpace(strings.TrimPrefix(b.directive, "from "))
			have, err := os.ReadFile(filepath.Join(downstreamDir(t), file))
			if err != nil {
				t.Fatalf("%s: %v", where, err)
			}
			if !strings.Contains(string(have), b.text) {
				t.Errorf("%s: this excerpt is not in testdata/downstream/%s (update one of them):\n%s", where, file, b.text)
			}
		case b.directive != "":
			t.Errorf("%s: unknown directive %q", where, b.directive)
		case b.info == "" || b.info == "bash" || b.info == "shell" || b.info == "console":
			t.Errorf("%s: a %q block: write shell commands in ```sh blocks (which this test runs) and name the language of any other block", where, b.info)
		}
	}
	if ran < 10 {
		t.Errorf("ran %d sh blocks of go-generate.md; is the parser broken?", ran)
	}
}

// containsLine: want is a substring of some line of out.
func containsLine(out, want string) bool {
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, want) {
			return true
		}
	}
	return false
}
