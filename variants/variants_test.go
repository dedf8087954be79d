package variants

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/pelletier/go-toml/v2"
)

var update = flag.Bool("update", false, "rewrite the expected .err and .out files under testdata/variants")

const testdata = "../testdata/variants"

// testFiles returns the testdata files matching pattern, at least one.
func testFiles(t testing.TB, pattern string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(testdata, pattern))
	if err != nil || len(files) == 0 {
		t.Fatalf("no files match %s: %v", pattern, err)
	}
	return files
}

// golden compares got with the file at path, or rewrites it with -update.
func golden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs (run go test -update to accept)\ngot:\n%s\nwant:\n%s", path, got, want)
	}
}

// dump prints a set in the form of the good/*.out files.
func dump(s *Set) string {
	var b strings.Builder
	fmt.Fprintf(&b, "file %q\nkeys %s\n", s.File, strings.Join(s.Keys, " "))
	for _, v := range s.Variants {
		kind := "shared"
		if v.Standalone {
			kind = "standalone"
		}
		fmt.Fprintf(&b, "variant %s %s at %s\n", v.Name, kind, v.Pos)
		for _, k := range s.Keys {
			if c, ok := v.Choices[k]; ok {
				fmt.Fprintf(&b, "\t%s = %q at %s (value at %s)\n", k, c, v.KeyPos[k], v.ValuePos[k])
				continue
			}
			fmt.Fprintf(&b, "\t%s = %v at %s\n", k, v.Keys[k], v.KeyPos[k])
		}
	}
	return b.String()
}

// checkErrorList checks that err is a non-empty ErrorList, sorted, with
// every position valid in a file named file.
func checkErrorList(t testing.TB, file string, err error) ErrorList {
	t.Helper()
	var list ErrorList
	if !errors.As(err, &list) {
		t.Fatalf("error is a %T, not an ErrorList: %v", err, err)
	}
	if len(list) == 0 {
		t.Fatal("an empty ErrorList was returned as an error")
	}
	for i, e := range list {
		if e.Pos.File != file || e.Pos.Line < 1 || e.Pos.Col < 1 {
			t.Errorf("bad position %+v in %q", e.Pos, e)
		}
		if i > 0 && e.Pos.before(list[i-1].Pos) {
			t.Errorf("errors not sorted: %q before %q", list[i-1], e)
		}
	}
	return list
}

func TestBuiltin(t *testing.T) {
	s := Builtin()
	want := &Set{
		Variants: []Variant{
			{Name: "host", Keys: map[string]bool{"timens": false}},
			{Name: "timens", Keys: map[string]bool{"timens": true}},
		},
		Keys: []string{"timens"},
	}
	if !reflect.DeepEqual(s, want) {
		t.Errorf("Builtin() = %+v, want %+v", s, want)
	}
	if len(s.Shared()) != 2 {
		t.Errorf("Builtin has %d shared variants, want 2", len(s.Shared()))
	}
	// Every call returns a fresh set.
	s.Variants[0].Keys["timens"] = true
	if Builtin().Variants[0].Keys["timens"] {
		t.Error("Builtin returns shared state")
	}
	if err := Builtin().CheckUsed(nil); err != nil {
		t.Errorf("CheckUsed on the built-in set: %v", err)
	}
}

// TestBasic checks the example of the package documentation in full.
func TestBasic(t *testing.T) {
	const file = "variants.toml"
	data, err := os.ReadFile(filepath.Join(testdata, "good/basic.toml"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := Parse(file, data)
	if err != nil {
		t.Fatal(err)
	}
	at := func(line, col int) Pos { return Pos{File: file, Line: line, Col: col} }
	want := &Set{
		File: file,
		Variants: []Variant{
			{Name: "host", Keys: map[string]bool{"timens": false}, Pos: at(2, 1), KeyPos: map[string]Pos{"timens": at(3, 1)}},
			{Name: "timens", Keys: map[string]bool{"timens": true}, Pos: at(5, 1), KeyPos: map[string]Pos{"timens": at(6, 1)}},
			{Name: "nomarker", Keys: map[string]bool{"timens": false}, Standalone: true, Pos: at(8, 1), KeyPos: map[string]Pos{"timens": at(10, 1)}},
		},
		Keys: []string{"timens"},
	}
	if !reflect.DeepEqual(s, want) {
		t.Errorf("Parse:\n%s\nwant:\n%s", dump(s), dump(want))
	}

	shared := s.Shared()
	if len(shared) != 2 || shared[0].Name != "host" || shared[1].Name != "timens" {
		t.Errorf("Shared() = %+v", shared)
	}
	v, ok := s.Lookup("nomarker")
	if !ok || v != &s.Variants[2] {
		t.Errorf("Lookup(nomarker) = %p, %v; want %p", v, ok, &s.Variants[2])
	}
	if v, ok := s.Lookup("missing"); ok || v != nil {
		t.Errorf("Lookup(missing) = %v, %v", v, ok)
	}
}

// parseEach parses every file of testdata that pattern matches, in a
// subtest named after the file, and hands Parse's results to check.
func parseEach(t *testing.T, pattern string, check func(t *testing.T, path string, s *Set, err error)) {
	for _, path := range testFiles(t, pattern) {
		t.Run(strings.TrimSuffix(filepath.Base(path), ".toml"), func(t *testing.T) {
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			s, err := Parse(filepath.Base(path), data)
			check(t, path, s, err)
		})
	}
}

func TestGoodFiles(t *testing.T) {
	parseEach(t, "good/*.toml", func(t *testing.T, path string, s *Set, err error) {
		if err != nil {
			t.Fatalf("Parse: %v", err)
		}
		if !sort.StringsAreSorted(s.Keys) {
			t.Errorf("Keys not sorted: %q", s.Keys)
		}
		for _, v := range s.Variants {
			if len(v.Keys)+len(v.Choices) != len(s.Keys) || len(v.KeyPos) != len(s.Keys) || len(v.ValuePos) != len(v.Choices) {
				t.Errorf("variant %s has keys %v, the set %q", v.Name, v.Keys, s.Keys)
			}
		}
		golden(t, strings.TrimSuffix(path, ".toml")+".out", dump(s))
	})
}

func TestBadFiles(t *testing.T) {
	parseEach(t, "bad/*.toml", func(t *testing.T, path string, s *Set, err error) {
		if err == nil {
			t.Fatalf("Parse succeeded:\n%s", dump(s))
		}
		if s != nil {
			t.Errorf("Parse returned a set with an error")
		}
		checkErrorList(t, filepath.Base(path), err)
		golden(t, strings.TrimSuffix(path, ".toml")+".err", err.Error()+"\n")
	})
}

func TestTooLarge(t *testing.T) {
	good, err := os.ReadFile(filepath.Join(testdata, "good/basic.toml"))
	if err != nil {
		t.Fatal(err)
	}
	// Valid TOML, only too large.
	big := append(good, bytes.Repeat([]byte("# padding\n"), maxFileSize/10)...)
	const want = "big.toml:1:1: file is larger than 1 MiB (1048576 bytes); a variants file defines a few variants"
	_, err = Parse("big.toml", big)
	if err == nil || err.Error() != want {
		t.Errorf("Parse: %v\nwant %s", err, want)
	}
	if _, err := Parse("big.toml", big[:maxFileSize]); err != nil {
		t.Errorf("Parse of exactly 1 MiB: %v", err)
	}

	path := filepath.Join(t.TempDir(), "big.toml")
	if err := os.WriteFile(path, big, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = Load(path)
	checkErrorList(t, path, err)
	if want := path + want[len("big.toml"):]; err.Error() != want {
		t.Errorf("Load: %v\nwant %s", err, want)
	}
}

func TestLoad(t *testing.T) {
	path := filepath.Join(testdata, "good/basic.toml")
	s, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if s.File != path || len(s.Variants) != 3 || s.Variants[0].Pos.File != path {
		t.Errorf("Load(%s):\n%s", path, dump(s))
	}

	missing := filepath.Join(t.TempDir(), "nope.toml")
	_, err = Load(missing)
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), missing) {
		t.Errorf("Load(%s) = %v; want a not-exist error naming the path", missing, err)
	}
	var list ErrorList
	if errors.As(err, &list) {
		t.Errorf("an I/O error is an ErrorList: %v", err)
	}

	dir := t.TempDir()
	if _, err := Load(dir); err == nil || !strings.Contains(err.Error(), dir) {
		t.Errorf("Load(directory) = %v; want an error naming the path", err)
	}

	bad := filepath.Join(testdata, "bad/missing_key.toml")
	_, err = Load(bad)
	if list := checkErrorList(t, bad, err); len(list) != 2 {
		t.Errorf("Load(%s) = %v; want 2 errors", bad, err)
	}
}

func TestCheckUsed(t *testing.T) {
	data := []byte(`[variant.a]
y = true
x = false
z = false

[variant.b]
x = true
z = true
y = false
`)
	s, err := Parse("v.toml", data)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		used map[string]bool
		want string
	}{
		{map[string]bool{"x": true, "y": true, "z": true}, ""},
		{map[string]bool{"x": true, "y": true, "z": true, "other": false}, ""},
		{map[string]bool{"x": true, "y": false}, `v.toml:2:1: key "y" is set by variant "a" but no routine uses it; remove it or add a marker that uses it
v.toml:4:1: key "z" is set by variant "a" but no routine uses it; remove it or add a marker that uses it`},
		{nil, `v.toml:2:1: key "y" is set by variant "a" but no routine uses it; remove it or add a marker that uses it
v.toml:3:1: key "x" is set by variant "a" but no routine uses it; remove it or add a marker that uses it
v.toml:4:1: key "z" is set by variant "a" but no routine uses it; remove it or add a marker that uses it`},
	} {
		err := s.CheckUsed(tc.used)
		if tc.want == "" {
			if err != nil {
				t.Errorf("CheckUsed(%v) = %v; want nil", tc.used, err)
			}
			continue
		}
		if err == nil {
			t.Errorf("CheckUsed(%v) = nil; want\n%s", tc.used, tc.want)
			continue
		}
		checkErrorList(t, "v.toml", err)
		if err.Error() != tc.want {
			t.Errorf("CheckUsed(%v) =\n%v\nwant\n%s", tc.used, err, tc.want)
		}
	}
}

func TestPosString(t *testing.T) {
	for _, tc := range []struct {
		pos  Pos
		want string
	}{
		{Pos{"a/v.toml", 3, 7}, "a/v.toml:3:7"},
		{Pos{"", 3, 7}, "3:7"},
		{Pos{"v.toml", 0, 0}, "v.toml"},
		{Pos{}, "-"},
	} {
		if got := tc.pos.String(); got != tc.want {
			t.Errorf("%#v.String() = %q, want %q", tc.pos, got, tc.want)
		}
	}
	e := &Error{Pos{"v.toml", 1, 2}, "boom"}
	if got := e.Error(); got != "v.toml:1:2: boom" {
		t.Errorf("Error() = %q", got)
	}
	l := ErrorList{e, {Pos{"v.toml", 4, 1}, "bang"}}
	if got := l.Error(); got != "v.toml:1:2: boom\nv.toml:4:1: bang" {
		t.Errorf("ErrorList.Error() = %q", got)
	}
}

// TestManyErrors checks that a file with a huge number of problems gives a
// bounded list, quickly.
func TestManyErrors(t *testing.T) {
	var b bytes.Buffer
	for i := range 20000 {
		fmt.Fprintf(&b, "[variant.v%d]\nk%d = true\n", i, i)
	}
	_, err := Parse("many.toml", b.Bytes())
	list := checkErrorList(t, "many.toml", err)
	if len(list) != maxErrors+1 {
		t.Fatalf("%d errors, want %d", len(list), maxErrors+1)
	}
	want := `many.toml:1:1: variant "v0" does not set key "k1" (set by variant "v1" at many.toml:4:1); every variant must set every key`
	if got := list[0].Error(); got != want {
		t.Errorf("first error %s\nwant %s", got, want)
	}
	if got := list[maxErrors].Msg; !strings.HasPrefix(got, "too many errors") {
		t.Errorf("last error %q", got)
	}
}

func FuzzParse(f *testing.F) {
	for _, pattern := range []string{"good/*.toml", "bad/*.toml"} {
		for _, path := range testFiles(f, pattern) {
			data, err := os.ReadFile(path)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(data)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := Parse("f.toml", data)
		if err != nil {
			if s != nil {
				t.Error("Parse returned a set with an error")
			}
			checkErrorList(t, "f.toml", err)
			return
		}
		if len(s.Shared()) == 0 {
			t.Error("no shared variant")
		}
		if !sort.StringsAreSorted(s.Keys) {
			t.Errorf("Keys not sorted: %q", s.Keys)
		}
		// The same document as go-toml's decoder sees it.
		var doc map[string]any
		if err := toml.Unmarshal(bytes.TrimPrefix(data, []byte("\xef\xbb\xbf")), &doc); err != nil {
			t.Fatalf("accepted a document go-toml rejects: %v", err)
		}
		tables, _ := doc["variant"].(map[string]any)
		if len(doc) != 1 || len(tables) != len(s.Variants) {
			t.Fatalf("go-toml decodes %v; Parse gives\n%s", doc, dump(s))
		}
		for _, v := range s.Variants {
			want := map[string]any{}
			for k, b := range v.Keys {
				want[k] = b
			}
			for k, c := range v.Choices {
				want[k] = c
			}
			if v.Standalone {
				want["standalone"] = true
			}
			got, _ := tables[v.Name].(map[string]any)
			if got["standalone"] == false {
				delete(got, "standalone")
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("variant %s: go-toml decodes %v, Parse gives %v", v.Name, got, want)
			}
		}
		for _, v := range s.Variants {
			if !validName(v.Name) || v.Pos.Line < 1 || v.Pos.Col < 1 {
				t.Errorf("variant %q at %v", v.Name, v.Pos)
			}
			if len(v.Keys)+len(v.Choices) != len(s.Keys) {
				t.Errorf("variant %q sets %d keys, the set has %d", v.Name, len(v.Keys)+len(v.Choices), len(s.Keys))
			}
			for _, k := range s.Keys {
				if p := v.KeyPos[k]; !validName(k) || p.Line < 1 || p.Col < 1 {
					t.Errorf("key %q of %q at %v", k, v.Name, p)
				}
			}
		}
	})
}
