//go:build linux && amd64

package launch

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/vdsogen/vdsogen/internal/elfimage"
	"github.com/vdsogen/vdsogen/layout"
	"github.com/vdsogen/vdsogen/vdso"
	"github.com/vdsogen/vdsogen/vdso/internal/kvdso"
	"github.com/vdsogen/vdsogen/vdso/internal/vvar"
	"github.com/vdsogen/vdsogen/vdso/loader"
)

// Options configure Run. The zero value runs the program on the host
// image.
type Options struct {
	// Variant is the image the program gets: "host" (default) or
	// "timens", or another shared variant of the reference vDSO.
	Variant string
	// Monotonic and Boottime are the offsets the timens variant adds to
	// CLOCK_MONOTONIC (and MONOTONIC_RAW, MONOTONIC_COARSE) and to
	// CLOCK_BOOTTIME; another variant refuses non-zero offsets.
	Monotonic, Boottime time.Duration
	// Namespace says whether non-zero offsets also put the program in a
	// kernel time namespace (by default they do not: NamespaceImage).
	Namespace Namespace
	// Image, if not nil, replaces the variant's image: an ELF vDSO image
	// of the same program and variant (written by vdsogen -elf). It must
	// pass elfimage.Check, define the built-in image's symbols at the same
	// places, have its code size, and hold at every site the loader
	// rewrites (alternatives, static calls) bytes the layout table declares
	// for it. ImageName names it in errors.
	Image     []byte
	ImageName string
	// Stdin, Stdout and Stderr are the program's; nil means the launcher's.
	Stdin, Stdout, Stderr *os.File
	// Env is the program's environment; nil means the launcher's.
	Env []string
	// Dir is the program's working directory; empty means the launcher's.
	Dir string
	// Signals are forwarded to the program while it runs (nil: none).
	Signals []os.Signal
	// Ignore are caught and dropped while the program runs: signals the
	// program gets anyway (a terminal's SIGINT and SIGQUIT go to its
	// whole foreground process group), which must not end the launcher.
	Ignore []os.Signal
	// Log receives what happens to descendants that cannot be set up
	// (they are killed); nil discards it.
	Log io.Writer

	// clock, if set, is the timekeeper's reader of the kernel's clocks
	// (tests shift REALTIME with it to show whose clock a program reads).
	clock func(clockid int32, ts *unix.Timespec) error
}

// Namespace is how a program run with time-namespace offsets gets them.
type Namespace int

const (
	// NamespaceImage (the default): the image alone shifts the clocks;
	// the kernel's, which direct system calls, timers and /proc read, are
	// the launcher's.
	NamespaceImage Namespace = iota
	// NamespaceAuto: the program also runs in a new kernel time namespace
	// with the image's offsets where the launcher may create one (it
	// needs CAP_SYS_ADMIN), so that direct system calls, the routines'
	// fallback system call, timers and sleeps with absolute times and
	// /proc/uptime agree with the image; elsewhere, as NamespaceImage.
	NamespaceAuto
	// NamespaceKernel is NamespaceAuto that fails (an *Error with Op
	// "timens") where the kernel refuses the namespace.
	NamespaceKernel
)

// ParseNamespace reads a Namespace by its name: image, auto or kernel.
func ParseNamespace(s string) (Namespace, error) {
	for n, name := range namespaceNames {
		if s == name {
			return Namespace(n), nil
		}
	}
	return 0, fmt.Errorf("namespace %q: want image, auto or kernel", s)
}

var namespaceNames = []string{NamespaceImage: "image", NamespaceAuto: "auto", NamespaceKernel: "kernel"}

func (n Namespace) String() string {
	if int(n) < len(namespaceNames) {
		return namespaceNames[n]
	}
	return fmt.Sprintf("Namespace(%d)", int(n))
}

// Status is how the program ended.
type Status struct {
	unix.WaitStatus
	// InNamespace: the program ran in a kernel time namespace with the
	// image's offsets (see Namespace).
	InNamespace bool
}

// ExitCode is the exit status a shell would report: the program's exit
// status, or 128 plus the number of the signal that killed it.
func (s Status) ExitCode() int {
	if s.Signaled() {
		return 128 + int(s.Signal())
	}
	return s.ExitStatus()
}

func (s Status) String() string { return describe(s.WaitStatus) }

// An Error is a failure to start the program on the image: nothing of the
// program ran.
type Error struct {
	Op  string // what failed: "image", "start", "trace", "set up"
	Err error
}

func (e *Error) Error() string { return e.Op + ": " + e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// image is the loaded image, its pages and the timekeeper that keeps them.
type image struct {
	im *loader.Image
	tk *vvar.Timekeeper
	m  mapping
	// offsets are those the image adds, relative to the initial time
	// namespace; shifted is set when the program asked for any (so that a
	// kernel namespace would change its clocks).
	offsets vvar.TimensOffsets
	shifted bool
}

func (img *image) close() {
	img.tk.Stop()
	img.im.Close()
}

// prepare loads the variant into a memfd of the launcher, fills the
// time-namespace page and starts the timekeeper on the data page.
func prepare(o *Options) (*image, error) {
	files := vdso.ELFImages()
	tab := vdso.Layout()
	if o.Variant == "" {
		o.Variant = "host"
	}
	if _, ok := files[o.Variant]; !ok {
		names := make([]string, 0, len(files))
		for n := range files {
			names = append(names, n)
		}
		slices.Sort(names)
		return nil, &Error{"image", fmt.Errorf("no image for variant %q (have %s)", o.Variant, strings.Join(names, ", "))}
	}
	if o.Variant != "timens" && (o.Monotonic != 0 || o.Boottime != 0) {
		return nil, &Error{"image", fmt.Errorf("variant %s has no time-namespace offsets: -monotonic and -boottime need -variant timens", o.Variant)}
	}
	// As the kernel refuses for a time namespace: no offset may turn a
	// clock negative.
	for _, c := range []struct {
		flag string
		id   int32
		off  time.Duration
	}{{"-monotonic", unix.CLOCK_MONOTONIC, o.Monotonic}, {"-boottime", unix.CLOCK_BOOTTIME, o.Boottime}} {
		var ts unix.Timespec
		if c.off < 0 && unix.ClockGettime(c.id, &ts) == nil && ts.Nano()+int64(c.off) < 0 {
			return nil, &Error{"image", fmt.Errorf("%s %v would make the clock negative (it reads %v)", c.flag, c.off, time.Duration(ts.Nano()))}
		}
	}
	if o.Image != nil {
		name := o.ImageName
		if name == "" {
			name = "image"
		}
		if err := elfimage.Check(o.Image); err != nil {
			return nil, &Error{"image", fmt.Errorf("%s does not verify: %w", name, err)}
		}
		_, program, variant, err := elfimage.Pages(o.Image)
		if err != nil {
			return nil, &Error{"image", fmt.Errorf("%s: %w", name, err)}
		}
		if program != tab.Program || variant != o.Variant {
			return nil, &Error{"image", fmt.Errorf("%s is variant %s of program %s, want variant %s of %s", name, variant, program, o.Variant, tab.Program)}
		}
		if err := sameLayout(name, o.Image, files[o.Variant], tab, o.Variant); err != nil {
			return nil, &Error{"image", err}
		}
		files[o.Variant] = o.Image
	}
	// The loader checks the images against each other; keep only the one
	// the program runs so that a replaced image is compared with nothing
	// but the layout table.
	im, err := loader.Load(map[string][]byte{o.Variant: files[o.Variant]}, tab, o.Variant, loader.Options{})
	if err != nil {
		return nil, &Error{"image", err}
	}
	img := &image{im: im}
	data, err1 := im.Page("vdsoData")
	tns, err2 := im.Page("vdsoTimens")
	if err := errors.Join(err1, err2); err != nil {
		im.Close()
		return nil, &Error{"image", err}
	}
	page, tn := (*vvar.Page)(data), (*vvar.TimensPage)(tns)
	own, err := vvar.ReadTimensOffsets()
	if err != nil {
		im.Close()
		return nil, &Error{"image", err}
	}
	if o.Variant != "timens" && !own.IsZero() {
		im.Close()
		return nil, &Error{"image", fmt.Errorf("the launcher runs in a time namespace (offsets %+v): only -variant timens gives the program its clocks", own)}
	}
	clock := o.clock
	if clock == nil {
		clock = kvdso.Clock()
	}
	tk, err := vvar.Start(page, tn, vvar.Options{Clock: clock})
	var tscErr *vvar.TSCError
	switch {
	case errors.As(err, &tscErr) && o.Monotonic == 0 && o.Boottime == 0 && own.IsZero():
		// The page stays invalid: every routine makes the system call,
		// which is right, only slower.
	case err != nil:
		im.Close()
		return nil, &Error{"image", fmt.Errorf("starting the timekeeper: %w", err)}
	}
	img.tk = tk
	offs := vvar.TimensOffsets{
		Monotonic: addOffset(own.Monotonic, o.Monotonic),
		Boottime:  addOffset(own.Boottime, o.Boottime),
	}
	offs.Fill(tn)
	img.offsets, img.shifted = offs, o.Monotonic != 0 || o.Boottime != 0
	mf := im.Memfd()
	img.m = mapping{
		path:       fmt.Sprintf("/proc/%d/fd/%d", os.Getpid(), mf.FD),
		dataSize:   mf.DataSize,
		codeOffset: mf.CodeOffset,
		codeSize:   mf.CodeSize,
	}
	return img, nil
}

// addOffset adds d to a namespace offset, keeping Nsec in [0, 1e9).
func addOffset(o vvar.TimensOffset, d time.Duration) vvar.TimensOffset {
	ns := o.Nsec + int64(d%time.Second)
	sec := o.Sec + int64(d/time.Second)
	for ns < 0 {
		ns += int64(time.Second)
		sec--
	}
	for ns >= int64(time.Second) {
		ns -= int64(time.Second)
		sec++
	}
	return vvar.TimensOffset{Sec: sec, Nsec: ns}
}

// Run starts argv (argv[0] is looked up in PATH) with the image of
// opts.Variant as its vDSO, and every process it starts with it too, and
// returns when the program and all its descendants have ended, with the
// program's status. An *Error means the program did not run.
//
// Run waits only for the processes it traces (wait4 with __WNOTHREAD on
// its own tracing thread), so other goroutines may run their own
// children meanwhile.
func Run(argv []string, opts Options) (Status, error) {
	if len(argv) == 0 {
		return Status{}, &Error{"start", errors.New("no program")}
	}
	path, err := exec.LookPath(argv[0])
	if err == nil {
		// The program starts in opts.Dir: a relative path is the
		// launcher's.
		path, err = filepath.Abs(path)
	}
	if err != nil {
		return Status{}, &Error{"start", err}
	}
	img, err := prepare(&opts)
	if err != nil {
		return Status{}, err
	}
	defer img.close()
	type result struct {
		st  Status
		err error
	}
	done := make(chan result, 1)
	// started gets the program's pid once it is set up, then -1 when it
	// has ended.
	started := make(chan int, 2)
	// Catch the signals before the program can print that it runs.
	var sigs chan os.Signal
	if len(opts.Signals) > 0 {
		sigs = make(chan os.Signal, 8)
		signal.Notify(sigs, opts.Signals...)
		defer signal.Stop(sigs)
	}
	if len(opts.Ignore) > 0 {
		ignored := make(chan os.Signal, 8)
		signal.Notify(ignored, opts.Ignore...)
		defer signal.Stop(ignored)
	}
	// All ptrace calls come from one locked thread: the tracer is the
	// thread that forked the program. The thread is never unlocked and so
	// ends with the goroutine.
	go func() {
		runtime.LockOSThread()
		st, err := trace(path, argv, &opts, img, started)
		done <- result{st, err}
	}()
	// Signals that come before the program runs wait for it; none is
	// sent after it ended (its pid may be reused).
	pid := 0
	var early []syscall.Signal
	for {
		select {
		case p := <-started:
			pid = p
			for _, s := range early {
				unix.Kill(pid, s)
			}
			early = nil
		case s := <-sigs:
			switch {
			case pid > 0:
				unix.Kill(pid, s.(syscall.Signal))
			case pid == 0:
				early = append(early, s.(syscall.Signal))
			}
		case r := <-done:
			return r.st, r.err
		}
	}
}

// namespace puts the program's future process in a new kernel time
// namespace with the image's offsets, as o.Namespace asks, and reports
// whether it did. It runs on the tracer's locked thread, which forks the
// program next: unshare(CLONE_NEWTIME) affects only the calling thread's
// children (the program enters the namespace at its exec), and the thread
// ends with the tracer, so nothing else of the launcher is ever placed
// there.
func namespace(o *Options, img *image) (bool, error) {
	if !img.shifted || o.Namespace == NamespaceImage {
		return false, nil
	}
	if err := unix.Unshare(unix.CLONE_NEWTIME); err != nil {
		if o.Namespace == NamespaceKernel {
			return false, &Error{"timens", fmt.Errorf("creating a time namespace: unshare(CLONE_NEWTIME): %w (it needs CAP_SYS_ADMIN and Linux 5.6)", err)}
		}
		if o.Log != nil {
			fmt.Fprintf(o.Log, "launch: no kernel time namespace (unshare(CLONE_NEWTIME): %v): only the image shifts the clocks\n", err)
		}
		return false, nil
	}
	// The offsets are relative to the initial namespace, as the image's
	// page holds them. The namespace is new and empty, so the write can
	// only fail on offsets the kernel refuses; then nothing may run in it.
	path := fmt.Sprintf("/proc/%d/timens_offsets", unix.Gettid())
	if err := os.WriteFile(path, []byte(img.offsets.Format()), 0); err != nil {
		return false, &Error{"timens", fmt.Errorf("setting the time namespace's offsets: %w", err)}
	}
	return true, nil
}

// entered reports whether process pid is in the time namespace the
// calling thread's children are created in.
func entered(pid int) (bool, error) {
	want, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/time_for_children", unix.Gettid()))
	if err != nil {
		return false, err
	}
	got, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/time", pid))
	if err != nil {
		return false, err
	}
	return got == want, nil
}

// tracee is what the tracer knows of a traced thread.
type tracee struct {
	seen bool // its first stop was reported
}

func trace(path string, argv []string, o *Options, img *image, started chan<- int) (Status, error) {
	m := img.m
	files, closeFiles, err := stdio(o)
	if err != nil {
		return Status{}, &Error{"start", err}
	}
	defer closeFiles()
	inNamespace, err := namespace(o, img)
	if err != nil {
		return Status{}, err
	}
	env := o.Env
	if env == nil {
		env = os.Environ()
	}
	pid, err := syscall.ForkExec(path, argv, &syscall.ProcAttr{
		Dir:   o.Dir,
		Env:   env,
		Files: files,
		Sys:   &syscall.SysProcAttr{Ptrace: true, Pdeathsig: syscall.SIGKILL},
	})
	if err != nil {
		if errors.Is(err, syscall.EPERM) {
			return Status{}, &Error{"trace", fmt.Errorf("starting %s under ptrace: %w (PTRACE_TRACEME refused? kernel.yama.ptrace_scope=3, a seccomp filter or a container policy can forbid tracing)", path, err)}
		}
		return Status{}, &Error{"start", fmt.Errorf("starting %s: %w", path, err)}
	}
	log := o.Log
	if log == nil {
		log = io.Discard
	}
	kill := func(pid int) {
		unix.Kill(pid, unix.SIGKILL)
		var ws unix.WaitStatus
		for {
			if _, err := wait4(pid, &ws); err != nil || ws.Exited() || ws.Signaled() {
				return
			}
			unix.PtraceCont(pid, 0)
		}
	}
	// The program stops with SIGTRAP after its exec, before its first
	// instruction.
	var ws unix.WaitStatus
	if _, err := wait4(pid, &ws); err != nil {
		unix.Kill(pid, unix.SIGKILL)
		return Status{}, &Error{"trace", err}
	}
	if !ws.Stopped() || ws.StopSignal() != unix.SIGTRAP {
		if ws.Stopped() {
			kill(pid)
		}
		return Status{}, &Error{"trace", fmt.Errorf("%s did not stop after its exec (%s)", path, describe(ws))}
	}
	if err := unix.PtraceSetOptions(pid, traceOptions); err != nil {
		kill(pid)
		return Status{}, &Error{"trace", fmt.Errorf("PTRACE_SETOPTIONS: %w", err)}
	}
	if inNamespace {
		// A kernel before 5.19 leaves a child forked with CLONE_VM (as Go
		// forks) in the old namespace at its exec: check where it is.
		if inNamespace, err = entered(pid); err != nil {
			kill(pid)
			return Status{}, &Error{"timens", fmt.Errorf("finding the program's time namespace: %w", err)}
		}
		if !inNamespace && o.Namespace == NamespaceKernel {
			kill(pid)
			return Status{}, &Error{"timens", fmt.Errorf("%s did not enter the new time namespace at its exec (a kernel before 5.19 keeps a child forked with CLONE_VM in the old one)", path)}
		}
		if !inNamespace {
			fmt.Fprintf(log, "launch: the program did not enter the kernel time namespace: only the image shifts the clocks\n")
		}
	}
	_, pending, err := install(pid, m)
	if err != nil {
		kill(pid)
		return Status{}, &Error{"set up", fmt.Errorf("%s: %w", path, err)}
	}
	started <- pid
	tracees := map[int]*tracee{pid: {seen: true}}
	resume := func(pid int, sig syscall.Signal, pending []syscall.Signal) {
		unix.PtraceCont(pid, int(sig))
		for _, s := range pending {
			unix.Tgkill(pid, pid, s)
		}
	}
	resume(pid, 0, pending)
	var status Status
	for {
		// Only this thread's children and tracees: other goroutines may
		// run their own children.
		wpid, err := unix.Wait4(-1, &ws, unix.WALL|unix.WNOTHREAD, nil)
		if err == unix.EINTR {
			continue
		}
		if err == unix.ECHILD {
			return status, nil
		}
		if err != nil {
			return status, fmt.Errorf("launch: wait4: %w", err)
		}
		if ws.Exited() || ws.Signaled() {
			delete(tracees, wpid)
			if wpid == pid {
				status = Status{WaitStatus: ws, InNamespace: inNamespace}
				started <- -1
			}
			continue
		}
		if !ws.Stopped() {
			continue
		}
		t := tracees[wpid]
		if t == nil {
			t = &tracee{}
			tracees[wpid] = t
		}
		sig := ws.StopSignal()
		switch {
		case sig == unix.SIGTRAP && ws.TrapCause() == unix.PTRACE_EVENT_EXEC:
			t.seen = true
			_, pending, err := install(wpid, m)
			if err != nil {
				fmt.Fprintf(log, "vdsogen run: killed process %d: its exec could not be given the image: %v\n", wpid, err)
				unix.Kill(wpid, unix.SIGKILL)
				unix.PtraceCont(wpid, 0)
				continue
			}
			resume(wpid, 0, pending)
		case sig == unix.SIGTRAP && ws.TrapCause() > 0:
			// Fork, vfork, clone: the new tracee reports its own first
			// stop (maybe already did).
			if msg, err := unix.PtraceGetEventMsg(wpid); err == nil {
				if _, ok := tracees[int(msg)]; !ok {
					tracees[int(msg)] = &tracee{}
				}
			}
			unix.PtraceCont(wpid, 0)
		case sig == unix.SIGSTOP && !t.seen:
			// A new tracee's first stop, caused by the attach.
			t.seen = true
			unix.PtraceCont(wpid, 0)
		default:
			t.seen = true
			if groupStop(wpid) {
				unix.PtraceCont(wpid, 0)
				continue
			}
			unix.PtraceCont(wpid, int(sig))
		}
	}
}

// stdio returns the program's standard files: o's, or the launcher's,
// or /dev/null for one that is not open (a launcher started without
// standard input). Close closes what it opened.
func stdio(o *Options) (fds []uintptr, closeAll func(), err error) {
	var opened []*os.File
	closeAll = func() {
		for _, f := range opened {
			f.Close()
		}
	}
	for i, f := range []*os.File{o.Stdin, o.Stdout, o.Stderr} {
		if f == nil {
			f = []*os.File{os.Stdin, os.Stdout, os.Stderr}[i]
		}
		if f != nil {
			if _, err := unix.FcntlInt(f.Fd(), unix.F_GETFD, 0); err == nil {
				fds = append(fds, f.Fd())
				continue
			}
		}
		null, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
		if err != nil {
			closeAll()
			return nil, nil, err
		}
		opened = append(opened, null)
		fds = append(fds, null.Fd())
	}
	return fds, closeAll, nil
}

// Raise ends the calling process by signal sig, with the kernel's default
// action (so that the launcher's parent sees the program's end), and
// returns only if that did not end it.
func Raise(sig syscall.Signal) {
	// A core dump of the launcher would say nothing about the program.
	unix.Setrlimit(unix.RLIMIT_CORE, &unix.Rlimit{})
	// Go's runtime handles some signals itself (SIGSEGV sent by kill is
	// ignored, for one): put the default action back under it.
	var act [4]uintptr // struct sigaction: handler SIG_DFL, no flags, no restorer, empty mask
	unix.RawSyscall6(unix.SYS_RT_SIGACTION, uintptr(sig), uintptr(unsafe.Pointer(&act)), 0, 8, 0, 0)
	var set unix.Sigset_t
	set.Val[0] = 1 << (uint(sig) - 1)
	unix.PthreadSigmask(unix.SIG_UNBLOCK, &set, nil)
	unix.Tgkill(unix.Getpid(), unix.Gettid(), sig)
	time.Sleep(100 * time.Millisecond)
}

// sameLayout checks that a replacement image keeps the layout of the
// built-in one, which the layout table describes: the same symbols at the
// same places (elfimage.CheckSame), and at every site the loader writes
// (alternatives and static calls without data references) bytes the table
// declares for it: the site's, or one of its choices'.
func sameLayout(name string, file, builtin []byte, tab *layout.Table, variant string) error {
	if err := elfimage.CheckSame(map[string][]byte{name: file, "the built-in " + variant + " image": builtin}); err != nil {
		return fmt.Errorf("%s does not match the layout of the built-in image: %w", name, err)
	}
	off, size, err := elfimage.Section(file, ".text")
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	v, _ := tab.Variant(variant)
	if size != v.Size {
		return fmt.Errorf("%s has %d bytes of code, the layout table of %s says %d", name, size, variant, v.Size)
	}
	code := file[off : off+size]
	for _, s := range v.Sites {
		if len(s.Choices) == 0 || len(s.Relocs) > 0 {
			continue // the loader writes nothing there
		}
		end := s.Offset + len(s.Bytes)
		if s.Offset < 0 || end > len(code) {
			return fmt.Errorf("%s: %s site %s at %#x lies outside the code", name, s.Kind, s.Key, s.Offset)
		}
		have := code[s.Offset:end]
		ok := bytes.Equal(have, s.Bytes)
		for _, c := range s.Choices {
			ok = ok || bytes.Equal(have, c.Bytes)
		}
		if !ok {
			return fmt.Errorf("%s: %s site %s at %#x (%s) holds % x, which the layout table does not declare for it", name, s.Kind, s.Key, s.Offset, s.Source, have)
		}
	}
	return nil
}
