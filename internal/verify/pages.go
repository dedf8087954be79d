package verify

import (
	"fmt"
	"strings"

	"golang.org/x/arch/x86/x86asm"

	"github.com/vdsogen/vdsogen/layout"
	"github.com/vdsogen/vdsogen/marker"
)

// The pages rule is a small abstract interpretation over each entry's
// control-flow graph. It tracks which registers hold a declared data page's
// address plus an offset (from LEAQ page+off(SB), copies, ADD or SUB of
// bounded values) and which hold small numbers (a constant, a value
// compared to a constant before a conditional branch, a mask, a shift of
// one), and refuses:
//
//   - any store, read-modify-write or exchange whose address is in a data
//     page: the kernel maps vvar read-only, and in Go-stub mode the page is
//     a Go global a store would corrupt;
//   - any access through a page address that is not inside the page's
//     declared size for its full width, or whose offset it cannot bound;
//   - any access through a register that may hold a page address the
//     interpretation lost track of (it went through memory, a 32-bit
//     register, or an instruction it does not model);
//   - a call or tail jump to another entry with a page address in a
//     register or in memory: an entry starts with none.
//
// Paths join at merges (a register is only as known as on every path), a
// loop widens after a few rounds, a CALL returns with what the callee's RETs
// leave, and an alternative site runs every one of its choices.

// vkind is what the interpretation knows of a value.
type vkind uint8

const (
	vScalar  vkind = iota // derived from no page: an argument, a constant, a loaded value
	vPage                 // a declared page's address plus an offset
	vTainted              // may hold a page's address at an offset no one can tell
)

// val is the abstract value of one register.
type val struct {
	kind vkind
	page int // index in Table.Pages (vPage)
	// known says lo..hi bound the value (vScalar) or the offset into the
	// page (vPage).
	known  bool
	lo, hi int64
	// low32: the bounds hold for the low 32 bits only (a 32-bit compare).
	low32 bool
}

// bigBound keeps intervals far from overflow: a bound past it is unknown.
const bigBound = 1 << 40

func scalar(lo, hi int64) val {
	if lo > hi || lo < -bigBound || hi > bigBound {
		return val{}
	}
	return val{known: true, lo: lo, hi: hi}
}

func (v val) derived() bool { return v.kind != vScalar }

func (v val) full() bool { return v.kind == vScalar && v.known && !v.low32 }

func join(a, b val) val {
	switch {
	case a == b:
		return a
	case a.kind == vTainted || b.kind == vTainted:
		return val{kind: vTainted}
	case a.kind != b.kind:
		return val{kind: vTainted}
	case a.kind == vPage && a.page != b.page:
		return val{kind: vTainted}
	case !a.known || !b.known || a.low32 != b.low32:
		return val{kind: a.kind, page: a.page}
	}
	return val{kind: a.kind, page: a.page, known: true, lo: min(a.lo, b.lo), hi: max(a.hi, b.hi), low32: a.low32}
}

// widen forgets the bounds of a value that keeps changing in a loop.
func widen(old, v val) val {
	if old == v || !v.known {
		return v
	}
	return val{kind: v.kind, page: v.page}
}

// Register families: the 16 general registers by number, then the vector,
// MMX, x87 and mask registers; -1 for the rest.
const (
	famVec  = 16
	famMMX  = famVec + 32
	famX87  = famMMX + 8
	famMask = famX87 + 8
	numFam  = famMask + 8
)

// regFamilies numbers each run of x86asm's registers from its first
// register's family: AH..BH are the high bytes of AX..BX, SPB..R15B the
// low bytes of SP..R15, and X, Y and Z registers of one number overlap.
var regFamilies = []struct {
	first, last x86asm.Reg
	family      int
}{
	{x86asm.AL, x86asm.BL, 0},
	{x86asm.AH, x86asm.BH, 0},
	{x86asm.SPB, x86asm.R15B, 4},
	{x86asm.AX, x86asm.R15W, 0},
	{x86asm.EAX, x86asm.R15L, 0},
	{x86asm.RAX, x86asm.R15, 0},
	{x86asm.X0, x86asm.X31, famVec},
	{x86asm.Y0, x86asm.Y31, famVec},
	{x86asm.Z0, x86asm.Z31, famVec},
	{x86asm.M0, x86asm.M7, famMMX},
	{x86asm.F0, x86asm.F7, famX87},
	{x86asm.K0, x86asm.K7, famMask},
}

func family(r x86asm.Reg) int {
	for _, f := range regFamilies {
		if r >= f.first && r <= f.last {
			return f.family + int(r-f.first)
		}
	}
	return -1
}

// width is a general register's width in bits, 0 for any other register.
func width(r x86asm.Reg) int {
	switch {
	case r >= x86asm.AL && r <= x86asm.R15B:
		return 8
	case r >= x86asm.AX && r <= x86asm.R15W:
		return 16
	case r >= x86asm.EAX && r <= x86asm.R15L:
		return 32
	case r >= x86asm.RAX && r <= x86asm.R15:
		return 64
	}
	return 0
}

var famNames = [...]string{"AX", "CX", "DX", "BX", "SP", "BP", "SI", "DI", "R8", "R9", "R10", "R11", "R12", "R13", "R14", "R15"}

func famName(f int) string {
	switch {
	case f < 0:
		return "?"
	case f < famVec:
		return famNames[f]
	case f < famMMX:
		return fmt.Sprintf("X%d", f-famVec)
	case f < famX87:
		return fmt.Sprintf("M%d", f-famMMX)
	case f < famMask:
		return fmt.Sprintf("F%d", f-famX87)
	}
	return fmt.Sprintf("K%d", f-famMask)
}

// cond is an unsigned comparison of a register with a constant that the
// flags hold just after CMP.
type cond struct {
	fam, width int
	k          int64
}

// pstate is the abstract machine state before an instruction.
type pstate struct {
	regs [numFam]val
	// mem: a page address was stored to memory; a load may return it.
	mem bool
	// cmp is what the flags say when the last instruction was CMP reg, $k.
	cmp *cond
	// stk has the bit of every general register that may hold an
	// address computed from SP; stkMem: one was stored to memory (see
	// stackaddr.go).
	stk    uint16
	stkMem bool
	// orig: the family whose value at the entry's start each general
	// register holds plus an integer, plus one; 0 for none (see
	// provenance.go).
	orig [famVec]int8
}

func joinState(a, b *pstate) *pstate {
	out := &pstate{mem: a.mem || b.mem, stk: a.stk | b.stk, stkMem: a.stkMem || b.stkMem}
	for i := range a.regs {
		out.regs[i] = join(a.regs[i], b.regs[i])
	}
	if a.cmp != nil && b.cmp != nil && *a.cmp == *b.cmp {
		out.cmp = a.cmp
	}
	for f := range a.orig {
		if a.orig[f] == b.orig[f] {
			out.orig[f] = a.orig[f]
		}
	}
	return out
}

func (s *pstate) equal(o *pstate) bool {
	return s.regs == o.regs && s.mem == o.mem && s.stk == o.stk && s.stkMem == o.stkMem && s.orig == o.orig && (s.cmp == nil) == (o.cmp == nil) && (s.cmp == nil || *s.cmp == *o.cmp)
}

// derivedReg returns a register or memory that may hold a page address.
func (s *pstate) derivedReg() (string, bool) {
	for f, v := range s.regs {
		if v.derived() {
			return famName(f), true
		}
	}
	if s.mem {
		return "memory (a page address was stored)", true
	}
	return "", false
}

// pageCheck is one entry's interpretation.
type pageCheck struct {
	p     *Pass
	im    *image
	g     *graph
	pages []layout.Page
	// alts are the alternative sites of the image by offset: the
	// interpretation runs every choice there.
	alts map[int]*layout.Site
	// summary memoises, by entry offset, the state every RET of an
	// entry leaves (nil while it is being computed).
	summary map[int]*pstate
	fr      *flowResult
	// via memoises, by entry offset, the argument registers (as
	// received) an entry stores through, its callees' included;
	// storesVia gathers this entry's.
	via       map[int]uint16
	storesVia uint16
	// ptrs are the argument registers that may hold a pointer, by the
	// entry's signature.
	ptrs uint16
	// report is set on the final pass, when the states are fixed.
	report bool
}

// pages runs the interpretation on every entry of every variant, and
// checks the page operands of the assembly text when the input has it.
func pages(p *Pass, fr *flowResult) {
	asmPageRefs(p)
	for _, im := range p.images {
		alts := map[int]*layout.Site{}
		for i := range im.v.Sites {
			if s := &im.v.Sites[i]; marker.TraitsOf(s.Kind).PoolChoices && len(s.Choices) > 0 {
				alts[s.Offset] = s
			}
		}
		summary := map[int]*pstate{}
		via := map[int]uint16{}
		for _, e := range im.entries {
			g := fr.graph(im, e)
			if g == nil {
				continue
			}
			pc := &pageCheck{p: p, im: im, g: g, pages: p.In.Table.Pages, alts: alts, summary: summary, via: via, fr: fr, ptrs: pointerArgs(e.Signature)}
			pc.run()
		}
	}
}

// entrySummary is what the registers hold after a CALL of e returns.
func (pc *pageCheck) entrySummary(e layout.Entry) *pstate {
	if s, ok := pc.summary[e.Offset]; ok {
		if s == nil { // a call cycle: stack reports it
			return tainted()
		}
		return s
	}
	pc.summary[e.Offset] = nil
	g := pc.fr.graph(pc.im, e)
	if g == nil {
		return tainted()
	}
	sub := &pageCheck{p: pc.p, im: pc.im, g: g, pages: pc.pages, alts: pc.alts, summary: pc.summary, via: pc.via, fr: pc.fr, ptrs: pointerArgs(e.Signature)}
	states := sub.fixpoint()
	pc.via[e.Offset] = sub.storesVia
	var out *pstate
	for _, off := range g.reached {
		if in := pc.im.instAt(off); in != nil && in.Op == x86asm.RET && states[off] != nil {
			s := *states[off]
			s.cmp = nil
			if out == nil {
				out = &s
			} else {
				out = joinState(out, &s)
			}
		}
	}
	if out == nil {
		out = tainted()
	}
	pc.summary[e.Offset] = out
	return out
}

// entryVia is the argument registers entry e stores through; every one
// while e is being interpreted (a call cycle).
func (pc *pageCheck) entryVia(e layout.Entry) uint16 {
	pc.entrySummary(e)
	if v, ok := pc.via[e.Offset]; ok {
		return v
	}
	return argMask
}

func tainted() *pstate {
	s := &pstate{mem: true, stk: allGP, stkMem: true}
	for i := range s.regs {
		s.regs[i] = val{kind: vTainted}
	}
	return s
}

func (pc *pageCheck) run() {
	states := pc.fixpoint()
	pc.report = true
	for _, off := range pc.g.reached {
		if s := states[off]; s != nil && !pc.insideAlt(off) {
			pc.step(off, s)
		}
	}
}

// insideAlt reports whether off is inside (not at the start of) an
// alternative site, whose code the interpretation takes from the choices.
func (pc *pageCheck) insideAlt(off int) bool {
	for start, s := range pc.alts {
		if off > start && off < start+len(s.Bytes) {
			return true
		}
	}
	return false
}

// fixpoint computes the state before every reached instruction.
func (pc *pageCheck) fixpoint() map[int]*pstate {
	states := map[int]*pstate{pc.g.e.Offset: entryState()}
	visits := map[int]int{}
	work := []int{pc.g.e.Offset}
	queued := map[int]bool{pc.g.e.Offset: true}
	for len(work) > 0 {
		off := work[0]
		work = work[1:]
		queued[off] = false
		for _, o := range pc.step(off, states[off]) {
			old, ok := states[o.to]
			next := o.s
			if ok {
				next = joinState(old, o.s)
				if next.equal(old) {
					continue
				}
				if visits[o.to]++; visits[o.to] > 8 {
					for i := range next.regs {
						next.regs[i] = widen(old.regs[i], next.regs[i])
					}
				}
			}
			states[o.to] = next
			if !queued[o.to] {
				queued[o.to] = true
				work = append(work, o.to)
			}
		}
	}
	return states
}

type outEdge struct {
	to int
	s  *pstate
}

// step interprets the instruction at off from state s: it returns the
// state along each edge out of it and, on the final pass, reports what it
// refuses.
func (pc *pageCheck) step(off int, s *pstate) []outEdge {
	im := pc.im
	in := im.instAt(off)
	if in == nil || in.bad || s == nil {
		return nil
	}
	var out []outEdge
	after := *s
	after.cmp = nil
	if site, ok := pc.alts[off]; ok {
		// Every choice the loader may apply, from the same state.
		var joined *pstate
		for _, c := range site.Choices {
			cs := pc.choice(site, c, s)
			if joined == nil {
				joined = cs
			} else {
				joined = joinState(joined, cs)
			}
		}
		if end := off + len(site.Bytes); end < pc.g.e.Offset+pc.g.e.Size {
			out = append(out, outEdge{end, joined})
		}
		return out
	}
	pc.exec(in, in.off, &after)
	if ces, ok := pc.g.calls[off]; ok {
		// What every callee a loader may choose leaves.
		pc.entryCall(in, s, "calls entry "+ces[0].Name)
		for _, ce := range ces {
			pc.checkCallOrigins(in.off, s, "calls entry "+ce.Name, pc.entryVia(ce))
		}
		sum := pc.entrySummary(ces[0])
		for _, ce := range ces[1:] {
			sum = joinState(sum, pc.entrySummary(ce))
		}
		after.regs, after.mem = sum.regs, sum.mem
		after.stk, after.stkMem = sum.stk, sum.stkMem || s.stkMem
		after.orig = afterCall(sum, s)
	}
	next := in.end()
	for _, ed := range pc.g.succ[off] {
		switch ed.kind {
		case edgeTail:
			te, _ := im.entryStarting(ed.to)
			pc.entryCall(in, &after, branchVerb(in)+" to entry "+te.Name)
			pc.checkCallOrigins(in.off, &after, branchVerb(in)+" to entry "+te.Name, pc.entryVia(te))
		case edgeAbort:
			// A restart happens before the instruction completes.
			rs := *s
			rs.cmp = nil
			out = append(out, outEdge{ed.to, &rs})
		default:
			es := after
			if t, _ := relTarget(in); s.cmp != nil && isJcc(in.Op) && t != next {
				es = refine(es, *s.cmp, in.Op, ed.kind == edgeBranch)
			}
			out = append(out, outEdge{ed.to, &es})
		}
	}
	return out
}

func isJcc(op x86asm.Op) bool { return x86asm.JA <= op && op <= x86asm.JS }

// entryCall refuses a transfer to another entry with a page address held:
// the callee is checked from a start with none.
func (pc *pageCheck) entryCall(in *inst, s *pstate, what string) {
	if where, ok := s.derivedReg(); ok && pc.report {
		pc.p.errorf(pc.im, in.off, nil, "%s with a data page's address in %s: an entry is verified from a start with no page address anywhere", what, where)
	}
	for f := range famVec {
		if f != spFamily && s.fromSP(f) && pc.report {
			pc.p.errorf(pc.im, in.off, nil, "%s with an address computed from SP in %s: an entry is verified from a start with no stack address but SP", what, famName(f))
			break
		}
	}
}

// choice runs the code of choice c of an alternative site from state s,
// reporting at the choice's copy in the replacement pool.
func (pc *pageCheck) choice(site *layout.Site, c layout.Choice, s *pstate) *pstate {
	out := *s
	out.cmp = nil
	for off := 0; off < len(c.Bytes); {
		d, err := x86asm.Decode(c.Bytes[off:], 64)
		if err != nil || d.Len == 0 {
			return tainted() // the sites rule reports it
		}
		x := inst{off: c.Offset + off, Inst: d}
		if off < poolLen(pc.im, c) {
			pc.exec(&x, x.off, &out)
		} else {
			pc.exec(&x, -1, &out) // padding: nothing to point at
		}
		off += d.Len
	}
	return &out
}

// refine narrows the register a CMP compared along one edge of a Jcc.
func refine(s pstate, c cond, op x86asm.Op, taken bool) pstate {
	top := int64(bigBound)
	if c.width < 64 {
		top = int64(1)<<c.width - 1
	}
	lo, hi := int64(0), top
	switch op {
	case x86asm.JA: // >
		if taken {
			lo = c.k + 1
		} else {
			hi = c.k
		}
	case x86asm.JAE: // >=
		if taken {
			lo = c.k
		} else {
			hi = c.k - 1
		}
	case x86asm.JB: // <
		if taken {
			hi = c.k - 1
		} else {
			lo = c.k
		}
	case x86asm.JBE: // <=
		if taken {
			hi = c.k
		} else {
			lo = c.k + 1
		}
	case x86asm.JE:
		if !taken {
			return s
		}
		lo, hi = c.k, c.k
	case x86asm.JNE:
		if taken {
			return s
		}
		lo, hi = c.k, c.k
	default:
		return s
	}
	v := s.regs[c.fam]
	if v.derived() || lo > hi || c.k < 0 {
		return s
	}
	if c.width == 64 && hi == bigBound {
		return s // unbounded above: nothing learnt that helps
	}
	n := val{known: true, lo: lo, hi: hi, low32: c.width == 32}
	if c.width < 32 {
		return s // a partial register: the rest is unknown
	}
	if v.known && v.low32 == n.low32 {
		n.lo, n.hi = max(n.lo, v.lo), min(n.hi, v.hi)
		if n.lo > n.hi {
			return s
		}
	}
	if v.full() && c.width == 32 && v.lo >= 0 && v.hi <= 1<<32-1 {
		// A full value already within 32 bits: the refinement is of it.
		n.low32 = false
		n.lo, n.hi = max(n.lo, v.lo), min(n.hi, v.hi)
		if n.lo > n.hi {
			return s
		}
	}
	s.regs[c.fam] = n
	return s
}

// read is the value of argument a of in at its width.
func (pc *pageCheck) read(in *inst, a x86asm.Arg, s *pstate) val {
	switch a := a.(type) {
	case x86asm.Reg:
		f := family(a)
		if f < 0 {
			return val{}
		}
		v := s.regs[f]
		switch w := width(a); {
		case w == 64 || w == 0:
			if v.low32 {
				return val{}
			}
			return v
		case v.derived():
			return val{kind: vTainted}
		case w == 32 && v.known && (v.low32 || v.lo >= 0 && v.hi <= 1<<32-1):
			return val{known: true, lo: v.lo, hi: v.hi}
		case w == 32:
			return scalar(0, 1<<32-1)
		case w == 8 && a >= x86asm.AH && a <= x86asm.BH:
			return scalar(0, 255)
		default:
			if v.known && !v.low32 && v.lo >= 0 && v.hi < 1<<w {
				return v
			}
			return scalar(0, 1<<w-1)
		}
	case x86asm.Imm:
		k := int64(a)
		if in.DataSize == 32 && k < 0 {
			k &= 1<<32 - 1
		}
		// An absolute address of a page (MOVQ $page(SB), R) is one.
		if sym, o, ok := pc.im.resolve(uint64(k)); ok && k > 0 {
			for i, pg := range pc.pages {
				if pg.Symbol == sym {
					return val{kind: vPage, page: i, known: true, lo: o, hi: o}
				}
			}
		}
		return scalar(k, k)
	case x86asm.Mem:
		// A load: what the page holds is data; memory that may hold a
		// stored page address may return it.
		if pc.addr(in, a, s).derived() {
			return pc.loaded(in)
		}
		if s.mem {
			return val{kind: vTainted}
		}
		return pc.loaded(in)
	}
	return val{}
}

// loaded bounds a loaded value by the load's width.
func (pc *pageCheck) loaded(in *inst) val {
	switch in.MemBytes {
	case 1, 2, 4:
		if in.Op == x86asm.MOVZX || in.Op == x86asm.MOV || in.DataSize <= 32 && in.Op != x86asm.MOVSX && in.Op != x86asm.MOVSXD {
			return scalar(0, 1<<(8*in.MemBytes)-1)
		}
	}
	return val{}
}

// addr is the abstract address of memory operand m of in.
func (pc *pageCheck) addr(in *inst, m x86asm.Mem, s *pstate) val {
	disp := int64(int32(m.Disp))
	if m.Base == x86asm.RIP {
		rel := int64(in.end()) + disp
		if rel >= 0 && rel < int64(len(pc.im.b)) {
			return val{} // the image's own bytes (LEA of it: see effect)
		}
		sym, o, ok := pc.im.resolve(pc.im.addr + uint64(rel))
		if ok {
			for i, pg := range pc.pages {
				if pg.Symbol == sym {
					return val{kind: vPage, page: i, known: true, lo: o, hi: o}
				}
			}
		}
		return val{} // not a page: reach reports it
	}
	if m.Segment != 0 {
		return val{} // reach refuses it
	}
	base := val{known: true}
	if m.Base != 0 {
		base = pc.read(in, m.Base, s)
		if width(m.Base) != 64 && base.derived() {
			return val{kind: vTainted}
		}
	}
	a := add(base, scalar(disp, disp))
	if m.Index != 0 {
		idx := pc.read(in, m.Index, s)
		if width(m.Index) != 64 && width(m.Index) != 0 {
			idx = val{kind: idx.kind, page: idx.page}
		}
		if width(m.Index) == 0 { // a vector index (VSIB): unbounded
			idx = val{}
		}
		if idx.derived() {
			if m.Scale != 1 {
				return val{kind: vTainted}
			}
		} else if idx.known {
			idx = scalar(idx.lo*int64(m.Scale), idx.hi*int64(m.Scale))
		}
		a = add(a, idx)
	}
	return a
}

// add is the abstract sum of two values.
func add(a, b val) val {
	switch {
	case a.kind == vTainted || b.kind == vTainted || a.kind == vPage && b.kind == vPage:
		return val{kind: vTainted}
	case a.low32 || b.low32:
		if p := pick(a, b); p.derived() {
			return val{kind: p.kind, page: p.page}
		}
		return val{}
	case a.kind == vPage || b.kind == vPage:
		p, n := a, b
		if b.kind == vPage {
			p, n = b, a
		}
		if !p.known || !n.known {
			return val{kind: vPage, page: p.page}
		}
		r := scalar(p.lo+n.lo, p.hi+n.hi)
		r.kind, r.page = vPage, p.page
		if !r.known {
			return val{kind: vPage, page: p.page}
		}
		return r
	case a.known && b.known:
		return scalar(a.lo+b.lo, a.hi+b.hi)
	}
	return val{}
}

func pick(a, b val) val {
	if a.derived() {
		return a
	}
	return b
}

// pageRef names an offset range of page pg: "vdsoData+8", "vdsoData+40..216".
func pageRef(pg layout.Page, v val) string {
	if !v.known {
		return pg.Symbol + "+?"
	}
	if v.lo == v.hi {
		return fmt.Sprintf("%s%+d", pg.Symbol, v.lo)
	}
	return fmt.Sprintf("%s%+d..%+d", pg.Symbol, v.lo, v.hi)
}

// flatStringOperand reports whether m is a string instruction's implicit
// operand in its default segment: DS:(SI) or ES:(DI), both flat in 64-bit
// mode. x86asm shows the default segment; an override (FS:, GS:) is
// another segment, which reach refuses.
func flatStringOperand(in *inst, m x86asm.Mem) bool {
	if _, ok := stringOps[in.Op]; !ok || m.Index != 0 || m.Disp != 0 {
		return false
	}
	switch family(m.Base) {
	case 6: // SI
		return m.Segment == x86asm.DS
	case 7: // DI
		return m.Segment == x86asm.ES
	}
	return false
}

// stringOps address memory through SI, DI (and BX, AX) implicitly.
var stringOps = map[x86asm.Op][]int{
	x86asm.MOVSB: {6, 7}, x86asm.MOVSW: {6, 7}, x86asm.MOVSD: {6, 7}, x86asm.MOVSQ: {6, 7},
	x86asm.STOSB: {7}, x86asm.STOSW: {7}, x86asm.STOSD: {7}, x86asm.STOSQ: {7},
	x86asm.LODSB: {6}, x86asm.LODSW: {6}, x86asm.LODSD: {6}, x86asm.LODSQ: {6},
	x86asm.SCASB: {7}, x86asm.SCASW: {7}, x86asm.SCASD: {7}, x86asm.SCASQ: {7},
	x86asm.CMPSB: {6, 7}, x86asm.CMPSW: {6, 7}, x86asm.CMPSD: {6, 7}, x86asm.CMPSQ: {6, 7},
	x86asm.XLATB: {3}, x86asm.MASKMOVDQU: {7}, x86asm.MASKMOVQ: {7}, x86asm.MONITOR: {0},
}

// exec checks the memory accesses of in (at image offset at, -1 for none)
// against state s and applies its effect on the registers to s.
func (pc *pageCheck) exec(in *inst, at int, s *pstate) {
	before := *s
	s.cmp = nil
	// Memory accesses.
	if regs, ok := stringOps[in.Op]; ok {
		for _, f := range regs {
			if before.regs[f].derived() {
				pc.errorf(at, "%s addresses memory through %s implicitly, which may hold a data page's address: the verifier does not bound a string instruction's implicit operands (CX elements under REP), so none may touch a data page (read its fields with MOV)", in.Op, famNames[f])
			}
		}
	}
	pc.trackSP(in, at, &before, s)
	for i, a := range in.Args {
		m, ok := a.(x86asm.Mem)
		if !ok || in.Op == x86asm.LEA || in.Op == x86asm.NOP || strings.HasPrefix(in.Op.String(), "PREFETCH") {
			continue
		}
		v := pc.addr(in, m, &before)
		write := writesArg(in, i)
		if write && in.Op != x86asm.PUSH && pc.storedDerived(in, i, &before) {
			s.mem = true
		}
		if in.Op == x86asm.PUSH || in.Op == x86asm.POP {
			// PUSH mem reads m; POP mem writes it.
			write = in.Op == x86asm.POP
		}
		pc.access(in, at, m, v, write)
	}
	if in.Op == x86asm.PUSH {
		if v := pc.read(in, in.Args[0], &before); v.derived() {
			s.mem = true
		}
	}
	pc.checkStoreOrigins(in, at, &before)
	pc.effect(in, &before, s)
	trackOrigin(in, &before, s, pc.ptrs)
}

// storedDerived reports whether the value in stores through argument i may
// be a page address.
func (pc *pageCheck) storedDerived(in *inst, i int, s *pstate) bool {
	for j, a := range in.Args {
		if j == i || a == nil {
			continue
		}
		if r, ok := a.(x86asm.Reg); ok && family(r) >= 0 && s.regs[family(r)].derived() {
			return true
		}
	}
	return false
}

// access checks one memory access of in through operand m, whose address
// is v.
func (pc *pageCheck) access(in *inst, at int, m x86asm.Mem, v val, write bool) {
	if m.Base == x86asm.RIP && write && !v.derived() {
		if rel := int64(in.end()) + int64(int32(m.Disp)); rel >= 0 && rel < int64(len(pc.im.b)) {
			pc.errorf(at, "stores to image%+#x, the image's own code, which is mapped read-only", rel)
		}
		return
	}
	if !v.derived() {
		return
	}
	through := memString(m)
	if m.Base == x86asm.RIP {
		through = "a RIP-relative operand"
	}
	if _, sized := accessWidth(in); !sized {
		pc.errorf(at, "%s accesses memory at %s, which may be a data page's address, for a number of bytes the verifier cannot size", in.Op, through)
		return
	}
	if v.kind == vTainted {
		pc.errorf(at, "accesses memory at %s, which may be a data page's address the verifier lost track of (it went through memory, a partial register or an instruction it does not model): load the address with LEAQ page+off(SB) into a register used only for it", through)
		return
	}
	pg := pc.pages[v.page]
	n, _ := accessWidth(in)
	w := int64(n)
	verb := "reads"
	if write {
		verb = "stores"
	}
	switch {
	case write:
		pc.errorf(at, "stores %d bytes to data page %s at %s: data pages are read-only (the kernel maps vvar read-only; in Go-stub mode the page is a Go global a store would corrupt)", w, pg.Symbol, pageRef(pg, v))
	case !v.known:
		pc.errorf(at, "%s through %s into data page %s at an offset the verifier cannot bound: compare the index with a constant and branch first, or mask it", verb, through, pg.Symbol)
	case v.lo < 0 || v.hi+w > int64(pg.Size):
		pc.errorf(at, "%s %d bytes at %s through %s: outside the %d bytes declared for data page %s", verb, w, pageRef(pg, v), through, pg.Size, pg.Symbol)
	}
}

func (pc *pageCheck) errorf(at int, format string, args ...any) {
	if pc.report && at >= 0 {
		pc.p.errorf(pc.im, at, nil, format, args...)
	}
}

// implicit lists the general registers an instruction writes besides its
// first argument.
var implicit = map[x86asm.Op][]int{
	x86asm.RDTSC: {0, 2}, x86asm.RDTSCP: {0, 1, 2}, x86asm.CPUID: {0, 1, 2, 3}, x86asm.XGETBV: {0, 2},
	x86asm.SYSCALL: {0, 1, 11},
	x86asm.MUL:     {0, 2}, x86asm.DIV: {0, 2}, x86asm.IDIV: {0, 2},
	x86asm.CQO: {2}, x86asm.CDQ: {2}, x86asm.CWD: {2}, x86asm.CDQE: {0}, x86asm.CWDE: {0}, x86asm.CBW: {0},
	x86asm.LAHF: {0}, x86asm.CMPXCHG: {0}, x86asm.CMPXCHG8B: {0, 2}, x86asm.CMPXCHG16B: {0, 2},
	x86asm.PCMPESTRI: {1}, x86asm.PCMPISTRI: {1}, x86asm.XLATB: {0},
	x86asm.LOOP: {1}, x86asm.LOOPE: {1}, x86asm.LOOPNE: {1},
	x86asm.MOVSB: {1, 6, 7}, x86asm.MOVSW: {1, 6, 7}, x86asm.MOVSD: {1, 6, 7}, x86asm.MOVSQ: {1, 6, 7},
	x86asm.STOSB: {1, 7}, x86asm.STOSW: {1, 7}, x86asm.STOSD: {1, 7}, x86asm.STOSQ: {1, 7},
	x86asm.LODSB: {0, 1, 6}, x86asm.LODSW: {0, 1, 6}, x86asm.LODSD: {0, 1, 6}, x86asm.LODSQ: {0, 1, 6},
	x86asm.SCASB: {1, 7}, x86asm.SCASW: {1, 7}, x86asm.SCASD: {1, 7}, x86asm.SCASQ: {1, 7},
	x86asm.CMPSB: {1, 6, 7}, x86asm.CMPSW: {1, 6, 7}, x86asm.CMPSD: {1, 6, 7}, x86asm.CMPSQ: {1, 6, 7},
}

// noRegs are instructions that write no register (flags aside).
var noRegs = map[x86asm.Op]bool{
	x86asm.CMP: true, x86asm.TEST: true, x86asm.BT: true, x86asm.NOP: true, x86asm.PAUSE: true,
	x86asm.LFENCE: true, x86asm.MFENCE: true, x86asm.SFENCE: true, x86asm.JMP: true, x86asm.RET: true,
	x86asm.CALL: true, x86asm.CLC: true, x86asm.STC: true, x86asm.CMC: true, x86asm.CLD: true,
	x86asm.PUSH: true, x86asm.PUSHFQ: true, x86asm.POPFQ: true, x86asm.CLFLUSH: true, x86asm.EMMS: true,
	x86asm.UCOMISD: true, x86asm.UCOMISS: true, x86asm.COMISD: true, x86asm.COMISS: true, x86asm.PTEST: true,
	x86asm.JCXZ: true, x86asm.JECXZ: true, x86asm.JRCXZ: true, x86asm.STMXCSR: true, x86asm.LDMXCSR: true,
}

// explicit are instructions whose only register effect is on their first
// argument (and, for an exchange, their second).
var explicit = map[x86asm.Op]bool{
	x86asm.MOV: true, x86asm.MOVZX: true, x86asm.MOVSX: true, x86asm.MOVSXD: true, x86asm.MOVBE: true,
	x86asm.MOVD: true, x86asm.MOVQ: true, x86asm.LEA: true, x86asm.POP: true,
	x86asm.ADD: true, x86asm.SUB: true, x86asm.AND: true, x86asm.OR: true, x86asm.XOR: true, x86asm.ADC: true, x86asm.SBB: true,
	x86asm.INC: true, x86asm.DEC: true, x86asm.NEG: true, x86asm.NOT: true,
	x86asm.SHL: true, x86asm.SHR: true, x86asm.SAR: true, x86asm.ROL: true, x86asm.ROR: true, x86asm.RCL: true, x86asm.RCR: true,
	x86asm.SHLD: true, x86asm.SHRD: true, x86asm.IMUL: true, x86asm.BSF: true, x86asm.BSR: true, x86asm.LZCNT: true,
	x86asm.TZCNT: true, x86asm.POPCNT: true, x86asm.BSWAP: true, x86asm.BTS: true, x86asm.BTR: true, x86asm.BTC: true,
	x86asm.CRC32: true, x86asm.RDRAND: true, x86asm.XCHG: true, x86asm.XADD: true,
}

func isCMOV(op x86asm.Op) bool { return x86asm.CMOVA <= op && op <= x86asm.CMOVS }
func isSET(op x86asm.Op) bool  { return x86asm.SETA <= op && op <= x86asm.SETS }

// effect applies in's register effects to s; before is the state before in.
func (pc *pageCheck) effect(in *inst, before, s *pstate) {
	op := in.Op
	if isJcc(op) || noRegs[op] {
		if op == x86asm.CMP {
			if r, ok := in.Args[0].(x86asm.Reg); ok && family(r) >= 0 && family(r) < famVec {
				if k, ok := in.Args[1].(x86asm.Imm); ok {
					s.cmp = &cond{fam: family(r), width: width(r), k: int64(k)}
				}
			}
		}
		return
	}
	// Any input that may be a page address taints what is computed.
	anyDerived := false
	for _, a := range in.Args {
		if a == nil {
			continue
		}
		if r, ok := a.(x86asm.Reg); ok {
			if f := family(r); f >= 0 && before.regs[f].derived() {
				anyDerived = true
			}
		}
		if m, ok := a.(x86asm.Mem); ok && op != x86asm.LEA {
			if pc.read(in, m, before).derived() {
				anyDerived = true
			}
		}
	}
	generic := val{}
	if anyDerived {
		generic = val{kind: vTainted}
	}
	if op == x86asm.IMUL && (len(in.Args) < 2 || in.Args[1] == nil) {
		op = x86asm.MUL // the one-operand form: RDX:RAX = RAX * src
	}
	if regs, ok := implicit[op]; ok {
		for _, f := range regs {
			v := generic
			if before.regs[f].derived() || op == x86asm.XLATB || op == x86asm.CMPXCHG {
				v = join(v, before.regs[f])
				if v.derived() {
					v = val{kind: vTainted}
				}
			}
			if op == x86asm.RDTSC || op == x86asm.RDTSCP || op == x86asm.XGETBV {
				v = scalar(0, 1<<32-1)
			}
			s.regs[f] = v
		}
	}
	switch op {
	case x86asm.MUL, x86asm.DIV, x86asm.IDIV:
		return // the argument is a source
	}
	dst, ok := in.Args[0].(x86asm.Reg)
	if m, isMem := in.Args[0].(x86asm.Mem); isMem && (op == x86asm.XCHG || op == x86asm.XADD) {
		// The register side gets what memory held.
		if r, ok := in.Args[1].(x86asm.Reg); ok {
			pc.write(s, r, pc.read(in, m, before))
		}
		return
	}
	if !ok || family(dst) < 0 {
		if _, known := implicit[op]; !known && !explicit[op] && !isCMOV(op) && !isSET(op) {
			pc.unknown(in, before, s)
		}
		return
	}
	vector := family(dst) >= famVec
	if _, known := implicit[op]; !known && !explicit[op] && !isCMOV(op) && !isSET(op) && !vector {
		pc.unknown(in, before, s)
		return
	}
	if vector && (op == x86asm.PCMPESTRI || op == x86asm.PCMPISTRI) {
		return // ECX only (implicit above); the vector arguments are inputs
	}
	var src x86asm.Arg
	if len(in.Args) > 1 {
		src = in.Args[1]
	}
	cur := pc.read(in, dst, before)
	var v val
	switch {
	case op == x86asm.MOV || op == x86asm.MOVQ || op == x86asm.MOVD || op == x86asm.MOVZX:
		v = pc.read(in, src, before)
	case op == x86asm.LEA:
		m, _ := src.(x86asm.Mem)
		v = pc.addr(in, m, before)
		if m.Base == x86asm.RIP && !v.derived() {
			// The image's own address (or a symbol reach refuses): an
			// offset from it could reach a page unseen.
			v = val{kind: vTainted}
		}
	case op == x86asm.POP:
		v = val{}
		if before.mem {
			v = val{kind: vTainted}
		}
	case op == x86asm.XCHG:
		// Each side gets the other's value (a memory side its load).
		if r, ok := src.(x86asm.Reg); ok {
			pc.write(s, r, cur)
		}
		v = pc.read(in, src, before)
	case op == x86asm.XADD:
		if r, ok := src.(x86asm.Reg); ok {
			pc.write(s, r, cur)
		}
		v = add(cur, pc.read(in, src, before))
	case op == x86asm.ADD || op == x86asm.SUB:
		b := pc.read(in, src, before)
		if op == x86asm.SUB {
			if b.derived() {
				b = val{kind: vTainted}
			} else if b.known {
				b = scalar(-b.hi, -b.lo)
			} else {
				b = val{}
			}
		}
		v = add(cur, b)
	case op == x86asm.INC:
		v = add(cur, scalar(1, 1))
	case op == x86asm.DEC:
		v = add(cur, scalar(-1, -1))
	case op == x86asm.XOR && src == x86asm.Arg(dst):
		v = scalar(0, 0)
	case op == x86asm.AND:
		k, isImm := src.(x86asm.Imm)
		switch {
		case anyDerived:
			v = val{kind: vTainted}
		case isImm && k >= 0:
			v = scalar(0, int64(k))
			if cur.known && !cur.low32 && cur.lo >= 0 {
				v = scalar(0, min(int64(k), cur.hi))
			}
		}
	case op == x86asm.SHL || op == x86asm.SHR:
		k, isImm := src.(x86asm.Imm)
		switch {
		case anyDerived:
			v = val{kind: vTainted}
		case isImm && cur.known && !cur.low32 && cur.lo >= 0 && k >= 0 && k < 32:
			if op == x86asm.SHL {
				v = scalar(cur.lo<<k, cur.hi<<k)
			} else {
				v = scalar(cur.lo>>k, cur.hi>>k)
			}
		}
	case isCMOV(op):
		v = join(cur, pc.read(in, src, before))
		if v.derived() && v.kind != vPage {
			v = val{kind: vTainted}
		}
	default:
		v = generic
	}
	pc.write(s, dst, v)
}

// write stores v in register r of s at r's width.
func (pc *pageCheck) write(s *pstate, r x86asm.Reg, v val) {
	f := family(r)
	if f < 0 {
		return
	}
	switch w := width(r); {
	case w == 64 || w == 0:
		if v.low32 {
			v = val{}
		}
	case w == 32:
		// A 32-bit write zero-extends: a page address does not fit.
		switch {
		case v.derived():
			v = val{kind: vTainted}
		case v.known && v.lo >= 0 && v.hi <= 1<<32-1:
			v.low32 = false
		default:
			v = scalar(0, 1<<32-1)
		}
	default:
		// A partial write merges with what the register held.
		if v.derived() || s.regs[f].derived() {
			v = val{kind: vTainted}
		} else {
			v = val{}
		}
	}
	s.regs[f] = v
}

// unknown is the effect of an instruction the interpretation does not
// model: it may have written any register, with anything it read.
func (pc *pageCheck) unknown(in *inst, before, s *pstate) {
	_, derived := before.derivedReg()
	for f := range s.regs {
		if derived {
			s.regs[f] = val{kind: vTainted}
		} else {
			s.regs[f] = val{}
		}
	}
}
