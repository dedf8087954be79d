#include "textflag.h"

// Offsets in the data page (vdso/internal/vvar/layout.go).
#define OFF_SEQ 0
#define OFF_BASE 32

// HRES_READ reads the TSC (LFENCE;RDTSC) into AX under the seqlock of the
// data page at register page: it waits (PAUSE) while the sequence is odd
// and reads again if the sequence changed. retry and pause name its
// labels.
#define HRES_READ(page, retry, pause) \
retry: \
	MOVL OFF_SEQ(page), R9 \
	TESTL $1, R9 \
	JNE  pause \
	LFENCE \
	RDTSC \
	SHLQ $32, DX \
	ORQ  DX, AX \
	CMPL R9, OFF_SEQ(page) \
	JNE  retry

// COARSE_READ reads the first base word into AX under the same seqlock.
#define COARSE_READ(page, retry, pause) \
retry: \
	MOVL OFF_SEQ(page), R9 \
	TESTL $1, R9 \
	JNE  pause \
	MOVQ OFF_BASE(page), AX \
	CMPL R9, OFF_SEQ(page) \
	JNE  retry

// WAIT is the odd-sequence path of both reads, placed after the RET.
#define WAIT(pause, retry) \
pause: \
	PAUSE \
	JMP retry

// func Hres(page unsafe.Pointer) uint64
TEXT ·Hres(SB), NOSPLIT, $0-16
	MOVQ page+0(FP), R10
	HRES_READ(R10, hres_retry, hres_pause)
	MOVQ AX, ret+8(FP)
	RET
	WAIT(hres_pause, hres_retry)

// func Coarse(page unsafe.Pointer) uint64
TEXT ·Coarse(SB), NOSPLIT, $0-16
	MOVQ page+0(FP), R10
	COARSE_READ(R10, coarse_retry, coarse_pause)
	MOVQ AX, ret+8(FP)
	RET
	WAIT(coarse_pause, coarse_retry)

// The same reads with the C ABI, shaped as clock_gettime(clockid, ts): the
// page in SI, where ts goes, the result in AX. Callers reach them through a
// function pointer, as a C library calls a vDSO function
// (kvdso.CallClockGettime's trampoline), so floor and routine pay the same
// call. No Go declaration: HresCAddr and CoarseCAddr give the addresses.
TEXT ·hresC(SB), NOSPLIT|NOFRAME, $0
	HRES_READ(SI, hresc_retry, hresc_pause)
	RET
	WAIT(hresc_pause, hresc_retry)

TEXT ·coarseC(SB), NOSPLIT|NOFRAME, $0
	COARSE_READ(SI, coarsec_retry, coarsec_pause)
	RET
	WAIT(coarsec_pause, coarsec_retry)

// func cAddrs() (hres, coarse uintptr)
TEXT ·cAddrs(SB), NOSPLIT, $0-16
	LEAQ ·hresC(SB), AX
	MOVQ AX, hres+0(FP)
	LEAQ ·coarseC(SB), AX
	MOVQ AX, coarse+8(FP)
	RET
