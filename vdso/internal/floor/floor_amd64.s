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
