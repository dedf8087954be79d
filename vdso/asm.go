//go:build ignore

// This program generates the reference vDSO's clock routines in every
// variant of variants.toml. Run it with go generate.
package main

import (
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"

	. "github.com/vdsogen/vdsogen/dsl"
	"github.com/vdsogen/vdsogen/gen"
	"github.com/vdsogen/vdsogen/vdso/internal/vvar"
)

const (
	sysClockGettime = 228 // x86-64 syscall number
	nsPerSec        = 1000000000
)

var (
	data   = DataPage("vdsoData", vvar.PageSize)
	timens = DataPage("vdsoTimens", vvar.PageSize)
)

func main() {
	clockGettime()
	clockGettimeThreeLabel()
	gen.Main()
}

// clockGettime implements clock_gettime(clockid, ts) for CLOCK_REALTIME and
// CLOCK_MONOTONIC from the data page, other clocks through the syscall. The
// time-namespace offset is added out of line behind a static branch, so the
// host path pays for one NOP5.
func clockGettime() {
	Entry("clock_gettime", "func(clockid int32, ts *Timespec) int32")
	readClock("cg")
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
	syscallFallback("cg")
}

// clockGettimeThreeLabel is clockGettime with the time-namespace offset in
// a three-label region: where timens is off, the store of the result sits
// right where the offset would be added.
func clockGettimeThreeLabel() {
	Entry("clock_gettime_tl", "func(clockid int32, ts *Timespec) int32")
	readClock("tl")
	ThreeLabel("timens", func() {
		addTimensOffset()
		// Branch-free carry: if ns >= 1e9 { ns -= 1e9; sec++ }.
		LEAQ(Mem{Base: RAX, Disp: -nsPerSec}, R9)
		CMPQ(RAX, RCX)
		CMOVQCC(R9, RAX)
		SBBQ(I8(-1), RDX)
	}, storeTimespec)
	syscallFallback("tl")
}

// readClock is the seqlock read of the clock in DI (0 or 1): seconds in DX,
// normalised nanoseconds in AX, 1e9 in CX, the clock's 16-byte table index
// in R11. Other clocks and an invalid page go to the label p_syscall.
func readClock(p string) {
	CMPL(EDI, U8(1))
	JHI(L(p + "_syscall")) // unsigned: negative ids too
	MOVL(EDI, R11L)
	SHLQ(U8(4), R11)
	LEAQ(data.At(0), R10)
	Label(p + "_retry")
	MOVL(Mem{Base: R10, Disp: vvar.OffSeq}, R9L)
	TESTL(U32(1), R9L)
	JNE(L(p + "_retry")) // a write is in progress
	MOVL(Mem{Base: R10, Disp: vvar.OffMode}, EAX)
	TESTL(EAX, EAX)
	JEQ(L(p + "_syscall"))
	XORL(R8L, R8L)
	LFENCE() // rdtsc_ordered: no earlier load passes the TSC read
	RDTSC()
	SHLQ(U8(32), RDX)
	ORQ(RDX, RAX)
	SUBQ(Mem{Base: R10, Disp: vvar.OffTSCBase}, RAX)
	CMOVQMI(R8, RAX) // a TSC behind the base (another CPU) counts as no time
	IMULQ(Mem{Base: R10, Disp: vvar.OffMult}, RAX)
	ADDQ(Mem{Base: R10, Index: R11, Scale: 1, Disp: vvar.OffBase + 8}, RAX)
	MOVL(Mem{Base: R10, Disp: vvar.OffShift}, ECX)
	SHRQ(CL, RAX)
	MOVQ(Mem{Base: R10, Index: R11, Scale: 1, Disp: vvar.OffBase}, RDX)
	CMPL(R9L, Mem{Base: R10, Disp: vvar.OffSeq})
	JNE(L(p + "_retry")) // the page changed under us
	MOVL(U32(nsPerSec), ECX)
	Label(p + "_norm")
	CMPQ(RAX, RCX)
	JB(L(p + "_normal"))
	SUBQ(RCX, RAX)
	INCQ(RDX)
	JMP(L(p + "_norm"))
	Label(p + "_normal")
}

// addTimensOffset adds the namespace offset of the clock (zero for
// REALTIME) to DX:AX.
func addTimensOffset() {
	LEAQ(timens.At(vvar.OffTimensOffsets), R8)
	ADDQ(Mem{Base: R8, Index: R11, Scale: 1}, RDX)
	ADDQ(Mem{Base: R8, Index: R11, Scale: 1, Disp: 8}, RAX)
}

// storeTimespec writes DX:AX to *ts and returns 0.
func storeTimespec() {
	MOVQ(RDX, Mem{Base: RSI})
	MOVQ(RAX, Mem{Base: RSI, Disp: 8})
	XORL(EAX, EAX)
	RET()
}

// syscallFallback makes the real system call; DI and SI already hold its
// arguments, and it returns 0 or -errno in AX as the vDSO does.
func syscallFallback(p string) {
	Label(p + "_syscall")
	MOVL(U32(sysClockGettime), EAX)
	SYSCALL()
	RET()
}
