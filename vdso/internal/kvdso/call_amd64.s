#include "textflag.h"
#include "funcdata.h"

// The trampolines call a function of the kernel's vDSO with the C ABI
// (SysV x86-64): arguments in DI and SI, result in AX.
//
// Stack. The kernel's vDSO runs on whatever stack it is called on, and
// how much it needs is the kernel's business (the Go runtime switches to
// the system stack for it). These functions are not NOSPLIT: their 4 KiB
// frame goes through the Go stack check, and the call is made with SP at
// the top of that frame, so the callee has the 4 KiB frame plus the
// nosplit margin that the stack check guarantees below it (800 bytes on
// linux/amd64). SP is moved with ADJSP only, which the assembler tracks,
// so the function's SP-delta table stays exact (no SPWRITE function) and a
// profiling signal landing in it still unwinds.
//
// Alignment. The C ABI wants SP 16-byte aligned at the CALL; Go keeps SP
// only 8-byte aligned. Both cases get their own, statically known ADJSP.
//
// Registers. The callee may clobber AX, CX, DX, SI, DI, R8-R11, the flags
// and every X register (X15 included); it preserves BX, BP, SP and
// R12-R15, so R14 (g) survives. Go assembly functions are ABI0, for which
// every register is scratch: the ABIInternal caller's wrapper re-zeroes
// X15 and reloads R14 from TLS after the call. The direction flag is clear
// in Go code, as the C ABI requires.
//
// GC. The frame holds no Go pointers (NO_LOCAL_POINTERS); the pointer
// arguments are declared unsafe.Pointer so that a stack copy in the
// prologue adjusts them. Assembly is never asynchronously preempted, so
// nothing scans or moves this stack while the callee runs.

// C_CALL(fn, odd, ret) calls the function whose address is in the
// argument slot fn, its arguments already in DI and SI, with the 4 KiB
// frame's SP 16-byte aligned (odd labels the path for an SP that is 8 mod
// 16), stores its AX in the result slot ret and returns. The slots are
// arguments so that vet's asmdecl checks them at each use.
#define C_CALL(fn, odd, ret) \
	MOVQ fn, AX \
	MOVQ SP, CX \
	TESTQ $8, CX \
	JNE  odd \
	ADJSP $-4080 \
	CALL AX \
	ADJSP $4080 \
	MOVQ AX, ret \
	RET \
odd: \
	ADJSP $-4088 \
	CALL AX \
	ADJSP $4088 \
	MOVQ AX, ret \
	RET

// func callIP(fn uintptr, a uintptr, p unsafe.Pointer) int64
TEXT ·callIP(SB), 0, $4096-32
	NO_LOCAL_POINTERS
	MOVQ a+8(FP), DI
	MOVQ p+16(FP), SI
	C_CALL(fn+0(FP), ip_odd, ret+24(FP))

// func callPP(fn uintptr, p, q unsafe.Pointer) int64
TEXT ·callPP(SB), 0, $4096-32
	NO_LOCAL_POINTERS
	MOVQ p+8(FP), DI
	MOVQ q+16(FP), SI
	C_CALL(fn+0(FP), pp_odd, ret+24(FP))

// probe stands in for a vDSO function in tests: it returns the SP the
// trampoline had at its CALL (its own SP + 8), so that a test can check
// the alignment and the room left. It has no Go declaration.
TEXT ·probe(SB), NOSPLIT|NOFRAME, $0
	LEAQ 8(SP), AX
	RET

// func probeAddr() uintptr
TEXT ·probeAddr(SB), NOSPLIT, $0-8
	LEAQ ·probe(SB), AX
	MOVQ AX, ret+0(FP)
	RET
