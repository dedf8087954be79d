// Package launch runs an unmodified program, dynamically or statically
// linked, with an image of the reference vDSO (package vdso) as its vDSO:
// its C library (glibc's dl_vdso_vsym, musl's vdso lookup) or Go runtime
// finds the image through the auxiliary vector, parses it with its own
// code and calls it for every clock read. It is what `vdsogen run` does.
//
// # How
//
// The launcher loads the variant's image with vdso/loader into a memfd
// (data pages, then the code, with the CPU's load-time choices applied)
// and runs the timekeeper (vdso/internal/vvar) on the data page through
// its own writable alias of the memfd, for as long as any traced process
// runs. For the timens variant it fills the time-namespace page with the
// requested offsets (added to those of the launcher's own namespace, if
// any), before the program starts.
//
// The program is started with PTRACE_TRACEME and stops after its exec,
// before its first instruction. There, from the one OS thread that traces
// everything, the launcher injects system calls: it writes a `syscall`
// instruction over the word at RIP (put back afterwards, with every
// register), and single-steps it with the arguments it wants:
//
//  1. read(-1, NULL, 0), which fails: the stop is inside execve, whose
//     return value overwrites RAX on the way out;
//  2. mmap an anonymous range as large as the data pages and the code
//     (the kernel picks free address space) and write into it the path
//     /proc/<launcher>/fd/<memfd>;
//  3. openat that path (read-only, close-on-exec), mmap over the range,
//     MAP_SHARED|MAP_FIXED, the data pages read-only at their recorded
//     negative offsets (elfimage.Pages) and the code read+exec, then
//     close the descriptor. Nothing is mapped writable and executable.
//
// Then it walks the initial stack (argc, argv, envp, auxv) and rewrites
// AT_SYSINFO_EHDR to the image's address. The kernel's own vDSO stays
// mapped but nothing points at it any more. The tracer follows forks,
// vforks and clones (which share the pages: they are MAP_SHARED) and every
// exec (PTRACE_O_TRACEEXEC), where it installs the image again; a process
// whose exec cannot be given the image is killed rather than run half set
// up, and so is the program itself (Run returns an *Error and nothing of
// it ran). PTRACE_O_EXITKILL kills every tracee if the launcher dies, so
// no program keeps running on a data page nobody refreshes.
//
// Signals that stop a tracee are passed on to it; the launcher forwards
// Options.Signals it receives to the program; Run returns the program's
// wait status once the program and every descendant have ended (as
// strace -f does), and Raise lets a launcher die by the signal that killed
// the program, as a shell reports it.
//
// The program runs at full speed: clock reads never leave it, and the
// tracer wakes only for signals, new processes and threads, and execs (a
// signal delivered to a traced process costs a round trip through the
// launcher, an exec a few injected system calls).
//
// # What is covered
//
// Every read of a clock the image serves that goes through the vDSO:
// clock_gettime, gettimeofday, time and clock_getres of glibc and musl
// (dynamic or static), Python's time module, coreutils, the Go runtime's
// nanotime and time.Now. With the timens variant, CLOCK_MONOTONIC,
// MONOTONIC_RAW, MONOTONIC_COARSE and CLOCK_BOOTTIME are shifted by the
// offsets for all of them, without privileges or a kernel time namespace.
//
// # A kernel time namespace
//
// With Options.Namespace set to NamespaceKernel (or NamespaceAuto, where
// allowed), the program also runs in a new kernel time namespace with the
// image's offsets: the tracer thread calls unshare(CLONE_NEWTIME), writes
// the offsets (relative to the initial namespace, as the image's page has
// them) to its /proc/TID/timens_offsets while the namespace is empty, and
// forks the program, which enters the namespace at its exec; the tracer
// checks that it did (/proc/PID/ns/time) before the first instruction.
// Then what the image serves and what the kernel answers agree, so the
// first three gaps below close for the monotonic and boot-time clocks:
// direct system calls, the routines' fallback system call, absolute
// timers and sleeps, and /proc/uptime all see the offsets. It needs
// CAP_SYS_ADMIN; the thread that unshared is the tracer's, locked and
// never reused, so nothing else of the launcher enters the namespace.
//
// # What is not covered
//
// Without a kernel time namespace (the default, NamespaceImage):
//
//   - Direct system calls (syscall(SYS_clock_gettime), a static binary
//     built without vDSO support, io_uring) get the kernel's clocks.
//   - Timers and sleeps with absolute times (clock_nanosleep with
//     TIMER_ABSTIME, timer_settime, timerfd_settime with
//     TFD_TIMER_ABSTIME, pthread_cond_timedwait) are interpreted by the
//     kernel on its clocks: a program that computes a deadline from the
//     shifted clock waits a day too long. Relative sleeps and timeouts are
//     unaffected. So are file times, /proc/uptime, /proc/stat's btime and
//     SO_TIMESTAMP.
//   - The routines fall back to the system call, which knows nothing of
//     the offsets, while the data page is invalid (the timekeeper found
//     the TSC unusable, or is recalibrating after a TSC anomaly) or its
//     writer stalls mid-update beyond the routines' spin limit (the
//     launcher descheduled or stopped for a garbage collection): such a
//     read of a shifted clock returns the kernel's unshifted value. Run
//     refuses offsets when the TSC is unusable from the start; a real
//     time namespace has no such gap.
//   - The image exports clock_gettime, gettimeofday, time, clock_getres
//     (and vdsogen's clock_gettime_tl) only: a C library that looks for
//     getcpu or getrandom in the vDSO does not find them and makes the
//     system call.
//   - /proc/PID/auxv still shows the kernel's vDSO (the kernel's copy of
//     the vector is not writable); getauxval reads the rewritten stack.
//   - 32-bit programs are refused, and a program that execs one is
//     killed at that exec.
//   - Job control: a SIGSTOP or SIGTSTP sent to a traced process alone
//     does not keep it stopped: the tracer resumes it (PTRACE_TRACEME
//     cannot hold a group stop; that takes PTRACE_SEIZE and LISTEN). A
//     terminal's Ctrl-Z stops the whole foreground process group, the
//     launcher included, and the program then waits in its ptrace stop
//     until the launcher is continued.
//   - A program that is itself a debugger cannot trace its children: the
//     launcher traces them. Setuid programs run without their privileges
//     unless the launcher has them, as under any tracer.
//   - A launcher in the foreground of a terminal should not forward
//     SIGINT and SIGQUIT (the terminal sends them to the program too) but
//     Ignore them, as `vdsogen run` does; a `kill -INT` of such a launcher
//     then does not reach the program.
//
// Run needs ptrace of its own child (allowed by every Yama level but 3
// and by the default container profiles) and /proc; a refusal is reported
// as an *Error with Op "trace".
package launch
