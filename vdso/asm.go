//go:build ignore

// This program generates the reference vDSO's routines in every variant of
// variants.toml. Run it with go generate.
//
// Register use follows the C ABI: arguments in DI, SI; result in AX;
// scratch AX, CX, DX, R8-R11 only (BX, BP, R12-R15 are the caller's).
package main

import (
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"

	. "github.com/vdsogen/vdsogen/dsl"
	. "github.com/vdsogen/vdsogen/dsl/x86"
	"github.com/vdsogen/vdsogen/gen"
	"github.com/vdsogen/vdsogen/layout"
	"github.com/vdsogen/vdsogen/vdso/internal/vvar"
)

// x86-64 system call numbers.
const (
	sysGettimeofday = 96
	sysTime         = 201
	sysClockGettime = 228
	sysClockGetres  = 229
)

const nsPerSec = 1000000000

// spinLimit bounds the PAUSEs a reader waits for a writer to finish. The
// writer is a goroutine that can be descheduled while the sequence is odd,
// and a reader spinning in assembly cannot be preempted, so an unbounded
// wait could stall a stop-the-world. Past the limit the system call answers.
const spinLimit = 1 << 16

// Clock-id masks (bit c set for clock id c), after lib/vdso's VDSO_HRES,
// VDSO_COARSE and VDSO_RAW: the clocks served from the data page.
const (
	hresClocks   = 1<<vvar.ClockRealtime | 1<<vvar.ClockMonotonic | 1<<vvar.ClockMonotonicRaw | 1<<vvar.ClockBoottime | 1<<vvar.ClockTAI
	coarseClocks = 1<<vvar.ClockRealtimeCoarse | 1<<vvar.ClockMonotonicCoarse
)

var (
	data   = DataPage("vdsoData", vvar.PageSize)
	timens = DataPage("vdsoTimens", vvar.PageSize)
)

func main() {
	clockGettime()
	clockGettimeThreeLabel()
	gettimeofday()
	timeEntry()
	clockGetres()
	wallMono()
	gen.Main()
}

// clockGettime implements clock_gettime(clockid, ts): the seven data-page
// clocks from the page, every other id through the system call. The
// time-namespace offset is added out of line behind a static branch, so
// the host path pays one NOP5.
func clockGettime() {
	Entry("clock_gettime", "func(clockid int32, ts *Timespec) int32")
	readAnyClock("cg")
	StaticBranch("timens", func() {
		addTimensOffset()
		// At most one carry: both nanosecond parts are below 1e9.
		CMPQ(RAX, RCX)
		JB(L("cg_timens_done"))
		SUBQ(RCX, RAX)
		INCQ(RDX)
		Label("cg_timens_done")
	})
	storeTimespec()
	syscall("cg", sysClockGettime)
}

// clockGettimeThreeLabel is clockGettime with the time-namespace offset in
// a three-label region: where timens is off, the store of the result sits
// right where the offset would be added, so the host path pays nothing.
func clockGettimeThreeLabel() {
	Entry("clock_gettime_tl", "func(clockid int32, ts *Timespec) int32")
	readAnyClock("tl")
	ThreeLabel("timens", func() {
		addTimensOffset()
		// Branch-free carry: if ns >= 1e9 { ns -= 1e9; sec++ }.
		LEAQ(Mem{Base: RAX, Disp: -nsPerSec}, R9)
		CMPQ(RAX, RCX)
		CMOVQCC(R9, RAX)
		SBBQ(I8(-1), RDX)
	}, storeTimespec)
	syscall("tl", sysClockGettime)
}

// gettimeofday implements gettimeofday(tv, tz) from CLOCK_REALTIME, which no
// time namespace shifts. A non-NULL tz needs the kernel's timezone, which
// the page does not carry: that goes to the system call.
func gettimeofday() {
	Entry("gettimeofday", "func(tv *Timeval, tz unsafe.Pointer) int32")
	TESTQ(RSI, RSI)
	JNE(L("gtod_syscall"))
	MOVL(U32(vvar.ClockRealtime*vvar.BaseSize), R11L)
	LEAQ(data.At(0), R10)
	readHres("gtod")
	normalize("gtod")
	TESTQ(RDI, RDI)
	JEQ(L("gtod_done"))
	MOVQ(RDX, Mem{Base: RDI})
	XORL(EDX, EDX)
	MOVL(U32(1000), ECX)
	DIVQ(RCX) // microseconds; the remainder is dropped, as the kernel does
	MOVQ(RAX, Mem{Base: RDI, Disp: 8})
	Label("gtod_done")
	XORL(EAX, EAX)
	RET()
	syscall("gtod", sysGettimeofday)
}

// timeEntry implements time(t): the seconds of CLOCK_REALTIME_COARSE, as
// the kernel's __vdso_time returns the seconds of the last tick, under the
// same CoarseTSC bound as the coarse clocks.
func timeEntry() {
	Entry("time", "func(t *int64) int64")
	LEAQ(data.At(0), R10)
	Label("time_start")
	MOVL(U32(spinLimit), R8L)
	seqlockHead("time_retry", "time_pause", "time_syscall")
	checkCoarseTSC("time_syscall") // the kernel's time() is its coarse seconds
	MOVQ(Mem{Base: R10, Disp: vvar.OffBase + vvar.ClockRealtimeCoarse*vvar.BaseSize + vvar.OffBaseSec}, RAX)
	CMPL(R9L, Mem{Base: R10, Disp: vvar.OffSeq})
	JNE(L("time_start"))
	TESTQ(RDI, RDI)
	JEQ(L("time_done"))
	MOVQ(RAX, Mem{Base: RDI})
	Label("time_done")
	RET()
	seqlockWait("time_pause", R8L, "time_retry")
	JMP(L("time_syscall"))
	syscall("time", sysTime)
}

// clockGetres implements clock_getres(clockid, res): the high-resolution
// or coarse resolution for data-page clocks, the system call otherwise.
func clockGetres() {
	Entry("clock_getres", "func(clockid int32, res *Timespec) int32")
	CMPL(EDI, U8(vvar.NumClocks-1))
	JHI(L("res_syscall"))
	LEAQ(data.At(0), R10)
	MOVL(Mem{Base: R10, Disp: vvar.OffMode}, EAX)
	CMPL(EAX, U8(vvar.ModeTSC))
	JNE(L("res_syscall"))
	MOVQ(Mem{Base: R10, Disp: vvar.OffHresRes}, RDX)
	MOVL(U32(hresClocks), EAX)
	BTL(EDI, EAX)
	JCS(L("res_store"))
	MOVQ(Mem{Base: R10, Disp: vvar.OffCoarseRes}, RDX)
	MOVL(U32(coarseClocks), EAX)
	BTL(EDI, EAX)
	JCC(L("res_syscall"))
	Label("res_store")
	TESTQ(RSI, RSI)
	JEQ(L("res_done"))
	MOVQ(U32(0), Mem{Base: RSI})
	MOVQ(RDX, Mem{Base: RSI, Disp: 8})
	Label("res_done")
	XORL(EAX, EAX)
	RET()
	syscall("res", sysClockGetres)
}

// wallMono implements wall_mono(wall, mono): CLOCK_REALTIME into *wall and
// CLOCK_MONOTONIC into *mono from one seqlock read and one TSC value, for
// the Go API's WallMono (one call where time.Now makes two). Neither
// pointer may be NULL. An invalid page answers with two system calls.
func wallMono() {
	const (
		realBase = vvar.OffBase + vvar.ClockRealtime*vvar.BaseSize
		monoBase = vvar.OffBase + vvar.ClockMonotonic*vvar.BaseSize
	)
	Entry("wall_mono", "func(wall *Timespec, mono *Timespec) int32")
	LEAQ(data.At(0), R10)
	Label("wm_start")
	MOVL(U32(spinLimit), ECX)
	Region("wm_seqlock", func() {
		seqlockHead("wm_retry", "wm_pause", "wm_syscall")
		XORL(R8L, R8L)
		readTSC()
		SHLQ(U8(32), RDX)
		ORQ(RDX, RAX)
		SUBQ(Mem{Base: R10, Disp: vvar.OffTSCBase}, RAX)
		CMOVQMI(R8, RAX)
		CMPQ(RAX, Mem{Base: R10, Disp: vvar.OffMaxDelta})
		JHI(L("wm_syscall"))
		IMULQ(Mem{Base: R10, Disp: vvar.OffMult}, RAX)
		MOVQ(RAX, R11)
		ADDQ(Mem{Base: R10, Disp: realBase + vvar.OffBaseSnsec}, RAX)
		ADDQ(Mem{Base: R10, Disp: monoBase + vvar.OffBaseSnsec}, R11)
		MOVL(Mem{Base: R10, Disp: vvar.OffShift}, ECX)
		SHRQ(CL, RAX)
		SHRQ(CL, R11)
		MOVQ(Mem{Base: R10, Disp: realBase + vvar.OffBaseSec}, RDX)
		MOVQ(Mem{Base: R10, Disp: monoBase + vvar.OffBaseSec}, R8)
		CMPL(R9L, Mem{Base: R10, Disp: vvar.OffSeq})
		JNE(L("wm_start"))
	}, func() {
		JMP(L("wm_start"))
	})
	// Wall time in DX:AX, monotonic in R8:R11; carry whole seconds.
	MOVL(U32(nsPerSec), ECX)
	carry("wm_norm_wall", "wm_norm_mono", RAX, RDX)
	carry("wm_norm_mono", "wm_normal", R11, R8)
	Label("wm_normal")
	StaticBranch("timens", func() {
		LEAQ(timens.At(vvar.OffTimensOffsets+vvar.ClockMonotonic*vvar.TimensOffsetSize), R9)
		ADDQ(Mem{Base: R9, Disp: vvar.OffTimensOffSec}, R8)
		ADDQ(Mem{Base: R9, Disp: vvar.OffTimensOffNsec}, R11)
		CMPQ(R11, RCX)
		JB(L("wm_timens_done"))
		SUBQ(RCX, R11)
		INCQ(R8)
		Label("wm_timens_done")
	})
	MOVQ(RDX, Mem{Base: RDI})
	MOVQ(RAX, Mem{Base: RDI, Disp: 8})
	MOVQ(R8, Mem{Base: RSI})
	MOVQ(R11, Mem{Base: RSI, Disp: 8})
	XORL(EAX, EAX)
	RET()
	seqlockWait("wm_pause", ECX, "wm_retry")
	// The system calls: REALTIME into *wall, then MONOTONIC into *mono.
	// SYSCALL clobbers CX and R11 only, so R8 keeps mono across the first.
	Label("wm_syscall")
	MOVQ(RSI, R8)
	MOVQ(RDI, RSI)
	MOVL(U32(vvar.ClockRealtime), EDI)
	MOVL(U32(sysClockGettime), EAX)
	SYSCALL()
	TESTQ(RAX, RAX)
	JNE(L("wm_done"))
	MOVQ(R8, RSI)
	MOVL(U32(vvar.ClockMonotonic), EDI)
	MOVL(U32(sysClockGettime), EAX)
	SYSCALL()
	Label("wm_done")
	RET()
}

// readAnyClock reads the clock in DI: seconds in DX, normalised
// nanoseconds in AX, 1e9 in CX, the clock's 16-byte table index in R11.
// Clocks not on the data page and an invalid page go to p_syscall.
func readAnyClock(p string) {
	CMPL(EDI, U8(vvar.NumClocks-1))
	JHI(L(p + "_syscall")) // unsigned: negative ids too
	MOVL(EDI, R11L)
	SHLQ(U8(4), R11) // * vvar.BaseSize
	LEAQ(data.At(0), R10)
	MOVL(U32(hresClocks), EAX)
	BTL(EDI, EAX)
	JCC(L(p + "_coarse"))
	readHres(p)
	JMP(L(p + "_norm"))
	Label(p + "_coarse")
	MOVL(U32(coarseClocks), EAX)
	BTL(EDI, EAX)
	JCC(L(p + "_syscall"))
	readCoarse(p)
	normalize(p)
}

// readHres is the seqlock read of clock index R11 with the TSC: seconds in
// DX, nanoseconds (not yet normalised) in AX. R10 holds the page address.
func readHres(p string) {
	Label(p + "_start")
	MOVL(U32(spinLimit), ECX)
	// The seqlock read is a restartable region: a tool that finds a thread
	// inside it may restart it at the abort handler, which retries.
	Region(p+"_seqlock", func() {
		seqlockHead(p+"_retry", p+"_pause", p+"_syscall")
		XORL(R8L, R8L)
		readTSC()
		SHLQ(U8(32), RDX)
		ORQ(RDX, RAX)
		SUBQ(Mem{Base: R10, Disp: vvar.OffTSCBase}, RAX)
		CMOVQMI(R8, RAX) // a TSC behind the base counts as no time
		CMPQ(RAX, Mem{Base: R10, Disp: vvar.OffMaxDelta})
		JHI(L(p + "_syscall")) // the page is too old to convert without overflow
		IMULQ(Mem{Base: R10, Disp: vvar.OffMult}, RAX)
		ADDQ(Mem{Base: R10, Index: R11, Scale: 1, Disp: vvar.OffBase + vvar.OffBaseSnsec}, RAX)
		MOVL(Mem{Base: R10, Disp: vvar.OffShift}, ECX)
		SHRQ(CL, RAX)
		MOVQ(Mem{Base: R10, Index: R11, Scale: 1, Disp: vvar.OffBase + vvar.OffBaseSec}, RDX)
		CMPL(R9L, Mem{Base: R10, Disp: vvar.OffSeq})
		JNE(L(p + "_start")) // the page changed under us
	}, func() {
		JMP(L(p + "_start"))
	})
	JMP(L(p + "_hres_done"))
	seqlockWait(p+"_pause", ECX, p+"_retry")
	JMP(L(p + "_syscall")) // the writer is stuck: let the kernel answer
	Label(p + "_hres_done")
}

// readTSC reads the TSC into DX:AX, ordered after the loads before it (the
// kernel's rdtsc_ordered), by whichever instruction the CPU does best: the
// variants file picks LFENCE;RDTSC for the Go images, and a loader applies
// the last choice whose feature the CPU has. RDTSCP also writes CX, which
// the caller reloads before using it.
func readTSC() {
	Alternative("tsc",
		Alt("rdtsc", "", func() { RDTSC() }), // unordered: a fallback only
		Alt("rdtscp", layout.FeatureRDTSCP, func() { RDTSCP() }),
		Alt("lfence_rdtsc", layout.FeatureLFENCERDTSC, func() { LFENCE(); RDTSC() }),
	)
}

// readCoarse is the seqlock read of coarse clock index R11: the base value,
// served only while the TSC is below CoarseTSC, that is while the base is
// still the kernel's current coarse value (vvar.CoarseDeadline); past it,
// or when the page is invalid, the system call answers. The spin count is
// in R8: the TSC read takes AX and DX (and CX with RDTSCP).
func readCoarse(p string) {
	Label(p + "_cstart")
	MOVL(U32(spinLimit), R8L)
	seqlockHead(p+"_cretry", p+"_cpause", p+"_syscall")
	checkCoarseTSC(p + "_syscall")
	MOVQ(Mem{Base: R10, Index: R11, Scale: 1, Disp: vvar.OffBase + vvar.OffBaseSnsec}, RAX)
	MOVL(Mem{Base: R10, Disp: vvar.OffShift}, ECX)
	SHRQ(CL, RAX)
	MOVQ(Mem{Base: R10, Index: R11, Scale: 1, Disp: vvar.OffBase + vvar.OffBaseSec}, RDX)
	CMPL(R9L, Mem{Base: R10, Disp: vvar.OffSeq})
	JNE(L(p + "_cstart"))
	JMP(L(p + "_norm"))
	seqlockWait(p+"_cpause", R8L, p+"_cretry")
	JMP(L(p + "_syscall"))
}

// seqlockHead begins a seqlock read of the data page at R10: at label
// retry it loads the sequence into R9, goes to pause while a write is in
// progress (the sequence is odd), and to syscall unless the page is in
// TSC mode.
func seqlockHead(retry, pause, syscall string) {
	Label(retry)
	MOVL(Mem{Base: R10, Disp: vvar.OffSeq}, R9L)
	TESTL(U32(1), R9L)
	JNE(L(pause))
	MOVL(Mem{Base: R10, Disp: vvar.OffMode}, EAX)
	CMPL(EAX, U8(vvar.ModeTSC))
	JNE(L(syscall))
}

// checkCoarseTSC reads the TSC and jumps to stale when it is at or past
// CoarseTSC. Clobbers AX and DX. A plain RDTSC suffices, where the clock
// reads need readTSC's ordered one: unordered, it may run at most a
// reorder window (well under a microsecond) before the loads around it,
// and CoarseTSC already stops serving 50 us before the kernel's next tick
// can be due (vvar.coarseDeadline); reading it late only sends more reads
// to the kernel. LFENCE would cost about 10 ns on every coarse read.
func checkCoarseTSC(stale string) {
	RDTSC()
	SHLQ(U8(32), RDX)
	ORQ(RDX, RAX)
	CMPQ(RAX, Mem{Base: R10, Disp: vvar.OffCoarseTSC})
	JAE(L(stale)) // unsigned: a CoarseTSC of 0 sends every read to the kernel
}

// normalize carries whole seconds from AX into DX and leaves 1e9 in CX.
func normalize(p string) {
	Label(p + "_norm")
	MOVL(U32(nsPerSec), ECX)
	carry(p+"_norm_loop", p+"_normal", RAX, RDX)
	Label(p + "_normal")
}

// carry moves whole seconds from ns into sec, with 1e9 in CX, then goes
// to done. A loop: after a long TSC delta ns may hold more than a second.
func carry(loop, done string, ns, sec Register) {
	Label(loop)
	CMPQ(ns, RCX)
	JB(L(done))
	SUBQ(RCX, ns)
	INCQ(sec)
	JMP(L(loop))
}

// addTimensOffset adds the namespace offset of clock index R11 (zero for
// REALTIME and TAI) to DX:AX.
func addTimensOffset() {
	LEAQ(timens.At(vvar.OffTimensOffsets), R8)
	ADDQ(Mem{Base: R8, Index: R11, Scale: 1, Disp: vvar.OffTimensOffSec}, RDX)
	ADDQ(Mem{Base: R8, Index: R11, Scale: 1, Disp: vvar.OffTimensOffNsec}, RAX)
}

// storeTimespec writes DX:AX to *ts (SI) and returns 0.
func storeTimespec() {
	MOVQ(RDX, Mem{Base: RSI})
	MOVQ(RAX, Mem{Base: RSI, Disp: 8})
	XORL(EAX, EAX)
	RET()
}

// syscall is the fallback at p_syscall: DI and SI still hold the entry's
// arguments, which are the system call's; it returns 0 or -errno in AX.
func syscall(p string, nr int) {
	Label(p + "_syscall")
	MOVL(U32(nr), EAX)
	SYSCALL()
	RET()
}

// seqlockWait is the odd-sequence path of a seqlock read: at label pause
// it waits a moment (PAUSE) and goes back to retry, counting the waits
// down in counter; once the count is spent (a writer stuck mid-update) it
// falls through, to the system call.
func seqlockWait(pause string, counter Op, retry string) {
	Label(pause)
	PAUSE()
	DECL(counter)
	JNE(L(retry))
}
