package verify

import (
	"fmt"
	"sort"
	"strings"

	"golang.org/x/arch/x86/x86asm"

	"github.com/vdsogen/vdsogen/layout"
	"github.com/vdsogen/vdsogen/marker"
)

// The flow rule builds every entry's control-flow graph from the bytes and
// refuses whatever control flow it cannot prove safe: a reachable trap (the
// filler, a region's signature, an invalid byte), an instruction that
// leaves the image or the CPU's user mode, a path that runs off the end of
// its entry. The stack, regions and pages rules follow the graphs it
// returns; nothing else decides what is reachable.

// edgeKind says how control moves along an edge.
type edgeKind int

const (
	edgeNext   edgeKind = iota // falls through to the next instruction
	edgeBranch                 // a taken branch inside the entry
	edgeTail                   // a jump or conditional branch to another entry's start
	edgeAbort                  // a restart from a region's critical section to its abort handler
)

type edge struct {
	to   int
	kind edgeKind
	// region is the region an abort edge restarts.
	region *layout.Region
}

// graph is the control flow of one entry of one variant: the instructions
// reached from its start (and from its regions' abort handlers, which a
// restart reaches) and the edges between them.
type graph struct {
	im *image
	e  layout.Entry
	// reached lists the offsets of the reached instructions, sorted.
	reached []int
	succ    map[int][]edge
	// calls maps the offset of a CALL rel32 to the entries it may call:
	// its target, and at a static-call site every target a loader may
	// choose.
	calls map[int][]layout.Entry
}

// flowResult holds every graph, by variant name and entry offset.
type flowResult struct {
	graphs map[string]map[int]*graph
}

func (fr *flowResult) graph(im *image, e layout.Entry) *graph {
	return fr.graphs[im.v.Name][e.Offset]
}

// flowClass is what an instruction does to control.
type flowClass int

const (
	flowNext    flowClass = iota // falls through
	flowCond                     // branches to its target or falls through
	flowJump                     // branches to its target
	flowCall                     // calls its target, then falls through
	flowReturn                   // returns to the caller
	flowTrap                     // traps: never executed on purpose
	flowRefused                  // the verifier does not allow it
)

// classify says what in does to control, and why it is refused or traps.
func classify(in *inst) (flowClass, string) {
	if in.bad {
		return flowTrap, "bytes that do not decode as an instruction (#UD)"
	}
	_, rel := relTarget(in)
	if why, ok := lockProblem(in); ok {
		return flowTrap, why
	}
	if isControl(in.Op) && in.DataSize == 16 {
		// Intel ignores the prefix on a near branch; AMD takes a 16-bit
		// displacement or return address and truncates RIP to 16 bits:
		// the bytes mean different code on different CPUs.
		return flowRefused, fmt.Sprintf("%s with an operand-size prefix (0x66): AMD CPUs truncate the target to 16 bits, Intel CPUs ignore the prefix", in.Op)
	}
	switch in.Op {
	case x86asm.INT, x86asm.INTO, x86asm.ICEBP:
		if isINT3(in) {
			return flowTrap, "INT3, a breakpoint trap (what fills the space no code may reach)"
		}
		return flowTrap, fmt.Sprintf("%s, a software interrupt", in.Op)
	case x86asm.UD0, x86asm.UD1, x86asm.UD2:
		return flowTrap, fmt.Sprintf("%s, an undefined-instruction trap (#UD)", in.Op)
	case x86asm.HLT:
		return flowTrap, "HLT, a privileged instruction (#GP in user mode)"
	case x86asm.JMP:
		if !rel {
			return flowRefused, "an indirect JMP: every branch must be direct"
		}
		return flowJump, ""
	case x86asm.CALL:
		if !rel {
			return flowRefused, "an indirect CALL: every call must be direct"
		}
		return flowCall, ""
	case x86asm.RET:
		if len(in.Args) > 0 && in.Args[0] != nil {
			return flowRefused, "RET with an immediate pops the caller's arguments: the C ABI has none on the stack"
		}
		return flowReturn, ""
	case x86asm.JCXZ, x86asm.JECXZ, x86asm.JRCXZ, x86asm.LOOP, x86asm.LOOPE, x86asm.LOOPNE:
		return flowCond, ""
	case x86asm.SYSCALL:
		return flowNext, ""
	case x86asm.LCALL, x86asm.LJMP, x86asm.LRET, x86asm.IRET, x86asm.IRETD, x86asm.IRETQ:
		return flowRefused, fmt.Sprintf("%s, a far control transfer", in.Op)
	case x86asm.SYSENTER, x86asm.SYSEXIT, x86asm.SYSRET:
		return flowRefused, fmt.Sprintf("%s: the only system call instruction allowed is SYSCALL", in.Op)
	case x86asm.XBEGIN, x86asm.XABORT, x86asm.XEND:
		return flowRefused, fmt.Sprintf("%s, a transaction whose abort branches where the verifier does not follow", in.Op)
	case x86asm.ENTER, x86asm.LEAVE:
		return flowRefused, fmt.Sprintf("%s, a frame instruction: the image has no frame pointer (use PUSH/POP or ADD/SUB of a constant)", in.Op)
	case x86asm.STD:
		return flowRefused, "STD: the C ABI requires the direction flag clear"
	case x86asm.POPF, x86asm.POPFD, x86asm.POPFQ:
		return flowRefused, fmt.Sprintf("%s loads the flags from the stack: the verifier cannot prove it leaves DF clear (the C ABI) and TF and AC unset", in.Op)
	}
	if why, ok := privileged[in.Op]; ok {
		return flowRefused, fmt.Sprintf("%s, %s", in.Op, why)
	}
	if why, ok := callerFPUState(in); ok {
		return flowRefused, why
	}
	for _, a := range in.Args {
		if r, ok := a.(x86asm.Reg); ok && (r >= x86asm.ES && r <= x86asm.GS || r >= x86asm.CR0 && r <= x86asm.TR7 || r >= x86asm.GDTR && r <= x86asm.TASK) {
			return flowRefused, fmt.Sprintf("%s uses %s, a segment, control or debug register", in.Op, r)
		}
	}
	if x86asm.JA <= in.Op && in.Op <= x86asm.JS {
		return flowCond, ""
	}
	return flowNext, ""
}

// isControl reports whether op is a near control transfer.
func isControl(op x86asm.Op) bool {
	switch op {
	case x86asm.JMP, x86asm.CALL, x86asm.RET, x86asm.JCXZ, x86asm.JECXZ, x86asm.JRCXZ, x86asm.LOOP, x86asm.LOOPE, x86asm.LOOPNE:
		return true
	}
	return isJcc(op)
}

// lockable are the instructions a LOCK prefix may precede, with a memory
// destination; any other LOCK raises #UD.
var lockable = map[x86asm.Op]bool{
	x86asm.ADD: true, x86asm.ADC: true, x86asm.AND: true, x86asm.BTC: true, x86asm.BTR: true, x86asm.BTS: true,
	x86asm.CMPXCHG: true, x86asm.CMPXCHG8B: true, x86asm.CMPXCHG16B: true, x86asm.DEC: true, x86asm.INC: true,
	x86asm.NEG: true, x86asm.NOT: true, x86asm.OR: true, x86asm.SBB: true, x86asm.SUB: true, x86asm.XOR: true,
	x86asm.XADD: true, x86asm.XCHG: true,
}

// lockProblem says why in's LOCK prefix traps: x86asm decodes LOCK before
// any instruction, the CPU raises #UD unless the instruction is a
// read-modify-write of memory.
func lockProblem(in *inst) (string, bool) {
	for _, p := range in.Prefix {
		if p == 0 {
			break
		}
		if p&^(x86asm.PrefixImplicit|x86asm.PrefixIgnored|x86asm.PrefixInvalid) != x86asm.PrefixLOCK {
			continue
		}
		if _, mem := in.Args[0].(x86asm.Mem); !lockable[in.Op] || !mem {
			return fmt.Sprintf("LOCK %s, a LOCK prefix on an instruction that is not a read-modify-write of memory (#UD)", in.Op), true
		}
	}
	return "", false
}

// callerFPUState says why in would change floating-point state the
// caller owns, which the C ABI has preserved across a call: the x87
// control word and MXCSR (loads of them, FNINIT, the state restores),
// the x87 register stack (empty at every call and return; the verifier
// does not follow it) and the x87 unit's mode (MMX instructions switch it
// to MMX). Saving state (FXSAVE, FNSTCW, FNSTSW) only reads it.
func callerFPUState(in *inst) (string, bool) {
	switch in.Op {
	case x86asm.LDMXCSR, x86asm.FXRSTOR, x86asm.FXRSTOR64, x86asm.XRSTOR, x86asm.XRSTOR64, x86asm.XRSTORS, x86asm.XRSTORS64:
		return fmt.Sprintf("%s, a load of floating-point control state the caller owns (the C ABI preserves MXCSR and the x87 control word)", in.Op), true
	case x86asm.FXSAVE, x86asm.FXSAVE64, x86asm.FNSTCW, x86asm.FNSTSW:
		return "", false
	}
	if strings.HasPrefix(in.Op.String(), "F") {
		return fmt.Sprintf("%s, an x87 instruction: the verifier does not follow the x87 register stack and control word, which the C ABI requires as the caller left them", in.Op), true
	}
	for _, a := range in.Args {
		if r, ok := a.(x86asm.Reg); ok && r >= x86asm.M0 && r <= x86asm.M7 {
			return fmt.Sprintf("%s uses %s, an MMX register: it switches the x87 unit to MMX mode, which the C ABI requires left in x87 mode", in.Op, r), true
		}
	}
	return "", false
}

// privileged are the instructions that fault in user mode, or change
// state the vDSO's caller owns; none belongs in a vDSO.
var privileged = map[x86asm.Op]string{
	x86asm.CLI: "privileged", x86asm.STI: "privileged", x86asm.CLTS: "privileged",
	x86asm.IN: "port I/O", x86asm.INSB: "port I/O", x86asm.INSW: "port I/O", x86asm.INSD: "port I/O",
	x86asm.OUT: "port I/O", x86asm.OUTSB: "port I/O", x86asm.OUTSW: "port I/O", x86asm.OUTSD: "port I/O",
	x86asm.INVD: "privileged", x86asm.WBINVD: "privileged", x86asm.INVLPG: "privileged", x86asm.INVPCID: "privileged",
	x86asm.LGDT: "privileged", x86asm.LIDT: "privileged", x86asm.LLDT: "privileged", x86asm.LTR: "privileged", x86asm.LMSW: "privileged",
	x86asm.SGDT: "a system-table store", x86asm.SIDT: "a system-table store", x86asm.SLDT: "a system-table store", x86asm.STR: "a system-table store", x86asm.SMSW: "a system-register store",
	x86asm.RDMSR: "privileged", x86asm.WRMSR: "privileged", x86asm.RDPMC: "a performance counter read that faults unless the kernel allows it",
	x86asm.SWAPGS: "privileged", x86asm.MONITOR: "privileged", x86asm.MWAIT: "privileged", x86asm.XSETBV: "privileged", x86asm.RSM: "privileged",
	x86asm.WRFSBASE: "a write of the thread pointer", x86asm.WRGSBASE: "a write of a segment base",
	x86asm.LDS: "a segment load", x86asm.LES: "a segment load", x86asm.LFS: "a segment load", x86asm.LGS: "a segment load", x86asm.LSS: "a segment load",
	x86asm.LAR: "a segment query", x86asm.LSL: "a segment query", x86asm.VERR: "a segment query", x86asm.VERW: "a segment query",
	x86asm.POPA: "invalid in 64-bit mode", x86asm.POPAD: "invalid in 64-bit mode", x86asm.PUSHA: "invalid in 64-bit mode", x86asm.PUSHAD: "invalid in 64-bit mode",
}

// flow builds the graph of every entry of every variant and reports the
// control flow it refuses.
func flow(p *Pass) *flowResult {
	fr := &flowResult{graphs: map[string]map[int]*graph{}}
	for _, im := range p.images {
		fr.graphs[im.v.Name] = map[int]*graph{}
		for _, e := range im.entries {
			fr.graphs[im.v.Name][e.Offset] = buildGraph(p, im, e)
		}
	}
	return fr
}

// buildGraph follows control from e's start, and from the abort handler of
// each of its regions once the region is reached.
func buildGraph(p *Pass, im *image, e layout.Entry) *graph {
	g := &graph{im: im, e: e, succ: map[int][]edge{}, calls: map[int][]layout.Entry{}}
	end := e.Offset + e.Size
	if end > len(im.b) {
		return g // Entries reports it
	}
	var regions []*layout.Region
	for i := range im.v.Regions {
		if r := &im.v.Regions[i]; r.Entry == e.Name {
			regions = append(regions, r)
		}
	}
	seen := map[int]bool{}
	work := []int{e.Offset}
	for len(work) > 0 {
		off := work[len(work)-1]
		work = work[:len(work)-1]
		if seen[off] {
			continue
		}
		seen[off] = true
		in := im.instAt(off)
		if in == nil {
			continue // a target inside an instruction: Reach reports it
		}
		g.reached = append(g.reached, off)
		var out []edge
		add := func(ed edge) {
			out = append(out, ed)
			if ed.kind != edgeTail {
				work = append(work, ed.to)
			}
		}
		// A target outside the entry that is not another entry's start
		// is Reach's finding; the graph stops there.
		branch := func(t int) {
			if s, ok := insideChoiceSite(im, t); ok {
				p.errorf(im, off, nil, "%s goes to %#x, inside %s %s [%#x, %#x): a loader may put another choice there, whose instructions start elsewhere", in.Op, t, s.Kind, s.Key, s.Offset, s.Offset+len(s.Bytes))
				return
			}
			if t >= e.Offset && t < end {
				add(edge{to: t, kind: edgeBranch})
				return
			}
			if te, ok := im.entryStarting(t); ok && te.Name != e.Name {
				add(edge{to: t, kind: edgeTail})
			}
		}
		next := func() {
			switch n := in.end(); {
			case n < end:
				add(edge{to: n, kind: edgeNext})
			default:
				p.errorf(im, off, nil, "control falls through past the end of entry %s at %#x: the last instruction of every path must be RET or JMP", e.Name, end)
			}
		}
		class, why := classify(in)
		switch class {
		case flowTrap:
			p.errorf(im, off, nil, "control reaches %s%s", why, signatureNote(im, off))
		case flowRefused:
			if _, rel := relTarget(in); !rel && (in.Op == x86asm.JMP || in.Op == x86asm.CALL) {
				break // Reach reports indirect branches on every instruction
			}
			p.errorf(im, off, nil, "control reaches %s", why)
		case flowNext:
			next()
		case flowCond:
			if t, ok := relTarget(in); ok {
				branch(t)
			}
			next()
		case flowJump:
			if t, ok := relTarget(in); ok {
				branch(t)
			}
		case flowCall:
			t, _ := relTarget(in)
			if ce, ok := im.entryStarting(t); ok {
				g.calls[off] = callees(im, off, ce)
			} else if t >= 0 && t < len(im.b) && im.boundary(t) {
				p.errorf(im, off, nil, "CALL %#x: only an entry's start may be called (a call elsewhere would run code with the stack the verifier did not follow)", t)
				break
			}
			next()
		case flowReturn:
		}
		// Every instruction of a region's critical section can be
		// restarted at the region's abort handler.
		for _, r := range regions {
			if r.Contains(off) && r.Abort >= e.Offset && r.Abort < end {
				add(edge{to: r.Abort, kind: edgeAbort, region: r})
			}
		}
		g.succ[off] = out
	}
	sort.Ints(g.reached)
	return g
}

// signatureNote says so when off is a region's signature.
func signatureNote(im *image, off int) string {
	for _, r := range im.v.Regions {
		if in := im.covering(r.Abort - 1); in != nil && in.off == off {
			return fmt.Sprintf(": it is region %s's signature, which no control may fall or branch into", r.Name)
		}
	}
	return ""
}

// callees are the entries the CALL at off may call: cur, and every choice
// of a site there whose kind Calls (a loader may re-target it).
func callees(im *image, off int, cur layout.Entry) []layout.Entry {
	out := []layout.Entry{cur}
	for _, s := range im.v.Sites {
		if !marker.TraitsOf(s.Kind).Calls || s.Offset != off {
			continue
		}
		for _, c := range s.Choices {
			if ce, ok := im.entryStarting(c.Offset); ok && ce.Name != cur.Name {
				out = append(out, ce)
			}
		}
	}
	return out
}

// insideChoiceSite returns the site whose bytes strictly contain off and
// whose kind has Choices: a loader may apply another choice there (from
// the replacement pool, or re-targeted), whatever the image holds.
func insideChoiceSite(im *image, off int) (layout.Site, bool) {
	for _, s := range im.v.Sites {
		if marker.TraitsOf(s.Kind).Choices && off > s.Offset && off < s.Offset+len(s.Bytes) {
			return s, true
		}
	}
	return layout.Site{}, false
}
