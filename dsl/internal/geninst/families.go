package main

import (
	"fmt"
	"strings"
)

// conditions are the condition suffixes of CMOVcc and SETcc, as Go's
// assembler spells them.
const conditions = `{CC,CS,EQ,GE,GT,HI,LE,LS,LT,MI,NE,OC,OS,PC,PL,PS}`

// family is a group of instructions allowed in a vDSO routine.
type family struct {
	name string
	// why says what a vDSO routine needs the family for.
	why string
	// insts are avo's constructor names, separated by blanks; {a,b}
	// stands for each of a and b, as in a shell: MOV{L,Q} is MOVL MOVQ.
	insts string
	// asm are instructions of Go's assembler that avo's instruction
	// database lacks, as wrapper names: the mnemonic, or PREFIX_MNEMONIC
	// for a prefixed one (REP_MOVSB is Go's "REP; MOVSB"). Braces expand
	// as in insts. Their wrappers build the instruction by hand (see
	// asmInstruction).
	asm string
}

// families is the allow-list: the only instructions package dsl/x86
// offers. A vDSO runs inside every process that maps it, with no FPU or
// vector state of its own to save, so routines stay on general-purpose
// registers: no SSE, AVX, AVX-512, x87 or MMX instruction is listed. The
// one constructor here that also has vector forms is MOVQ (MOVQ X0, AX);
// package dsl refuses vector registers as operands of any instruction.
//
// Not listed, with the reason: NOP, whose Go assembler mnemonic emits no
// byte (dsl/x86 writes NOP by hand, as a real 0x90); CLD/STD (the C ABI
// keeps the direction flag clear, and the verifier refuses STD); and INT,
// far returns, MONITOR/MWAIT, RDRAND/RDSEED, XGETBV, CLFLUSH, prefetches,
// non-temporal stores, CRC32, XLAT and the MXCSR and YMM state
// instructions, which no clock or data-page routine needs. A routine that
// needs one anyway can emit its bytes with dsl.Bytes (and the verifier
// still judges them).
var families = []family{
	{name: "data movement", why: "loading the data page's fields and storing results through the caller's pointers", insts: `
		MOV{B,W,L,Q}
		MOVB{L,Q,W}{SX,ZX} MOVW{L,Q}{SX,ZX} MOVLQ{SX,ZX}
		MOVBE{LL,QQ,WW} LEA{W,L,Q} XCHG{B,W,L,Q}
		CBW CWD CWDE CDQ CDQE CQO BSWAP{L,Q}`},
	{name: "stack", why: "saving registers around a call; the verifier follows every PUSH and POP", insts: `PUSH{W,Q} POP{W,Q}`},
	{name: "arithmetic", why: "clock arithmetic: cycles times mult, shifted, plus the base; seconds and nanoseconds normalised", insts: `
		{ADD,ADC,SUB,SBB,INC,DEC,NEG,CMP}{B,W,L,Q} ADCX{L,Q} ADOX{L,Q}
		{MUL,IMUL,DIV,IDIV}{B,W,L,Q} IMUL3{W,L,Q} MULX{L,Q}`},
	{name: "atomics", why: "lock-free reads and updates of shared state a routine may keep", insts: `CMPXCHG{B,W,L,Q} CMPXCHG8B XADD{B,W,L,Q}`},
	{name: "logic", why: "masks and tests: the seqlock's odd check, clock-id and mode checks", insts: `{AND,OR,XOR,NOT,TEST}{B,W,L,Q} ANDN{L,Q}`},
	{name: "shifts and rotates", why: "the clocksource shift and fixed-point scaling", insts: `
		{SHL,SHR,SAL,SAR,ROL,ROR,RCL,RCR}{B,W,L,Q}
		{SHLX,SHRX,SARX,RORX}{L,Q}`},
	{name: "bits", why: "bit tests and counts (BMI1/BMI2, LZCNT, TZCNT, POPCNT) on general-purpose registers", insts: `
		BT{,C,R,S}{W,L,Q} {BSF,BSR,LZCNT,TZCNT,POPCNT}{W,L,Q}
		{BEXTR,BLSI,BLSMSK,BLSR,BZHI,PDEP,PEXT}{L,Q}`},
	{name: "conditional moves", why: "branch-free selection, such as the larger of two counter reads", insts: `CMOV{W,L,Q}` + conditions},
	{name: "set on condition", why: "branch-free booleans", insts: `SET` + conditions},
	{name: "flags", why: "carry control for multi-word arithmetic", insts: `CLC STC CMC`},
	{name: "control flow", why: "direct branches, calls of other entries and returns; the verifier refuses indirect ones", insts: `
		JMP CALL RET JCXZ{L,Q}
		JA JAE JB JBE JC JCC JCS JE JEQ JG JGE JGT JHI JHS JL JLE JLO JLS
		JLT JMI JNA JNAE JNB JNBE JNC JNE JNG JNGE JNL JNLE JNO JNP JNS JNZ
		JO JOC JOS JP JPC JPE JPL JPO JPS JS JZ`},
	{name: "string", why: "copying, filling, loading, comparing and scanning memory through SI, DI and CX, alone or repeated (REP; REPN, as Go's assembler spells REPE and REPNE); avo's instruction database has none of them, so their wrappers are written as Go's assembler spells them, and the verifier refuses one whose implicit memory it cannot bound", asm: `
		{MOVS,STOS,LODS,CMPS,SCAS}{B,W,L,Q}
		REP_{MOVS,STOS,LODS,CMPS,SCAS}{B,W,L,Q}
		REPN_{CMPS,SCAS}{B,W,L,Q}`},
	{name: "fences", why: "ordering the seqlock's reads (LFENCE before RDTSC, as the kernel's alternatives do)", insts: `LFENCE MFENCE SFENCE`},
	{name: "timestamp counter", why: "the clocksource a vDSO reads without a system call", insts: `RDTSC RDTSCP`},
	{name: "processor", why: "PAUSE in seqlock retry loops; CPUID to learn what the CPU offers; SYSCALL for the fallback every routine needs (an unsupported clock, a data page whose mode says the vDSO cannot serve the call), as the kernel's vDSO falls back", insts: `CPUID PAUSE SYSCALL`},
	{name: "traps", why: "UD2 marks code no path may reach, as compilers do after a call that does not return; the verifier refuses a UD2 that a path from an entry reaches", insts: `UD2`},
}

// allowed returns the allow-list of avo constructors as a set, and the
// family of each name.
func allowed() map[string]string { return expandAll(func(f family) string { return f.insts }) }

// allowedAsm returns the instructions written by hand (the asm fields),
// and the family of each name.
func allowedAsm() map[string]string { return expandAll(func(f family) string { return f.asm }) }

func expandAll(list func(family) string) map[string]string {
	set := map[string]string{}
	for _, f := range families {
		for _, word := range strings.Fields(list(f)) {
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

// stringOps are the string instructions Go's assembler knows, by
// mnemonic without the size suffix, with the summary of their wrappers.
var stringOps = map[string]string{
	"MOVS": "Move Data from String to String (SI to DI)",
	"STOS": "Store String (AX to DI)",
	"LODS": "Load String (SI to AX)",
	"CMPS": "Compare String Operands (SI with DI)",
	"SCAS": "Scan String (AX with DI)",
}

// repeats are the repeat prefixes, as Go's assembler spells them, with
// what they do to each string instruction.
var repeats = map[string]func(op string) (string, bool){
	"REP": func(op string) (string, bool) {
		if op == "CMPS" || op == "SCAS" {
			return "repeated while equal, at most CX times (REPE)", true
		}
		return "repeated CX times (REP)", true
	},
	"REPN": func(op string) (string, bool) {
		if op == "CMPS" || op == "SCAS" {
			return "repeated while not equal, at most CX times (REPNE)", true
		}
		return "", false // undefined for MOVS, STOS and LODS
	},
}

var sizes = map[byte]string{'B': "byte", 'W': "word", 'L': "doubleword", 'Q': "quadword"}

// asmInstruction returns the Go assembler text of the hand-written
// instruction name ("REP; MOVSB" for REP_MOVSB) and its summary.
func asmInstruction(name string) (text, summary string, err error) {
	prefix, op, prefixed := strings.Cut(name, "_")
	if !prefixed {
		op, prefix = prefix, ""
	}
	if len(op) != 5 {
		return "", "", fmt.Errorf("%s: not a string instruction", name)
	}
	what, ok := stringOps[op[:4]]
	size, sized := sizes[op[4]]
	if !ok || !sized {
		return "", "", fmt.Errorf("%s: not a string instruction", name)
	}
	summary = fmt.Sprintf("%s, %s", what, size)
	text = op
	if prefixed {
		rep, ok := repeats[prefix]
		if !ok {
			return "", "", fmt.Errorf("%s: %s is not a repeat prefix", name, prefix)
		}
		how, ok := rep(op[:4])
		if !ok {
			return "", "", fmt.Errorf("%s: %s does not apply to %s", name, prefix, op[:4])
		}
		summary += ", " + how
		text = prefix + "; " + op
	}
	return text, summary, nil
}
