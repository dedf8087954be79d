package verify

import (
	"fmt"

	"golang.org/x/arch/x86/x86asm"

	"github.com/vdsogen/vdsogen/layout"
)

// stackResult is what the stack rule proved: the stack depth at the start
// of every reached instruction, by variant and offset, in bytes below the
// return address.
type stackResult struct {
	depth map[string]map[int]int
}

// at returns the depth at off of im, and whether off was reached.
func (sr *stackResult) at(im *image, off int) (int, bool) {
	d, ok := sr.depth[im.v.Name][off]
	return d, ok
}

// stack follows every edge of every entry's graph: the depth is the same
// on every path to an instruction, zero at RET and on every edge to
// another entry (a tail call, conditional or not), never below the return
// address, changed only by instructions it can follow, never written above
// the bytes the entry pushed (the return address and the caller's frame)
// or below the stack pointer, and at most MaxStack; a restart enters an
// abort handler with the depth of its region's start. It is equal at every
// site boundary in every shared variant. It records every entry's maximum.
func stack(p *Pass, fr *flowResult) *stackResult {
	sr := &stackResult{depth: map[string]map[int]int{}}
	limit := p.In.MaxStack
	if limit == 0 {
		limit = DefaultMaxStack
	}
	for _, im := range p.images {
		st := &stackState{p: p, im: im, fr: fr, depth: map[int]int{}, max: map[int]int{}, busy: map[int]bool{}}
		for _, e := range im.entries {
			m := st.entry(e)
			p.Report.Stack = append(p.Report.Stack, EntryStack{Variant: im.v.Name, Entry: e.Name, Max: m})
			if m > limit {
				p.errorf(im, e.Offset, nil, "the stack grows to %d bytes, more than the %d allowed", m, limit)
			}
		}
		sr.depth[im.v.Name] = st.depth
	}
	if len(p.shared) < 2 {
		return sr
	}
	ref := p.shared[0]
	for i, s := range ref.v.Sites {
		// The depth where control enters the site, and where it leaves it
		// (falling through its end, jumping out, or returning): a variant
		// must not change the stack layout around its code.
		for _, at := range []string{"entering", "leaving"} {
			type seen struct {
				im     *image
				off, d int
			}
			var all []seen
			for _, im := range p.shared {
				if i >= len(im.v.Sites) {
					continue
				}
				si := im.v.Sites[i]
				off, d, ok := si.Offset, 0, false
				if at == "entering" {
					d, ok = sr.at(im, off)
				} else {
					off, d, ok = exitDepth(sr, im, si)
				}
				if ok {
					all = append(all, seen{im, off, d})
				}
			}
			if len(all) < 2 {
				continue
			}
			// The depth most variants agree on is taken as meant (the
			// first variant's on a tie): a finding names a variant whose
			// bytes differ from it.
			count := map[int]int{}
			for _, x := range all {
				count[x.d]++
			}
			want := all[0]
			for _, x := range all {
				if count[x.d] > count[want.d] {
					want = x
				}
			}
			for _, x := range all {
				if x.d != want.d {
					p.errorf(x.im, x.off, []*image{want.im}, "stack depth %s the %s %s site is %d bytes in variant %s but %d in variant %s",
						at, s.Kind, s.Key, x.d, x.im.v.Name, want.d, want.im.v.Name)
				}
			}
		}
	}
	return sr
}

// exitDepth returns where control first leaves site s of im and the stack
// depth it leaves with: the site's end, a branch out of it, or a RET.
func exitDepth(sr *stackResult, im *image, s layout.Site) (off, depth int, ok bool) {
	start, end := s.Offset, s.Offset+len(s.Bytes)
	for _, in := range im.instsIn(start, end) {
		d, reached := sr.at(im, in.off)
		if !reached || in.bad {
			continue
		}
		delta, _ := stackDelta(&in)
		after := d + delta
		if in.Op == x86asm.RET {
			return in.off, d, true
		}
		if t, isRel := relTarget(&in); isRel && (t < start || t >= end) && in.Op != x86asm.CALL {
			return in.off, after, true
		}
		if c, _ := classify(&in); in.end() >= end && c != flowJump && c != flowTrap && c != flowRefused {
			return end, after, true
		}
	}
	return 0, 0, false
}

type stackState struct {
	p     *Pass
	im    *image
	fr    *flowResult
	depth map[int]int
	max   map[int]int // by entry offset
	busy  map[int]bool
}

// entry follows the graph of e and returns its maximum depth, callees
// included.
func (st *stackState) entry(e layout.Entry) int {
	if m, ok := st.max[e.Offset]; ok {
		return m
	}
	im := st.im
	if st.busy[e.Offset] {
		st.p.errorf(im, e.Offset, nil, "entry %s calls itself: its stack depth is unbounded", e.Name)
		return 0
	}
	g := st.fr.graph(im, e)
	if g == nil {
		return 0
	}
	st.busy[e.Offset] = true
	defer delete(st.busy, e.Offset)
	type item struct{ off, d int }
	work := []item{{e.Offset, 0}}
	var aborts []edge
	maxD := 0
	for len(work) > 0 || len(aborts) > 0 {
		if len(work) == 0 {
			// A restart enters the abort handler with the depth of the
			// region's start (regions checks the depth is constant
			// inside the region).
			a := aborts[0]
			aborts = aborts[1:]
			if d, ok := st.depth[a.region.Start]; ok {
				work = append(work, item{a.to, d})
			}
			continue
		}
		it := work[len(work)-1]
		work = work[:len(work)-1]
		off, d := it.off, it.d
		if old, ok := st.depth[off]; ok {
			if old != d {
				st.p.errorf(im, off, nil, "the stack depth here is %d bytes on one path and %d on another", old, d)
			}
			continue
		}
		in := im.instAt(off)
		if in == nil || in.bad {
			continue // flow reports it
		}
		st.depth[off] = d
		maxD = max(maxD, d)
		delta, ok := stackDelta(in)
		if !ok {
			st.p.errorf(im, off, nil, "writes RSP in a way the verifier cannot follow (use PUSH/POP, or ADD/SUB of a constant to SP)")
			continue
		}
		if w, ok := stackWrite(in, d); ok {
			st.p.errorf(im, off, nil, "%s", w)
		}
		if d+delta < 0 {
			st.p.errorf(im, off, nil, "pops %d bytes more than were pushed, into the caller's frame", -(d + delta))
			continue
		}
		after := d + delta
		maxD = max(maxD, after)
		if in.Op == x86asm.RET && after != 0 {
			st.p.errorf(im, off, nil, "returns with %d bytes still on the stack", after)
		}
		for _, ce := range g.calls[off] {
			maxD = max(maxD, after+8+st.entry(ce))
		}
		for _, ed := range g.succ[off] {
			switch ed.kind {
			case edgeTail:
				if after != 0 {
					te, _ := im.entryStarting(ed.to)
					st.p.errorf(im, off, nil, "%s to entry %s with %d bytes on the stack: a tail call must leave the stack as the entry found it", branchVerb(in), te.Name, after)
				}
			case edgeAbort:
				aborts = append(aborts, ed)
			default:
				work = append(work, item{ed.to, after})
			}
		}
	}
	st.max[e.Offset] = maxD
	return maxD
}

// branchVerb names a branch in a message: "jumps" or "branches (JE)".
func branchVerb(in *inst) string {
	if in.Op == x86asm.JMP {
		return "jumps"
	}
	return fmt.Sprintf("branches (%s)", in.Op)
}

// isSP reports whether r is RSP or a part of it.
func isSP(r x86asm.Reg) bool {
	return r == x86asm.RSP || r == x86asm.ESP || r == x86asm.SP || r == x86asm.SPB
}

// stackDelta is how many bytes in pushes onto the stack, and false if it
// writes RSP in another way: only PUSH, POP (not into SP), CALL, RET and
// ADD, SUB or LEA of a constant to SP are followed.
func stackDelta(in *inst) (int, bool) {
	size := 8
	if in.DataSize == 16 {
		size = 2
	}
	switch in.Op {
	case x86asm.PUSH, x86asm.PUSHFQ:
		return size, true
	case x86asm.POP:
		if r, ok := in.Args[0].(x86asm.Reg); ok && isSP(r) {
			return 0, false
		}
		return -size, true
	case x86asm.POPFQ:
		return -size, true
	case x86asm.CALL, x86asm.RET, x86asm.SYSCALL:
		return 0, true // balanced by the callee, or the return itself
	case x86asm.LEAVE, x86asm.ENTER, x86asm.PUSHF, x86asm.POPF, x86asm.PUSHFD, x86asm.POPFD:
		return 0, false
	}
	for i, a := range in.Args {
		r, ok := a.(x86asm.Reg)
		if !ok || !isSP(r) || !writesArg(in, i) {
			continue
		}
		switch {
		case i != 0 || r != x86asm.RSP:
		case in.Op == x86asm.SUB || in.Op == x86asm.ADD:
			if imm, ok := in.Args[1].(x86asm.Imm); ok {
				if in.Op == x86asm.SUB {
					return int(imm), true
				}
				return -int(imm), true
			}
		case in.Op == x86asm.LEA:
			if m, ok := in.Args[1].(x86asm.Mem); ok && m.Base == x86asm.RSP && m.Index == 0 && m.Segment == 0 {
				return -int(int32(m.Disp)), true
			}
		}
		return 0, false
	}
	return 0, true
}

// stackWrite describes a store of in, at stack depth d, outside the bytes
// the entry pushed: into the return address or the caller's frame, below
// the stack pointer, or at an address the verifier cannot bound.
func stackWrite(in *inst, d int) (string, bool) {
	for i, a := range in.Args {
		m, ok := a.(x86asm.Mem)
		if !ok || !writesArg(in, i) || !(isSP(m.Base) || isSP(m.Index)) || in.Op == x86asm.PUSH {
			continue
		}
		disp := int(int32(m.Disp))
		width, sized := accessWidth(in)
		if in.Op == x86asm.POP {
			// POP computes its destination with SP already incremented.
			disp += popSize(in)
		}
		switch {
		case !sized:
			return fmt.Sprintf("%s stores to %s an amount the verifier cannot size", in.Op, memString(m)), true
		case m.Index != 0 || !isSP(m.Base):
			return fmt.Sprintf("stores to the stack through an index register (%s): the verifier cannot bound it", memString(m)), true
		case disp < 0:
			return fmt.Sprintf("stores %d bytes at %d(SP), below the stack pointer, where a signal handler may write", width, disp), true
		case disp+width > d:
			return fmt.Sprintf("stores %d bytes at %d(SP) with %d bytes pushed: into the return address or the caller's frame", width, disp, d), true
		}
	}
	return "", false
}

// writesArg reports whether in writes its i-th argument: the first for
// nearly every instruction, both of an exchange; never for a comparison.
func writesArg(in *inst, i int) bool {
	switch in.Op {
	case x86asm.CMP, x86asm.TEST, x86asm.BT, x86asm.PUSH, x86asm.NOP, x86asm.LEA, x86asm.PREFETCHNTA, x86asm.PREFETCHT0,
		x86asm.PREFETCHT1, x86asm.PREFETCHT2, x86asm.PREFETCHW, x86asm.CLFLUSH, x86asm.LDMXCSR, x86asm.PTEST,
		x86asm.COMISD, x86asm.COMISS, x86asm.UCOMISD, x86asm.UCOMISS, x86asm.FXRSTOR, x86asm.FXRSTOR64,
		x86asm.XRSTOR, x86asm.XRSTOR64, x86asm.XRSTORS, x86asm.XRSTORS64, x86asm.FLDCW, x86asm.FLDENV, x86asm.FRSTOR,
		x86asm.JMP, x86asm.CALL,
		// The string comparisons read both operands; SCAS compares AX.
		x86asm.CMPSB, x86asm.CMPSW, x86asm.CMPSD, x86asm.CMPSQ, x86asm.SCASB, x86asm.SCASW, x86asm.SCASD, x86asm.SCASQ:
		return i == 0 && in.Op == x86asm.LEA
	case x86asm.XCHG, x86asm.XADD:
		return i <= 1
	}
	return i == 0
}

// memString shows a memory operand in Go syntax.
func memString(m x86asm.Mem) string {
	s := ""
	if d := int32(m.Disp); d != 0 {
		s = fmt.Sprint(d)
	}
	if m.Base != 0 {
		s += "(" + regName(m.Base) + ")"
	}
	if m.Index != 0 {
		s += fmt.Sprintf("(%s*%d)", regName(m.Index), m.Scale)
	}
	return s
}

// regName is a register's Go assembler name.
func regName(r x86asm.Reg) string {
	if r >= x86asm.RAX && r <= x86asm.R15 {
		return [...]string{"AX", "CX", "DX", "BX", "SP", "BP", "SI", "DI", "R8", "R9", "R10", "R11", "R12", "R13", "R14", "R15"}[r-x86asm.RAX]
	}
	return r.String()
}

// popSize is how many bytes POP takes off the stack.
func popSize(in *inst) int {
	if in.DataSize == 16 {
		return 2
	}
	return 8
}

// accessWidth is how many bytes in's memory operand covers, and false
// where it is not the operand's size: the x87 and SSE state saves and
// restores (x86asm leaves their size 0), XSAVE's, which depends on
// XCR0, and the like.
func accessWidth(in *inst) (int, bool) {
	switch in.Op {
	case x86asm.FXSAVE, x86asm.FXSAVE64, x86asm.FXRSTOR, x86asm.FXRSTOR64:
		return 512, true
	case x86asm.FNSAVE, x86asm.FRSTOR:
		return 108, true
	case x86asm.FNSTENV, x86asm.FLDENV:
		return 28, true
	}
	if in.MemBytes > 0 {
		return in.MemBytes, true
	}
	if _, ok := stringOps[in.Op]; ok {
		return memWidth(in), true
	}
	return 0, false
}
