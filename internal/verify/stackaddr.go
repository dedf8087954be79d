package verify

import (
	"fmt"

	"golang.org/x/arch/x86/x86asm"
)

// Stack addresses outside SP. The stack rule bounds every store written
// as n(SP), and every change of SP; a copy of SP in another register (MOVQ
// SP, DI; LEAQ 8(SP), DI) would let a store reach the return address or
// the caller's frame unseen, explicitly (MOVQ AX, 8(DI)) or through a
// string instruction's implicit operand (STOSQ, REP; MOVSB store through
// DI). The pages interpretation therefore also tracks which general
// registers may hold an address computed from SP (pstate.stk) and whether
// one was stored to memory (pstate.stkMem), and refuses a store through
// such a register and a call or tail call that passes one: the stack
// rule's promise then covers every store.

// spFamily is RSP's register family.
const spFamily = 4

// allGP has the bit of every general register but SP.
const allGP = uint16(0xffff &^ (1 << spFamily))

// fromSP reports whether register family f may hold an address computed
// from SP: SP itself, or a register the interpretation marked.
func (s *pstate) fromSP(f int) bool {
	return f == spFamily || f >= 0 && f < famVec && s.stk&(1<<f) != 0
}

// spInput reports whether in computes a register value from SP: it reads
// SP or a marked register, the address of a LEA through one, or loads
// from memory after a stack address was stored there.
func spInput(in *inst, before *pstate) bool {
	for _, a := range in.Args {
		switch a := a.(type) {
		case x86asm.Reg:
			if before.fromSP(family(a)) {
				return true
			}
		case x86asm.Mem:
			if in.Op == x86asm.LEA {
				if before.fromSP(family(a.Base)) || a.Index != 0 && before.fromSP(family(a.Index)) {
					return true
				}
			} else if before.stkMem {
				return true
			}
		}
	}
	if in.Op == x86asm.POP && before.stkMem {
		return true
	}
	// String instructions advance SI and DI from their old values.
	for _, f := range stringOps[in.Op] {
		if before.fromSP(f) {
			return true
		}
	}
	return false
}

// writtenRegs lists the general registers in writes, as effect models it;
// all is set where effect forgets every register (an instruction it does
// not model). partial marks a write that keeps part of the old value (a
// byte or word register, or CMOV).
func writtenRegs(in *inst) (regs []int, partial, all bool) {
	op := in.Op
	if isJcc(op) || noRegs[op] {
		return nil, false, false
	}
	if op == x86asm.IMUL && (len(in.Args) < 2 || in.Args[1] == nil) {
		op = x86asm.MUL
	}
	implicitRegs, isImplicit := implicit[op]
	regs = append(regs, implicitRegs...)
	switch op {
	case x86asm.MUL, x86asm.DIV, x86asm.IDIV:
		return regs, false, false
	}
	known := isImplicit || explicit[op] || isCMOV(op) || isSET(op)
	second := func() {
		if op != x86asm.XCHG && op != x86asm.XADD {
			return
		}
		if r, ok := in.Args[1].(x86asm.Reg); ok && family(r) >= 0 && family(r) < famVec {
			regs = append(regs, family(r))
		}
	}
	dst, ok := in.Args[0].(x86asm.Reg)
	switch {
	case !ok || family(dst) < 0:
		if !known {
			return nil, false, true
		}
		second()
	case family(dst) >= famVec:
	case !known:
		return nil, false, true
	default:
		regs = append(regs, family(dst))
		partial = isCMOV(op) || width(dst) < 32
		second()
	}
	return regs, partial, false
}

// trackSP updates which registers may hold a stack address after in, and
// refuses a store through one (at is in's image offset, -1 for none).
func (pc *pageCheck) trackSP(in *inst, at int, before, s *pstate) {
	for i, a := range in.Args {
		m, ok := a.(x86asm.Mem)
		if !ok || in.Op == x86asm.LEA || !writesArg(in, i) && in.Op != x86asm.POP {
			continue
		}
		for _, r := range []x86asm.Reg{m.Base, m.Index} {
			if f := family(r); r != 0 && f != spFamily && before.fromSP(f) {
				pc.errorf(at, "%s stores %s through %s, which may hold an address computed from SP: the stack rule bounds only stores written as n(SP) (address the frame through SP)", in.Op, storeSize(in), famName(f))
			}
		}
		if pc.storesSP(in, i, before) {
			s.stkMem = true
		}
	}
	if in.Op == x86asm.PUSH {
		if r, ok := in.Args[0].(x86asm.Reg); ok && before.fromSP(family(r)) {
			s.stkMem = true
		}
	}
	regs, partial, all := writtenRegs(in)
	fromSP := spInput(in, before)
	if all {
		s.stk = 0
		if before.stk != 0 || before.stkMem || fromSP {
			s.stk = allGP
		}
		return
	}
	for _, f := range regs {
		if f == spFamily || f < 0 || f >= famVec {
			continue
		}
		switch {
		case fromSP:
			s.stk |= 1 << f
		case !partial:
			s.stk &^= 1 << f
		}
	}
}

// storesSP reports whether the value in stores through argument i may be
// a stack address.
func (pc *pageCheck) storesSP(in *inst, i int, s *pstate) bool {
	for j, a := range in.Args {
		if r, ok := a.(x86asm.Reg); ok && j != i && s.fromSP(family(r)) {
			return true
		}
	}
	return false
}

// storeSize describes the bytes in stores: "8 bytes", or for a string
// instruction with a repeat prefix "CX times 8 bytes".
func storeSize(in *inst) string {
	w := memWidth(in)
	if repeated(in) {
		return fmt.Sprintf("CX times %d bytes", w)
	}
	return fmt.Sprintf("%d bytes", w)
}

// memWidth is the width of in's memory access: x86asm leaves MemBytes 0
// for the string instructions, whose width is in their name.
func memWidth(in *inst) int {
	if in.MemBytes > 0 {
		return in.MemBytes
	}
	switch in.Op {
	case x86asm.MOVSW, x86asm.STOSW, x86asm.LODSW, x86asm.CMPSW, x86asm.SCASW:
		return 2
	case x86asm.MOVSD, x86asm.STOSD, x86asm.LODSD, x86asm.CMPSD, x86asm.SCASD:
		return 4
	case x86asm.MOVSQ, x86asm.STOSQ, x86asm.LODSQ, x86asm.CMPSQ, x86asm.SCASQ:
		return 8
	}
	return 1
}

// repeated reports whether in carries a REP or REPNE prefix that repeats
// it (a string instruction).
func repeated(in *inst) bool {
	if _, ok := stringOps[in.Op]; !ok {
		return false
	}
	for _, p := range in.Prefix {
		if p == 0 {
			break
		}
		switch p &^ (x86asm.PrefixImplicit | x86asm.PrefixIgnored) {
		case x86asm.PrefixREP, x86asm.PrefixREPN:
			return true
		}
	}
	return false
}
