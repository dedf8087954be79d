package gen

import (
	"bytes"
	"context"
	"debug/elf"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"
	"github.com/mmcloughlin/avo/x86"

	"github.com/vdsogen/vdsogen/dsl"
	"github.com/vdsogen/vdsogen/internal/elfimage"
	"github.com/vdsogen/vdsogen/internal/realtools"
	"github.com/vdsogen/vdsogen/layout"
)

// unwindLines are lines of unwindProgram, for the debuggers' answers.
type unwindLines struct {
	push, sub, fault, bodyFault, hostFault, applyFault, tailFault, spin int
}

// unwindProgram has routines that move RSP (which no reference routine
// does), so that an unwinder in the middle of their frames depends on the
// unwind tables: "pushes" faults 24 bytes deep inside a restartable region
// (whose abort handler is out of line at that depth), "branches" 16 bytes
// deep inside an out-of-line static branch body (key timens on) or 8 bytes
// deep on the host path, "tail" 8 bytes deep in a three-label region's
// apply (timens) or in its tail placed at l_call (host, no frame). Called
// with an unreadable pointer, each faults.
func unwindProgram(t *testing.T) (*dsl.Program, unwindLines) {
	var l unwindLines
	b := dsl.New()
	b.Entry("pushes", "func(p *TS) int64")
	l.push = nextLine()
	b.Add(x86.PUSHQ(reg.RBX))
	l.sub = nextLine()
	b.Add(x86.SUBQ(operand.U8(16), reg.RSP))
	b.Label("again")
	b.Region("load", func() {
		l.fault = nextLine()
		b.Add(x86.MOVQ(operand.Mem{Base: reg.RDI}, reg.RAX))
	}, func() {
		b.Add(x86.JMP(dsl.L("again")))
	})
	b.Add(x86.ADDQ(operand.U8(16), reg.RSP))
	b.Add(x86.POPQ(reg.RBX))
	b.Add(x86.RET())

	b.Entry("branches", "func(p *TS) int64")
	b.Add(x86.PUSHQ(reg.RBX))
	b.StaticBranch("timens", func() {
		b.Add(x86.PUSHQ(reg.RBP))
		l.bodyFault = nextLine()
		b.Add(x86.MOVQ(operand.Mem{Base: reg.RDI}, reg.RAX))
		b.Add(x86.POPQ(reg.RBP))
	})
	l.hostFault = nextLine()
	b.Add(x86.MOVQ(operand.Mem{Base: reg.RDI, Disp: 8}, reg.RAX))
	b.Add(x86.POPQ(reg.RBX))
	b.Add(x86.RET())

	b.Entry("tail", "func(p *TS) int64")
	b.ThreeLabel("timens", func() {
		b.Add(x86.PUSHQ(reg.RBX))
		l.applyFault = nextLine()
		b.Add(x86.MOVQ(operand.Mem{Base: reg.RDI, Disp: 16}, reg.RAX))
		b.Add(x86.POPQ(reg.RBX))
	}, func() {
		// A tail is assembled twice in the host variant and must be the
		// same bytes both times (no relative jump out), and Go's assembler
		// checks PUSH/POP balance in address order: it cannot pop what
		// apply pushed, so the frame is apply's.
		l.tailFault = nextLine()
		b.Add(x86.MOVQ(operand.Mem{Base: reg.RDI, Disp: 24}, reg.RAX))
		b.Add(x86.RET())
	})

	// spin counts DI down to zero 8 bytes deep: what a profiler samples.
	b.Entry("spin", "func(p *TS) int64")
	b.Add(x86.PUSHQ(reg.RBX))
	b.Label("spin_loop")
	l.spin = nextLine()
	b.Add(x86.DECQ(reg.RDI))
	b.Add(x86.JNE(dsl.L("spin_loop")))
	b.Add(x86.POPQ(reg.RBX))
	b.Add(x86.XORL(reg.EAX, reg.EAX))
	b.Add(x86.RET())
	return mustProgram(t, b), l
}

// unwindFixture generates unwindProgram's images once and builds the C
// program testdata/debug/backtrace.c.
var unwindFixture struct {
	once    sync.Once
	dir     string // the images, zvd_<variant>.so
	prog    string // the C program
	lines   unwindLines
	table   *layout.Table
	err     error
	skipped string
}

func setupUnwind(t *testing.T) (dir, prog string, lines unwindLines) {
	t.Helper()
	f := &unwindFixture
	f.once.Do(func() {
		gcc, err := exec.LookPath("gcc")
		if err != nil {
			f.skipped = "gcc is not installed: apt-get install gcc (.ci/run does)"
			return
		}
		p, l := unwindProgram(t)
		f.lines = l
		target, err := sharedTarget("vdsogen-unwind-")
		if err != nil {
			f.err = err
			return
		}
		o, err := Generate(context.Background(), p, Config{Name: "vd", Dir: target, ELF: true})
		if err != nil {
			f.err = err
			return
		}
		for name, b := range o.Files {
			if strings.HasSuffix(name, ".so") {
				if f.err = os.WriteFile(filepath.Join(target, name), b, 0o644); f.err != nil {
					return
				}
			}
		}
		f.dir = target
		f.table = o.Layout
		f.prog = filepath.Join(target, "backtrace")
		out, err := exec.Command(gcc, "-g", "-O0", "-rdynamic", "-o", f.prog, "testdata/debug/backtrace.c", "-ldl").CombinedOutput()
		if err != nil {
			f.err = fmt.Errorf("gcc: %v\n%s", err, out)
		}
	})
	if f.skipped != "" {
		t.Skip(f.skipped)
	}
	if f.err != nil {
		t.Fatal(f.err)
	}
	return f.dir, f.prog, f.lines
}

// frames returns the symbols of the frames one unwinder printed, and the
// offset in its object of the first frame in entry.
func frames(out, unwinder, entry string) (names []string, entryOff string) {
	for _, l := range strings.Split(out, "\n") {
		if f := strings.Fields(l); len(f) == 5 && f[0] == unwinder {
			names = append(names, f[3])
			if (f[3] == entry || f[3] == "__vdso_"+entry) && entryOff == "" {
				entryOff = f[4]
			}
		}
	}
	return names, entryOff
}

// reaches reports whether the frames pass through the entry (its
// __vdso_ or plain name) and then reach main.
func reaches(names []string, entry string) bool {
	inImage := false
	for _, n := range names {
		switch {
		case n == entry || n == "__vdso_"+entry:
			inImage = true
		case n == "main":
			return inImage
		}
	}
	return false
}

// TestUnwindBacktrace: in a signal handler that interrupted a routine of a
// loaded image in the middle of its frame (after pushes, inside a region,
// inside an out-of-line static branch body), glibc's backtrace() and
// libgcc's _Unwind_Backtrace walk through the image to main, using its
// .eh_frame found through PT_GNU_EH_FRAME. Without the tables the same walk
// stops in the image, so the test depends on them.
func TestUnwindBacktrace(t *testing.T) {
	dir, prog, l := setupUnwind(t)
	a2l := realtools.Need(t, "addr2line", "binutils")
	file := filepath.Base(callerFile())
	for _, c := range []struct {
		variant, entry string
		line           int // of the faulting instruction
	}{
		{"host", "pushes", l.fault},
		{"timens", "pushes", l.fault},
		{"host", "branches", l.hostFault},
		{"timens", "branches", l.bodyFault}, // in the static branch body
		{"host", "tail", l.tailFault},       // in the three-label tail at l_call
		{"timens", "tail", l.applyFault},    // in the three-label apply
	} {
		t.Run(c.variant+"/"+c.entry, func(t *testing.T) {
			image := filepath.Join(dir, "zvd_"+c.variant+".so")
			out, err := exec.Command(prog, image, "__vdso_"+c.entry).CombinedOutput()
			if err != nil || !strings.Contains(string(out), "done") {
				t.Fatalf("%v\n%s", err, out)
			}
			for _, u := range []string{"backtrace", "unwind"} {
				names, off := frames(string(out), u, c.entry)
				if !reaches(names, c.entry) {
					t.Errorf("%s does not reach main through %s: %v\n%s", u, c.entry, names, out)
					continue
				}
				// The frame in the image is the faulting instruction.
				src, err := exec.Command(a2l, "-e", image, off).CombinedOutput()
				if err != nil {
					t.Fatalf("addr2line: %v\n%s", err, src)
				}
				if got := strings.TrimSpace(string(src)); !strings.HasSuffix(got, fmt.Sprintf("%s:%d", file, c.line)) {
					t.Errorf("%s: the frame in %s is at %s (%s), want the fault at %s:%d", u, c.entry, off, got, file, c.line)
				}
			}
		})
	}
	// A live switch from host to timens patches the static branch site in
	// place: the host image then runs its out-of-line body, which no path
	// of the host variant reaches, with the CFI the host image carries for
	// it (the depths proved in timens, whose bytes are the same there).
	t.Run("host switched to timens/branches", func(t *testing.T) {
		host, _ := unwindFixture.table.Variant("host")
		timens, _ := unwindFixture.table.Variant("timens")
		b, err := os.ReadFile(filepath.Join(dir, "zvd_host.so"))
		if err != nil {
			t.Fatal(err)
		}
		text, _, err := elfimage.Section(b, ".text")
		if err != nil {
			t.Fatal(err)
		}
		patched := 0
		for i, s := range host.Sites {
			if s.Kind == layout.StaticBranch && s.Entry == "branches" {
				copy(b[text+s.Offset:], timens.Sites[i].Bytes)
				patched++
			}
		}
		if patched != 1 {
			t.Fatalf("patched %d sites, want 1", patched)
		}
		image := filepath.Join(t.TempDir(), "zvd_host.so")
		if err := os.WriteFile(image, b, 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(prog, image, "__vdso_branches").CombinedOutput()
		if err != nil || !strings.Contains(string(out), "done") {
			t.Fatalf("%v\n%s", err, out)
		}
		names, off := frames(string(out), "unwind", "branches")
		if !reaches(names, "branches") {
			t.Errorf("the walk does not reach main: %v\n%s", names, out)
		}
		src, err := exec.Command(a2l, "-e", image, off).CombinedOutput()
		if got := strings.TrimSpace(string(src)); err != nil || !strings.HasSuffix(got, fmt.Sprintf("%s:%d", file, l.bodyFault)) {
			t.Errorf("the frame is at %s (%s, %v), want the fault in the body at %s:%d", off, got, err, file, l.bodyFault)
		}
	})
	t.Run("without tables", func(t *testing.T) {
		b, err := os.ReadFile(filepath.Join(dir, "zvd_host.so"))
		if err != nil {
			t.Fatal(err)
		}
		stripped := filepath.Join(t.TempDir(), "zvd_host.so")
		if err := os.WriteFile(stripped, withoutEHFrameHdr(t, b), 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(prog, stripped, "__vdso_pushes").CombinedOutput()
		if err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		if names, _ := frames(string(out), "unwind", "pushes"); reaches(names, "pushes") {
			t.Errorf("without PT_GNU_EH_FRAME the walk still reaches main (%v): the test would not notice broken tables", names)
		}
	})
}

// withoutEHFrameHdr returns b with its PT_GNU_EH_FRAME turned into PT_NULL.
func withoutEHFrameHdr(t *testing.T, b []byte) []byte {
	t.Helper()
	b = bytes.Clone(b)
	f, err := elf.NewFile(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range f.Progs {
		if p.Type == elf.PT_GNU_EH_FRAME {
			binary.LittleEndian.PutUint32(b[64+56*i:], uint32(elf.PT_NULL))
			return b
		}
	}
	t.Fatal("no PT_GNU_EH_FRAME")
	return nil
}

// TestUnwindGDB: gdb stopped inside a loaded image (at a breakpoint set by
// program line, after a step across a PUSHQ, and at a fault 24 bytes deep)
// names the program line, lists the program's source, and shows a full
// backtrace to main.
func TestUnwindGDB(t *testing.T) {
	gdb := realtools.Need(t, "gdb", "gdb")
	dir, prog, l := setupUnwind(t)
	file := filepath.Base(callerFile())
	// The line table names files as the layout table's source map does;
	// gdb finds them in this package's directory or the module's root.
	here, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(gdb, "-nx", "-batch",
		"-ex", "directory "+filepath.Dir(here),
		"-ex", "directory "+here,
		// No prompts or environment-dependent warnings: no ASLR switch
		// (refused in some containers), no debuginfod lookups.
		"-ex", "set disable-randomization off",
		"-ex", "set debuginfod enabled off",
		"-ex", "set breakpoint pending on",
		"-ex", "set pagination off",
		"-ex", fmt.Sprintf("break %s:%d", file, l.push),
		"-ex", "run",
		"-ex", "echo BT1\\n", "-ex", "bt",
		"-ex", "step",
		"-ex", "echo STEP\\n", "-ex", "info line *$pc",
		"-ex", "continue",
		"-ex", "echo BT2\\n", "-ex", "bt",
		"-ex", "echo LIST\\n", "-ex", "list",
		"-ex", "kill",
		"--args", prog, filepath.Join(dir, "zvd_host.so"), "__vdso_pushes")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("gdb: %v\n%s", err, out)
	}
	s := string(out)
	section := func(name string) string {
		i := strings.Index(s, name+"\n")
		if i < 0 {
			t.Fatalf("no %s in gdb's output:\n%s", name, s)
		}
		rest := s[i+len(name)+1:]
		for _, next := range []string{"BT1\n", "STEP\n", "BT2\n", "LIST\n"} {
			if j := strings.Index(rest, next); j >= 0 {
				rest = rest[:j]
			}
		}
		return rest
	}
	frame := func(bt string, n int, fn string, line int) {
		t.Helper()
		re := regexp.MustCompile(fmt.Sprintf(`(?m)^#%d .*%s \(.*\) at .*%s:%d`, n, regexp.QuoteMeta(fn), regexp.QuoteMeta(file), line))
		if line == 0 {
			re = regexp.MustCompile(fmt.Sprintf(`(?m)^#%d .*%s \(.*\) at .*backtrace\.c:\d+`, n, regexp.QuoteMeta(fn)))
		}
		if !re.MatchString(bt) {
			t.Errorf("backtrace frame #%d is not %s at %s:%d:\n%s", n, fn, file, line, bt)
		}
	}
	bt1 := section("BT1")
	frame(bt1, 0, "pushes", l.push)
	frame(bt1, 1, "main", 0)
	if !regexp.MustCompile(fmt.Sprintf(`Line %d of "(.*/)?%s"`, l.sub, regexp.QuoteMeta(file))).MatchString(section("STEP")) {
		t.Errorf("step after PUSHQ did not stop at line %d:\n%s", l.sub, s)
	}
	bt2 := section("BT2")
	frame(bt2, 0, "pushes", l.fault)
	frame(bt2, 1, "main", 0)
	if !strings.Contains(s, "SIGSEGV") {
		t.Errorf("no fault:\n%s", s)
	}
	if !strings.Contains(section("LIST"), "x86.MOVQ(operand.Mem{Base: reg.RDI}, reg.RAX)") {
		t.Errorf("list does not show the program's source around line %d:\n%s", l.fault, s)
	}
	for _, line := range strings.Split(s, "\n") {
		// Warnings about the inferior's thread library depend on the
		// machine; any other (about the image, its DWARF or its CFI) fails.
		if low := strings.ToLower(line); strings.Contains(low, "warning") && !strings.Contains(low, "libthread_db") {
			t.Errorf("gdb warns: %s", line)
		}
	}
}

// TestUnwindAddr2line: addr2line names the program line of every entry
// and of the faulting instructions, from the image alone.
func TestUnwindAddr2line(t *testing.T) {
	a2l := realtools.Need(t, "addr2line", "binutils")
	dir, _, l := setupUnwind(t)
	file := filepath.Base(callerFile())
	b, err := os.ReadFile(filepath.Join(dir, "zvd_host.so"))
	if err != nil {
		t.Fatal(err)
	}
	syms, err := elfimage.Symbols(b)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int{"__vdso_pushes": l.push}
	for _, s := range syms {
		line, ok := want[s.Name]
		if !ok {
			continue
		}
		delete(want, s.Name)
		out, err := exec.Command(a2l, "-f", "-e", filepath.Join(dir, "zvd_host.so"), fmt.Sprintf("%#x", s.Value)).CombinedOutput()
		if err != nil {
			t.Fatalf("addr2line: %v\n%s", err, out)
		}
		if got, w := strings.TrimSpace(string(out)), fmt.Sprintf("pushes\n%s:%d", file, line); got != w && !(strings.HasPrefix(got, "pushes\n") && strings.HasSuffix(got, "/"+w[len("pushes\n"):])) {
			t.Errorf("addr2line %s (%#x):\n%s\nwant\n%s", s.Name, s.Value, got, w)
		}
	}
	for name := range want {
		t.Errorf("zvd_host.so defines no %s", name)
	}
}

// TestUnwindPerf: perf samples a routine of a loaded image that spins 8
// bytes deep; perf report --call-graph dwarf walks from it to main with the
// image's .eh_frame, and perf annotate shows the program's lines.
func TestUnwindPerf(t *testing.T) {
	perf := realtools.Need(t, "perf", "linux-perf")
	dir, prog, l := setupUnwind(t)
	file := filepath.Base(callerFile())
	data := filepath.Join(t.TempDir(), "perf.data")
	out, err := exec.Command(perf, "record", "-q", "-e", "cpu-clock", "-F", "999", "--call-graph", "dwarf", "-o", data,
		"--", prog, filepath.Join(dir, "zvd_host.so"), "__vdso_spin", "20000000").CombinedOutput()
	if err != nil {
		if s := string(out); strings.Contains(s, "perf_event_open") || strings.Contains(s, "ermission") {
			t.Skipf("perf cannot sample here (%v): %s", err, s)
		}
		t.Fatalf("perf record: %v\n%s", err, out)
	}
	report, err := exec.Command(perf, "report", "-i", data, "--stdio", "--no-children", "--sort", "dso,sym").CombinedOutput()
	if err != nil {
		t.Fatalf("perf report: %v\n%s", err, report)
	}
	// The hottest entry is the image's, and its call chain reaches main.
	var sym string
	chain := false
	for _, line := range strings.Split(string(report), "\n") {
		f := strings.Fields(line)
		switch {
		case sym == "" && len(f) >= 4 && f[1] == "zvd_host.so" && f[2] == "[.]":
			sym = f[3]
		case sym != "" && strings.TrimSpace(line) == "":
			if !chain {
				t.Errorf("perf's call chain from %s does not reach main:\n%s", sym, report)
			}
			sym, chain = "-", true // checked the first block
		case sym != "" && sym != "-" && strings.HasSuffix(strings.TrimSpace(line), "main"):
			chain = true
		}
	}
	if sym == "" {
		t.Fatalf("no samples in zvd_host.so:\n%s", report)
	}
	ann, err := exec.Command(perf, "annotate", "-i", data, "--stdio", "-l").CombinedOutput()
	if err != nil {
		t.Fatalf("perf annotate: %v\n%s", err, ann)
	}
	if want := fmt.Sprintf("%s:%d", file, l.spin); !strings.Contains(string(ann), want) {
		t.Errorf("perf annotate does not show %s:\n%s", want, ann)
	}
}
