package verify

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"golang.org/x/arch/x86/x86asm"

	"github.com/vdsogen/vdsogen/layout"
	"github.com/vdsogen/vdsogen/marker"
)

// inst is one decoded instruction of an image; bad marks a byte that does
// not start a valid instruction (it counts as one byte).
type inst struct {
	off int
	x86asm.Inst
	bad bool
}

func (in *inst) end() int { return in.off + in.Len }

// image is one variant, decoded.
type image struct {
	v       *layout.Variant
	addr    uint64
	b       []byte
	resolve func(uint64) (string, int64, bool)
	insts   []inst
	// at maps an instruction's start offset to its index in insts.
	at map[int]int
	// entries are the table's entries clipped to the image, sorted by offset.
	entries []layout.Entry
	// pool lists where the alternatives' choices start in the replacement
	// pool, sorted.
	pool []int
}

// decodeImage decodes v's bytes linearly from 0 and again from every entry
// start: an instruction never runs across an entry start.
func decodeImage(v *layout.Variant, img Image, resolve func(uint64) (string, int64, bool)) *image {
	im := &image{v: v, addr: img.Addr, b: img.Bytes, resolve: resolve, at: map[int]int{}}
	if im.resolve == nil {
		im.resolve = func(uint64) (string, int64, bool) { return "", 0, false }
	}
	cuts := []int{0, len(im.b)}
	for _, e := range v.Entries {
		if e.Offset >= 0 && e.Offset <= len(im.b) && e.Size >= 0 {
			im.entries = append(im.entries, e)
			cuts = append(cuts, e.Offset, min(e.Offset+e.Size, len(im.b)))
		}
	}
	// The replacement pool starts a new run, and so does every choice in
	// it: choices are decoded as the loader will copy them.
	im.pool = poolOffsets(v)
	sort.Ints(im.pool)
	for _, o := range append(slices.Clone(im.pool), v.Pool) {
		if o > 0 && o < len(im.b) {
			cuts = append(cuts, o)
		}
	}
	sort.SliceStable(im.entries, func(i, j int) bool { return im.entries[i].Offset < im.entries[j].Offset })
	sort.Ints(cuts)
	for i := 0; i+1 < len(cuts); i++ {
		for off := cuts[i]; off < cuts[i+1]; {
			d, err := x86asm.Decode(im.b[off:cuts[i+1]], 64)
			in := inst{off: off, Inst: d}
			// x86asm may return no error but no operation for bytes cut
			// short (a lone 0F): that is no instruction either.
			if err != nil || d.Len == 0 || d.Op == 0 {
				in = inst{off: off, Inst: x86asm.Inst{Len: 1}, bad: true}
			}
			im.at[off] = len(im.insts)
			im.insts = append(im.insts, in)
			off += in.Len
		}
	}
	return im
}

// instAt returns the instruction starting at off, or nil.
func (im *image) instAt(off int) *inst {
	if i, ok := im.at[off]; ok {
		return &im.insts[i]
	}
	return nil
}

// covering returns the instruction whose bytes include off, or nil.
func (im *image) covering(off int) *inst {
	i := sort.Search(len(im.insts), func(i int) bool { return im.insts[i].end() > off })
	if i < len(im.insts) && im.insts[i].off <= off {
		return &im.insts[i]
	}
	return nil
}

// compareAt compares two images of one layout, x and y, at byte i. They
// agree (same) where the byte is the same, or where one instruction in
// both differs only in a field naming the same reference (a data-page
// field); last is then the last byte of the agreement. Where they differ,
// at is where: the start of x's instruction covering i (i where none
// does), and last is the last byte of the instructions covering i in
// both (i where either has none).
func compareAt(x, y *image, i int) (at, last int, same bool) {
	if x.b[i] == y.b[i] {
		return i, i, true
	}
	a, b := x.covering(i), y.covering(i)
	if a != nil && b != nil && a.off == b.off && a.Len == b.Len && x.key(a) == y.key(b) {
		return a.off, a.end() - 1, true
	}
	at, last = i, i
	if a != nil {
		at = a.off
	}
	if a != nil && b != nil {
		last = max(a.end(), b.end()) - 1
	}
	return at, last, false
}

// boundary reports whether off is the start of an instruction or the end
// of the image.
func (im *image) boundary(off int) bool {
	_, ok := im.at[off]
	return ok || off == len(im.b)
}

// entryAt returns the entry whose bytes include off.
func (im *image) entryAt(off int) (layout.Entry, bool) {
	for _, e := range im.entries {
		if off >= e.Offset && off < e.Offset+e.Size {
			return e, true
		}
	}
	return layout.Entry{}, false
}

func (im *image) entryName(off int) string {
	e, _ := im.entryAt(off)
	return e.Name
}

// entryStarting returns the entry that starts at off.
func (im *image) entryStarting(off int) (layout.Entry, bool) {
	for _, e := range im.entries {
		if e.Offset == off {
			return e, true
		}
	}
	return layout.Entry{}, false
}

// instsIn returns the instructions starting in [start, end).
func (im *image) instsIn(start, end int) []inst {
	if end <= start {
		return nil
	}
	i := sort.Search(len(im.insts), func(i int) bool { return im.insts[i].off >= start })
	j := sort.Search(len(im.insts), func(i int) bool { return im.insts[i].off >= end })
	return im.insts[i:j]
}

// relTarget returns the image offset a relative branch goes to.
func relTarget(in *inst) (int, bool) {
	if in.bad {
		return 0, false
	}
	for _, a := range in.Args {
		if r, ok := a.(x86asm.Rel); ok {
			return in.end() + int(r), true
		}
	}
	return 0, false
}

// ripMem returns the RIP-relative memory operand of in.
func ripMem(in *inst) (x86asm.Mem, bool) {
	for _, a := range in.Args {
		if m, ok := a.(x86asm.Mem); ok && m.Base == x86asm.RIP {
			return m, true
		}
	}
	return x86asm.Mem{}, false
}

// ref describes where a RIP-relative operand points: "+0x40" inside the
// image, "sym+off" in another symbol of the build.
func (im *image) ref(in *inst) (string, bool) {
	m, ok := ripMem(in)
	if !ok {
		return "", false
	}
	rel := int64(in.end()) + int64(int32(m.Disp)) // x86asm zero-extends disp32
	if rel >= 0 && rel < int64(len(im.b)) {
		return fmt.Sprintf("image%+#x", rel), true
	}
	abs := im.addr + uint64(rel)
	if sym, off, ok := im.resolve(abs); ok {
		return fmt.Sprintf("%s%+#x", sym, off), true
	}
	// Never a harness address: it means nothing to the user.
	return fmt.Sprintf("image%+#x", rel), true
}

// key is what must be equal for two instructions at the same offset of two
// variants to count as the same: the bytes, except that a RIP-relative
// field counts by what it refers to (the images are linked apart).
func (im *image) key(in *inst) string {
	b := im.b[in.off:in.end()]
	if r, ok := im.ref(in); ok && in.PCRel > 0 && in.PCRelOff+in.PCRel <= len(b) {
		c := append([]byte(nil), b...)
		clear(c[in.PCRelOff : in.PCRelOff+in.PCRel])
		return fmt.Sprintf("% x -> %s", c, r)
	}
	return fmt.Sprintf("% x", b)
}

// render shows the instruction at (or covering) off in Go syntax, with
// branch targets as image offsets and data references by symbol.
func (im *image) render(off int) string {
	in := im.covering(off)
	if in == nil {
		return ""
	}
	s := im.show(in)
	if in.off != off {
		s = fmt.Sprintf("%s (at %#x)", s, in.off)
	}
	return s
}

func (im *image) show(in *inst) string {
	if in.bad {
		return fmt.Sprintf("BYTE $%#02x (no instruction)", im.b[in.off])
	}
	if t, ok := relTarget(in); ok {
		op := strings.Fields(goSyntax(in.Inst, 0, nil))[0]
		return fmt.Sprintf("%s %#x", op, t)
	}
	// Only a RIP-relative operand is named by symbol (an immediate that
	// happens to look like an address is a number), and never by a harness
	// address: what no symbol holds is named relative to the image.
	var symname x86asm.SymLookup
	if _, rip := ripMem(in); rip {
		symname = func(addr uint64) (string, uint64) {
			if sym, off, ok := im.resolve(addr); ok {
				return sym, addr - uint64(off)
			}
			return "image", im.addr
		}
	}
	return goSyntax(in.Inst, im.addr+uint64(in.off), symname)
}

// terminal reports whether control never falls through in.
func terminal(in *inst) bool {
	switch in.Op {
	case x86asm.RET, x86asm.JMP, x86asm.UD2, x86asm.HLT:
		return true
	}
	return in.bad || isINT3(in)
}

func isINT3(in *inst) bool { return !in.bad && in.Op == x86asm.INT && in.Len == 1 }

// poolOffsets lists where the choices of v's alternatives start in the
// replacement pool.
func poolOffsets(v *layout.Variant) []int {
	var out []int
	for _, s := range v.Sites {
		if !marker.TraitsOf(s.Kind).PoolChoices {
			continue
		}
		for _, c := range s.Choices {
			out = append(out, c.Offset)
		}
	}
	return out
}
