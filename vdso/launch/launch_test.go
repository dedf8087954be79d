//go:build linux && amd64

package launch

import (
	"bytes"
	"debug/elf"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vdsogen/vdsogen/internal/elfimage"
	"github.com/vdsogen/vdsogen/layout"
	"github.com/vdsogen/vdsogen/vdso"
)

// The tests run real clients of a vDSO (glibc, static musl, python3,
// coreutils date, the Go runtime) under Run, and show that they read their
// clocks through the image: with the timens variant each high-resolution
// clock must equal the kernel's, read by raw system calls just before and
// after, plus the offset; with the host variant the kernel's own value.

// slack is how far outside the bracket of two raw system calls a value
// read through the image may lie (ACCURACY.md: max 680 ns measured).
const slack = int64(time.Microsecond)

// Offsets that no clock of this machine could show by chance.
const (
	monoOffset = 86400*time.Second + 123456789*time.Nanosecond
	bootOffset = 3600*time.Second + 500*time.Millisecond
)

// TestMain lets the test binary act as the launcher in a child process
// (LAUNCH_TEST_LAUNCHER=1), for the tests of signals and exit statuses
// that must not touch the test process itself.
func TestMain(m *testing.M) {
	if os.Getenv("LAUNCH_TEST_LAUNCHER") == "1" {
		st, err := Run(os.Args[1:], Options{Variant: "timens", Monotonic: monoOffset,
			Signals: []os.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGUSR1}})
		if err != nil {
			fmt.Fprintln(os.Stderr, "launcher:", err)
			os.Exit(111)
		}
		if st.Signaled() {
			Raise(st.Signal())
		}
		os.Exit(st.ExitCode())
	}
	code := m.Run()
	builds.Range(func(_, path any) bool {
		os.RemoveAll(filepath.Dir(path.(string)))
		return true
	})
	os.Exit(code)
}

var installMu sync.Mutex

// need returns the path of tool, installing pkg with apt-get if it is
// missing (.ci/run installs the same packages).
func need(t *testing.T, tool, pkg string) string {
	t.Helper()
	installMu.Lock()
	defer installMu.Unlock()
	if p, err := exec.LookPath(tool); err == nil {
		return p
	}
	if out, err := exec.Command("apt-get", "install", "-y", "-qq", "--no-install-recommends", pkg).CombinedOutput(); err != nil {
		t.Fatalf("%s is missing and apt-get install %s failed: %v\n%s", tool, pkg, err, out)
	}
	p, err := exec.LookPath(tool)
	if err != nil {
		t.Fatalf("%s still missing after installing %s", tool, pkg)
	}
	return p
}

var builds sync.Map // key -> path, each in a directory of its own, removed by TestMain

// build compiles a test client once per test binary.
func build(t *testing.T, name string, cmd func(out string) *exec.Cmd) string {
	t.Helper()
	if p, ok := builds.Load(name); ok {
		return p.(string)
	}
	dir, err := os.MkdirTemp("", "launch-"+name)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, name)
	c := cmd(out)
	if b, err := c.CombinedOutput(); err != nil {
		t.Fatalf("building %s: %v\n%s", name, err, b)
	}
	builds.Store(name, out)
	return out
}

func glibcClient(t *testing.T) string {
	gcc := need(t, "gcc", "gcc")
	return build(t, "clocks-glibc", func(out string) *exec.Cmd {
		return exec.Command(gcc, "-O2", "-o", out, "testdata/clocks.c")
	})
}

func muslClient(t *testing.T) string {
	musl := need(t, "musl-gcc", "musl-tools")
	out := build(t, "clocks-musl", func(out string) *exec.Cmd {
		return exec.Command(musl, "-static", "-O2", "-o", out, "testdata/clocks.c")
	})
	// Static: no interpreter, the C library is inside the program.
	f, err := elf.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Fatalf("%s is not static: it has an interpreter", out)
		}
	}
	return out
}

func goClient(t *testing.T) string {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatal(err)
	}
	return build(t, "clocks-go", func(out string) *exec.Cmd {
		c := exec.Command(goTool, "build", "-o", out, ".")
		c.Dir = "testdata/goclocks"
		c.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod")
		return c
	})
}

func python(t *testing.T) string { return need(t, "python3", "python3") }

// run runs argv under Run and returns its standard output.
func run(t *testing.T, opts Options, argv ...string) (string, Status) {
	t.Helper()
	out, errs, st := runAll(t, opts, argv...)
	if errs != "" {
		t.Logf("%q stderr:\n%s", argv, errs)
	}
	return out, st
}

// runAll runs argv under Run and returns its standard output, its
// standard error followed by Run's log, and its status.
func runAll(t *testing.T, opts Options, argv ...string) (stdout, stderr string, st Status) {
	t.Helper()
	stdout, stderr, st, err := runErr(t, opts, argv...)
	if err != nil {
		t.Fatalf("Run %q: %v", argv, err)
	}
	return stdout, stderr, st
}

// runErr is runAll that returns Run's error.
func runErr(t *testing.T, opts Options, argv ...string) (stdout, stderr string, st Status, err error) {
	t.Helper()
	dir := t.TempDir()
	out, err := os.Create(filepath.Join(dir, "stdout"))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	errf, err := os.Create(filepath.Join(dir, "stderr"))
	if err != nil {
		t.Fatal(err)
	}
	defer errf.Close()
	var log bytes.Buffer
	opts.Stdout, opts.Stderr, opts.Log = out, errf, &log
	st, err = Run(argv, opts)
	b, _ := os.ReadFile(out.Name())
	e, _ := os.ReadFile(errf.Name())
	return string(b), string(e) + log.String(), st, err
}

// reading is one line "clock NAME k0 v k1" of a client: v read through the
// C library or runtime, k0 and k1 by raw system calls around it.
type reading struct {
	name      string
	k0, v, k1 int64
}

func readings(t *testing.T, out string) []reading {
	t.Helper()
	var rs []reading
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) != 5 || f[0] != "clock" {
			continue
		}
		var n [3]int64
		for i := range n {
			v, err := strconv.ParseInt(f[2+i], 10, 64)
			if err != nil {
				t.Fatalf("bad line %q: %v", line, err)
			}
			n[i] = v
		}
		rs = append(rs, reading{f[1], n[0], n[1], n[2]})
	}
	if len(rs) == 0 {
		t.Fatalf("no clock readings in output:\n%s", out)
	}
	return rs
}

// offsetOf is what the variant adds to a clock named by a client.
func offsetOf(name string, mono, boot time.Duration) int64 {
	switch {
	case strings.HasPrefix(name, "monotonic"):
		return int64(mono)
	case strings.HasPrefix(name, "boottime"):
		return int64(boot)
	}
	return 0
}

// truncation is how much a reading loses to its unit: gettimeofday
// counts microseconds, time seconds (the clients print nanoseconds).
func truncation(name string) int64 {
	switch name {
	case "gettimeofday":
		return int64(time.Microsecond)
	case "time":
		return int64(time.Second)
	}
	return 0
}

// checkReadings: every value is the kernel's, within slack of the
// bracket, plus the clock's offset.
func checkReadings(t *testing.T, rs []reading, mono, boot time.Duration) {
	t.Helper()
	for _, r := range rs {
		off := offsetOf(r.name, mono, boot)
		lo, hi := r.k0+off-slack-truncation(r.name), r.k1+off+slack
		if r.v < lo || r.v > hi {
			t.Errorf("%s: read %d, want kernel %d..%d plus offset %d: off by %d ns", r.name, r.v, r.k0, r.k1, off, min(r.v-(r.k0+off), r.v-(r.k1+off)))
		}
	}
}

// checkImage: a C client's AT_SYSINFO_EHDR points at the launcher's
// memfd, mapped read+exec and shared; the data pages sit right below it,
// read-only; no mapping of the memfd is writable, and the kernel's own
// vDSO is still there but not the one the client uses.
func checkImage(t *testing.T, out string) {
	t.Helper()
	var ehdr, mapLine, below string
	var memfd, kernel []string
	for _, line := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(line, "ehdr "); ok {
			ehdr = v
		}
		if v, ok := strings.CutPrefix(line, "map "); ok {
			mapLine = v
		}
		if v, ok := strings.CutPrefix(line, "below "); ok {
			below = v
		}
		if v, ok := strings.CutPrefix(line, "vdso "); ok {
			if strings.Contains(v, "memfd:vdso-clock") {
				memfd = append(memfd, v)
			}
			if strings.HasSuffix(v, "[vdso]") {
				kernel = append(kernel, v)
			}
		}
	}
	if ehdr == "" || ehdr == "0" {
		t.Fatalf("no AT_SYSINFO_EHDR in output:\n%s", out)
	}
	f := strings.Fields(mapLine)
	if len(f) < 6 || f[1] != "r-xs" || !strings.Contains(mapLine, "memfd:vdso-clock") {
		t.Errorf("AT_SYSINFO_EHDR %s is not the image mapped r-xs from the launcher's memfd: maps line %q", ehdr, mapLine)
	}
	f = strings.Fields(below)
	if len(f) < 6 || f[1] != "r--s" || f[2] != "00000000" || !strings.Contains(below, "memfd:vdso-clock") {
		t.Errorf("the data pages below the image are not the memfd's first pages, read-only: %q", below)
	}
	for _, m := range memfd {
		if perms := strings.Fields(m)[1]; strings.Contains(perms, "w") {
			t.Errorf("the image's memfd is mapped writable in the program: %q", m)
		}
	}
	if len(memfd) != 2 {
		t.Errorf("%d mappings of the memfd, want the data pages and the code:\n%s", len(memfd), strings.Join(memfd, "\n"))
	}
	for _, k := range kernel {
		if strings.HasPrefix(k, ehdr+"-") {
			t.Errorf("AT_SYSINFO_EHDR points at the kernel's vDSO: %q", k)
		}
	}
}

type client struct {
	name string
	argv func(t *testing.T) []string
	c    bool // prints ehdr and maps lines
}

var clients = []client{
	{"glibc", func(t *testing.T) []string { return []string{glibcClient(t)} }, true},
	{"musl-static", func(t *testing.T) []string { return []string{muslClient(t)} }, true},
	{"python3", func(t *testing.T) []string { return []string{python(t), "testdata/clocks.py"} }, false},
	{"go", func(t *testing.T) []string { return []string{goClient(t)} }, false},
}

// TestClients: each client reads MONOTONIC, BOOTTIME and REALTIME through
// the image, with the host variant (the kernel's values) and the timens
// variant (the kernel's plus the offsets, which no other source has),
// the timens variant both with the image alone shifting the clocks and in
// a kernel time namespace with the same offsets.
func TestClients(t *testing.T) {
	for _, c := range clients {
		for _, v := range []struct {
			name       string
			variant    string
			mono, boot time.Duration
			ns         Namespace
		}{
			{"host", "host", 0, 0, NamespaceAuto}, // no offsets: no namespace
			{"timens", "timens", monoOffset, bootOffset, NamespaceImage},
			{"timens-kernel", "timens", monoOffset, bootOffset, NamespaceKernel},
		} {
			t.Run(c.name+"/"+v.name, func(t *testing.T) {
				argv := c.argv(t)
				opts := Options{Variant: v.variant, Monotonic: v.mono, Boottime: v.boot, Namespace: v.ns}
				if v.ns == NamespaceKernel {
					checkKernelNamespace(t, opts, argv)
					return
				}
				out, st := run(t, opts, argv...)
				if st.ExitCode() != 0 || st.InNamespace {
					t.Fatalf("%s: %v, in a namespace %v\n%s", c.name, st, st.InNamespace, out)
				}
				checkReadings(t, readings(t, out), v.mono, v.boot)
				if c.c {
					checkImage(t, out)
				}
			})
		}
	}
}

// checkKernelNamespace runs argv in a kernel time namespace with the
// image's offsets: the client's raw system calls and its reads through
// the image agree (the routines' own fallback system call included), and
// both are the launcher's clocks plus the offsets.
func checkKernelNamespace(t *testing.T, opts Options, argv []string) {
	t.Helper()
	before := launcherClocks(t)
	out, errs, st, err := runErr(t, opts, argv...)
	after := launcherClocks(t)
	var le *Error
	if errors.As(err, &le) && le.Op == "timens" && (errors.Is(err, unix.EPERM) || errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS)) {
		t.Skipf("the kernel refuses a time namespace here: %v", err)
	}
	if err != nil || st.ExitCode() != 0 || !st.InNamespace {
		t.Fatalf("%v: %v, in a namespace %v\n%s%s", err, st, st.InNamespace, out, errs)
	}
	rs := readings(t, out)
	checkReadings(t, rs, 0, 0) // the kernel's clocks are shifted too
	for _, r := range rs {
		id, ok := map[string]int32{"monotonic": unix.CLOCK_MONOTONIC, "boottime": unix.CLOCK_BOOTTIME}[r.name]
		if !ok {
			continue
		}
		off := offsetOf(r.name, opts.Monotonic, opts.Boottime)
		if r.k0 < before[id]+off || r.k1 > after[id]+off {
			t.Errorf("%s: the program's kernel read %d..%d, want the launcher's %d..%d plus %d", r.name, r.k0, r.k1, before[id], after[id], off)
		}
	}
}

// launcherClocks reads this process's MONOTONIC and BOOTTIME.
func launcherClocks(t *testing.T) map[int32]int64 {
	t.Helper()
	out := map[int32]int64{}
	for _, id := range []int32{unix.CLOCK_MONOTONIC, unix.CLOCK_BOOTTIME} {
		var ts unix.Timespec
		if err := unix.ClockGettime(id, &ts); err != nil {
			t.Fatal(err)
		}
		out[id] = ts.Nano()
	}
	return out
}

// realtimeShift makes the timekeeper see REALTIME (and its coarse and TAI
// forms) a fixed amount ahead of the kernel: what the image then serves
// can come from nowhere else.
func realtimeShift(shift time.Duration) func(int32, *unix.Timespec) error {
	return func(id int32, ts *unix.Timespec) error {
		if err := unix.ClockGettime(id, ts); err != nil {
			return err
		}
		switch id {
		case unix.CLOCK_REALTIME, unix.CLOCK_REALTIME_COARSE, unix.CLOCK_TAI:
			*ts = unix.NsecToTimespec(ts.Nano() + int64(shift))
		}
		return nil
	}
}

// TestRealtimeThroughImage: date, and every client's REALTIME, follow a
// data page whose REALTIME is 1000 days ahead of the kernel's.
func TestRealtimeThroughImage(t *testing.T) {
	const shift = 1000 * 24 * time.Hour
	opts := Options{Variant: "host", clock: realtimeShift(shift)}
	t.Run("date", func(t *testing.T) {
		date := need(t, "date", "coreutils")
		before := time.Now().UnixNano()
		out, st := run(t, opts, date, "+%s%N")
		after := time.Now().UnixNano()
		if st.ExitCode() != 0 {
			t.Fatalf("date: %v", st)
		}
		v, err := strconv.ParseInt(strings.TrimSpace(out), 10, 64)
		if err != nil {
			t.Fatalf("date printed %q: %v", out, err)
		}
		if v-int64(shift) < before-slack || v-int64(shift) > after+slack {
			t.Errorf("date read %d, want the kernel's %d..%d plus %v", v, before, after, shift)
		}
	})
	for _, c := range clients {
		t.Run(c.name, func(t *testing.T) {
			out, st := run(t, opts, c.argv(t)...)
			if st.ExitCode() != 0 {
				t.Fatalf("%s: %v\n%s", c.name, st, out)
			}
			n := 0
			for _, r := range readings(t, out) {
				if r.name != "realtime" && r.name != "gettimeofday" && r.name != "time" {
					continue
				}
				n++
				in := func(v int64) bool { return v >= r.k0-slack-truncation(r.name) && v <= r.k1+slack }
				// time() is REALTIME_COARSE's seconds: the coarse ticker
				// publishes the kernel's own coarse clocks (the test hook
				// shifts only the Go timekeeper's readings), and a coarse
				// read past CoarseTSC asks the kernel, so unshifted is right
				// for it too. The high-resolution readings carry the proof.
				if !in(r.v-int64(shift)) && !(r.name == "time" && in(r.v)) {
					t.Errorf("%s %d, want kernel %d..%d plus %v", r.name, r.v, r.k0, r.k1, shift)
				}
			}
			if n == 0 {
				t.Fatalf("no realtime reading:\n%s", out)
			}
		})
	}
}

// TestForkExecChain: a shell that forks and execs python3 (through the
// pyenv or distribution wrapper, whichever it is), which forks a child
// that reads without exec and then execs the C client: every program in
// the chain reads the offset clocks.
func TestForkExecChain(t *testing.T) {
	py, cprog := python(t), glibcClient(t)
	script := fmt.Sprintf(`
import os, subprocess, sys, time
pid = os.fork()
if pid == 0:
    os.execv(sys.executable, [sys.executable, "testdata/clocks.py"])
os.waitpid(pid, 0)
pid = os.fork()
if pid == 0:
    print("clock monotonic_forked", 0, time.monotonic_ns(), 0, flush=True)
    os._exit(0)
os.waitpid(pid, 0)
sys.stdout.flush()
subprocess.run([%q], check=True)
`, cprog)
	out, st := run(t, Options{Variant: "timens", Monotonic: monoOffset, Boottime: bootOffset, Namespace: NamespaceImage},
		"/bin/sh", "-c", `"$0" -c "$1" && "$0" testdata/clocks.py`, py, script)
	if st.ExitCode() != 0 {
		t.Fatalf("chain: %v\n%s", st, out)
	}
	var bracketed []reading
	forked := false
	for _, r := range readings(t, out) {
		if r.name == "monotonic_forked" {
			// No bracket: the offset alone, a day, shows the image.
			var ts unix.Timespec
			unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
			if d := r.v - ts.Nano(); d < int64(monoOffset)-int64(time.Minute) || d > int64(monoOffset) {
				t.Errorf("forked child read monotonic %d, kernel now %d: not the offset clock", r.v, ts.Nano())
			}
			forked = true
			continue
		}
		bracketed = append(bracketed, r)
	}
	if !forked {
		t.Error("no reading from the forked child")
	}
	// python via exec, the C client via subprocess, python via the shell.
	if want := 4 + 5 + 4; len(bracketed) != want {
		t.Errorf("%d bracketed readings, want %d:\n%s", len(bracketed), want, out)
	}
	checkReadings(t, bracketed, monoOffset, bootOffset)
	checkImage(t, out)
}

// TestExitStatus: Run returns the program's exit status, or the signal
// that killed it.
func TestExitStatus(t *testing.T) {
	for _, c := range []struct {
		script string
		code   int
		sig    syscall.Signal
	}{
		{"exit 0", 0, 0},
		{"exit 7", 7, 0},
		{"kill -TERM $$", 128 + 15, syscall.SIGTERM},
		{"kill -SEGV $$", 128 + 11, syscall.SIGSEGV},
	} {
		_, st := run(t, Options{}, "/bin/sh", "-c", c.script)
		if st.ExitCode() != c.code || (c.sig != 0) != st.Signaled() || (c.sig != 0 && st.Signal() != c.sig) {
			t.Errorf("%q: %v (code %d), want code %d signal %v", c.script, st, st.ExitCode(), c.code, c.sig)
		}
	}
}

// launcher starts the test binary as a launcher of argv and waits until
// the program printed its first line.
func launcher(t *testing.T, argv ...string) (*exec.Cmd, *bytes.Buffer) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	c := exec.Command(exe, argv...)
	c.Env = append(os.Environ(), "LAUNCH_TEST_LAUNCHER=1")
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	c.Stdout, c.Stderr = w, &stderr
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	line := make([]byte, 64)
	n, err := r.Read(line)
	if err != nil || !strings.HasPrefix(string(line[:n]), "ready") {
		c.Process.Kill()
		c.Wait()
		t.Fatalf("program did not start: %q %v; stderr %s", line[:n], err, stderr.String())
	}
	t.Cleanup(func() { r.Close() })
	return c, &stderr
}

// TestSignals: a signal sent to the launcher reaches the program, and the
// launcher ends as the program did: by the same signal, or with its exit
// status.
func TestSignals(t *testing.T) {
	py := python(t)
	wait := `import signal, sys, time
signal.signal(signal.SIGUSR1, lambda *a: sys.exit(42))
print("ready", time.monotonic(), flush=True)
while True:
    signal.pause()
`
	for _, c := range []struct {
		send syscall.Signal
		code int            // the launcher's exit status, if it exits
		sig  syscall.Signal // the signal that ends the launcher, if any
	}{
		{syscall.SIGTERM, -1, syscall.SIGTERM},
		{syscall.SIGINT, -1, syscall.SIGINT}, // python re-raises SIGINT after KeyboardInterrupt
		{syscall.SIGUSR1, 42, 0},
	} {
		t.Run(c.send.String(), func(t *testing.T) {
			cmd, stderr := launcher(t, py, "-c", wait)
			if err := cmd.Process.Signal(c.send); err != nil {
				t.Fatal(err)
			}
			cmd.Wait()
			ws := cmd.ProcessState.Sys().(syscall.WaitStatus)
			if c.sig != 0 {
				if !ws.Signaled() || ws.Signal() != c.sig {
					t.Errorf("launcher ended %v, want killed by %v; stderr %s", cmd.ProcessState, c.sig, stderr)
				}
				return
			}
			if !ws.Exited() || ws.ExitStatus() != c.code {
				t.Errorf("launcher ended %v, want exit status %d; stderr %s", cmd.ProcessState, c.code, stderr)
			}
		})
	}
}

// TestErrors: a program that does not exist, an image that does not
// verify or is not the variant asked for, offsets for a variant without a
// namespace page, a tracer that is not allowed: a clear error, and the
// program never ran (it would have created a file).
func TestErrors(t *testing.T) {
	timens := vdso.ELFImages()["timens"]
	corrupt := bytes.Clone(timens)
	corrupt[0x10] = 1 // e_type ET_REL: not a shared object
	// A marker site overwritten with bytes the layout table does not
	// declare: the loader would write a choice over someone else's code.
	badSite := bytes.Clone(timens)
	textOff, _, err := elfimage.Section(badSite, ".text")
	if err != nil {
		t.Fatal(err)
	}
	tv, _ := vdso.Layout().Variant("timens")
	var site layout.Site
	for _, s := range tv.Sites {
		if len(s.Choices) > 0 && len(s.Relocs) == 0 {
			site = s // one the loader rewrites
			break
		}
	}
	if site.Bytes == nil {
		t.Fatal("no alternative or static-call site in the timens image")
	}
	for i := range site.Bytes {
		badSite[textOff+site.Offset+i] = 0xcc
	}
	for _, c := range []struct {
		name string
		opts Options
		argv []string
		op   string
		want string
	}{
		{"no such program", Options{}, []string{"vdsogen-no-such-program"}, "start", "executable file not found"},
		{"not executable", Options{}, []string{"testdata/clocks.c"}, "start", "permission denied"},
		{"corrupt image", Options{Variant: "timens", Image: corrupt, ImageName: "bad.so"}, nil, "image", "bad.so does not verify"},
		{"wrong variant", Options{Variant: "timens", Image: vdso.ELFImages()["host"], ImageName: "host.so"}, nil, "image", "host.so is variant host of program clock, want variant timens"},
		{"undeclared site bytes", Options{Variant: "timens", Image: badSite, ImageName: "site.so"}, nil, "image", fmt.Sprintf("site.so: %s site %s at %#x", site.Kind, site.Key, site.Offset)},
		{"unknown variant", Options{Variant: "nomarker"}, nil, "image", `no image for variant "nomarker" (have host, timens)`},
		{"negative clock", Options{Variant: "timens", Boottime: -1000000 * time.Hour}, nil, "image", "-boottime -1000000h0m0s would make the clock negative"},
		{"offsets on host", Options{Variant: "host", Monotonic: time.Hour}, nil, "image", "need -variant timens"},
	} {
		t.Run(c.name, func(t *testing.T) {
			marker := filepath.Join(t.TempDir(), "ran")
			argv := c.argv
			if argv == nil {
				argv = []string{"/bin/sh", "-c", "touch " + marker}
			}
			_, err := Run(argv, c.opts)
			var le *Error
			if !errors.As(err, &le) || le.Op != c.op || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Run: %v, want an *Error %q containing %q", err, c.op, c.want)
			}
			if _, err := os.Stat(marker); err == nil {
				t.Error("the program ran")
			}
		})
	}
}

// TestTraceRefused: under a seccomp filter that forbids ptrace, the
// launcher says so and the program does not run.
func TestTraceRefused(t *testing.T) {
	deny := denyTool(t)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	marker := filepath.Join(t.TempDir(), "ran")
	c := exec.Command(deny, "ptrace", exe, "/bin/sh", "-c", "touch "+marker)
	c.Env = append(os.Environ(), "LAUNCH_TEST_LAUNCHER=1")
	out, err := c.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 111 || !strings.Contains(string(out), "trace: starting /bin/sh under ptrace: operation not permitted") {
		t.Errorf("launcher under a ptrace-denying seccomp filter: %v\n%s", err, out)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Error("the program ran")
	}
}

// TestRaise: a launcher whose program was killed by a signal dies by the
// same signal, including those Go's runtime handles itself (SIGSEGV sent
// by kill, SIGQUIT).
func TestRaise(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGSEGV, syscall.SIGQUIT, syscall.SIGKILL} {
		t.Run(sig.String(), func(t *testing.T) {
			cmd, stderr := launcher(t, "/bin/sh", "-c", fmt.Sprintf("echo ready; kill -%d $$", int(sig)))
			cmd.Wait()
			ws := cmd.ProcessState.Sys().(syscall.WaitStatus)
			if !ws.Signaled() || ws.Signal() != sig || ws.CoreDump() {
				t.Errorf("launcher ended %v (core dumped %v), want killed by %v without a core; stderr %s", cmd.ProcessState, ws.CoreDump(), sig, stderr)
			}
		})
	}
}

// TestImageFlag: a replacement image that keeps the layout (here a copy of
// the built-in one) is what the program runs.
func TestImageFlag(t *testing.T) {
	img := vdso.ELFImages()["timens"]
	out, st := run(t, Options{Variant: "timens", Monotonic: monoOffset, Namespace: NamespaceImage, Image: img, ImageName: "copy.so"}, glibcClient(t))
	if st.ExitCode() != 0 {
		t.Fatalf("%v\n%s", st, out)
	}
	checkReadings(t, readings(t, out), monoOffset, 0)
	checkImage(t, out)
}

// TestExecFromThreads: a Go program with several threads execs the C
// client; the kernel reports the exec on the thread group leader's pid,
// and the client gets the image.
func TestExecFromThreads(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatal(err)
	}
	goexec := build(t, "goexec", func(out string) *exec.Cmd {
		c := exec.Command(goTool, "build", "-o", out, ".")
		c.Dir = "testdata/goexec"
		c.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod")
		return c
	})
	out, st := run(t, Options{Variant: "timens", Monotonic: monoOffset, Boottime: bootOffset, Namespace: NamespaceImage}, goexec, glibcClient(t))
	if st.ExitCode() != 0 {
		t.Fatalf("%v\n%s", st, out)
	}
	checkReadings(t, readings(t, out), monoOffset, bootOffset)
	checkImage(t, out)
}

// TestUnprivileged: the launcher needs no privilege beyond tracing its own
// child. As root, the test runs it as nobody, with no capabilities (a
// setuid from root clears them), on copies of the test binary and the C
// client that nobody may execute.
func TestUnprivileged(t *testing.T) {
	dir, err := os.MkdirTemp("", "launch-unprivileged")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	copyExec := func(from, name string) string {
		b, err := os.ReadFile(from)
		if err != nil {
			t.Fatal(err)
		}
		to := filepath.Join(dir, name)
		if err := os.WriteFile(to, b, 0o755); err != nil {
			t.Fatal(err)
		}
		return to
	}
	launcherExe := copyExec(exe, "launcher")
	client := copyExec(glibcClient(t), "clocks")
	c := exec.Command(launcherExe, client)
	c.Dir = dir
	c.Env = append(os.Environ(), "LAUNCH_TEST_LAUNCHER=1")
	if os.Getuid() == 0 {
		c.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	}
	var stderr bytes.Buffer
	c.Stderr = &stderr
	out, err := c.Output()
	if err != nil {
		t.Fatalf("launcher as uid %d: %v\n%s", 65534, err, stderr.Bytes())
	}
	checkReadings(t, readings(t, string(out)), monoOffset, 0)
	checkImage(t, string(out))
}

func denyTool(t *testing.T) string {
	gcc := need(t, "gcc", "gcc")
	return build(t, "deny", func(out string) *exec.Cmd {
		return exec.Command(gcc, "-o", out, "testdata/deny.c")
	})
}

// TestDescendantNotSetUp: a descendant whose exec cannot be given the
// image (a seccomp filter makes the injected openat fail) is killed before
// its first instruction, with a message; the rest of the program goes on.
func TestDescendantNotSetUp(t *testing.T) {
	deny := denyTool(t)
	marker := filepath.Join(t.TempDir(), "ran")
	_, errs, st := runAll(t, Options{}, "/bin/sh", "-c", `"$0" openat /bin/sh -c "touch $1"; echo status $? >&2; exit 3`, deny, marker)
	if st.ExitCode() != 3 {
		t.Errorf("program ended %v, want exit status 3 (the shell goes on)", st)
	}
	for _, want := range []string{
		"status 137", // the shell saw its child killed by SIGKILL
		"its exec could not be given the image: the program could not open the image's memfd",
		"operation not permitted",
	} {
		if !strings.Contains(errs, want) {
			t.Errorf("stderr and log lack %q:\n%s", want, errs)
		}
	}
	if _, err := os.Stat(marker); err == nil {
		t.Error("the descendant ran without the image")
	}
}

// TestClosedStdin: a standard file that is not open (here Options.Stdin,
// closed) gives the program /dev/null there instead of failing to start
// it. (Go's runtime itself opens /dev/null over a closed 0, 1 or 2 when a
// launcher starts.)
func TestClosedStdin(t *testing.T) {
	f, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	out, st := run(t, Options{Stdin: f}, "/bin/sh", "-c", `echo "stdin $(readlink /proc/$$/fd/0)"`)
	if st.ExitCode() != 0 || strings.TrimSpace(out) != "stdin /dev/null" {
		t.Errorf("program with a closed stdin: %v\n%s", st, out)
	}
}
