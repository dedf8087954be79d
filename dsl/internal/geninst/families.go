package main

import "strings"

// family is a group of instructions allowed in a vDSO routine.
type family struct {
	name string
	// insts are avo's constructor names, separated by blanks.
	insts string
}

// families is the allow-list: the only instructions package dsl/x86
// offers. A vDSO runs inside every process that maps it, with no FPU or
// vector state of its own to save, so routines stay on general-purpose
// registers: no SSE, AVX, AVX-512, x87 or MMX instruction is listed. The
// one constructor here that also has vector forms is MOVQ (MOVQ X0, AX);
// package dsl refuses vector registers as operands of any instruction.
//
// Not listed, with the reason: string instructions (MOVS, STOS, ... and
// REP) and NOP, which avo has no constructors for or whose Go assembler
// mnemonic emits nothing (NOP: dsl/x86 writes it by hand as a real 0x90);
// CLD/STD (the C ABI keeps the direction flag clear); INT, UD2, far
// returns, MONITOR/MWAIT, RDRAND/RDSEED, XGETBV, CLFLUSH, prefetches,
// non-temporal stores, CRC32, XLAT and the MXCSR/YMM state instructions,
// which no clock or data-page routine needs. Routines that need any of
// them anyway can emit bytes with dsl.Bytes.
var families = []family{
	{"data movement", `
		MOVB MOVW MOVL MOVQ
		MOVBLSX MOVBLZX MOVBQSX MOVBQZX MOVBWSX MOVBWZX
		MOVWLSX MOVWLZX MOVWQSX MOVWQZX MOVLQSX MOVLQZX
		MOVBELL MOVBEQQ MOVBEWW
		LEAW LEAL LEAQ
		XCHGB XCHGW XCHGL XCHGQ
		CBW CWD CWDE CDQ CDQE CQO
		BSWAPL BSWAPQ`},
	{"stack", `PUSHW PUSHQ POPW POPQ`},
	{"arithmetic", `
		ADDB ADDW ADDL ADDQ ADCB ADCW ADCL ADCQ ADCXL ADCXQ ADOXL ADOXQ
		SUBB SUBW SUBL SUBQ SBBB SBBW SBBL SBBQ
		INCB INCW INCL INCQ DECB DECW DECL DECQ NEGB NEGW NEGL NEGQ
		MULB MULW MULL MULQ MULXL MULXQ
		IMULB IMULW IMULL IMULQ IMUL3W IMUL3L IMUL3Q
		DIVB DIVW DIVL DIVQ IDIVB IDIVW IDIVL IDIVQ
		CMPB CMPW CMPL CMPQ`},
	{"atomics", `
		CMPXCHGB CMPXCHGW CMPXCHGL CMPXCHGQ CMPXCHG8B
		XADDB XADDW XADDL XADDQ`},
	{"logic", `
		ANDB ANDW ANDL ANDQ ORB ORW ORL ORQ XORB XORW XORL XORQ
		NOTB NOTW NOTL NOTQ TESTB TESTW TESTL TESTQ ANDNL ANDNQ`},
	{"shifts and rotates", `
		SHLB SHLW SHLL SHLQ SHRB SHRW SHRL SHRQ
		SALB SALW SALL SALQ SARB SARW SARL SARQ
		ROLB ROLW ROLL ROLQ RORB RORW RORL RORQ
		RCLB RCLW RCLL RCLQ RCRB RCRW RCRL RCRQ
		SHLXL SHLXQ SHRXL SHRXQ SARXL SARXQ RORXL RORXQ`},
	{"bits", `
		BTW BTL BTQ BTCW BTCL BTCQ BTRW BTRL BTRQ BTSW BTSL BTSQ
		BSFW BSFL BSFQ BSRW BSRL BSRQ
		LZCNTW LZCNTL LZCNTQ TZCNTW TZCNTL TZCNTQ POPCNTW POPCNTL POPCNTQ
		BEXTRL BEXTRQ BLSIL BLSIQ BLSMSKL BLSMSKQ BLSRL BLSRQ BZHIL BZHIQ
		PDEPL PDEPQ PEXTL PEXTQ`},
	{"conditional moves", `
		CMOVWCC CMOVWCS CMOVWEQ CMOVWGE CMOVWGT CMOVWHI CMOVWLE CMOVWLS
		CMOVWLT CMOVWMI CMOVWNE CMOVWOC CMOVWOS CMOVWPC CMOVWPL CMOVWPS
		CMOVLCC CMOVLCS CMOVLEQ CMOVLGE CMOVLGT CMOVLHI CMOVLLE CMOVLLS
		CMOVLLT CMOVLMI CMOVLNE CMOVLOC CMOVLOS CMOVLPC CMOVLPL CMOVLPS
		CMOVQCC CMOVQCS CMOVQEQ CMOVQGE CMOVQGT CMOVQHI CMOVQLE CMOVQLS
		CMOVQLT CMOVQMI CMOVQNE CMOVQOC CMOVQOS CMOVQPC CMOVQPL CMOVQPS`},
	{"set on condition", `
		SETCC SETCS SETEQ SETGE SETGT SETHI SETLE SETLS
		SETLT SETMI SETNE SETOC SETOS SETPC SETPL SETPS`},
	{"flags", `CLC STC CMC`},
	{"control flow", `
		JMP CALL RET JCXZL JCXZQ
		JA JAE JB JBE JC JCC JCS JE JEQ JG JGE JGT JHI JHS JL JLE JLO JLS
		JLT JMI JNA JNAE JNB JNBE JNC JNE JNG JNGE JNL JNLE JNO JNP JNS JNZ
		JO JOC JOS JP JPC JPE JPL JPO JPS JS JZ`},
	{"fences", `LFENCE MFENCE SFENCE`},
	{"timestamp counter", `RDTSC RDTSCP`},
	{"processor", `CPUID PAUSE SYSCALL`},
}

// allowed returns the allow-list as a set, and the family of each name.
func allowed() map[string]string {
	set := map[string]string{}
	for _, f := range families {
		for _, name := range strings.Fields(f.insts) {
			set[name] = f.name
		}
	}
	return set
}
