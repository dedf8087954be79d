#include "textflag.h"

// The callee follows the C ABI: it preserves BX, BP, SP and R12-R15 and
// may clobber AX, CX, DX, SI, DI, R8-R11 and the flags, all of which ABI0
// code treats as scratch. It expects SP+8 to be 16-byte aligned at its
// first instruction, which Go does not keep, and it grows the stack below
// the SP it is given, which the Go linker cannot see.
//
// So the callee runs inside this function's frame: the frame is CFRAME
// bytes (callFrame in loader.go), SP is moved to the top of it and aligned
// down to 16 bytes for the CALL, and BX (callee-saved) keeps the Go SP. The
// callee may use CFRAME-24 bytes of stack; the linker's nosplit check
// counts the whole frame against the goroutine stack's guard, so the
// goroutine stack always has that room.
#define CFRAME 512

#define CALLC \
	MOVQ SP, BX; \
	ADDQ $CFRAME, SP; \
	ANDQ $~15, SP; \
	CALL AX; \
	MOVQ BX, SP

// func CallIP(fn uintptr, a uintptr, p unsafe.Pointer) uintptr
TEXT ·CallIP(SB), NOSPLIT, $CFRAME-32
	MOVQ fn+0(FP), AX
	MOVQ a+8(FP), DI
	MOVQ p+16(FP), SI
	CALLC
	MOVQ AX, ret+24(FP)
	RET

// func CallPP(fn uintptr, p, q unsafe.Pointer) uintptr
//
// The arguments and the result sit where CallIP's do, and both go in
// registers the same way: a tail call.
TEXT ·CallPP(SB), NOSPLIT|NOFRAME, $0-32
	JMP ·CallIP(SB)

// func callSP() (callee, frame uintptr): the SP a callee of CALLC sees at
// its first instruction (after the CALL pushed the return address) and
// the SP of the calling frame, for the test of the alignment.
TEXT ·callSP(SB), NOSPLIT, $CFRAME-16
	LEAQ spOf<>(SB), AX
	CALLC
	MOVQ AX, callee+0(FP)
	MOVQ SP, frame+8(FP)
	RET

// spOf returns its SP at entry, in AX.
TEXT spOf<>(SB), NOSPLIT|NOFRAME, $0-0
	MOVQ SP, AX
	RET
