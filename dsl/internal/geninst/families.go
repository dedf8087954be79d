package main

import "strings"

// conditions are the condition suffixes of CMOVcc and SETcc, as Go's
// assembler spells them.
const conditions = `{CC,CS,EQ,GE,GT,HI,LE,LS,LT,MI,NE,OC,OS,PC,PL,PS}`

// family is a group of instructions allowed in a vDSO routine.
type family struct {
	name string
	// insts are avo's constructor names, separated by blanks; {a,b}
	// stands for each of a and b, as in a shell: MOV{L,Q} is MOVL MOVQ.
	insts string
}

// families is the allow-list: the only instructions package dsl/x86
// offers. A vDSO runs inside every process that maps it, with no FPU or
// vector state of its own to save, so routines stay on general-purpose
// registers: no SSE, AVX, AVX-512, x87 or MMX instruction is listed. The
// one constructor here that also has vector forms is MOVQ (MOVQ X0, AX);
// package dsl refuses vector registers as operands of any instruction.
//
// Not listed, with the reason: the string instructions (MOVS, STOS, ...
// with REP), which avo has no constructors for; NOP, whose Go assembler
// mnemonic emits no byte (dsl/x86 writes NOP by hand, as a real 0x90);
// CLD/STD (the C ABI keeps the direction flag clear); and INT, UD2, far
// returns, MONITOR/MWAIT, RDRAND/RDSEED, XGETBV, CLFLUSH, prefetches,
// non-temporal stores, CRC32, XLAT and the MXCSR and YMM state
// instructions, which no clock or data-page routine needs. A routine that
// needs one anyway can emit its bytes with dsl.Bytes.
var families = []family{
	{"data movement", `
		MOV{B,W,L,Q}
		MOVB{L,Q,W}{SX,ZX} MOVW{L,Q}{SX,ZX} MOVLQ{SX,ZX}
		MOVBE{LL,QQ,WW} LEA{W,L,Q} XCHG{B,W,L,Q}
		CBW CWD CWDE CDQ CDQE CQO BSWAP{L,Q}`},
	{"stack", `PUSH{W,Q} POP{W,Q}`},
	{"arithmetic", `
		{ADD,ADC,SUB,SBB,INC,DEC,NEG,CMP}{B,W,L,Q} ADCX{L,Q} ADOX{L,Q}
		{MUL,IMUL,DIV,IDIV}{B,W,L,Q} IMUL3{W,L,Q} MULX{L,Q}`},
	{"atomics", `CMPXCHG{B,W,L,Q} CMPXCHG8B XADD{B,W,L,Q}`},
	{"logic", `{AND,OR,XOR,NOT,TEST}{B,W,L,Q} ANDN{L,Q}`},
	{"shifts and rotates", `
		{SHL,SHR,SAL,SAR,ROL,ROR,RCL,RCR}{B,W,L,Q}
		{SHLX,SHRX,SARX,RORX}{L,Q}`},
	{"bits", `
		BT{,C,R,S}{W,L,Q} {BSF,BSR,LZCNT,TZCNT,POPCNT}{W,L,Q}
		{BEXTR,BLSI,BLSMSK,BLSR,BZHI,PDEP,PEXT}{L,Q}`},
	{"conditional moves", `CMOV{W,L,Q}` + conditions},
	{"set on condition", `SET` + conditions},
	{"flags", `CLC STC CMC`},
	{"control flow", `
		JMP CALL RET JCXZ{L,Q}
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
		for _, word := range strings.Fields(f.insts) {
			for _, name := range expandBraces(word) {
				set[name] = f.name
			}
		}
	}
	return set
}

// expandBraces expands every {a,b,...} group of word, left to right.
func expandBraces(word string) []string {
	open := strings.IndexByte(word, '{')
	if open < 0 {
		return []string{word}
	}
	end := strings.IndexByte(word[open:], '}')
	if end < 0 {
		return []string{word} // not a name; selectAllowed reports it
	}
	end += open
	var out []string
	for _, alt := range strings.Split(word[open+1:end], ",") {
		out = append(out, expandBraces(word[:open]+alt+word[end+1:])...)
	}
	return out
}
