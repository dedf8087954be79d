#include "textflag.h"

// Offsets in the data page (vdso/internal/vvar/layout.go).
#define OFF_SEQ 0
#define OFF_BASE 32

// func Hres(page unsafe.Pointer) uint64
TEXT ·Hres(SB), NOSPLIT, $0-16
	MOVQ page+0(FP), R10
hres_retry:
	MOVL OFF_SEQ(R10), R9
	TESTL $1, R9
	JNE  hres_pause
	LFENCE
	RDTSC
	SHLQ $32, DX
	ORQ  DX, AX
	CMPL R9, OFF_SEQ(R10)
	JNE  hres_retry
	MOVQ AX, ret+8(FP)
	RET
hres_pause:
	PAUSE
	JMP hres_retry

// func Coarse(page unsafe.Pointer) uint64
TEXT ·Coarse(SB), NOSPLIT, $0-16
	MOVQ page+0(FP), R10
coarse_retry:
	MOVL OFF_SEQ(R10), R9
	TESTL $1, R9
	JNE  coarse_pause
	MOVQ OFF_BASE(R10), AX
	CMPL R9, OFF_SEQ(R10)
	JNE  coarse_retry
	MOVQ AX, ret+8(FP)
	RET
coarse_pause:
	PAUSE
	JMP coarse_retry

// The same reads with the C ABI, shaped as clock_gettime(clockid, ts): the
// page in SI, where ts goes, the result in AX. Callers reach them through a
// function pointer, as a C library calls a vDSO function
// (kvdso.CallClockGettime's trampoline), so floor and routine pay the same
// call. No Go declaration: HresCAddr and CoarseCAddr give the addresses.
TEXT ·hresC(SB), NOSPLIT|NOFRAME, $0
hresc_retry:
	MOVL OFF_SEQ(SI), R9
	TESTL $1, R9
	JNE  hresc_pause
	LFENCE
	RDTSC
	SHLQ $32, DX
	ORQ  DX, AX
	CMPL R9, OFF_SEQ(SI)
	JNE  hresc_retry
	RET
hresc_pause:
	PAUSE
	JMP hresc_retry

TEXT ·coarseC(SB), NOSPLIT|NOFRAME, $0
coarsec_retry:
	MOVL OFF_SEQ(SI), R9
	TESTL $1, R9
	JNE  coarsec_pause
	MOVQ OFF_BASE(SI), AX
	CMPL R9, OFF_SEQ(SI)
	JNE  coarsec_retry
	RET
coarsec_pause:
	PAUSE
	JMP coarsec_retry

// func HresCAddr() uintptr
TEXT ·HresCAddr(SB), NOSPLIT, $0-8
	LEAQ ·hresC(SB), AX
	MOVQ AX, ret+0(FP)
	RET

// func CoarseCAddr() uintptr
TEXT ·CoarseCAddr(SB), NOSPLIT, $0-8
	LEAQ ·coarseC(SB), AX
	MOVQ AX, ret+0(FP)
	RET
