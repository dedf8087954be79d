//go:build ignore

// This program generates the ticks routines in every variant of
// variants.toml. Run it with go generate (see ticks.go).
package main

import (
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"

	. "github.com/vdsogen/vdsogen/dsl"
	. "github.com/vdsogen/vdsogen/dsl/x86"
	"github.com/vdsogen/vdsogen/gen"
)

// Offsets of the fields of TickPage (ticks.go); TestPageOffsets checks them.
const (
	offSeq     = 0
	offShift   = 4
	offTSCBase = 8
	offMult    = 16
	offBase    = 24
	offOffset  = 32
	offFloor   = 40
	pageSize   = 64
)

var page = DataPage("ticksPage", pageSize)

func main() {
	now()
	since()
	gen.Main()
}

// now implements ticks_now(): the current tick count.
func now() {
	Entry("ticks_now", "func() uint64")
	readTicks("now")
	clampTo(func() { RET() })
}

// since implements ticks_since(start): the ticks elapsed since start.
func since() {
	Entry("ticks_since", "func(start uint64) uint64")
	readTicks("since")
	clampTo(func() {
		SUBQ(RDI, RAX)
		RET()
	})
}

// readTicks is the seqlock read of the counter:
//
//	ticks = Base + (TSC - TSCBase) * Mult >> Shift  (+ Offset where the key offset is on)
//
// in AX. A TSC behind TSCBase counts as no time. Clobbers CX, DX, R8-R10.
func readTicks(p string) {
	LEAQ(page.At(0), R10)
	Label(p + "_retry")
	MOVL(Mem{Base: R10, Disp: offSeq}, R9L)
	TESTL(U32(1), R9L)
	JNE(L(p + "_retry")) // a write is in progress
	XORL(R8L, R8L)
	LFENCE() // no earlier load passes the TSC read
	RDTSC()
	SHLQ(U8(32), RDX)
	ORQ(RDX, RAX)
	SUBQ(Mem{Base: R10, Disp: offTSCBase}, RAX)
	CMOVQMI(R8, RAX)
	IMULQ(Mem{Base: R10, Disp: offMult}, RAX)
	MOVL(Mem{Base: R10, Disp: offShift}, ECX)
	SHRQ(CL, RAX)
	ADDQ(Mem{Base: R10, Disp: offBase}, RAX)
	MOVQ(Mem{Base: R10, Disp: offFloor}, RDX)
	// The per-process offset, out of line: one NOP5 where it is off.
	StaticBranch("offset", func() {
		ADDQ(Mem{Base: R10, Disp: offOffset}, RAX)
	})
	CMPL(R9L, Mem{Base: R10, Disp: offSeq})
	JNE(L(p + "_retry")) // the page changed under us
}

// clampTo raises AX to the floor read into DX where the key clamp is on
// (a three-label region: the off path runs tail directly), then runs tail,
// which must return.
func clampTo(tail func()) {
	ThreeLabel("clamp", func() {
		CMPQ(RAX, RDX)
		CMOVQCS(RDX, RAX) // below the floor: take the floor
	}, tail)
}
