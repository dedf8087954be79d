package verify

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/vdsogen/vdsogen/internal/vdsocopy"
	"github.com/vdsogen/vdsogen/layout"
)

// clockFiles spells the names of vdso's generated files.
const clockFiles = layout.Files("clock")

// stubFiles are vdso's generated files a stubs fixture copies: both
// layout tables (the JSON is the one Load reads), every variant's
// assembly and the stub files.
var stubFiles = []string{clockFiles.Table(), clockFiles.TableJSON(), clockFiles.Asm("host"), clockFiles.Asm("timens"), clockFiles.Asm("nomarker"), stubsS, stubsGo}

// referenceTable is vdso's JSON layout table, as Load reads it.
func referenceTable(t *testing.T) *layout.Table {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("../../vdso", clockFiles.TableJSON()))
	if err != nil {
		t.Fatal(err)
	}
	tb, err := layout.DecodeJSON(b)
	if err != nil {
		t.Fatal(err)
	}
	return tb
}

// startOf is how a stubs finding names offset off of variant's image:
// the entry starting there, or the image.
func startOf(tb *layout.Table, variant string, off int) string {
	v, _ := tb.Variant(variant)
	for _, e := range v.Entries {
		if e.Offset == off {
			return fmt.Sprintf(", entry %s of variant %s", e.Name, variant)
		}
	}
	return fmt.Sprintf(", variant %s's image", variant)
}

// editTable applies edit to the JSON layout table among files (the table
// Load reads), as a hand edit or a stale table would change it.
func editTable(t *testing.T, files map[string][]byte, edit func(tb *layout.Table)) {
	t.Helper()
	name := clockFiles.TableJSON()
	tb, err := layout.DecodeJSON(files[name])
	if err != nil {
		t.Fatal(err)
	}
	edit(tb)
	if files[name], err = tb.EncodeJSON(); err != nil {
		t.Fatal(err)
	}
}

// stubFixture writes vdso's generated files, with edit applied, into a
// module of their own (downstream's go.mod and go.sum, replacing vdsogen
// with this checkout) and returns the package directory.
func stubFixture(t *testing.T, edit func(files map[string][]byte)) string {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	files, err := vdsocopy.ModuleFiles(root, "example.com/stubfixture")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range stubFiles {
		b, err := os.ReadFile(filepath.Join(root, "vdso", name))
		if err != nil {
			t.Fatal(err)
		}
		files[name] = b
	}
	if edit != nil {
		edit(files)
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// verifyDir loads, assembles and verifies the program in dir.
func verifyDir(t *testing.T, dir string) (*Input, *Report) {
	t.Helper()
	pkg, err := Load([]string{dir})
	if err != nil {
		t.Fatal(err)
	}
	in, err := pkg.Assemble(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return in, Verify(in)
}

// The clean fixture, assembled once, for the cases that patch the input.
var cleanStubs struct {
	once sync.Once
	dir  string
	in   *Input
	r    *Report
}

func cleanStubInput(t *testing.T) *Input {
	t.Helper()
	cleanStubs.once.Do(func() {
		dir, err := os.MkdirTemp("", "stubs-clean-")
		if err != nil {
			t.Fatal(err)
		}
		sub := stubFixture(t, nil)
		if err := os.CopyFS(dir, os.DirFS(sub)); err != nil {
			t.Fatal(err)
		}
		cleanStubs.dir = dir
		cleanStubs.in, cleanStubs.r = verifyDir(t, dir)
	})
	if cleanStubs.in == nil {
		t.Fatal("the clean stubs fixture did not assemble")
	}
	in := clone(cleanStubs.in)
	in.Stubs = cloneStubs(cleanStubs.in.Stubs)
	return in
}

func TestMain(m *testing.M) {
	code := m.Run()
	if cleanStubs.dir != "" {
		os.RemoveAll(cleanStubs.dir)
	}
	os.Exit(code)
}

func cloneStubs(s *StubFiles) *StubFiles {
	c := *s
	c.Text = slices.Clone(s.Text)
	c.Decls = slices.Clone(s.Decls)
	c.Linked = maps.Clone(s.Linked)
	for name, img := range c.Linked {
		c.Linked[name] = Image{Addr: img.Addr, Bytes: bytes.Clone(img.Bytes)}
	}
	return &c
}

// stubFindings are the findings of the stubs rule.
func stubFindings(r *Report) []Finding {
	var out []Finding
	for _, f := range r.Findings {
		if f.Check == "stubs" {
			out = append(out, f)
		}
	}
	return out
}

func TestStubsClean(t *testing.T) {
	for _, dir := range []string{"../../vdso", "../../testdata/downstream"} {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			in, r := verifyDir(t, dir)
			for _, f := range r.Findings {
				t.Errorf("%s", f)
			}
			// Every stub the table implies was linked and checked.
			n := 0
			for _, v := range in.Table.Variants {
				n += 1 + len(v.Entries)
			}
			if len(in.Stubs.Linked) != n || len(in.Stubs.Decls) != n {
				t.Errorf("%d stubs linked and %d declared, want %d of each", len(in.Stubs.Linked), len(in.Stubs.Decls), n)
			}
		})
	}
	t.Run("renamed stub files", func(t *testing.T) {
		// A generator run with -stubs callers.go writes callers.go and
		// callers.s: found by the address function the assembly defines.
		dir := stubFixture(t, func(fs map[string][]byte) {
			fs["callers.s"], fs["callers.go"] = fs[stubsS], fs[stubsGo]
			delete(fs, stubsS)
			delete(fs, stubsGo)
		})
		in, r := verifyDir(t, dir)
		for _, f := range r.Findings {
			t.Errorf("%s", f)
		}
		// One stub per entry and variant, one address function per image.
		want := len(in.Table.Variants) * (len(in.Table.Variants[0].Entries) + 1)
		if in.Stubs.AsmFile != "callers.s" || in.Stubs.GoFile != "callers.go" || len(in.Stubs.Linked) != want {
			t.Errorf("stub files %s, %s with %d stubs linked, want callers.s, callers.go with %d", in.Stubs.AsmFile, in.Stubs.GoFile, len(in.Stubs.Linked), want)
		}
	})
	t.Run("fixture", func(t *testing.T) {
		cleanStubInput(t)
		for _, f := range cleanStubs.r.Findings {
			t.Errorf("%s", f)
		}
	})
}

// lineOf returns "file:line" of the only line of files[file] containing
// text (after the edit), the position a finding must cite.
func lineOf(t *testing.T, files map[string][]byte, file, text string) string {
	t.Helper()
	var found []int
	sc := bufio.NewScanner(bytes.NewReader(files[file]))
	for n := 1; sc.Scan(); n++ {
		if strings.Contains(sc.Text(), text) {
			found = append(found, n)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%q is on lines %v of %s, want exactly one", text, found, file)
	}
	return fmt.Sprintf("%s:%d", file, found[0])
}

// lineAfter returns "file:line" of the first line containing text in the
// stub the edit at offset edited is in (from its TEXT line on).
func lineAfter(t *testing.T, b []byte, file string, edited int, text string) string {
	t.Helper()
	from := max(bytes.LastIndex(b[:min(edited+len("TEXT "), len(b))], []byte("\nTEXT ")), 0)
	i := bytes.Index(b[from:], []byte(text))
	if i < 0 {
		t.Fatalf("%q is not in %s after offset %d", text, file, from)
	}
	return fmt.Sprintf("%s:%d", file, 1+bytes.Count(b[:from+i], []byte("\n")))
}

// replaceOnce replaces the only occurrence of old in files[file].
func replaceOnce(t *testing.T, files map[string][]byte, file, old, new string) {
	t.Helper()
	if n := bytes.Count(files[file], []byte(old)); n != 1 {
		t.Fatalf("%q occurs %d times in %s, want once", old, n, file)
	}
	files[file] = bytes.Replace(files[file], []byte(old), []byte(new), 1)
}

var (
	stubsS  = layout.StubsAsm(clockFiles.Stubs())
	stubsGo = clockFiles.Stubs()
)

// A stubMutation corrupts a copy of vdso's generated files and names the
// finding of the stubs rule that must follow.
type stubMutation struct {
	name string
	// file is edited by replacing old (once) with new; at is text of
	// the line the finding must cite after the edit ("" cites the file).
	file, old, new, at string
	// table, if set, edits the JSON table Load reads instead of a
	// file's text; at is then the text of the stub line cited.
	table          func(tb *layout.Table)
	variant, entry string
	msg            string
}

// TestStubMutations corrupts the stub files on a copy of vdso's generated
// files, re-assembles and verifies: each corruption is one finding class
// of the stubs rule, reported for the stub's variant and entry at the line
// (file:line or file:line:col) a user must fix.
func TestStubMutations(t *testing.T) {
	// The stubs call the entries where the reference table puts them.
	ref := referenceTable(t)
	off := func(variant, entry string) int { return entryNamed(t, ref, variant, entry).Offset }
	call := func(variant, entry string) string {
		return fmt.Sprintf("CALL ·clock_%s+%d(SB)", variant, off(variant, entry))
	}
	// The line an edit introduces, which the finding must cite.
	firstLine := func(s string) string {
		line, _, _ := strings.Cut(strings.TrimLeft(s, "\n\t"), "\n")
		return line
	}
	// callsInstead: the stub of entry in variant calls target (a CALL or
	// JMP line) instead of its entry.
	callsInstead := func(name, variant, entry, target, msg string) stubMutation {
		return stubMutation{name: name, file: stubsS, old: call(variant, entry), new: target, at: target, variant: variant, entry: entry, msg: msg}
	}
	// beforeCall and afterCall: the stub of entry in variant has new
	// instead of old just before its CALL (the argument loads) or just
	// after it (the result store).
	beforeCall := func(name, variant, entry, old, new, msg string) stubMutation {
		c := call(variant, entry)
		return stubMutation{name: name, file: stubsS, old: old + c, new: new + c, at: firstLine(new), variant: variant, entry: entry, msg: msg}
	}
	afterCall := func(name, variant, entry, old, new, msg string) stubMutation {
		c := call(variant, entry)
		return stubMutation{name: name, file: stubsS, old: c + old, new: c + new, at: firstLine(new), variant: variant, entry: entry, msg: msg}
	}
	// textLine: the TEXT line of stub has rest new instead of old after
	// its name.
	textLine := func(name, stub, old, new, variant, entry, msg string) stubMutation {
		text := "TEXT ·" + stub + "(SB)"
		return stubMutation{name: name, file: stubsS, old: text + ", " + old, new: text + ", " + new, at: text, variant: variant, entry: entry, msg: msg}
	}
	// declares: the Go declaration of stub has the signature (and body)
	// new instead of old after its name.
	declares := func(name, stub, old, new, variant, entry, msg string) stubMutation {
		fn := "func " + stub
		return stubMutation{name: name, file: stubsGo, old: fn + old, new: fn + new, at: fn + "(", variant: variant, entry: entry, msg: msg}
	}
	cases := []stubMutation{
		callsInstead("wrong entry offset", "host", "clock_gettime", call("host", "clock_gettime_tl"),
			fmt.Sprintf("reaches clock_host+%#x, entry clock_gettime_tl of variant host; want CALL clock_host+%#x(SB)", off("host", "clock_gettime_tl"), off("host", "clock_gettime"))),
		callsInstead("offset inside an entry", "timens", "clock_getres", fmt.Sprintf("CALL ·clock_timens+%d(SB)", off("timens", "clock_getres")+1),
			fmt.Sprintf("reaches clock_timens+%#x, variant timens's image; want CALL clock_timens+%#x(SB)", off("timens", "clock_getres")+1, off("timens", "clock_getres"))),
		callsInstead("wrong variant symbol", "host", "clock_gettime", call("timens", "clock_gettime"),
			fmt.Sprintf("reaches clock_timens+%#x, entry clock_gettime of variant timens", off("timens", "clock_gettime"))),
		callsInstead("standalone stub calls a shared image", "nomarker", "time", call("host", "time"),
			fmt.Sprintf("reaches clock_host+%#x, entry time of variant host", off("host", "time"))),
		callsInstead("calls another stub", "host", "time", "CALL ·clock_getres_host(SB)", "reaches clock_getres_host+0x0"),
		{name: "tail jump instead of a call", file: stubsS,
			old: call("timens", "gettimeofday"), new: "JMP ·clock_timens+592(SB)", at: "MOVQ tv+0(FP), DI",
			// Without a call the assembler adds no frame: the first
			// instruction differs, and every FP slot with it.
			variant: "timens", entry: "gettimeofday", msg: "a different instruction; want PUSHQ BP"},
		beforeCall("swapped argument registers", "host", "clock_gettime", "MOVL clockid+0(FP), DI\n\tMOVQ ts+8(FP), SI\n\t", "MOVL clockid+0(FP), SI\n\tMOVQ ts+8(FP), DI\n\t",
			"register ESI instead of EDI; want MOVL 0x10(SP), DI (argument 1 clockid"),
		beforeCall("argument in a callee-saved register", "nomarker", "gettimeofday", "MOVQ tz+8(FP), SI\n\t", "MOVQ tz+8(FP), BX\n\t", "register RBX instead of RSI"),
		beforeCall("wrong FP offset", "timens", "time", "MOVQ t+0(FP), DI\n\t", "MOVQ t+8(FP), DI\n\t", "frame slot 0x18(SP) (+8(FP)) instead of 0x10(SP) (+0(FP))"),
		beforeCall("64-bit load of an int32", "timens", "clock_gettime", "MOVL clockid+0(FP), DI\n\tMOVQ ts+8(FP), SI\n\t", "MOVQ clockid+0(FP), DI\n\tMOVQ ts+8(FP), SI\n\t", "register RDI instead of EDI"),
		beforeCall("32-bit load of a pointer", "host", "clock_getres", "MOVQ res+8(FP), SI\n\t", "MOVL res+8(FP), SI\n\t", "register ESI instead of RSI"),
		// MOVLQSX is a 64-bit sign extension, not the C ABI's 32-bit load.
		beforeCall("sign-extended int32", "host", "clock_gettime_tl", "MOVL clockid+0(FP), DI\n\tMOVQ ts+8(FP), SI\n\t", "MOVLQSX clockid+0(FP), DI\n\tMOVQ ts+8(FP), SI\n\t",
			"a different instruction; want MOVL 0x10(SP), DI"),
		{name: "missing result store", file: stubsS,
			old: call("host", "gettimeofday") + "\n\tMOVL AX, ret+16(FP)\n", new: call("host", "gettimeofday") + "\n", at: "RET",
			variant: "host", entry: "gettimeofday", msg: "a different instruction; want MOVL AX, 0x20(SP) (the result (4 bytes) from EAX to ret+16(FP))"},
		afterCall("result stored to an argument slot", "host", "time", "\n\tMOVQ AX, ret+8(FP)", "\n\tMOVQ AX, t+0(FP)", "frame slot 0x10(SP) (+0(FP)) instead of 0x18(SP) (+8(FP))"),
		afterCall("result stored 8 bytes wide", "timens", "clock_gettime", "\n\tMOVL AX, ret+16(FP)", "\n\tMOVQ AX, ret+16(FP)", "register RAX instead of EAX"),
		afterCall("result from the wrong register", "nomarker", "clock_gettime", "\n\tMOVL AX, ret+16(FP)", "\n\tMOVL DX, ret+16(FP)", "register EDX instead of EAX"),
		beforeCall("stray store through an argument", "timens", "clock_getres", "", "MOVQ $0, (SI)\n\t",
			fmt.Sprintf("a different instruction; want CALL clock_timens+%#x(SB)", off("timens", "clock_getres"))),
		{name: "instruction after RET", file: stubsS,
			old: "MOVQ AX, ret+8(FP)\n\tRET\n\n// func time_nomarker", new: "MOVQ AX, ret+8(FP)\n\tRET\n\tINT $3\n\n// func time_nomarker", at: "INT $3",
			variant: "host", entry: "time", msg: "goes on after its RET"},
		textLine("not NOSPLIT", "time_host", "NOSPLIT, $0-16", "$0-16", "host", "time", "stub time_host: a different instruction; want PUSHQ BP"),
		textLine("wrong argument size", "clock_gettime_host", "NOSPLIT, $0-20", "NOSPLIT, $0-16", "host", "clock_gettime", "declares frame $0-16; its signature func(clockid int32, ts *vdso.Timespec) int32 needs $0-20"),
		textLine("flags beyond NOSPLIT", "clock_getres_timens", "NOSPLIT, $0-20", "NOSPLIT|TOPFRAME, $0-20", "timens", "clock_getres", `stub clock_getres_timens has flags "NOSPLIT|TOPFRAME"; a stub is NOSPLIT and nothing else`),
		{name: "static helper among the stubs", file: stubsS,
			old: "// func clock_timens_addr", new: "TEXT ·helper<>(SB), NOSPLIT, $0-0\n\tRET\n\n// func clock_timens_addr", at: "TEXT ·helper<>(SB)",
			msg: "TEXT ·helper<> is no stub of the table"},
		{name: "missing stub", file: stubsS,
			old: "// func gettimeofday_nomarker(tv *Timeval, tz unsafe.Pointer) int32\nTEXT ·gettimeofday_nomarker(SB), NOSPLIT, $0-20\n\tMOVQ tv+0(FP), DI\n\tMOVQ tz+8(FP), SI\n\t" + call("nomarker", "gettimeofday") + "\n\tMOVL AX, ret+16(FP)\n\tRET\n", new: "",
			variant: "nomarker", entry: "gettimeofday", msg: fmt.Sprintf("no TEXT gettimeofday_nomarker: the stub of entry gettimeofday in variant nomarker (clock_nomarker+%#x)", off("nomarker", "gettimeofday"))},
		{name: "extra stub", file: stubsS,
			old: "// func clock_host_addr", new: "TEXT ·clock_settime_host(SB), NOSPLIT, $0-0\n\tRET\n\n// func clock_host_addr", at: "TEXT ·clock_settime_host",
			msg: "TEXT clock_settime_host is no stub of the table"},
		{name: "stub of a renamed entry", file: stubsS,
			old: "TEXT ·time_timens(SB)", new: "TEXT ·times_timens(SB)", at: "TEXT ·times_timens(SB)",
			msg: "TEXT times_timens is no stub of the table"},
		{name: "address function of the wrong image", file: stubsS,
			old: "TEXT ·clock_timens_addr(SB), NOSPLIT, $0-8\n\tLEAQ ·clock_timens+0(SB), AX", new: "TEXT ·clock_timens_addr(SB), NOSPLIT, $0-8\n\tLEAQ ·clock_host+0(SB), AX", at: "LEAQ ·clock_host+0(SB), AX",
			variant: "timens", msg: "stub clock_timens_addr: reaches clock_host+0x0" + startOf(ref, "host", 0) + "; want LEAQ clock_timens+0x0(SB), AX"},
		declares("Go declaration's result type changed", "time_host", "(t *int64) int64", "(t *int64) int32", "host", "time", fmt.Sprintf("func time_host is declared func(t *int64) int32; the stub of entry time in variant host (clock_host+%#x) must be \"func(t *int64) int64\"", off("host", "time"))),
		declares("Go declaration's parameter type changed", "clock_gettime_tl_timens", "(clockid int32, ts *Timespec) int32", "(clockid int32, ts *Timeval) int32", "timens", "clock_gettime_tl", "is declared func(clockid int32, ts *vdso.Timeval) int32"),
		declares("Go declaration of a wider argument", "clock_getres_nomarker", "(clockid int32, res *Timespec) int32", "(clockid int64, res *Timespec) int32", "nomarker", "clock_getres", "is declared func(clockid int64, res *vdso.Timespec) int32"),
		{name: "Go declaration missing", file: stubsGo,
			old: "func gettimeofday_host(tv *Timeval, tz unsafe.Pointer) int32\n", new: "",
			variant: "host", entry: "gettimeofday", msg: "no Go declaration of gettimeofday_host"},
		{name: "extra Go declaration", file: stubsGo,
			old: "func time_timens(t *int64) int64\n", new: "func time_timens(t *int64) int64\n\nfunc time_extra(t *int64) int64\n", at: "func time_extra(",
			msg: "func time_extra is no stub of the table"},
		declares("Go declaration with a body", "clock_nomarker_addr", "() unsafe.Pointer\n", "() unsafe.Pointer { return nil }\n", "nomarker", "", "func clock_nomarker_addr has a Go body"),
		declares("address function declared with a result of another type", "clock_host_addr", "() unsafe.Pointer\n", "() uintptr\n", "host", "", "func clock_host_addr is declared func() uintptr; the address function of image clock_host (variant host) must be func() unsafe.Pointer"),
		declares("Go declaration that does not type-check", "time_nomarker", "(t *int64) int64", "(t *Int64) int64", "nomarker", "time", "func time_nomarker: does not type-check: undefined: Int64"),
		{name: "table entry offset changed",
			// The nomarker variant's time entry moves by 16 bytes in the
			// table only: its stub still calls the old offset.
			table: func(tb *layout.Table) {
				v, _ := tb.Variant("nomarker")
				for i := range v.Entries {
					if v.Entries[i].Name == "time" {
						v.Entries[i].Offset += 16
					}
				}
			}, at: call("nomarker", "time"),
			variant: "nomarker", entry: "time", msg: fmt.Sprintf("reaches clock_nomarker+%#x, variant nomarker's image; want CALL clock_nomarker+%#x(SB)", off("nomarker", "time"), off("nomarker", "time")+16)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var files map[string][]byte
			edited := -1
			dir := stubFixture(t, func(fs map[string][]byte) {
				if c.table != nil {
					editTable(t, fs, c.table)
				} else {
					edited = bytes.Index(fs[c.file], []byte(c.old))
					replaceOnce(t, fs, c.file, c.old, c.new)
				}
				files = fs
			})
			var wantSource string
			switch {
			case c.table != nil:
				// The stub that disagrees with the table is cited.
				wantSource = lineOf(t, files, stubsS, c.at)
			case c.at != "":
				wantSource = lineAfter(t, files[c.file], c.file, edited, c.at)
			default:
				wantSource = c.file
			}
			_, r := verifyDir(t, dir)
			assertStubFinding(t, r, c.variant, c.entry, wantSource, c.msg)
		})
	}
}

// assertStubFinding requires a finding of the stubs rule for variant and
// entry at source whose message contains msg; a Go source position may
// carry a column.
func assertStubFinding(t *testing.T, r *Report, variant, entry, source, msg string) {
	t.Helper()
	fs := stubFindings(r)
	for _, f := range fs {
		v := ""
		if len(f.Variants) > 0 {
			v = f.Variants[0]
		}
		at := f.Source == source || strings.HasPrefix(f.Source, source+":")
		if v == variant && f.Entry == entry && at && strings.Contains(f.Msg, msg) {
			return
		}
	}
	var all []string
	for _, f := range r.Findings {
		all = append(all, f.String())
	}
	t.Errorf("no stubs finding for variant %q, entry %q at %s with %q; findings:\n%s", variant, entry, source, msg, strings.Join(all, "\n"))
}

// variantNamed is the record of variant name in table tb, for a test to
// read or corrupt.
func variantNamed(t *testing.T, tb *layout.Table, name string) *layout.Variant {
	t.Helper()
	for i := range tb.Variants {
		if tb.Variants[i].Name == name {
			return &tb.Variants[i]
		}
	}
	t.Fatalf("no variant %s", name)
	return nil
}

// entryNamed is the record of entry name of variant in table tb.
func entryNamed(t *testing.T, tb *layout.Table, variant, name string) *layout.Entry {
	t.Helper()
	v := variantNamed(t, tb, variant)
	for i := range v.Entries {
		if v.Entries[i].Name == name {
			return &v.Entries[i]
		}
	}
	t.Fatalf("no entry %s in variant %s", name, variant)
	return nil
}

// everyEntry calls set with the record of entry name in every variant of
// table tb, for a test to corrupt them alike.
func everyEntry(t *testing.T, tb *layout.Table, name string, set func(e *layout.Entry)) {
	t.Helper()
	for _, v := range tb.Variants {
		set(entryNamed(t, tb, v.Name, name))
	}
}

// TestStubTable corrupts the layout table the stubs rely on, on the clean
// fixture's input: each is a finding of the stubs rule about the table.
func TestStubTable(t *testing.T) {
	cases := []struct {
		name           string
		corrupt        func(t *testing.T, in *Input)
		variant, entry string
		msg            string
	}{
		{"signature differs across variants", func(t *testing.T, in *Input) {
			entryNamed(t, in.Table, "timens", "time").Signature = "func(t *int64) int32"
		}, "timens", "time", `entry time has signature "func(t *int64) int32" in variant timens but "func(t *int64) int64" in variant host`},
		{"signature missing", func(t *testing.T, in *Input) {
			entryNamed(t, in.Table, "host", "clock_gettime").Signature = ""
		}, "host", "clock_gettime", "the table records no signature for entry clock_gettime"},
		{"signature does not resolve", func(t *testing.T, in *Input) {
			entryNamed(t, in.Table, "nomarker", "clock_getres").Signature = "func(clockid int32, res *Timespek) int32"
		}, "nomarker", "clock_getres", `signature "func(clockid int32, res *Timespek) int32" of entry clock_getres does not resolve in the package`},
		{"signature the C ABI cannot carry", func(t *testing.T, in *Input) {
			everyEntry(t, in.Table, "clock_gettime", func(e *layout.Entry) { e.Signature = "func(clockid int32, ts Timespec) int32" })
		}, "host", "clock_gettime", "ts has type vdso.Timespec, which does not fit in a register"},
		{"seven parameters", func(t *testing.T, in *Input) {
			everyEntry(t, in.Table, "time", func(e *layout.Entry) { e.Signature = "func(a, b, c, d, e, f, g int64) int64" })
		}, "host", "time", "cannot be called with the C ABI"},
		{"variant declared twice", func(t *testing.T, in *Input) {
			variantNamed(t, in.Table, "nomarker").Name = "timens"
		}, "timens", "", "the table declares variant timens twice"},
		{"image symbol shared", func(t *testing.T, in *Input) {
			variantNamed(t, in.Table, "timens").Symbol = "clock_host"
		}, "timens", "", "variants timens and host both have image symbol clock_host"},
		{"entry declared twice", func(t *testing.T, in *Input) {
			entryNamed(t, in.Table, "host", "clock_getres").Name = "time"
		}, "host", "time", "the variant declares entry time twice"},
		{"entry missing from a variant", func(t *testing.T, in *Input) {
			v := variantNamed(t, in.Table, "nomarker")
			v.Entries = slices.DeleteFunc(v.Entries, func(e layout.Entry) bool { return e.Name == "clock_getres" })
		}, "nomarker", "clock_getres", "variant nomarker declares no entry clock_getres, variant host does"},
		{"stub named like an image", func(t *testing.T, in *Input) {
			// Entry "clock" has the stub clock_host: the host image's name.
			everyEntry(t, in.Table, "time", func(e *layout.Entry) { e.Name = "clock" })
		}, "host", "clock", "clock_host is both the image of variant host and the stub of entry clock in variant host"},
		{"two stubs of one name", func(t *testing.T, in *Input) {
			// Entry time_host in variant addr... is spelled by renaming an
			// entry so that its stub is another image's address function.
			everyEntry(t, in.Table, "time", func(e *layout.Entry) { e.Name = "clock_host" })
			variantNamed(t, in.Table, "host").Name = "addr"
		}, "addr", "clock_host", "clock_host_addr is both the stub of entry clock_host in variant addr"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := cleanStubInput(t)
			c.corrupt(t, in)
			r := Verify(in)
			found := false
			for _, f := range stubFindings(r) {
				v := ""
				if len(f.Variants) > 0 {
					v = f.Variants[0]
				}
				if v == c.variant && f.Entry == c.entry && strings.Contains(f.Msg, c.msg) {
					found = true
				}
			}
			if !found {
				for _, f := range r.Findings {
					t.Log(f)
				}
				t.Errorf("no stubs finding for variant %q, entry %q with %q", c.variant, c.entry, c.msg)
			}
		})
	}
}

// TestStubLinkedBytes patches a stub's linked bytes, as a linker or a
// later rewrite could: the rule reads the bytes, not the assembly text.
func TestStubLinkedBytes(t *testing.T) {
	ref := referenceTable(t)
	gettime, gettimeTL := entryNamed(t, ref, "host", "clock_gettime").Offset, entryNamed(t, ref, "host", "clock_gettime_tl").Offset
	cases := []struct {
		name    string
		stub    string
		patch   func(b []byte)
		off     int
		variant string
		entry   string
		msg     string
	}{
		{"call displaced", "clock_gettime_host", func(b []byte) {
			// PUSHQ BP; MOVQ SP, BP; MOVL; MOVQ; CALL rel32 at 13.
			rel := binary.LittleEndian.Uint32(b[14:])
			binary.LittleEndian.PutUint32(b[14:], rel+uint32(gettimeTL-gettime))
		}, 13, "host", "clock_gettime", fmt.Sprintf("reaches clock_host+%#x, entry clock_gettime_tl of variant host", gettimeTL)},
		{"load displacement", "time_timens", func(b []byte) {
			b[8] = 0x18 // MOVQ 0x10(SP), DI -> 0x18(SP)
		}, 4, "timens", "time", "frame slot 0x18(SP) (+8(FP)) instead of 0x10(SP) (+0(FP))"},
		{"store register", "clock_getres_nomarker", func(b []byte) {
			// MOVL AX, 0x20(SP) at 18: ModRM 0x44 -> 0x4c (ECX).
			b[19] = 0x4c
		}, 18, "nomarker", "clock_getres", "register ECX instead of EAX"},
		{"RET made a trap", "time_host", func(b []byte) {
			b[len(b)-1] = 0xcc
		}, 20, "host", "time", "a different instruction; want RET"},
		{"frame pointer not restored", "gettimeofday_timens", func(b []byte) {
			b[len(b)-2] = 0x90 // POPQ BP -> NOP
		}, 23, "timens", "gettimeofday", "a different instruction; want POPQ BP"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := cleanStubInput(t)
			img, ok := in.Stubs.Linked[c.stub]
			if !ok {
				t.Fatalf("no stub %s linked", c.stub)
			}
			c.patch(img.Bytes)
			r := Verify(in)
			for _, f := range stubFindings(r) {
				if len(f.Variants) == 1 && f.Variants[0] == c.variant && f.Entry == c.entry && f.Offset == c.off && strings.Contains(f.Msg, c.msg) && strings.HasPrefix(f.Source, stubsS+":") {
					return
				}
			}
			for _, f := range r.Findings {
				t.Log(f)
			}
			t.Errorf("no stubs finding for %s at offset %#x with %q", c.stub, c.off, c.msg)
		})
	}
}

// TestStubSteps pins the instruction sequences the rule expects on widths
// the reference vDSO does not use: narrow arguments are widened to 32
// bits with the extension of their signedness, and results stored at
// their width.
func TestStubSteps(t *testing.T) {
	in := cleanStubInput(t)
	v := &in.Table.Variants[0]
	// The stub calls the first entry where the table puts it.
	callFirst := fmt.Sprintf("CALL %s%+#x(SB)", v.Symbol, v.Entries[0].Offset)
	cases := []struct {
		sig  string
		want []string
	}{
		{"func(a int8, b uint16, c bool, d int64, e uintptr, f int16) uint8", []string{
			"PUSHQ BP", "MOVQ SP, BP",
			"MOVBLSX 0x10(SP), DI", "MOVWLZX 0x12(SP), SI", "MOVBLZX 0x14(SP), DX", "MOVQ 0x18(SP), CX", "MOVQ 0x20(SP), R8", "MOVWLSX 0x28(SP), R9",
			callFirst, "MOVB AL, 0x30(SP)", "POPQ BP", "RET"}},
		{"func()", []string{"PUSHQ BP", "MOVQ SP, BP", callFirst, "POPQ BP", "RET"}},
		{"func(x int32) int16", []string{"PUSHQ BP", "MOVQ SP, BP", "MOVL 0x10(SP), DI", callFirst, "MOVW AX, 0x18(SP)", "POPQ BP", "RET"}},
	}
	for _, c := range cases {
		sig, err := in.Stubs.Signature(c.sig)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, st := range stubSteps(&wantStub{kind: entryStub, variant: v, entry: v.Entries[0], sig: sig}) {
			got = append(got, showWant(st))
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("%s:\n got %q\nwant %q", c.sig, got, c.want)
		}
	}
	// The sizes and offsets agree with the toolchain's own ABI0 frame
	// (the arguments size in each TEXT line of the reference stubs).
	for _, tx := range in.Stubs.Text {
		if tx.Frame != 0 || tx.Args < 0 {
			t.Errorf("TEXT %s: frame $%d-%d", tx.Name, tx.Frame, tx.Args)
		}
	}
}

// TestStubFilesMissing: a package without its stub files is one finding
// (not one per stub), at the missing file.
func TestStubFilesMissing(t *testing.T) {
	for _, c := range []struct {
		remove, source, msg string
	}{
		{stubsS, stubsS, "no stub files: no zclock_stubs_amd64.s"},
		{stubsGo, stubsS, "has no Go file zclock_stubs_amd64.go declaring the stubs"},
	} {
		t.Run(c.remove, func(t *testing.T) {
			dir := stubFixture(t, func(fs map[string][]byte) { delete(fs, c.remove) })
			_, r := verifyDir(t, dir)
			fs := stubFindings(r)
			if len(fs) != 1 || fs[0].Source != c.source || !strings.Contains(fs[0].Msg, c.msg) {
				for _, f := range r.Findings {
					t.Log(f)
				}
				t.Fatalf("want one stubs finding at %s with %q", c.source, c.msg)
			}
		})
	}
}
