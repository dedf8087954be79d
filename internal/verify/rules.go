package verify

import (
	"bytes"
	"fmt"
	"strings"

	"golang.org/x/arch/x86/x86asm"

	"github.com/vdsogen/vdsogen/layout"
	"github.com/vdsogen/vdsogen/marker"
)

// Entries: every image is as long as the table says; every entry lies in
// its image, decodes and does not fall into what follows; filler between
// entries is INT3; and every shared variant has the same entries at the
// same offsets with the same sizes.
func Entries(p *Pass) {
	for _, im := range p.images {
		if len(im.b) != im.v.Size {
			p.tableErrorf([]string{im.v.Name}, "", 0, "the image is %d bytes, the table says %d", len(im.b), im.v.Size)
		}
		end := 0
		for _, e := range im.v.Entries {
			switch {
			case e.Offset < 0 || e.Size <= 0 || e.Offset+e.Size > len(im.b):
				p.tableErrorf([]string{im.v.Name}, e.Name, e.Offset, "entry [%#x, %#x) is not inside the %d-byte image", e.Offset, e.Offset+e.Size, len(im.b))
				continue
			case e.Offset < end:
				p.tableErrorf([]string{im.v.Name}, e.Name, e.Offset, "entry overlaps the previous entry, which ends at %#x", end)
			}
			for _, in := range im.instsIn(end, e.Offset) {
				if !isINT3(&in) {
					p.errorf(im, in.off, nil, "filler before the entry is not INT3")
					break
				}
			}
			end = e.Offset + e.Size
			ins := im.instsIn(e.Offset, end)
			if len(ins) == 0 {
				continue
			}
			for _, in := range ins {
				if in.bad {
					p.errorf(im, in.off, nil, "the bytes % x do not decode as an instruction", im.b[in.off:min(in.off+4, end)])
					break
				}
			}
			if last := ins[len(ins)-1]; !terminal(&last) {
				p.errorf(im, last.off, nil, "the entry's last instruction falls through past its end at %#x", end)
			}
		}
		// After the last entry: INT3 filler, then the replacement pool,
		// which the sites rule checks choice by choice.
		switch {
		case im.v.Pool < end || im.v.Pool > len(im.b):
			p.tableErrorf([]string{im.v.Name}, "", im.v.Pool, "the replacement pool starts at %#x, not between the end of the last entry (%#x) and the end of the image (%#x)", im.v.Pool, end, len(im.b))
		case im.v.Pool == len(im.b) || len(im.pool) > 0:
			for _, in := range im.instsIn(end, im.v.Pool) {
				if !isINT3(&in) {
					p.errorf(im, in.off, nil, "bytes after the last entry, before the replacement pool, are not INT3 filler")
					break
				}
			}
		default:
			p.tableErrorf([]string{im.v.Name}, "", im.v.Pool, "the table puts a replacement pool at %#x but declares no alternative", im.v.Pool)
		}
	}
	if len(p.shared) < 2 {
		return
	}
	ref := p.shared[0]
	for _, im := range p.shared[1:] {
		if len(im.v.Entries) != len(ref.v.Entries) {
			p.tableErrorf([]string{im.v.Name, ref.v.Name}, "", 0, "variant %s has %d entries, variant %s %d", im.v.Name, len(im.v.Entries), ref.v.Name, len(ref.v.Entries))
			continue
		}
		for i, e := range im.v.Entries {
			r := ref.v.Entries[i]
			if e != r {
				p.errorf(im, e.Offset, []*image{ref}, "entry %s is at %#x (%d bytes) in variant %s but entry %s is at %#x (%d bytes) in variant %s",
					e.Name, e.Offset, e.Size, im.v.Name, r.Name, r.Offset, r.Size, ref.v.Name)
			}
		}
	}
}

// Sites: every shared variant declares the same sites; each lies in its
// entry, starts and ends on an instruction boundary, and holds what its
// marker declares (and what the table records); outside the sites, every
// shared variant has the same instructions as the first.
func Sites(p *Pass) {
	for _, im := range p.images {
		if im.v.Standalone && len(im.v.Sites) > 0 {
			p.tableErrorf([]string{im.v.Name}, "", 0, "a standalone variant has %d marker sites; it should have none", len(im.v.Sites))
		}
	}
	if len(p.shared) == 0 {
		return
	}
	ref := p.shared[0]
	for _, im := range p.shared[1:] {
		if len(im.v.Sites) != len(ref.v.Sites) {
			p.tableErrorf([]string{im.v.Name, ref.v.Name}, "", 0, "variant %s has %d sites, variant %s %d", im.v.Name, len(im.v.Sites), ref.v.Name, len(ref.v.Sites))
			return
		}
		for i, s := range im.v.Sites {
			r := ref.v.Sites[i]
			// Alternatives and static calls point at the choice each variant
			// took; the set of choices is the same.
			sameTarget := s.Target == r.Target || marker.TraitsOf(s.Kind).Choices
			if s.Kind != r.Kind || s.Key != r.Key || s.Entry != r.Entry || s.Offset != r.Offset || len(s.Bytes) != len(r.Bytes) || !sameTarget || !sameChoices(s, r) {
				p.tableErrorf([]string{im.v.Name, ref.v.Name}, s.Entry, s.Offset, "site %d is %s %s at %#x (%d bytes) in variant %s but %s %s at %#x (%d bytes) in variant %s",
					i, s.Kind, s.Key, s.Offset, len(s.Bytes), im.v.Name, r.Kind, r.Key, r.Offset, len(r.Bytes), ref.v.Name)
				return
			}
		}
	}
	for _, im := range p.shared {
		for _, s := range im.v.Sites {
			p.site(im, s)
		}
	}
	inSite := make([]bool, len(ref.b))
	for _, s := range ref.v.Sites {
		for i := max(s.Offset, 0); i < s.Offset+len(s.Bytes) && i < len(inSite); i++ {
			inSite[i] = true
		}
	}
	for _, im := range p.shared[1:] {
		if len(im.b) != len(ref.b) {
			continue // Entries reported it
		}
		for i := 0; i < len(ref.b); i++ {
			if inSite[i] || ref.b[i] == im.b[i] {
				continue
			}
			a, b := im.covering(i), ref.covering(i)
			if a != nil && b != nil && a.off == b.off && a.Len == b.Len && im.key(a) == ref.key(b) {
				i = a.end() - 1
				continue
			}
			at := i
			if a != nil {
				at = a.off
			}
			p.errorf(im, at, []*image{ref}, "variants %s and %s differ outside any marker site", im.v.Name, ref.v.Name)
			if a != nil && b != nil {
				i = max(a.end(), b.end()) - 1
			}
		}
	}
}

// site checks one site of one variant.
func (p *Pass) site(im *image, s layout.Site) {
	start, end := s.Offset, s.Offset+len(s.Bytes)
	if start < 0 || end > len(im.b) || len(s.Bytes) == 0 {
		p.tableErrorf([]string{im.v.Name}, s.Entry, start, "%s %s site [%#x, %#x) is not inside the %d-byte image", s.Kind, s.Key, start, end, len(im.b))
		return
	}
	if e, ok := im.v.Entry(s.Entry); !ok || start < e.Offset || end > e.Offset+e.Size {
		p.errorf(im, start, nil, "%s %s site [%#x, %#x) is not inside entry %q", s.Kind, s.Key, start, end, s.Entry)
	}
	got := bytes.Clone(im.b[start:end])
	for _, r := range s.Relocs {
		if r.Offset >= 0 && r.Offset+4 <= len(got) {
			clear(got[r.Offset : r.Offset+4])
		}
	}
	if !bytes.Equal(got, s.Bytes) {
		p.errorf(im, start, nil, "%s %s site holds % x, the table records % x", s.Kind, s.Key, got, s.Bytes)
	}
	for _, b := range []int{start, end} {
		if in := im.covering(b); !im.boundary(b) && in != nil {
			p.errorf(im, b, nil, "%s %s site [%#x, %#x) does not %s on an instruction boundary: the instruction at %#x runs to %#x",
				s.Kind, s.Key, start, end, map[bool]string{true: "start", false: "end"}[b == start], in.off, in.end())
		}
	}
	u, ok := marker.For(s.Kind)
	if !ok {
		p.errorf(im, start, nil, "unknown marker kind %q", s.Kind)
		return
	}
	u.Check(view{im}, s, func(off int, format string, args ...any) { p.errorf(im, off, nil, format, args...) })
}

// Stack: following control flow from each entry, the stack depth is the
// same on every path to an instruction, zero at RET and at a tail jump to
// another entry, never below the return address, changed only by
// instructions it can follow, and at most MaxStack; it is equal at every
// site boundary in every shared variant. It records every entry's maximum.
func Stack(p *Pass) {
	limit := p.In.MaxStack
	if limit == 0 {
		limit = DefaultMaxStack
	}
	for _, im := range p.images {
		st := &stackState{p: p, im: im, depth: map[int]int{}, max: map[int]int{}, busy: map[int]bool{}}
		for _, e := range im.entries {
			m := st.entry(e)
			p.Report.Stack = append(p.Report.Stack, EntryStack{Variant: im.v.Name, Entry: e.Name, Max: m})
			if m > limit {
				p.errorf(im, e.Offset, nil, "the stack grows to %d bytes, more than the %d allowed", m, limit)
			}
		}
		p.depth[im.v.Name] = st.depth
	}
	if len(p.shared) < 2 {
		return
	}
	ref := p.shared[0]
	for i, s := range ref.v.Sites {
		// The depth where control enters the site, and where it leaves it
		// (falling through its end, jumping out, or returning): a variant
		// must not change the stack layout around its code.
		for _, at := range []string{"entering", "leaving"} {
			var first *image
			d0 := 0
			for _, im := range p.shared {
				if i >= len(im.v.Sites) {
					continue
				}
				si := im.v.Sites[i]
				off, d, ok := si.Offset, 0, false
				if at == "entering" {
					d, ok = p.depth[im.v.Name][off]
				} else {
					off, d, ok = p.exitDepth(im, si)
				}
				if !ok {
					continue
				}
				if first == nil {
					first, d0 = im, d
					continue
				}
				if d != d0 {
					p.errorf(im, off, []*image{first}, "stack depth %s the %s %s site is %d bytes in variant %s but %d in variant %s",
						at, s.Kind, s.Key, d, im.v.Name, d0, first.v.Name)
				}
			}
		}
	}
}

// exitDepth returns where control first leaves site s of im and the stack
// depth it leaves with: the site's end, a branch out of it, or a RET.
func (p *Pass) exitDepth(im *image, s layout.Site) (off, depth int, ok bool) {
	start, end := s.Offset, s.Offset+len(s.Bytes)
	depths := p.depth[im.v.Name]
	for _, in := range im.instsIn(start, end) {
		d, reached := depths[in.off]
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
		if in.end() >= end && !terminal(&in) {
			return end, after, true
		}
	}
	return 0, 0, false
}

type stackState struct {
	p     *Pass
	im    *image
	depth map[int]int
	max   map[int]int // by entry offset
	busy  map[int]bool
}

// entry follows the control flow of e and returns its maximum depth.
func (st *stackState) entry(e layout.Entry) int {
	if m, ok := st.max[e.Offset]; ok {
		return m
	}
	if st.busy[e.Offset] {
		st.p.errorf(st.im, e.Offset, nil, "entry %s calls itself: its stack depth is unbounded", e.Name)
		return 0
	}
	st.busy[e.Offset] = true
	defer delete(st.busy, e.Offset)
	im := st.im
	end := e.Offset + e.Size
	type item struct{ off, d int }
	work := []item{{e.Offset, 0}}
	maxD := 0
	// A restartable region's abort handler is reached by no branch: a
	// restart enters it with the depth of the region's start.
	var aborts []layout.Region
	for _, r := range im.v.Regions {
		if r.Entry == e.Name {
			aborts = append(aborts, r)
		}
	}
	for len(work) > 0 || len(aborts) > 0 {
		if len(work) == 0 {
			r := aborts[0]
			aborts = aborts[1:]
			if d, ok := st.depth[r.Start]; ok {
				work = append(work, item{r.Abort, d})
			}
			continue
		}
		it := work[len(work)-1]
		work = work[:len(work)-1]
		for off, d := it.off, it.d; ; {
			if off < e.Offset || off >= end {
				if off == end {
					st.p.errorf(im, off-1, nil, "control runs past the end of entry %s with %d bytes on the stack", e.Name, d)
				}
				break // elsewhere: Reach reports it
			}
			if old, ok := st.depth[off]; ok {
				if old != d {
					st.p.errorf(im, off, nil, "the stack depth here is %d bytes on one path and %d on another", old, d)
				}
				break
			}
			in := im.instAt(off)
			if in == nil || in.bad {
				break // Entries and Reach report it
			}
			st.depth[off] = d
			maxD = max(maxD, d)
			next := in.end()
			delta, ok := stackDelta(in)
			if !ok {
				st.p.errorf(im, off, nil, "changes RSP in a way the verifier cannot follow (use PUSH/POP or ADD/SUB of a constant)")
				break
			}
			if d+delta < 0 {
				st.p.errorf(im, off, nil, "pops %d bytes more than were pushed, into the caller's frame", -(d + delta))
				break
			}
			d += delta
			maxD = max(maxD, d)
			switch in.Op {
			case x86asm.RET:
				if d != 0 {
					st.p.errorf(im, off, nil, "returns with %d bytes still on the stack", d)
				}
			case x86asm.CALL:
				if t, ok := relTarget(in); ok {
					callee := 0
					if ce, ok := im.entryStarting(t); ok {
						callee = st.entry(ce)
					}
					maxD = max(maxD, d+8+callee)
				}
				off = next
				continue
			case x86asm.JMP:
				if t, ok := relTarget(in); ok {
					if ce, ok := im.entryStarting(t); ok && ce.Name != e.Name {
						if d != 0 {
							st.p.errorf(im, off, nil, "jumps to entry %s with %d bytes on the stack", ce.Name, d)
						}
					} else {
						off = t
						continue
					}
				}
			default:
				if terminal(in) {
					break
				}
				if t, ok := relTarget(in); ok { // conditional branch
					work = append(work, item{t, d})
				}
				off = next
				continue
			}
			break
		}
	}
	st.max[e.Offset] = maxD
	return maxD
}

// stackDelta is how many bytes in pushes onto the stack, and false if it
// changes RSP in another way.
func stackDelta(in *inst) (int, bool) {
	size := 8
	if in.DataSize == 16 {
		size = 2
	}
	switch in.Op {
	case x86asm.PUSH, x86asm.PUSHFQ:
		return size, true
	case x86asm.POP, x86asm.POPFQ:
		return -size, true
	case x86asm.CALL, x86asm.RET, x86asm.SYSCALL:
		return 0, true // balanced by the callee, or the return itself
	case x86asm.LEAVE, x86asm.ENTER, x86asm.PUSHF, x86asm.POPF, x86asm.PUSHFD, x86asm.POPFD:
		return 0, false
	}
	if len(in.Args) == 0 || in.Args[0] == nil {
		return 0, true
	}
	if r, ok := in.Args[0].(x86asm.Reg); !ok || (r != x86asm.RSP && r != x86asm.ESP && r != x86asm.SP) {
		return 0, true
	}
	switch in.Op {
	case x86asm.CMP, x86asm.TEST:
		return 0, true
	case x86asm.SUB, x86asm.ADD:
		if imm, ok := in.Args[1].(x86asm.Imm); ok && in.Args[0] == x86asm.RSP {
			if in.Op == x86asm.SUB {
				return int(imm), true
			}
			return -int(imm), true
		}
	case x86asm.LEA:
		if m, ok := in.Args[1].(x86asm.Mem); ok && m.Base == x86asm.RSP && m.Index == 0 && in.Args[0] == x86asm.RSP {
			return -int(int32(m.Disp)), true
		}
	}
	return 0, false
}

// Reach: no instruction refers outside its image except to a declared
// data page, within its size; every direct branch or call lands on an
// instruction inside the image (a call or jump to another entry only at
// its start); there is no indirect branch or call, no absolute and no
// segment-relative memory operand. SYSCALL is allowed.
func Reach(p *Pass) {
	pages := map[string]int{}
	for _, pg := range p.In.Table.Pages {
		pages[pg.Symbol] = pg.Size
	}
	for _, im := range p.images {
		for _, e := range im.entries {
			ins := im.instsIn(e.Offset, e.Offset+e.Size)
			for i := range ins {
				in := &ins[i]
				if in.bad {
					continue
				}
				p.reach(im, e, in, pages)
			}
		}
	}
}

func (p *Pass) reach(im *image, e layout.Entry, in *inst, pages map[string]int) {
	off := in.off
	if (in.Op == x86asm.JMP || in.Op == x86asm.CALL) && in.Args[0] != nil {
		if _, ok := in.Args[0].(x86asm.Rel); !ok {
			p.errorf(im, off, nil, "indirect %s: every branch must be direct", in.Op)
			return
		}
	}
	if t, ok := relTarget(in); ok {
		switch te, inEntry := im.entryAt(t); {
		case t < 0 || t >= len(im.b):
			p.errorf(im, off, nil, "%s goes to %#x, outside the %d-byte image", in.Op, t, len(im.b))
		case !inEntry:
			p.errorf(im, off, nil, "%s goes to %#x, between entries", in.Op, t)
		case te.Name != e.Name && t != te.Offset:
			p.errorf(im, off, nil, "%s goes to %#x, inside entry %s but not to its start", in.Op, t, te.Name)
		case !im.boundary(t):
			p.errorf(im, off, nil, "%s goes to %#x, inside the instruction at %#x", in.Op, t, im.covering(t).off)
		}
		return
	}
	for _, a := range in.Args {
		m, ok := a.(x86asm.Mem)
		if !ok {
			continue
		}
		switch {
		case m.Segment != 0:
			p.errorf(im, off, nil, "memory operand relative to segment %s refers outside the image", m.Segment)
		case m.Base == x86asm.RIP:
			rel := int64(in.end()) + int64(int32(m.Disp))
			if rel >= 0 && rel < int64(len(im.b)) {
				continue // inside the image
			}
			abs := im.addr + uint64(rel)
			sym, o, ok := im.resolve(abs)
			size, declared := pages[sym]
			width := int64(max(in.MemBytes, 1))
			if in.Op == x86asm.LEA {
				width = 1
			}
			switch {
			case !ok:
				p.errorf(im, off, nil, "refers to address %#x, which is in no symbol of the build", abs)
			case !declared:
				p.errorf(im, off, nil, "refers to %s%+d, which is not a declared data page", sym, o)
			case o < 0 || o+width > int64(size):
				p.errorf(im, off, nil, "refers to %s%+d (%d bytes), outside the %d bytes declared for the page", sym, o, width, size)
			}
		case m.Base == 0 && m.Index == 0:
			p.errorf(im, off, nil, "refers to the absolute address %#x", m.Disp)
		}
	}
}

// Swap: for each pair of variants, whether it can be switched live by
// rewriting one image into the other in place: both shared, no difference
// outside sites, and every differing site a static branch that is one
// whole instruction on both sides inside one aligned 8-byte window.
func Swap(p *Pass) {
	for i, a := range p.images {
		for _, b := range p.images[i+1:] {
			p.Report.Pairs = append(p.Report.Pairs, p.pair(a, b))
		}
	}
}

func (p *Pass) pair(a, b *image) Pair {
	pr := Pair{A: a.v.Name, B: b.v.Name}
	if a.v.Standalone || b.v.Standalone {
		for _, im := range []*image{a, b} {
			if im.v.Standalone {
				pr.Why = append(pr.Why, fmt.Sprintf("variant %s is standalone: it has a layout of its own", im.v.Name))
			}
		}
		return pr
	}
	if len(a.b) != len(b.b) || len(a.v.Sites) != len(b.v.Sites) {
		pr.Why = append(pr.Why, "the images have different layouts")
		return pr
	}
	for _, d := range diffs(a, b) {
		if d.Site < 0 {
			pr.Why = append(pr.Why, fmt.Sprintf("they differ at %#x, outside any marker site", d.Offset))
			continue
		}
		s := a.v.Sites[d.Site]
		where := fmt.Sprintf("%s %s at %#x (%s)", s.Kind, s.Key, s.Offset, s.Source)
		switch traits := marker.TraitsOf(s.Kind); {
		case traits.LoadTime:
			pr.Why = append(pr.Why, where+": an alternative is applied at load time, before any thread runs, not live")
		case !traits.Atomic:
			pr.Why = append(pr.Why, fmt.Sprintf("%s: a %d-byte region of several instructions, not one atomic instruction", where, len(s.Bytes)))
		case !whole(a, s) || !whole(b, s):
			pr.Why = append(pr.Why, where+": not one whole instruction on both sides")
		case marker.CrossesWindow(a.addr+uint64(s.Offset), len(s.Bytes)):
			pr.Why = append(pr.Why, fmt.Sprintf("%s: crosses an %d-byte window", where, marker.PatchWindow))
		}
	}
	pr.Switchable = len(pr.Why) == 0
	return pr
}

// whole reports whether site s of im is exactly one instruction.
func whole(im *image, s layout.Site) bool {
	in := im.instAt(s.Offset)
	return in != nil && !in.bad && in.Len == len(s.Bytes)
}

// Difference is a run of instructions at which two variants differ.
type Difference struct {
	Offset, End int
	Entry       string
	// Site indexes the table's sites of the variants, -1 if the difference
	// is outside every site.
	Site int
	// A and B are the bytes of each variant; InstA and InstB their
	// instructions, one "offset: instruction" each, a run of INT3 filler
	// as one.
	A     []byte   `json:"-"`
	B     []byte   `json:"-"`
	InstA []string `json:"inst_a"`
	InstB []string `json:"inst_b"`
}

// diffs lists the differences between two variants of one layout,
// instruction by instruction; a whole differing site is one Difference.
func diffs(a, b *image) []Difference {
	n := min(len(a.b), len(b.b))
	siteAt := make([]int, n)
	for i := range siteAt {
		siteAt[i] = -1
	}
	for k, s := range a.v.Sites {
		for i := max(s.Offset, 0); i < s.Offset+len(s.Bytes) && i < n; i++ {
			siteAt[i] = k
		}
	}
	var out []Difference
	for i := 0; i < n; i++ {
		if k := siteAt[i]; k >= 0 {
			s := a.v.Sites[k]
			end := min(s.Offset+len(s.Bytes), n)
			if !sameRun(a, b, s.Offset, end) {
				out = append(out, diffRun(a, b, s.Offset, end, k))
			}
			i = end - 1
			continue
		}
		if a.b[i] == b.b[i] {
			continue
		}
		x, y := a.covering(i), b.covering(i)
		if x != nil && y != nil && x.off == y.off && x.Len == y.Len && a.key(x) == b.key(y) {
			i = x.end() - 1
			continue
		}
		start, end := i, i+1
		if x != nil && y != nil {
			start, end = min(x.off, y.off), max(x.end(), y.end())
		}
		out = append(out, diffRun(a, b, start, min(end, n), -1))
		i = end - 1
	}
	return out
}

// sameRun reports whether [start, end) holds the same instructions in both.
func sameRun(a, b *image, start, end int) bool {
	x, y := a.instsIn(start, end), b.instsIn(start, end)
	if len(x) != len(y) {
		return false
	}
	for i := range x {
		if x[i].off != y[i].off || a.key(&x[i]) != b.key(&y[i]) {
			return false
		}
	}
	return true
}

func diffRun(a, b *image, start, end, site int) Difference {
	d := Difference{Offset: start, End: end, Entry: a.entryName(start), Site: site,
		A: bytes.Clone(a.b[start:end]), B: bytes.Clone(b.b[start:end])}
	d.InstA, d.InstB = listing(a, start, end), listing(b, start, end)
	return d
}

// listing shows the instructions in [start, end), a run of INT3 as one line.
func listing(im *image, start, end int) []string {
	var out []string
	ins := im.instsIn(start, end)
	for i := 0; i < len(ins); i++ {
		in := &ins[i]
		j := i
		for isINT3(in) && j+1 < len(ins) && isINT3(&ins[j+1]) {
			j++
		}
		if j > i {
			out = append(out, fmt.Sprintf("%#x: INT3 x%d (filler to %#x)", in.off, j-i+1, ins[j].end()))
			i = j
			continue
		}
		out = append(out, fmt.Sprintf("%#x: %s", in.off, im.show(in)))
	}
	return out
}

// Diff lists the differences between variants a and b of in, with the
// site that allows each (Site >= 0) or none.
func Diff(in *Input, a, b string) ([]Difference, error) {
	p := newPass(in)
	var x, y *image
	for _, im := range p.images {
		switch im.v.Name {
		case a:
			x = im
		case b:
			y = im
		}
	}
	var missing []string
	if x == nil {
		missing = append(missing, a)
	}
	if y == nil {
		missing = append(missing, b)
	}
	if len(missing) > 0 {
		var names []string
		for _, v := range in.Table.Variants {
			names = append(names, v.Name)
		}
		return nil, fmt.Errorf("no variant %s (variants: %s)", strings.Join(missing, ", "), strings.Join(names, ", "))
	}
	if x.v.Standalone || y.v.Standalone || len(x.b) != len(y.b) {
		return nil, fmt.Errorf("variants %s and %s do not share a layout (a standalone variant has its own)", a, b)
	}
	return diffs(x, y), nil
}
