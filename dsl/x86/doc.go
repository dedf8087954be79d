// Package x86 is the instruction set of vdsogen's DSL: the x86-64
// instructions a vDSO routine may use, one function per avo constructor
// (MOVQ, ADDQ, JNE, RDTSCP, ...), each appending to the default program of
// package dsl. Generator programs dot-import it next to dsl:
//
//	import (
//		. "github.com/mmcloughlin/avo/operand"
//		. "github.com/mmcloughlin/avo/reg"
//		. "github.com/vdsogen/vdsogen/dsl"
//		. "github.com/vdsogen/vdsogen/dsl/x86"
//	)
//
// Only general-purpose instructions are here: integer moves and
// arithmetic, logic, shifts, bit manipulation (BMI1/BMI2, LZCNT, TZCNT,
// POPCNT), conditional moves and sets, branches, calls, PUSH/POP, atomics,
// string instructions, fences, RDTSC/RDTSCP, PAUSE, CPUID, SYSCALL (the
// fallback to the real system call) and UD2; no SSE, AVX, AVX-512, x87 or
// MMX. The list, by family and with what is left out and why, is in
// dsl/internal/geninst.
//
// The string instructions (MOVSB ... SCASQ, which avo's database lacks)
// are spelled as in Go's assembler, and a repeat prefix is part of the
// name: REP_MOVSB is Go's "REP; MOVSB" (copy CX bytes from SI to DI),
// REP_CMPSB its "REP; CMPSB" (REPE) and REPN_SCASB its "REPN; SCASB"
// (REPNE). The verifier refuses a string instruction whose implicit memory
// it cannot prove safe (through a data page's address, or a store through
// a copy of SP), and a UD2 that any path from an entry reaches. Code that keeps an explicit dsl.Builder records
// avo's constructors with Builder.Add, which refuses vector registers too.
//
// A mistake (operands no form of the instruction takes, a vector register)
// is recorded at the caller's line, like every other DSL mistake.
package x86

//go:generate go run ../internal/geninst -out zinstructions.go
