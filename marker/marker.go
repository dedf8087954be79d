// Package marker holds what each marker kind means, one file per kind:
// its traits (does a site carry choices, can it be switched live), the
// bytes its sites are made of, and the verifier's check of a site on an
// image's final bytes. Every layer that must know a kind asks its Unit
// here instead of switching on layout.Kind: the verifier
// (internal/verify), the ELF descriptor reader (internal/elfimage), the
// loader (vdso/loader). A kind's name and descriptor code are
// layout.Kind's (layout/kind.go). Whether a site may be rewritten by a
// live switch is Swap (swap.go), decided from the traits: the verifier
// and the loader both call it.
//
// The generator's half of a kind works on a Decl through small
// interfaces the DSL (Declaration) and the generator (Emitter, Planner,
// Measured) implement, so the package imports only layout and x86asm and
// every layer can import it.
//
// Adding a kind is a file with a type implementing Unit and the line
// that registers it (func init() { Register(...) }), plus its name and
// code in layout.RegisterKind.
package marker

import (
	"fmt"
	"sync"

	"golang.org/x/arch/x86/x86asm"

	"github.com/vdsogen/vdsogen/layout"
)

// Unit is one marker kind: its traits, the generator's half (declaration
// checks, per-variant layout, padding, site location) and the verifier's
// check of a site.
type Unit interface {
	Kind() layout.Kind
	Traits() Traits
	Generator
	// Check verifies site s of one variant on im's bytes, beyond what holds
	// for every kind (the site lies in its entry, on instruction
	// boundaries, and holds the table's bytes: the verifier checks that
	// first). It reports each finding at an image offset.
	Check(im Image, s layout.Site, report Reporter)
}

// Traits are what the layers outside the verifier need to know of a kind.
type Traits struct {
	// Choices: a site declares choices (layout.Site.Choices) and holds
	// one of them (Site.Choice); a loader may apply another.
	Choices bool
	// PoolChoices: the choices are assembled in the replacement pool
	// (layout.Variant.Pool), not elsewhere in the image.
	PoolChoices bool
	// LoadTime: the choice is the CPU's (or the caller's), made once when
	// an image is loaded; a live switch keeps it, whatever choice each
	// variant's image holds, provided both declare the same choices (Swap).
	LoadTime bool
	// Atomic: a site is one whole instruction inside one PatchWindow, so a
	// loader may rewrite it while threads run (a live switch, Swap). A
	// differing site of a kind that is not Atomic refuses the switch.
	Atomic bool
	// Calls: the choices are entries of the program that the site calls.
	Calls bool
	// Exit names the block through which control leaves the marker in
	// every variant ("" if none): an entry ending in the marker ends in
	// what that block ends in.
	Exit string
	// TargetRole names what layout.Site.Target is (a debugger's label
	// "entry.kind.key.role"), "" where it is nothing to name.
	TargetRole string
}

// Reporter records a finding at an image offset.
type Reporter func(off int, format string, args ...any)

// Inst is one decoded instruction of an image; Bad marks a byte that does
// not start a valid instruction (it counts as one byte).
type Inst struct {
	Off int
	Bad bool
	x86asm.Inst
}

// End is the offset after the instruction.
func (in Inst) End() int { return in.Off + in.Len }

// Facts are the verifier's reading of an instruction.
type Facts struct {
	// Target is the image offset a relative branch goes to (Relative).
	Target   int
	Relative bool
	// Terminal: control never falls through (RET, JMP, UD2, HLT, INT3, a
	// bad byte).
	Terminal bool
	// StackDelta is how the instruction moves the stack pointer, if
	// StackKnown.
	StackDelta int
	StackKnown bool
	// RIPRelative: the instruction has a RIP-relative memory operand.
	RIPRelative bool
}

// Image is the verifier's view of one variant's final bytes, as Check
// needs it; internal/verify implements it on its decoded image.
type Image interface {
	// Code is the image's bytes, linked at Addr.
	Code() []byte
	Addr() uint64
	Variant() *layout.Variant
	// InstAt is the instruction starting at off.
	InstAt(off int) (Inst, bool)
	// Boundary reports whether off starts an instruction or ends the image.
	Boundary(off int) bool
	// EntryAt is the entry whose bytes include off; EntryStarting the one
	// that starts at off.
	EntryAt(off int) (layout.Entry, bool)
	EntryStarting(off int) (layout.Entry, bool)
	// PoolLen is how many bytes of the replacement pool choice c occupies:
	// up to the next choice, or to the end of the image.
	PoolLen(c layout.Choice) int
	// Same reports whether the instructions at a and b are the same (their
	// bytes, a data reference counting by what it refers to).
	Same(a, b Inst) bool
	// Render shows the instruction at (or covering) off.
	Render(off int) string
	// Facts reads in (an instruction of the image, or of a choice as it
	// would be placed at in.Off).
	Facts(in Inst) Facts
}

var units = struct {
	sync.RWMutex
	m map[layout.Kind]Unit
}{m: map[layout.Kind]Unit{}}

// Register adds a kind; its layout.Kind must be registered
// (layout.RegisterKind) and not have a Unit yet.
func Register(u Unit) {
	units.Lock()
	defer units.Unlock()
	k := u.Kind()
	if !k.Known() {
		panic(fmt.Sprintf("marker: kind %q is not a layout.Kind (layout.RegisterKind)", k))
	}
	if _, dup := units.m[k]; dup {
		panic(fmt.Sprintf("marker: kind %q registered twice", k))
	}
	units.m[k] = u
}

// For returns the Unit of kind k.
func For(k layout.Kind) (Unit, bool) {
	units.RLock()
	defer units.RUnlock()
	u, ok := units.m[k]
	return u, ok
}

// TraitsOf returns the traits of kind k; an unknown kind has none.
func TraitsOf(k layout.Kind) Traits {
	if u, ok := For(k); ok {
		return u.Traits()
	}
	return Traits{}
}

// PatchWindow is the aligned window an atomic site must not cross, so
// that a live switch rewrites it with one 8-byte store.
const PatchWindow = 8

// CrossesWindow reports whether n bytes at address addr cross a
// PatchWindow boundary.
func CrossesWindow(addr uint64, n int) bool { return addr%PatchWindow+uint64(n) > PatchWindow }

// Bytes the sites are made of.
var (
	// NOP5 is the 5-byte NOP of an off static branch.
	NOP5 = []byte{0x0f, 0x1f, 0x44, 0x00, 0x00}
)

// Opcodes the sites are made of.
const (
	OpJMPRel32  = 0xe9
	OpCALLRel32 = 0xe8
	OpINT3      = 0xcc
)

// Rel32 encodes a JMP or CALL (op) with a 32-bit displacement rel.
func Rel32(op byte, rel int32) []byte {
	u := uint32(rel)
	return []byte{op, byte(u), byte(u >> 8), byte(u >> 16), byte(u >> 24)}
}

// nops are the recommended multi-byte NOPs (Intel SDM, "NOP"), by length.
var nops = [][]byte{
	1: {0x90},
	2: {0x66, 0x90},
	3: {0x0f, 0x1f, 0x00},
	4: {0x0f, 0x1f, 0x40, 0x00},
	5: {0x0f, 0x1f, 0x44, 0x00, 0x00},
	6: {0x66, 0x0f, 0x1f, 0x44, 0x00, 0x00},
	7: {0x0f, 0x1f, 0x80, 0x00, 0x00, 0x00, 0x00},
	8: {0x0f, 0x1f, 0x84, 0x00, 0x00, 0x00, 0x00, 0x00},
	9: {0x66, 0x0f, 0x1f, 0x84, 0x00, 0x00, 0x00, 0x00, 0x00},
}

// NopFill returns n bytes of padding as whole NOP instructions, longest
// first.
func NopFill(n int) [][]byte {
	var out [][]byte
	for n > 0 {
		k := min(n, len(nops)-1)
		out = append(out, nops[k])
		n -= k
	}
	return out
}

// INT3s returns n bytes of INT3 filler.
func INT3s(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = OpINT3
	}
	return b
}
