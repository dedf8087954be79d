#include "textflag.h"

// func RDTSC() uint64
TEXT ·RDTSC(SB), NOSPLIT|NOFRAME, $0-8
	LFENCE
	RDTSC
	SHLQ $32, DX
	ORQ  DX, AX
	MOVQ AX, ret+0(FP)
	RET

// func publish(p *Page, v *Params, w, limit uint64, seq uint32) uint8
//
// The Params fields from Mult on (offset 16 to 256) have the Page's
// offsets; Mode, Version and Shift sit 4 bytes lower in Params than in the
// Page (which starts with Seq). layout_test.go checks both.
//
// The sequence goes from seq (even, read before v was computed) to seq+1
// with LOCK CMPXCHG: if another writer (the coarse ticker, which does not
// take the writers mutex) published since, nothing is stored and the
// result is publishConflict.
TEXT ·publish(SB), NOSPLIT, $0-41
	MOVQ p+0(FP), DI
	MOVQ v+8(FP), SI
	MOVL seq+32(FP), AX
	MOVL AX, BX
	INCL BX
	LOCK
	CMPXCHGL BX, (DI)     // odd; a full barrier
	JNE  conflict
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
	MOVB $1, ret+40(FP)
	RET
abort:
	INCL BX
	MOVL BX, (DI)         // even, fields untouched
	MOVB $0, ret+40(FP)
	RET
conflict:
	MOVB $2, ret+40(FP)
	RET

// func coarseTicker(a *tickerArgs)
//
// The coarse ticker's loop (see coarse.go): it runs on a locked thread
// that the Go runtime counts as blocked in a system call, so it needs no
// P and no Go scheduling; it must not grow the stack or touch Go pointers
// other than a and a.page, which the caller keeps alive.
//
//	loop:   if a.stop: return
//	        read MONOTONIC_COARSE; unchanged: sleep a.poll, goto loop
//	        read REALTIME_COARSE
//	        take the sequence (LOCK CMPXCHG even -> odd; odd: PAUSE, and
//	          after 1000 of them sleep a.poll)
//	        store both coarse bases and CoarseTSC (coarseDeadline), release
//	        sleep until MONOTONIC reaches the coarse value + a.period (the
//	          kernel cannot advance its coarse clocks before), goto loop
TEXT ·coarseTicker(SB), NOSPLIT, $0-8
	MOVQ a+0(FP), BX
loop:
	MOVL 8(BX), AX
	TESTL AX, AX
	JNE  done
	MOVQ $228, AX         // clock_gettime(CLOCK_MONOTONIC_COARSE, &a.ts)
	MOVQ $6, DI
	LEAQ 64(BX), SI
	SYSCALL
	TESTQ AX, AX
	JNE  poll
	MOVQ 64(BX), CX
	MOVQ 72(BX), DX
	CMPQ CX, 96(BX)
	JNE  changed
	CMPQ DX, 104(BX)
	JNE  changed
poll:
	MOVQ $0, 80(BX)       // relative sleep of a.poll (< 1 s)
	MOVQ 48(BX), AX
	MOVQ AX, 88(BX)
	MOVQ $0, SI           // flags
	CALL sleep<>(SB)
	JMP  loop
changed:
	MOVQ CX, 96(BX)
	MOVQ DX, 104(BX)
	MOVQ $228, AX         // clock_gettime(CLOCK_REALTIME_COARSE, &a.rt)
	MOVQ $5, DI
	LEAQ 112(BX), SI
	SYSCALL
	TESTQ AX, AX
	JNE  poll
	// MONOTONIC_COARSE in the root namespace: R8 s, R9 ns << 24.
	MOVQ 96(BX), R8
	SUBQ 16(BX), R8
	MOVQ 104(BX), R9
	SUBQ 24(BX), R9
	JGE  nsok
	ADDQ $1000000000, R9
	DECQ R8
nsok:
	SHLQ $24, R9
	MOVQ (BX), DI         // the page
	MOVL $1000, R12
lock:
	MOVL (DI), AX
	TESTL $1, AX
	JNE  busy
	LEAL 1(AX), CX
	LOCK
	CMPXCHGL CX, (DI)
	JNE  lock
	// CoarseTSC: d = (V + age) - Base[MONOTONIC] in ns << 24, from the
	// page's own high-resolution parameters (read under the lock); the
	// TSC where MONOTONIC reaches it is TSCBase + d / Mult; 0 (every read
	// asks the kernel) when d <= 0, the seconds are far apart, Mult is 0
	// or the sum overflows.
	XORQ R13, R13
	MOVQ R8, AX
	SUBQ 48(DI), AX       // V.sec - Base[MONOTONIC].Sec
	CMPQ AX, $256
	JGT  limit
	CMPQ AX, $-256
	JLT  limit
	MOVQ $16777216000000000, R10 // 1e9 << 24
	IMULQ R10, AX
	ADDQ R9, AX
	ADDQ 32(BX), AX       // + age
	SUBQ 56(DI), AX       // - Base[MONOTONIC].Snsec
	JLE  limit
	MOVQ 16(DI), R10      // Mult
	TESTQ R10, R10
	JEQ  limit
	XORQ DX, DX
	DIVQ R10
	ADDQ 24(DI), AX       // + TSCBase
	JCS  limit
	MOVQ AX, R13
limit:
	MOVQ R8, 128(DI)      // Base[MONOTONIC_COARSE]
	MOVQ R9, 136(DI)
	MOVQ 112(BX), AX      // Base[REALTIME_COARSE] (no namespace offset)
	MOVQ AX, 112(DI)
	MOVQ 120(BX), AX
	SHLQ $24, AX
	MOVQ AX, 120(DI)
	MOVQ R13, 248(DI)     // CoarseTSC
	INCL CX
	MOVL CX, (DI)         // even: published
	INCQ 56(BX)           // a.ticks (one writer; Go loads it atomically)
	// Sleep until MONOTONIC (of our namespace, as read) = coarse + period.
	MOVQ 96(BX), AX
	MOVQ 104(BX), DX
	ADDQ 40(BX), DX
norm:
	CMPQ DX, $1000000000
	JLT  normed
	SUBQ $1000000000, DX
	INCQ AX
	JMP  norm
normed:
	MOVQ AX, 80(BX)
	MOVQ DX, 88(BX)
	MOVQ $1, SI           // TIMER_ABSTIME
	CALL sleep<>(SB)
	JMP  loop
busy:
	PAUSE
	DECL R12
	JNE  lock
	MOVQ $0, 80(BX)       // a writer holds the sequence: let it run
	MOVQ 48(BX), AX
	MOVQ AX, 88(BX)
	MOVQ $0, SI
	CALL sleep<>(SB)
	MOVL 8(BX), AX        // Stop must not wait for a writer that never finishes
	TESTL AX, AX
	JNE  done
	MOVQ (BX), DI         // sleep used DI (and the system call AX, CX, DX, R10, R11)
	MOVL $1000, R12
	JMP  lock
done:
	RET

// sleep: clock_nanosleep(CLOCK_MONOTONIC, SI, &a.sleep, NULL), BX = a.
// An interruption (EINTR) just ends the sleep early. Clobbers AX, CX, DX,
// DI, R10, R11; keeps BX, R8, R9, R12, R13.
TEXT sleep<>(SB), NOSPLIT|NOFRAME, $0-0
	MOVQ $230, AX
	MOVQ $1, DI
	LEAQ 80(BX), DX
	XORQ R10, R10
	SYSCALL
	RET
