#include "textflag.h"

// func RDTSC() uint64
TEXT ·RDTSC(SB), NOSPLIT|NOFRAME, $0-8
	LFENCE
	RDTSC
	SHLQ $32, DX
	ORQ  DX, AX
	MOVQ AX, ret+0(FP)
	RET

// func publish(p *Page, v *Params, w, limit uint64) bool
//
// The Params fields from Mult on (offset 16 to 256) have the Page's
// offsets; Mode, Version and Shift sit 4 bytes lower in Params than in the
// Page (which starts with Seq). layout_test.go checks both.
TEXT ·publish(SB), NOSPLIT, $0-33
	MOVQ p+0(FP), DI
	MOVQ v+8(FP), SI
	MOVL (DI), BX
	INCL BX
	XCHGL BX, (DI)        // odd; a full barrier (BX gets the old even value)
	INCL BX               // the odd value again
	LFENCE
	RDTSC
	SHLQ $32, DX
	ORQ  DX, AX
	SUBQ w+16(FP), AX
	CMPQ AX, limit+24(FP)
	JHI  abort
	MOVL 0(SI), AX
	MOVL AX, 4(DI)        // Mode
	MOVL 4(SI), AX
	MOVL AX, 8(DI)        // Version
	MOVL 8(SI), AX
	MOVL AX, 12(DI)       // Shift
	MOVQ $16, CX
copy:
	MOVQ (SI)(CX*1), AX   // Mult, TSCBase, Base[12], HresRes, CoarseRes, MaxDelta, CoarseTSC
	MOVQ AX, (DI)(CX*1)
	ADDQ $8, CX
	CMPQ CX, $256
	JB   copy
	INCL BX
	MOVL BX, (DI)         // even: published
	MOVB $1, ret+32(FP)
	RET
abort:
	INCL BX
	MOVL BX, (DI)         // even, fields untouched
	MOVB $0, ret+32(FP)
	RET
