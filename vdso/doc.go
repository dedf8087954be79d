// Package vdso is the reference vDSO built with vdsogen: clock routines
// written with the DSL in asm.go, generated in host and timens variants
// (plus a marker-free build used to measure what the markers cost), a
// seqlock data page (internal/vvar) kept by a Go timekeeper, Go stubs that
// call each entry of each variant, and a Go API over them.
//
// # Go API
//
// Start the timekeeper once; then ClockGettime, ClockGetres, Gettimeofday,
// Time, Now and Monotonic read the clocks without a system call:
//
//	if err := vdso.Start(vdso.Options{}); err != nil {
//		log.Print(err) // still correct: every read is then a system call
//	}
//	defer vdso.Stop()
//	ts, err := vdso.ClockGettime(unix.CLOCK_MONOTONIC)
//
// Start picks the variant: Timens when /proc/self/timens_offsets shows a
// non-zero offset, Host otherwise (Options.Variant overrides). Host pays
// one 5-byte NOP for the time-namespace code it carries; Timens adds the
// namespace's monotonic offset to MONOTONIC, MONOTONIC_RAW and
// MONOTONIC_COARSE, its boottime offset to BOOTTIME, nothing to REALTIME
// and TAI, reading the offsets from the time-namespace page that Start
// fills. Every function is correct at every moment, before Start, after
// Stop and when Start fails (no usable TSC): with the data page invalid,
// every routine makes the real system call. Errors are unix.Errno values,
// exactly those of the system calls (EINVAL for an invalid clock id).
//
// Which clock ids come from the data page: REALTIME, MONOTONIC,
// MONOTONIC_RAW, REALTIME_COARSE, MONOTONIC_COARSE, BOOTTIME and TAI, like
// the kernel's vDSO; every other id (the CPU-time clocks, the alarm
// clocks, negative ids) goes to the system call.
//
// # Accuracy
//
// Measured against the kernel's own vDSO (internal/kvdso), each sample
// bracketed by two kernel reads about 50 ns apart (ACCURACY.md has the
// tables, the machine and the method): for the five high-resolution
// clocks |vdsogen - kernel| is p50 4-5 ns, p99 6-12 ns, max 0.1-0.7 us (the
// max is bracket noise: no sample fell outside its bracket), in both
// variants and inside a time namespace. The two coarse clocks (and time)
// are exactly the kernel's: the routines serve them from the page only
// while the page's value is provably still the kernel's current one (the
// TSC below the page's CoarseTSC, see internal/vvar) and make the system
// call otherwise, so they are never ahead, never behind and never step
// back, at any load; the coarse ticker (a SCHED_FIFO thread outside the Go
// scheduler) keeps the system calls to a few percent of coarse reads.
//
// # Loading the ELF images
//
// ELFImages and Layout feed vdso/loader, which maps an image as the kernel
// maps its vDSO. The Go images read the TSC with LFENCE;RDTSC (the "tsc"
// alternative of asm.go, as variants.toml picks); the loader re-picks at
// load time by CPUID, the last of rdtsc, rdtscp and lfence_rdtsc whose
// feature the CPU has, and loader.Options.Choices overrides it
// ({"tsc": "rdtscp"}, say). The choice survives a live switch between host
// and timens. docs/performance.md compares the three choices
// (BenchmarkTSCRead).
//
// # Files
//
// The generated files are z*: zclock_<variant>_amd64.s (one image per
// variant), zclock_stubs_amd64.{s,go}, the layout table as Go
// (zclock_layout_amd64.go) and as JSON for tools (zclock_layout.json), and
// the ELF images zclock_<variant>.so.
package vdso
