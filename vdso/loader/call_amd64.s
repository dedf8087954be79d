#include "textflag.h"

// The callee follows the C ABI: it preserves BX, BP, SP and R12-R15 and
// may clobber AX, CX, DX, SI, DI, R8-R11 and the flags, all of which ABI0
// code treats as scratch. NOSPLIT: the callee runs on this goroutine stack
// within the nosplit margin (vdsogen bounds its depth).

// func CallIP(fn uintptr, a uintptr, p unsafe.Pointer) uintptr
TEXT ·CallIP(SB), NOSPLIT, $0-32
	MOVQ fn+0(FP), AX
	MOVQ a+8(FP), DI
	MOVQ p+16(FP), SI
	CALL AX
	MOVQ AX, ret+24(FP)
	RET

// func CallPP(fn uintptr, p, q unsafe.Pointer) uintptr
TEXT ·CallPP(SB), NOSPLIT, $0-32
	MOVQ fn+0(FP), AX
	MOVQ p+8(FP), DI
	MOVQ q+16(FP), SI
	CALL AX
	MOVQ AX, ret+24(FP)
	RET
