package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vdsogen/vdsogen/vdso/launch"
)

var cmdRun = &command{
	name:      "run",
	usageLine: "vdsogen run [-variant name] [-monotonic offset] [-boottime offset] [-namespace mode] [-image file.so] -- prog [args...]",
	short:     "run a program with a generated image as its vDSO",
	long: `Run starts prog, unmodified (dynamically or statically linked: glibc,
musl, Go), with an image of the reference vDSO as its vDSO: before prog's
first instruction the image is mapped into it and its auxiliary vector's
AT_SYSINFO_EHDR points at the image, so its C library or Go runtime reads
the clocks through it. Every process prog starts, and every program they
exec, gets the image too. The launcher keeps the image's data page (the
timekeeper) while any of them runs, forwards SIGINT, SIGTERM, SIGHUP,
SIGQUIT, SIGUSR1 and SIGUSR2 to prog (SIGINT and SIGQUIT only when not in
the foreground of a terminal, which sends them to prog itself), and exits
with prog's status (or dies by the signal that killed it).

The flags are:

	-variant name     the image: host (default) or timens
	-monotonic off    timens only: added to CLOCK_MONOTONIC, MONOTONIC_RAW
	                  and MONOTONIC_COARSE (seconds, e.g. 86400, or a Go
	                  duration such as 24h or -1.5s)
	-boottime off     timens only: added to CLOCK_BOOTTIME
	-namespace mode   with offsets: image (default) shifts the clocks in
	                  the image only; kernel also runs prog in a new kernel
	                  time namespace with the same offsets (root, or
	                  CAP_SYS_ADMIN), so that its direct system calls,
	                  timers, absolute sleeps and /proc/uptime agree; auto
	                  is kernel where allowed and image elsewhere
	-image file.so    an ELF image (vdsogen -elf) of the same program and
	                  variant to use instead of the built-in one; it must
	                  pass the image checks

Only clock reads through the vDSO see the image: unless -namespace puts
prog in a kernel time namespace, direct system calls
(syscall(SYS_clock_gettime), a Go program's raw syscalls), timers, sleeps
with absolute times and file times keep the kernel's clocks. Run needs only
the right to ptrace its own child (and, for -namespace kernel, to create a
time namespace). Run exits 2 on a usage error and 1 when
the program cannot be started on the image (nothing of it ran).`,
	flags: func(fs *flag.FlagSet) {
		fs.String("variant", "host", "")
		fs.Var(new(offsetFlag), "monotonic", "")
		fs.Var(new(offsetFlag), "boottime", "")
		fs.String("namespace", "image", "")
		fs.String("image", "", "")
	},
	run: runRun,
}

// offsetFlag is a clock offset: seconds (86400, -0.5) or a Go duration.
type offsetFlag time.Duration

func (f *offsetFlag) String() string { return time.Duration(*f).String() }

func (f *offsetFlag) Set(s string) error {
	if v, err := strconv.ParseFloat(s, 64); err == nil {
		if v > 1e9 || v < -1e9 {
			return fmt.Errorf("offset %s out of range (at most 1e9 seconds either way)", s)
		}
		*f = offsetFlag(time.Duration(v * float64(time.Second)))
		return nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("offset %q: want seconds (86400) or a duration (24h)", s)
	}
	*f = offsetFlag(d)
	return nil
}

func runRun(c *cmdEnv, args []string) int {
	if len(args) == 0 {
		return c.usage("no program to run")
	}
	if *c.json {
		return c.usage("-json: run prints the program's output, not a report")
	}
	opts := launch.Options{
		Variant:   c.fs.Lookup("variant").Value.String(),
		Monotonic: time.Duration(*c.fs.Lookup("monotonic").Value.(*offsetFlag)),
		Boottime:  time.Duration(*c.fs.Lookup("boottime").Value.(*offsetFlag)),
		Stderr:    os.Stderr,
		Log:       c.stderr,
		Signals:   []os.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT, syscall.SIGUSR1, syscall.SIGUSR2},
	}
	if foregroundOnTerminal() {
		// The terminal sends Ctrl-C and Ctrl-\ to the program itself:
		// forwarding them would deliver them twice.
		opts.Signals = []os.Signal{syscall.SIGTERM, syscall.SIGHUP, syscall.SIGUSR1, syscall.SIGUSR2}
		opts.Ignore = []os.Signal{syscall.SIGINT, syscall.SIGQUIT}
	}
	ns, err := launch.ParseNamespace(c.fs.Lookup("namespace").Value.String())
	if err != nil {
		return c.usage("-namespace: %v", err)
	}
	opts.Namespace = ns
	if path := c.fs.Lookup("image").Value.String(); path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return c.fail(err)
		}
		opts.Image, opts.ImageName = b, path
	}
	var copies []chan struct{}
	for _, w := range []struct {
		to  io.Writer
		dst **os.File
	}{{c.stdout, &opts.Stdout}, {c.stderr, &opts.Stderr}} {
		if f, ok := w.to.(*os.File); ok {
			*w.dst = f
			continue
		}
		// Not a file (a test's buffer): copy through a pipe.
		r, wr, err := os.Pipe()
		if err != nil {
			return c.fail(err)
		}
		done := make(chan struct{})
		go func(to io.Writer) { io.Copy(to, r); r.Close(); close(done) }(w.to)
		*w.dst = wr
		defer wr.Close()
		copies = append(copies, done)
	}
	st, err := launch.Run(args, opts)
	for _, f := range []*os.File{opts.Stdout, opts.Stderr} {
		if f != c.stdout && f != c.stderr {
			f.Close()
		}
	}
	for _, d := range copies {
		<-d
	}
	if err != nil {
		var le *launch.Error
		if errors.As(err, &le) {
			fmt.Fprintf(c.stderr, "vdsogen run: %s: %v (the program was not run)\n", args[0], err)
			return 1
		}
		return c.fail(err)
	}
	if st.Signaled() {
		launch.Raise(st.Signal())
	}
	return st.ExitCode()
}

// foregroundOnTerminal reports whether the launcher's standard input is a
// terminal whose foreground process group is the launcher's (the program
// then shares it).
func foregroundOnTerminal() bool {
	pgrp, err := unix.IoctlGetInt(0, unix.TIOCGPGRP)
	return err == nil && pgrp == unix.Getpgrp()
}
