package dsl

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"
	"github.com/mmcloughlin/avo/x86"

	"github.com/vdsogen/vdsogen/internal/callsite"
	"github.com/vdsogen/vdsogen/layout"
)

// next returns the line after the caller's: write it on the line before
// the call that an error must blame.
var next = callsite.NextLine

// thisFile is the absolute path of this file, as runtime reports it.
func thisFile(t *testing.T) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	return file
}

// colOf is the column of the first non-blank byte on a line of this file:
// every blamed call in these tests starts its line.
func colOf(t *testing.T, line int) int {
	t.Helper()
	src, err := os.ReadFile(thisFile(t))
	if err != nil {
		t.Fatal(err)
	}
	l := strings.Split(string(src), "\n")[line-1]
	return len(l) - len(strings.TrimLeft(l, " \t")) + 1
}

type wantErr struct {
	line int
	msg  []string // substrings of the message
}

func errorList(t *testing.T, err error) ErrorList {
	t.Helper()
	if err == nil {
		t.Fatal("Program succeeded, want an error")
	}
	var l ErrorList
	if !errors.As(err, &l) {
		t.Fatalf("error is %T, want ErrorList: %v", err, err)
	}
	return l
}

func checkErrs(t *testing.T, err error, want []wantErr) {
	t.Helper()
	l := errorList(t, err)
	if len(l) != len(want) {
		t.Fatalf("got %d errors, want %d:\n%v", len(l), len(want), err)
	}
	file := thisFile(t)
	for i, w := range want {
		e := l[i]
		p := e.Pos.Resolve()
		if p.File != file || p.Line != w.line {
			t.Errorf("error %d at %s:%d, want %s:%d: %v", i, p.File, p.Line, file, w.line, e)
		}
		if c := colOf(t, w.line); p.Col != c {
			t.Errorf("error %d at column %d, want %d: %v", i, p.Col, c, e)
		}
		// The text, as a user sees it, names the file relative to the
		// working directory (the package directory under go test).
		prefix := filepath.Base(file) + ":" + itoa(w.line) + ":" + itoa(colOf(t, w.line)) + ": "
		if !strings.HasPrefix(e.Error(), prefix) {
			t.Errorf("error %d = %q, want prefix %q", i, e.Error(), prefix)
		}
		for _, s := range w.msg {
			if !strings.Contains(e.Msg, s) {
				t.Errorf("error %d = %q, want it to contain %q", i, e.Msg, s)
			}
		}
	}
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}

func TestGoodProgram(t *testing.T) {
	b := New()
	pg := b.DataPage("page", 64)
	b.Entry("f", "func(x int64) int64")
	b.Add(x86.MOVQ(pg.At(8), reg.RAX))
	b.StaticBranch("timens", func() {
		b.Add(x86.ADDQ(operand.U8(1), reg.RAX))
	})
	b.ThreeLabel("timens", func() {
		b.Add(x86.ADDQ(operand.U8(2), reg.RAX))
	}, func() {
		b.Add(x86.RET())
	})
	b.Entry("g", "func()")
	b.Label("loop")
	b.NOP()
	b.Add(x86.JMP(L("loop")))
	prog, err := b.Program()
	if err != nil {
		t.Fatal(err)
	}
	if len(prog.Entries) != 2 || len(prog.Markers) != 2 || len(prog.Pages) != 1 {
		t.Fatalf("entries %d markers %d pages %d, want 2 2 1", len(prog.Entries), len(prog.Markers), len(prog.Pages))
	}
	for i, mk := range prog.Markers {
		if mk.ID != i {
			t.Errorf("marker %d has ID %d", i, mk.ID)
		}
	}
	if n := len(prog.Entries[0].Body); n != 3 {
		t.Errorf("entry f has %d nodes, want 3 (MOVQ, StaticBranch, ThreeLabel)", n)
	}
}

func TestMistakes(t *testing.T) {
	tests := []struct {
		name  string
		build func(b *Builder) []wantErr
	}{
		{"key pattern", func(b *Builder) []wantErr {
			b.Entry("f", "func()")
			l := next()
			b.StaticBranch("Bad-Key", func() { b.NOP() })
			b.Add(x86.RET())
			return []wantErr{{l, []string{`StaticBranch key "Bad-Key" must match`}}}
		}},
		{"key pattern three-label", func(b *Builder) []wantErr {
			b.Entry("f", "func()")
			l := next()
			b.ThreeLabel("", func() { b.NOP() }, func() { b.Add(x86.RET()) })
			b.Add(x86.RET())
			return []wantErr{{l, []string{`ThreeLabel key "" must match`}}}
		}},
		{"entry inside marker", func(b *Builder) []wantErr {
			b.Entry("f", "func()")
			var l int
			b.StaticBranch("a", func() {
				l = next()
				b.Entry("g", "func()")
				b.NOP()
			})
			b.Add(x86.RET())
			return []wantErr{{l, []string{`Entry "g" inside a marker block`}}}
		}},
		{"duplicate entry", func(b *Builder) []wantErr {
			first := next()
			b.Entry("f", "func()")
			b.Add(x86.RET())
			l := next()
			b.Entry("f", "func()")
			b.Add(x86.RET())
			return []wantErr{{l, []string{`duplicate entry "f"`, "first declared at dsl_test.go:" + itoa(first) + ":"}}}
		}},
		{"bad entry name", func(b *Builder) []wantErr {
			l := next()
			b.Entry("1f", "func()")
			b.Add(x86.RET())
			return []wantErr{{l, []string{`entry name "1f" is not an identifier`}}}
		}},
		{"duplicate label", func(b *Builder) []wantErr {
			b.Entry("f", "func()")
			first := next()
			b.Label("x")
			b.NOP()
			l := next()
			b.Label("x")
			b.Add(x86.JMP(L("x")))
			return []wantErr{{l, []string{`label "x" defined twice`, "first at dsl_test.go:" + itoa(first) + ":"}}}
		}},
		{"duplicate label across entries", func(b *Builder) []wantErr {
			b.Entry("f", "func()")
			b.Label("x")
			b.Add(x86.RET())
			b.Entry("g", "func()")
			l := next()
			b.Label("x")
			b.Add(x86.RET())
			return []wantErr{{l, []string{`label "x" defined twice`}}}
		}},
		{"fall off end", func(b *Builder) []wantErr {
			b.Entry("f", "func()")
			b.Add(x86.RET())
			b.Entry("g", "func()")
			b.NOP()
			l := next()
			b.Add(x86.MOVQ(reg.RAX, reg.RBX))
			return []wantErr{{l, []string{`entry "g" can fall off its end`, "RET or JMP"}}}
		}},
		{"fall off end after conditional jump", func(b *Builder) []wantErr {
			b.Entry("f", "func()")
			b.Label("top")
			l := next()
			b.Add(x86.JNE(L("top")))
			return []wantErr{{l, []string{`entry "f" can fall off its end`}}}
		}},
		{"empty entry", func(b *Builder) []wantErr {
			l := next()
			b.Entry("f", "func()")
			return []wantErr{{l, []string{`entry "f" is empty`}}}
		}},
		{"outside an entry", func(b *Builder) []wantErr {
			// Each is reported, at its own line: mistakes are collected.
			instLine := next()
			b.Add(x86.MOVQ(reg.RAX, reg.RBX))
			labelLine := next()
			b.Label("x")
			markerLine := next()
			b.StaticBranch("k", func() { b.NOP() })
			b.Entry("f", "func()")
			b.Add(x86.RET())
			return []wantErr{
				{instLine, []string{"instruction outside an entry", "call Entry first"}},
				{labelLine, []string{"outside an entry"}},
				{markerLine, []string{"StaticBranch outside an entry"}},
			}
		}},
		{"label in three-label tail", func(b *Builder) []wantErr {
			b.Entry("f", "func()")
			var l int
			b.ThreeLabel("k", func() {
				b.NOP()
			}, func() {
				l = next()
				b.Label("t")
				b.Add(x86.RET())
			})
			return []wantErr{{l, []string{`label "t" inside a ThreeLabel tail`}}}
		}},
		{"tail not terminal", func(b *Builder) []wantErr {
			b.Entry("f", "func()")
			l := next()
			b.ThreeLabel("k", func() {
				b.NOP()
			}, func() {
				b.NOP()
			})
			b.Add(x86.RET())
			return []wantErr{{l, []string{`ThreeLabel "k": the tail must be a complete exit ending in RET or JMP`}}}
		}},
		{"empty tail", func(b *Builder) []wantErr {
			b.Entry("f", "func()")
			l := next()
			b.ThreeLabel("k", func() { b.NOP() }, nil)
			b.Add(x86.RET())
			return []wantErr{{l, []string{`ThreeLabel "k": the tail must be a complete exit`}}}
		}},
		{"empty apply", func(b *Builder) []wantErr {
			b.Entry("f", "func()")
			l := next()
			b.ThreeLabel("k", func() {}, func() { b.Add(x86.RET()) })
			return []wantErr{{l, []string{`ThreeLabel "k" has an empty apply block`}}}
		}},
		{"unregistered kind", func(b *Builder) []wantErr {
			b.Entry("f", "func()")
			l := next()
			b.Mark("no_such_kind", "k")
			b.Add(x86.RET())
			return []wantErr{{l, []string{`marker kind "no_such_kind" is not registered`}}}
		}},
		{"built-in kind through Mark, wrong blocks", func(b *Builder) []wantErr {
			b.Entry("f", "func()")
			l := next()
			b.Mark(layout.ThreeLabel, "k", Part("tail", func() { b.Add(x86.RET()) }), Part("apply", func() { b.NOP() }))
			b.Add(x86.RET())
			return []wantErr{{l, []string{`ThreeLabel "k" takes two blocks, apply and tail, not ["tail" "apply"]`}}}
		}},
		{"static call with code", func(b *Builder) []wantErr {
			b.Entry("g", "func()")
			b.Add(x86.RET())
			b.Entry("f", "func()")
			call := next()
			b.Mark(layout.StaticCall, "k", &Block{Name: "g"},
				Part("h", func() { b.NOP() }))
			b.Add(x86.RET())
			return []wantErr{
				{call, []string{`StaticCall "k": target "h" is not an entry`}},
				{call + 1, []string{`StaticCall "k": target "h" has code`}},
			}
		}},
		{"empty static branch", func(b *Builder) []wantErr {
			b.Entry("f", "func()")
			l := next()
			b.StaticBranch("k", func() {})
			b.Add(x86.RET())
			return []wantErr{{l, []string{`StaticBranch "k" has an empty body`}}}
		}},
		{"nil static branch", func(b *Builder) []wantErr {
			b.Entry("f", "func()")
			l := next()
			b.StaticBranch("k", nil)
			b.Add(x86.RET())
			return []wantErr{{l, []string{`StaticBranch "k" has an empty body`}}}
		}},
		{"undefined label", func(b *Builder) []wantErr {
			b.Entry("f", "func()")
			l := next()
			b.Add(x86.JMP(L("nowhere")))
			return []wantErr{{l, []string{`branch to undefined label "nowhere"`}}}
		}},
		{"undefined label in static branch body", func(b *Builder) []wantErr {
			b.Entry("f", "func()")
			var l int
			b.StaticBranch("k", func() {
				l = next()
				b.Add(x86.JNE(L("nowhere")))
			})
			b.Add(x86.RET())
			return []wantErr{{l, []string{`branch to undefined label "nowhere"`}}}
		}},
		{"undeclared data page", func(b *Builder) []wantErr {
			b.DataPage("page", 64)
			b.Entry("f", "func()")
			l := next()
			b.Add(x86.MOVQ(operand.Mem{Symbol: operand.Symbol{Name: "·other"}, Base: reg.StaticBase}, reg.RAX))
			b.Add(x86.RET())
			return []wantErr{{l, []string{"MOVQ refers to ·other, which is not a declared data page", "DataPage"}}}
		}},
		{"data page offset out of range", func(b *Builder) []wantErr {
			pg := b.DataPage("page", 64)
			b.Entry("f", "func()")
			l := next()
			b.Add(x86.MOVQ(pg.At(64), reg.RAX))
			b.Add(x86.RET())
			return []wantErr{{l, []string{`offset 64 of data page "page", outside its 64 bytes`}}}
		}},
		{"duplicate data page", func(b *Builder) []wantErr {
			b.DataPage("page", 64)
			l := next()
			b.DataPage("page", 64)
			b.Entry("f", "func()")
			b.Add(x86.RET())
			return []wantErr{{l, []string{`data page "page" declared twice`}}}
		}},
		{"data page size", func(b *Builder) []wantErr {
			l := next()
			b.DataPage("page", 0)
			b.Entry("f", "func()")
			b.Add(x86.RET())
			return []wantErr{{l, []string{`data page "page": size must be positive`}}}
		}},
		{"bad operands", func(b *Builder) []wantErr {
			b.Entry("f", "func()")
			l := next()
			b.Add(x86.MOVQ(reg.AL, reg.RBX))
			b.Add(x86.RET())
			return []wantErr{{l, []string{"MOVQ: "}}}
		}},
		{"bad operands in marker", func(b *Builder) []wantErr {
			b.Entry("f", "func()")
			var l int
			b.StaticBranch("k", func() {
				b.NOP()
				l = next()
				b.Add(x86.ADDQ(reg.RAX, operand.U8(1)))
			})
			b.Add(x86.RET())
			return []wantErr{{l, []string{"ADDQ: "}}}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := New()
			want := tt.build(b)
			_, err := b.Program()
			checkErrs(t, err, want)
		})
	}
}

// TestMarkerInsideMarker: a marker of any kind inside any block of any
// other kind is refused where it is written, naming where the outer one is.
func TestMarkerInsideMarker(t *testing.T) {
	outers := []struct {
		name  string
		line  int
		place func(b *Builder, fill func())
	}{
		{"StaticBranch body", next(), func(b *Builder, fill func()) {
			b.StaticBranch("a", func() { b.NOP(); fill() })
		}},
		{"ThreeLabel apply", next(), func(b *Builder, fill func()) {
			b.ThreeLabel("a", func() { b.NOP(); fill() }, func() { b.Add(x86.RET()) })
		}},
		{"ThreeLabel tail", next(), func(b *Builder, fill func()) {
			b.ThreeLabel("a", func() { b.NOP() }, func() { fill(); b.Add(x86.RET()) })
		}},
		{"Alternative choice", next(), func(b *Builder, fill func()) {
			b.Alternative("a", Alt("x", "", func() { b.NOP(); fill() }), Alt("y", "", func() { b.NOP() }))
		}},
	}
	inners := []struct {
		word  string
		line  int
		place func(b *Builder)
	}{
		{"StaticBranch", next(), func(b *Builder) {
			b.StaticBranch("b", func() { b.NOP() })
		}},
		{"ThreeLabel", next(), func(b *Builder) {
			b.ThreeLabel("b", func() { b.NOP() }, func() { b.Add(x86.RET()) })
		}},
		{"Alternative", next(), func(b *Builder) {
			b.Alternative("b", Alt("x", "", func() { b.NOP() }), Alt("y", "", func() { b.Bytes(0x90, 0x90) }))
		}},
		{"StaticCall", next(), func(b *Builder) {
			b.StaticCall("b", "g")
		}},
	}
	for _, o := range outers {
		for _, in := range inners {
			t.Run(o.name+"/"+in.word, func(t *testing.T) {
				b := New()
				b.Entry("f", "func()")
				o.place(b, func() { in.place(b) })
				b.Add(x86.RET())
				b.Entry("g", "func()")
				b.Add(x86.RET())
				_, err := b.Program()
				checkErrs(t, err, []wantErr{{in.line, []string{in.word + " inside another marker", "(at dsl_test.go:" + itoa(o.line) + ":", "cannot nest"}}})
			})
		}
	}
}

func TestEmptyProgram(t *testing.T) {
	_, err := New().Program()
	l := errorList(t, err)
	if len(l) != 1 || !strings.Contains(l[0].Msg, "the program declares no entry") {
		t.Fatalf("got %v, want one error saying the program declares no entry", err)
	}
	// There is no source line to blame; the text must not pretend there is.
	if s := l[0].Error(); strings.Contains(s, ":0:") {
		t.Fatalf("regression: the error of an empty program reads %q: Pos{File: \"-\"} formats as a fake -:0:1 position (dsl/check.go:11 and Pos.String in dsl/pos.go only special-case File == \"\"); use Pos{} instead", s)
	}
}

// TestManyMistakes checks that every mistake of a program is reported at
// once, in source order, even when they are recorded out of order (a check
// that only runs at the end, like fall-through, comes first in the file).
func TestManyMistakes(t *testing.T) {
	b := New()
	l1 := next()
	b.Add(x86.MOVQ(reg.RAX, reg.RBX))
	b.Entry("f", "func()")
	l2 := next()
	b.Add(x86.JMP(L("missing")))
	b.Entry("g", "func()")
	l3 := next()
	b.Add(x86.MOVQ(reg.AL, reg.RBX))
	l4 := next()
	b.StaticBranch("k", func() {})
	l5 := next()
	b.NOP()
	l6 := next()
	b.Entry("f", "func()")
	b.Add(x86.RET())
	_, err := b.Program()
	checkErrs(t, err, []wantErr{
		{l1, []string{"instruction outside an entry"}},
		{l2, []string{`undefined label "missing"`}},
		{l3, []string{"MOVQ: "}},
		{l4, []string{"empty body"}},
		{l5, []string{`entry "g" can fall off its end`}},
		{l6, []string{`duplicate entry "f"`}},
	})
	// The text lists them one a line, in the same order.
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != 6 {
		t.Fatalf("Error() has %d lines, want 6:\n%s", len(lines), err)
	}
	for i, l := range []int{l1, l2, l3, l4, l5, l6} {
		if !strings.HasPrefix(lines[i], "dsl_test.go:"+itoa(l)+":") {
			t.Errorf("line %d of Error() = %q, want it at dsl_test.go:%d", i, lines[i], l)
		}
	}
}

// TestReservedLabelPrefix: the generator names its own labels vg_... (see
// gen/expand.go); a user label with that prefix collides with them.
func TestReservedLabelPrefix(t *testing.T) {
	b := New()
	b.Entry("f", "func()")
	l := next()
	b.Label("vg_f_end")
	b.Add(x86.RET())
	_, err := b.Program()
	if err == nil {
		t.Fatalf("regression: dsl accepts label %q (line %d) although gen reserves the vg_ prefix for its own labels (gen/expand.go:81 says users may not use it; dsl/builder.go label() does not check it); the collision only shows as a toolchain error", "vg_f_end", l)
	}
	checkErrs(t, err, []wantErr{{l, []string{"vg_"}}})
}

// TestProgramTwice: asking for the program again gives the same answer.
func TestProgramTwice(t *testing.T) {
	b := New()
	b.Entry("f", "func()")
	b.Add(x86.RET())
	p1, err1 := b.Program()
	p2, err2 := b.Program()
	if err1 != nil || err2 != nil || p1 != p2 {
		t.Errorf("good program: %v / %v", err1, err2)
	}

	b = New()
	b.Entry("f", "func()")
	b.Add(x86.JMP(L("nowhere")))
	_, err1 = b.Program()
	_, err2 = b.Program()
	n1, n2 := len(errorList(t, err1)), len(errorList(t, err2))
	if n1 != 1 {
		t.Fatalf("first call: %d errors, want 1", n1)
	}
	if n2 != n1 {
		t.Fatalf("regression: a second Program() call reports %d errors instead of %d: dsl/builder.go Program runs check() again, which appends the whole-program errors to prog.errs a second time; run check once (or reset the check errors)", n2, n1)
	}
}

// TestChoiceMarkersAndRegions records an Alternative, a StaticCall and a
// Region and checks what the Program holds: the choices in order with
// their features and bodies, the targets, the region's body and abort
// handler, marker ids in program order, markers inside a region listed,
// and positions at the calls.
func TestChoiceMarkersAndRegions(t *testing.T) {
	b := New()
	pg := b.DataPage("page", 64)
	b.Entry("f", "func() int64")
	b.Label("retry")
	regionLine := next()
	b.Region("seq", func() {
		b.Add(x86.MOVQ(pg.At(0), reg.RCX))
		b.Alternative("tsc",
			Alt("plain", "", func() { b.Add(x86.RDTSC()) }),
			Alt("fenced", "lfence_rdtsc", func() { b.Add(x86.LFENCE()); b.Add(x86.RDTSC()) }),
		)
		b.Add(x86.CMPQ(reg.RCX, pg.At(0)))
		b.Add(x86.JNE(L("retry")))
	}, func() { b.Add(x86.JMP(L("retry"))) })
	callLine := next()
	b.StaticCall("pick", "g", "h")
	b.Add(x86.RET())
	b.Entry("g", "func() int64")
	b.Add(x86.RET())
	b.Entry("h", "func() int64")
	b.Add(x86.RET())
	prog, err := b.Program()
	if err != nil {
		t.Fatal(err)
	}
	if len(prog.Markers) != 2 || len(prog.Regions) != 1 {
		t.Fatalf("markers %d, regions %d; want 2 and 1", len(prog.Markers), len(prog.Regions))
	}
	alt := prog.Markers[0]
	if alt.Kind != layout.Alternative || alt.Key != "tsc" || alt.ID != 0 || len(alt.Blocks) != 2 {
		t.Fatalf("first marker %#v", prog.Markers[0])
	}
	if c := alt.Blocks[1]; c.Name != "fenced" || c.Feature != "lfence_rdtsc" || len(c.Body) != 2 {
		t.Errorf("choice 1: %q %q with %d nodes", c.Name, c.Feature, len(c.Body))
	}
	if got := alt.Decl().Names(); strings.Join(got, ",") != "plain,fenced" {
		t.Errorf("choice names = %q", got)
	}
	sc := prog.Markers[1]
	if sc.Kind != layout.StaticCall || sc.ID != 1 || strings.Join(sc.Decl().Names(), ",") != "g,h" || sc.Pos.Line != callLine || sc.Blocks[0].Body != nil {
		t.Errorf("second marker %#v", prog.Markers[1])
	}
	r := prog.Regions[0]
	if r.Name != "seq" || r.Pos.Line != regionLine || len(r.Body) != 4 || len(r.Abort) != 1 {
		t.Errorf("region %q at line %d with %d body and %d abort nodes", r.Name, r.Pos.Line, len(r.Body), len(r.Abort))
	}
	if r.Body[1] != Node(alt) {
		t.Errorf("the alternative is not the region's second node")
	}
}

// TestErrorList: the list prints one mistake a line and unwraps to them.
func TestErrorList(t *testing.T) {
	l := ErrorList{
		{Pos: Pos{File: "/x/a.go", Line: 3, Col: 2}, Msg: "first"},
		{Pos: Pos{File: "/x/a.go", Line: 9, Col: 1}, Msg: "second"},
	}
	if got, want := l.Error(), "/x/a.go:3:2: first\n/x/a.go:9:1: second"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	var e *Error
	if !errors.As(error(l), &e) || e != l[0] {
		t.Errorf("errors.As finds %v, want the first mistake", e)
	}
	if got := (ErrorList{}).Error(); got != "" {
		t.Errorf("empty list: %q", got)
	}
}
