package verify

import (
	"fmt"
	"go/ast"
	"go/parser"

	"golang.org/x/arch/x86/x86asm"
)

// Store provenance. A routine may write only its own stack frame (the
// stack rule bounds every store written as n(SP)) and the memory its
// caller passed: a pointer in an argument register (DI, SI, DX, CX, R8,
// R9) as the entry received it, plus any offset. Which argument registers
// may hold a pointer the entry's signature says: a parameter of a
// predeclared integer or boolean type (int32, uint64, bool...) is a
// number; any other (a pointer, unsafe.Pointer, uintptr, a named type) may
// be a pointer, and every argument register may be one when the table
// records no signature. The pages interpretation
// therefore tracks, for every general register, which register's value at
// the entry's start it holds plus an integer (pstate.orig), and refuses a
// store through an address derived from nothing the caller passed: a
// pointer loaded from memory (a data page, the caller's memory, a spill
// slot), an immediate, a non-argument register as received, a sum of two
// pointers or a value truncated to 32 bits. A call or tail call to another
// entry passes the check on: the callee's stores through an argument
// register require the caller's register to hold a pointer the caller's
// own caller passed.
//
// The offset from the caller's pointer is not bounded: the verifier does
// not know the size of the caller's buffer, which the C ABI leaves to the
// caller (a deliberate limit, as is a pointer spilled to memory and
// reloaded, which counts as loaded: keep the caller's pointers in
// registers).

// argFamilies are the C ABI's argument registers, by family.
var argFamilies = [...]int{7, 6, 2, 1, 8, 9} // DI, SI, DX, CX, R8, R9

// argMask has the bit of every argument register family.
const argMask = uint16(1<<7 | 1<<6 | 1<<2 | 1<<1 | 1<<8 | 1<<9)

// pointerArgs is the mask of the argument registers that may hold a
// pointer by signature sig (a Go func type): all of them when it does not
// parse.
func pointerArgs(sig string) uint16 {
	x, err := parser.ParseExpr(sig)
	ft, ok := x.(*ast.FuncType)
	if sig == "" || err != nil || !ok || ft.Params == nil {
		return argMask
	}
	var mask uint16
	i := 0
	for _, f := range ft.Params.List {
		for range max(len(f.Names), 1) {
			if i < len(argFamilies) && !isNumberType(f.Type) {
				mask |= 1 << argFamilies[i]
			}
			i++
		}
	}
	return mask
}

// isNumberType reports whether t names a predeclared integer or boolean
// type, which holds no pointer (uintptr may).
func isNumberType(t ast.Expr) bool {
	id, ok := t.(*ast.Ident)
	if !ok {
		return false
	}
	switch id.Name {
	case "bool", "int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64", "byte", "rune":
		return true
	}
	return false
}

// entryState is the state at an entry's start: no page address, no stack
// address but SP, every register its own value as received.
func entryState() *pstate {
	s := &pstate{}
	for f := range famVec {
		if f != spFamily {
			s.orig[f] = int8(f + 1)
		}
	}
	return s
}

// origin is the register family whose value as received f holds plus an
// integer, or -1.
func (s *pstate) origin(f int) int {
	if f < 0 || f >= famVec || f == spFamily {
		return -1
	}
	return int(s.orig[f]) - 1
}

// regOrigin is the origin of a full 64-bit register operand, -1 for any
// other operand.
func regOrigin(a x86asm.Arg, s *pstate) int {
	r, ok := a.(x86asm.Reg)
	if !ok || width(r) != 64 {
		return -1
	}
	return s.origin(family(r))
}

// addrOrigin is the origin of memory operand m's address: the base's or
// an unscaled index's (the other holding a number), -1 for none; ptrs are
// the argument registers that may hold a pointer.
func addrOrigin(m x86asm.Mem, s *pstate, ptrs uint16) int {
	if m.Segment != 0 && m.Segment != x86asm.DS && m.Segment != x86asm.ES || m.Base == x86asm.RIP {
		return -1
	}
	b, i := -1, -1
	if m.Base != 0 {
		if width(m.Base) != 64 {
			return -1
		}
		b = s.origin(family(m.Base))
	}
	if m.Index != 0 {
		if width(m.Index) != 64 {
			return -1
		}
		i = s.origin(family(m.Index))
		if i >= 0 && m.Scale != 1 && ptrs&(1<<i) != 0 {
			return -1 // a scaled pointer
		}
	}
	if i >= 0 && m.Scale != 1 {
		i = -1 // a scaled number: the base is the pointer, if any
	}
	return sumOrigin(b, i, ptrs)
}

// sumOrigin is the origin of the sum of two values of origins a and b:
// the one that may be a pointer when the other is a number; none for two
// that may both be pointers (a sum of two pointers points nowhere).
func sumOrigin(a, b int, ptrs uint16) int {
	isPtr := func(o int) bool { return o >= 0 && ptrs&(1<<o) != 0 }
	switch {
	case isPtr(a) && isPtr(b):
		return -1
	case isPtr(b):
		return b
	case isPtr(a):
		return a
	case a >= 0 && b >= 0:
		return -1 // two numbers: neither is the caller's pointer
	case a >= 0:
		return a
	}
	return b
}

// trackOrigin applies in's effect on the origins to s; before is the
// state before in.
func trackOrigin(in *inst, before, s *pstate, ptrs uint16) {
	regs, partial, all := writtenRegs(in)
	if all {
		s.orig = [famVec]int8{}
		return
	}
	var src x86asm.Arg
	if len(in.Args) > 1 {
		src = in.Args[1]
	}
	dst, dstReg := in.Args[0].(x86asm.Reg)
	result := func(f int) int {
		if partial || !dstReg || family(dst) != f || width(dst) != 64 {
			// An implicit register, a part of one, or a 32-bit write
			// (zero-extended: no pointer survives it).
			if _, isString := stringOps[in.Op]; isString && (f == 6 || f == 7) {
				return before.origin(f) // SI and DI step through the buffer
			}
			return -1
		}
		cur := before.origin(f)
		switch in.Op {
		case x86asm.MOV:
			return regOrigin(src, before)
		case x86asm.LEA:
			if m, ok := src.(x86asm.Mem); ok {
				return addrOrigin(m, before, ptrs)
			}
		case x86asm.ADD:
			return sumOrigin(cur, regOrigin(src, before), ptrs)
		case x86asm.SUB:
			if regOrigin(src, before) < 0 {
				return cur
			}
		case x86asm.INC, x86asm.DEC:
			return cur
		case x86asm.XCHG:
			return regOrigin(src, before)
		case x86asm.XADD:
			return sumOrigin(cur, regOrigin(src, before), ptrs)
		}
		return -1
	}
	for _, f := range regs {
		if f < 0 || f >= famVec || f == spFamily {
			continue
		}
		o := result(f)
		if (in.Op == x86asm.XCHG || in.Op == x86asm.XADD) && dstReg && family(dst) != f {
			// The second operand gets the first's old value.
			o = regOrigin(dst, before)
			if width(dst) != 64 {
				o = -1
			}
		}
		s.orig[f] = int8(o + 1)
	}
}

// afterCall maps the origins a callee's RETs leave (relative to the
// callee's start, sum) to the caller's: a register holding the callee's
// argument g as received holds what the caller's g held at the call.
func afterCall(sum, atCall *pstate) [famVec]int8 {
	var out [famVec]int8
	for f := range famVec {
		if g := sum.origin(f); g >= 0 {
			out[f] = int8(atCall.origin(g) + 1)
		}
	}
	return out
}

// storesMemory reports whether in writes memory through argument i.
func storesMemory(in *inst, i int) bool {
	switch in.Op {
	case x86asm.LEA, x86asm.NOP, x86asm.PUSH, x86asm.MUL, x86asm.DIV, x86asm.IDIV:
		return false
	case x86asm.IMUL:
		if len(in.Args) < 2 || in.Args[1] == nil {
			return false // the one-operand form reads its argument
		}
	case x86asm.POP:
		return i == 0
	}
	return writesArg(in, i)
}

// checkStoreOrigins refuses a store of in (at image offset at) through an
// address derived from no pointer the caller passed, and records the
// argument registers the entry stores through. Stores through SP are the
// stack rule's, through a page or stack address the pages rule's, RIP-
// relative ones reach's and pages'.
func (pc *pageCheck) checkStoreOrigins(in *inst, at int, s *pstate) {
	for i, a := range in.Args {
		m, ok := a.(x86asm.Mem)
		if !ok || !storesMemory(in, i) || m.Base == x86asm.RIP || isSP(m.Base) || isSP(m.Index) {
			continue
		}
		if pc.addr(in, m, s).derived() || s.fromSP(family(m.Base)) || m.Index != 0 && s.fromSP(family(m.Index)) {
			continue // the pages rule reports it
		}
		switch g := addrOrigin(m, s, pc.ptrs); {
		case g >= 0 && pc.ptrs&(1<<g) != 0:
			pc.storesVia |= 1 << g
		case g >= 0:
			pc.errorf(at, "%s stores %s through %s, derived from %s as the entry received it, %s: a routine may store only to its stack frame (n(SP)) and through a pointer the caller passed in DI, SI, DX, CX, R8 or R9",
				in.Op, storeSize(in), memString(m), famName(g), pc.notPointer(g))
		default:
			pc.errorf(at, "%s stores %s through %s, an address not derived from a pointer the caller passed (DI, SI, DX, CX, R8 or R9 as received, plus an offset): it was loaded from memory, truncated to 32 bits, built from an immediate or from two pointers; a routine may store only to its stack frame (n(SP)) and to the caller's memory",
				in.Op, storeSize(in), memString(m))
		}
	}
	// MASKMOVDQU and MASKMOVQ store through DI without naming it.
	if in.Op == x86asm.MASKMOVDQU || in.Op == x86asm.MASKMOVQ {
		if g := s.origin(7); g < 0 || pc.ptrs&(1<<g) == 0 {
			pc.errorf(at, "%s stores through DI, which does not hold a pointer the caller passed", in.Op)
		} else {
			pc.storesVia |= 1 << g
		}
	}
}

// checkCallOrigins refuses a call or tail call (at image offset at) to an
// entry that stores through an argument register the caller does not
// fill with a pointer its own caller passed.
func (pc *pageCheck) checkCallOrigins(at int, s *pstate, what string, via uint16) {
	for _, g := range argFamilies {
		if via&(1<<g) == 0 {
			continue
		}
		switch o := s.origin(g); {
		case o >= 0 && pc.ptrs&(1<<o) != 0:
			pc.storesVia |= 1 << o
		case o >= 0:
			pc.errorf(at, "%s, which stores through %s, with %s derived from %s as received, %s: a routine may store only to its stack frame and to memory its caller passed",
				what, famName(g), famName(g), famName(o), pc.notPointer(o))
		default:
			pc.errorf(at, "%s, which stores through %s, with %s not derived from a pointer the caller passed: a routine may store only to its stack frame and to memory its caller passed",
				what, famName(g), famName(g))
		}
	}
}

// notPointer says why register family f as received is no pointer.
func (pc *pageCheck) notPointer(f int) string {
	if argMask&(1<<f) == 0 {
		return "which is no argument"
	}
	return fmt.Sprintf("a number by the entry's signature %s", pc.g.e.Signature)
}
