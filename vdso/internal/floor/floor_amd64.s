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

// RET_WAIT returns, and after the RET places the odd-sequence path of both
// reads.
#define RET_WAIT(pause, retry) \
	RET \
pause: \
	PAUSE \
	JMP retry

// GO_FLOOR is the body of a Go-ABI floor, func(page unsafe.Pointer) uint64:
// the read named by READ on the page argument, its result returned.
#define GO_FLOOR(READ, retry, pause) \
	MOVQ page+0(FP), R10 \
	READ(R10, retry, pause) \
	MOVQ AX, ret+8(FP) \
	RET_WAIT(pause, retry)

// func Hres(page unsafe.Pointer) uint64
TEXT ·Hres(SB), NOSPLIT, $0-16
	GO_FLOOR(HRES_READ, hres_retry, hres_pause)

// func Coarse(page unsafe.Pointer) uint64
TEXT ·Coarse(SB), NOSPLIT, $0-16
	GO_FLOOR(COARSE_READ, coarse_retry, coarse_pause)

// The same reads with the C ABI, shaped as clock_gettime(clockid, ts): the
// page in SI, where ts goes, the result in AX. Callers reach them through a
// function pointer, as a C library calls a vDSO function
// (kvdso.CallClockGettime's trampoline), so floor and routine pay the same
// call. No Go declaration: HresCAddr and CoarseCAddr give the addresses.
TEXT ·hresC(SB), NOSPLIT|NOFRAME, $0
	HRES_READ(SI, hresc_retry, hresc_pause)
	RET_WAIT(hresc_pause, hresc_retry)

TEXT ·coarseC(SB), NOSPLIT|NOFRAME, $0
	COARSE_READ(SI, coarsec_retry, coarsec_pause)
	RET_WAIT(coarsec_pause, coarsec_retry)

// func cAddrs() (hres, coarse uintptr)
TEXT ·cAddrs(SB), NOSPLIT, $0-16
	LEAQ ·hresC(SB), AX
	MOVQ AX, hres+0(FP)
	LEAQ ·coarseC(SB), AX
	MOVQ AX, coarse+8(FP)
	RET
