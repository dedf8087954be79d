// Package vvar defines the data pages the generated vDSO routines read (the
// seqlock data page and the time-namespace page), their writer, a reference
// reader (the oracle the generated assembly must match bit for bit), and a
// Timekeeper that keeps the data page in step with the kernel's clocks.
//
// # Data page (Page), layout version 3
//
// 4096 bytes, little-endian, naturally aligned fields. The routines address
// it only through the Off* constants; layout_test.go checks each against the
// Go struct.
//
//	offset size  name       meaning                                            written by
//	------ ----  ---------  -------------------------------------------------  ----------------------
//	     0    4  Seq        seqlock sequence; odd while the writer updates     Update (every write)
//	     4    4  Mode       ModeInvalid (0): routines make the real system     Start, refresh, tick,
//	                        call; ModeTSC (1): parameters valid. Any other     Invalidate, Stop
//	                        value must be treated like ModeInvalid.
//	     8    4  Version    layout version, 3. Routines do not check it; it    Start, refresh, tick
//	                        is for debuggers and tools.
//	    12    4  Shift      fixed-point shift (ClockShift = 24)                Start, refresh, tick
//	    16    8  Mult       (ns << Shift) per TSC cycle; always < 1<<32        refresh, tick
//	    24    8  TSCBase    TSC value at which the bases below hold            refresh, tick
//	    32  192  Base[12]   per clock id c at 32+16*c:                         refresh, tick
//	                          +0 Sec   uint64 seconds
//	                          +8 Snsec uint64 nanoseconds << Shift,
//	                                  Snsec < 1e9 << Shift
//	                        slots used: REALTIME 0, MONOTONIC 1,
//	                        MONOTONIC_RAW 4, REALTIME_COARSE 5,
//	                        MONOTONIC_COARSE 6, BOOTTIME 7, TAI 11. Slots
//	                        2, 3, 8, 9, 10 stay zero.
//	   224    8  HresRes    clock_getres of the high-resolution clocks, ns      Start
//	                        (the kernel's hrtimer resolution, 1 ns with high-
//	                        resolution timers)
//	   232    8  CoarseRes  clock_getres of the coarse clocks, ns (the          Start
//	                        kernel's TICK_NSEC, read from clock_getres of
//	                        CLOCK_MONOTONIC_COARSE)
//	   240    8  MaxDelta   largest TSC - TSCBase the routines convert; past   refresh, tick
//	                        it they make the system call (MaxDeltaFor(Mult):
//	                        no overflow of Snsec + delta*Mult, ~18 minutes)
//	   248    8  CoarseTSC  TSC from which the coarse bases may no longer be   refresh, tick,
//	                        the kernel's current coarse values: at or past it  coarse ticker
//	                        the routines make the system call for the coarse
//	                        clocks and time(); 0: always (calc.go)
//	   256 3840  (padding)  zero
//
// All times in the page are those of the root time namespace, as in the
// kernel's vvar page; a Timekeeper running inside a time namespace subtracts
// its offsets from what the kernel tells it.
//
// # Time-namespace page (TimensPage)
//
// 4096 bytes, written once before the first routine that reads it runs (a
// process's time-namespace offsets cannot change once it runs in the
// namespace), no seqlock.
//
//	offset size  name         meaning
//	------ ----  -----------  ---------------------------------------------------
//	     0  192  Offsets[12]  per clock id c at 16*c:
//	                            +0 Sec  int64 seconds (may be negative)
//	                            +8 Nsec int64 nanoseconds in [0, 1e9)
//	                          MONOTONIC 1, MONOTONIC_RAW 4, MONOTONIC_COARSE 6:
//	                          the monotonic offset; BOOTTIME 7 and
//	                          BOOTTIME_ALARM 9: the boottime offset (as the
//	                          kernel fills its page); every other slot zero.
//	   192 3904  (padding)    zero
//
// FillTimens fills it from /proc/self/timens_offsets (file absent: zeros).
//
// # Which clock goes where
//
// Like the kernel's vDSO (lib/vdso/gettimeofday.c: VDSO_HRES is REALTIME,
// MONOTONIC, BOOTTIME, TAI; VDSO_COARSE is REALTIME_COARSE,
// MONOTONIC_COARSE; VDSO_RAW is MONOTONIC_RAW), the routines serve exactly
// the seven data-page clocks and send every other id to the system call:
// PROCESS_CPUTIME_ID 2 and THREAD_CPUTIME_ID 3; id 10 (CLOCK_SGI_CYCLE,
// gone); ids >= 12; and every negative id, because negative ids are valid
// system-call clocks (the CPU-time clocks of other processes and threads,
// dynamic POSIX clocks opened from a file descriptor) and the kernel itself
// answers -EINVAL for the invalid ones (-1, INT_MIN...).
//
// CLOCK_REALTIME_ALARM (8) and CLOCK_BOOTTIME_ALARM (9) are in none of the
// kernel's vDSO masks, so the kernel's vDSO makes the system call for both
// clock_gettime and clock_getres. They must not mirror 0 and 7: the system
// call fails with EINVAL when the machine has no RTC able to wake it
// (alarm_clock_get_timespec checks alarmtimer_get_rtcdev), which is the case
// on the Firecracker VM this package was written on (no /dev/rtc: ids 8, 9
// and 10 give EINVAL, both gettime and getres). Routines therefore send 8
// and 9 to the system call; their slots here stay zero (the TimensPage slot
// 9 is filled only because the kernel fills it).
//
// clock_getres: HresRes for REALTIME, MONOTONIC, MONOTONIC_RAW, BOOTTIME,
// TAI; CoarseRes for the two coarse clocks; system call for the rest and
// whenever Mode is not ModeTSC (see (*Page).Res). gettimeofday and time are
// REALTIME.
//
// # Reader algorithm
//
// Every routine implements (*Page).Read; the time-namespace routines then
// add the offset ((*TimensPage).Apply, (*Page).ReadTimens):
//
//	retry:
//	  seq := load Seq; if seq is odd: PAUSE, goto retry
//	  if Mode != ModeTSC: system call
//	  tsc := LFENCE; RDTSC
//	  coarse clocks: if tsc >= CoarseTSC: system call; delta = 0
//	  delta := tsc - TSCBase; if int64(delta) < 0 { delta = 0 }
//	  ns := Base[c].Snsec + delta*Mult     (uint64, wrapping)
//	  ns >>= Shift                         (SHRQ CL: count taken mod 64)
//	  sec := Base[c].Sec
//	  if load Seq != seq: goto retry
//	  for ns >= 1e9 { ns -= 1e9; sec++ }
//	time namespace: sec += Offsets[c].Sec; ns += Offsets[c].Nsec;
//	  if ns >= 1e9 { ns -= 1e9; sec++ }    (once: both terms are < 1e9)
//
// The routines need no fence besides the LFENCE before RDTSC (which keeps
// RDTSC from executing before the first load of Seq, like the kernel's
// rdtsc_ordered): x86-TSO keeps loads in order with loads and stores in
// order with stores, which is all a seqlock needs; see (*Page).Update.
//
// The negative-delta clamp covers a reader whose RDTSC ran before the
// writer's switch point (it then returns the base value, which is never
// earlier than anything the previous parameters gave) and small TSC skew
// between CPUs.
//
// # Shift and Mult
//
// Shift is 24 and Mult = round-down((1e9 << 24) / f_TSC) (about 8.0e6 for the
// 2.1 GHz TSC here). Overflow bound: Snsec < 1e9<<24 and delta*Mult is
// (ns elapsed) << 24, so Snsec + delta*Mult < 2^64 while the time elapsed
// since TSCBase is under 2^40 ns - 1 s = 1098.5 s (18.3 minutes), whatever
// f_TSC; the Timekeeper rewrites TSCBase every Interval (100 ms). A shift of
// 25 would give only 548 s, short of the required 10 minutes. Mult < 2^32
// holds for any TSC faster than (1e9 << 24) / 2^32 Hz = 3.9 MHz, and its
// quantisation (one unit in 8e6, 0.12 ppm at 2.1 GHz) costs at most 12 ns per
// 100 ms interval, corrected at the next refresh.
//
// Overflow protection (layout version 2): MaxDelta = MaxDeltaFor(Mult), the
// largest delta for which Snsec + delta*Mult cannot wrap. A reader whose
// delta exceeds it makes the system call, as the kernel's vDSO does with
// CONFIG_GENERIC_VDSO_OVERFLOW_PROTECT. That happens only when the whole
// process was frozen (SIGSTOP, cgroup freezer, checkpoint/restore) for more
// than ~18 minutes and a reader runs before the refresh goroutine does; it
// costs the high-resolution path one compare and a not-taken branch. It
// does not help a restore on another machine whose TSC is ahead of the old
// one by less than that (the page's TSCBase means nothing there): a runtime
// that migrates processes should Invalidate before and restart the
// Timekeeper after. MONOTONIC_RAW still shares Mult with the other clocks
// (the kernel keeps one per clocksource base, CS_HRES_COARSE and CS_RAW).
//
// # Timekeeper
//
// Start refuses (a *TSCError, page left invalid) unless every CPU in
// /proc/cpuinfo has constant_tsc and nonstop_tsc and RDTSC is allowed
// (PR_GET_TSC). It then calibrates: MONOTONIC and MONOTONIC_RAW are sampled,
// it sleeps CalibrationWindow (20 ms), and the first full refresh publishes.
//
// Sampling: each data-page clock is read with clock_gettime between two
// RDTSC reads, Tries (5) times; the tightest bracket wins and its midpoint is
// taken as the TSC at which the kernel read its clock. Brackets wider than 4
// times the narrowest seen for that clock are rejected (the thread was
// interrupted every time), and the clock simply continues on its current
// parameters for that round. Coarse clocks are read without a bracket: they
// do not move with the TSC.
//
// Rates: the kernel derives REALTIME, MONOTONIC, BOOTTIME and TAI from one
// timekeeper, so they share one NTP-adjusted rate, estimated from MONOTONIC;
// MONOTONIC_RAW has its own. Each is the slope between the current sample
// and the oldest kept in a history of up to 32 samples spaced 125 ms apart,
// so the baseline grows from the calibration window to HistorySpan (4 s):
// with 1.2 us brackets the rate error falls from ~60 ppm at 20 ms to ~0.3 ppm.
// A rate change beyond 1000 ppm, or a TSC going backwards, is an anomaly.
//
// Refresh (every Interval, 100 ms): sample every clock, re-estimate the
// rates, read the switch point W = RDTSC, compute the new parameters with
// TSCBase = W, publish with Seq made odd no later than W + 5 us (else
// recompute; see Writers). Continuity (nextParams in calc.go has the
// proof): with old(T), new(T) the values the old and the new parameters
// give at TSC T, every clock keeps new(T) >= old(T) for T in [W, W + 10 us],
// which covers every reader that validated the old parameters (its loads
// preceded the odd store, hence W + 5 us, and its RDTSC trails its last
// load by far less than the other 5 us), and readers with T < W get the new
// base, itself >= old(W). Errors are corrected without ever going
// backwards: a clock behind the kernel steps forward to it; a clock ahead of
// it keeps its value and asks for a rate lower by error/Interval (at most
// 500 ppm lower), so that it meets the kernel at the next refresh. Mult is
// shared by all clocks, so the published Mult is the smallest rate any clock
// asked for, rounded down: no clock ever has to step back, and the others
// fall slightly behind and step forward at the next refresh or tick.
// REALTIME and TAI errors beyond StepThreshold (1 ms) mean the clock was
// set: the page follows the kernel, backwards too, as the kernel's own
// readers see. MONOTONIC-family errors beyond MaxError (20 ms) ahead mean
// the TSC misbehaved: the page is invalidated and recalibrated (readers then
// get the kernel's values, which is the one case where a monotonic clock can
// appear to go back).
//
// # Coarse clocks: served only while they are the kernel's (layout 3)
//
// The kernel's coarse clocks are the values of its clocks at cycle_last,
// and it advances them (timekeeping_advance) only once its clocksource has
// run one tick interval (cycle_interval: CoarseRes of MONOTONIC, within
// the NTP adjustment of at most 500 ppm) past cycle_last. So with V the
// kernel's MONOTONIC_COARSE at some moment, its coarse clocks cannot change
// before its MONOTONIC reaches V + interval. Every publication of the
// coarse bases (a refresh, a tick, the coarse ticker) reads the kernel's
// MONOTONIC_COARSE and then REALTIME_COARSE, and sets CoarseTSC to the TSC
// at which the page's own MONOTONIC reaches V + CoarseRes - CoarseRes/1000
// - 50 us (coarseDeadline; the 50 us cover the page's MONOTONIC trailing
// the kernel's and TSC skew). A routine serves a coarse clock, and time(),
// from the page only while its TSC is below CoarseTSC, and asks the kernel
// otherwise. Consequences, none of which depends on when the timekeeper
// runs:
//
//   - a served coarse value is exactly the kernel's current one, never
//     ahead and never behind (age 0); an unserved one is the kernel's
//     answer. The bound (one tick plus 1 ms) holds with room.
//   - no step back, across fallbacks too: the page serves V only while the
//     kernel's value is still V, so a system-call answer taken earlier is
//     at most V; Stop and Start, variant switches and a writer holding the
//     sequence (spinLimit) are fallbacks like any other.
//   - the cost is one RDTSC and a compare per coarse read (unordered: it
//     may run a reorder window, well under a microsecond, early, which the
//     50 us slack covers), plus the
//     system call for the reads that fall between CoarseTSC and the next
//     publication: about (CoarseRes/1000 + 50 us + the kernel's tick
//     latency after its grid + the publisher's wake-up) / CoarseRes of
//     them when the publisher follows every tick.
//
// Exceptions, all outside ticks: clock_settime and adjtimex(ADJ_SETOFFSET)
// move the kernel's clocks at once (REALTIME_COARSE may legitimately go
// back; MONOTONIC_COARSE jumps forward to the current MONOTONIC, and a
// page still serving the older V until CoarseTSC trails it by less than a
// tick); adjtimex(ADJ_TICK) may shorten the tick interval by up to 10 %,
// more than the 0.1 % allowed for. And CoarseTSC is computed from the
// page's MONOTONIC, so it relies on that trailing the kernel's by less
// than the 50 us slack: the page's measured error is under 1 us, but a
// kernel rate change of 500 ppm (an NTP daemon slewing) left uncorrected
// for 100 ms (a refresh delayed by a saturated process) would use it up.
//
// Coarse ticker (coarse.go): a goroutine, locked to its thread, that asks
// for SCHED_FIFO priority 1, then enters the runtime's "blocked in a
// system call" state (runtime.entersyscallblock: its P goes to others) and
// runs an assembly loop until Stop: sleep with clock_nanosleep until
// MONOTONIC reaches the last coarse value + CoarseRes (the earliest the
// kernel can advance it), re-read MONOTONIC_COARSE every 20 us until it
// moved, read REALTIME_COARSE, take the sequence (LOCK CMPXCHG from even to
// odd), store both bases and their CoarseTSC, release. It needs no P, so a
// process whose goroutines keep every P busy does not delay it (a
// goroutine there was measured 100-270 ms late), and at SCHED_FIFO other
// processes do not either. Without the privilege for SCHED_FIFO (not root,
// no CAP_SYS_NICE; Stats.TickerRealtime false) it runs as an ordinary
// thread: busy processes then delay it by the kernel scheduler's latency,
// and more coarse reads fall back to the system call; none is wrong. Go
// writers (refresh, tick, Invalidate) take the sequence with LOCK CMPXCHG
// from the value they read before computing, so they never overwrite a
// newer coarse tick with an older sample (publish fails and they compute
// again); a refresh or tick whose MONOTONIC_COARSE sample is older than
// the page's keeps the page's coarse bases and CoarseTSC.
//
// Tick (every TickInterval, by default the kernel's tick, 4 ms here): read
// the two coarse clocks (two system calls) and republish every clock from
// the last full refresh's samples extrapolated with the current rates, the
// same computation as a refresh, so the same continuity guarantee. Ticks
// bound what the shared Mult costs: when NTP makes MONOTONIC run faster than
// MONOTONIC_RAW (by the host crystal's error, often 10-50 ppm), the faster
// family falls behind by |rate difference| x the time to the next
// republication: 2 us at 20 ppm with 100 ms refreshes alone, 80 ns with 4 ms
// ticks (TestNextParamsTracksKernel simulates this). Ticks are placed just
// after the kernel advances its coarse clocks (a phase learned by search,
// see untilNextTick). The refresh goroutine is locked to its thread, asks
// for SCHED_FIFO priority 1 (Options.NoRealtime: not), and sleeps in
// clock_nanosleep on it rather than on a Go timer, so that other processes
// do not delay its wake-up; it still needs a P to run Go code, so a
// process saturating its Ps delays it (the coarse ticker above does not
// have that limit).
//
// Error bound (reader minus kernel at the same instant): the sample's
// placement error (at most half the bracket, ~0.6 us here, much less in
// practice) plus the drift accumulated until the next republication: (rate
// error + Mult quantisation) x Interval, about (0.3 + 0.12) ppm x 100 ms =
// 40 ns, plus |MONOTONIC rate - MONOTONIC_RAW rate| x TickInterval. Measured
// here (TestOracleAgainstKernel, no NTP correction on this VM): the oracle
// never fell outside [kernel before, kernel after] (35,000-78,000 reads
// per clock per run, over a dozen runs), and |oracle - bracket midpoint| is
// p50 5-30 ns, p99 35-130 ns (up to 300 ns while other processes loaded the
// machine), max ~0.5 us (the last is the check's own bracket noise).
//
// Why 100 ms: the drift term grows linearly with the interval while the
// cost is paid per refresh (43 us of work here: 7 clocks x 5 brackets x
// ~1.3 us system calls); 100 ms keeps the drift to tens of ns.
//
// Cost, measured on the development VM (2 vCPUs, PTI, system calls ~1.3 us,
// a Go timer wake-up alone 50-180 us of CPU): a tick's work is 4 us, but
// the wake-ups dominate: about 4-5.7% of one CPU with the default 4 ms
// ticks (3.1% measured again with layout 3), ~1-1.4% with TickInterval =
// 20 ms, 0.3-0.5% with ticks disabled (TickInterval < 0; the MONOTONIC/RAW
// error then grows to |rate difference| x Interval). The coarse ticker adds
// about 3% (6.0% in all with default options): ~250 wake-ups a second and
// polls every 20 us from the earliest possible kernel tick until it is
// seen (Options.NoCoarseTicker leaves it out; the coarse clocks stay exact,
// only more reads ask the kernel). On bare metal wake-ups are an order of
// magnitude cheaper. The oracle read is 22 ns.
//
// Writers: every write goes through UpdateAt (Update, Store, Invalidate
// are forms of it). A package mutex serialises writers (a Page has no room
// for one), so the Timekeeper, Invalidate and Stop may run concurrently.
// The new parameters are computed first, in Go, at a switch point W read
// before; then publish, in assembly, makes Seq odd (XCHG), checks with
// RDTSC that no more than half the continuity margin (5 us) passed since W
// (else the parameters are computed again at a new W), stores the fields
// and makes Seq even. Only that assembly runs with Seq odd, a few dozen
// instructions. This is a liveness requirement, not an optimisation: the
// routines spin on an odd Seq inside assembly, which the Go scheduler
// cannot preempt, so a writer goroutine preempted while Seq was odd (an
// allocation, a GC assist, the preemption of a stop-the-world) would never
// run again once readers occupied every P, and the whole process would
// hang (the vdso package's seqlock torture test did, within a second,
// before this). The operating system can still deschedule the writer
// thread in the window; readers then spin until it runs again.
//
// Sampling clock: Options.Clock reads the kernel's clocks (default: the
// system call). The vdso package passes the kernel's own vDSO
// (vdso/internal/kvdso): its brackets are ~50 ns instead of ~1.2 us, which
// takes the error against the kernel from p50 25-50 ns / p99 50-90 ns,
// systematically 30-40 ns ahead (the kernel reads its clock later than the
// midpoint of a system call), to p50 5 ns / p99 6-12 ns with no sample
// outside a 50 ns kernel bracket (vdso/ACCURACY.md); a refresh then costs
// ~2 us instead of 43 us.
package vvar
