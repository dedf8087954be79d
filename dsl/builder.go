package dsl

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/mmcloughlin/avo/ir"
	"github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"
)

// Builder records one program. The zero value is not usable; call New.
type Builder struct {
	prog *Program
	// dst is where the next node goes: an entry's body or a marker's block.
	dst *[]Node
	// marker is the marker whose block is being recorded, if any.
	marker *MarkerNode
	// inRegion is the Region whose blocks are being recorded, if any.
	inRegion *RegionNode
	// nextID numbers markers in program order.
	nextID int
	// checked is set once the whole-program checks ran.
	checked bool
	// end is where the program was finished (see MarkEnd).
	end Pos
}

// MarkEnd records where the program ends: the call of the function that
// called MarkEnd (gen.Main in a generator program). Mistakes of the program
// as a whole, such as declaring no entry, are reported there.
func (b *Builder) MarkEnd() { b.end = here(2) }

// New returns an empty Builder.
func New() *Builder {
	return &Builder{prog: &Program{}}
}

var stdBuilder = New()

// std is the Builder behind the package-level helpers; their first use
// stops a program that links no driver (see requireDriver).
func std() *Builder {
	requireDriver()
	return stdBuilder
}

// Std returns the Builder behind the package-level helpers, for gen.Main
// and dsl/x86's instructions; like them, its first use stops a program
// that links no driver.
func Std() *Builder {
	requireDriver()
	return stdBuilder
}

// Reset replaces the Builder behind the package-level helpers with an empty
// one and returns it.
func Reset() *Builder {
	stdBuilder = New()
	return stdBuilder
}

// Program is what a Builder recorded.
type Program struct {
	Pages   []*Page
	Entries []*EntryPoint
	// Markers lists every marker in program order.
	Markers []*MarkerNode
	// Regions lists every restartable region in program order.
	Regions []*RegionNode
	errs    ErrorList
}

// EntryPoint is one entry point of the image.
type EntryPoint struct {
	Name string
	// Signature is the Go signature of the stubs that call this entry,
	// e.g. "func(clockid int32, ts *Timespec) int32".
	Signature string
	Pos       Pos
	Body      []Node
}

// Node is one element of an entry's body.
type Node interface {
	Position() Pos
}

// Inst is an ordinary instruction.
type Inst struct {
	Inst *ir.Instruction
	Pos  Pos
}

// LabelNode defines a label at this point.
type LabelNode struct {
	Name string
	Pos  Pos
}

// Raw is a sequence of literal bytes (emitted as BYTE directives).
type Raw struct {
	Bytes []byte
	Pos   Pos
}

// Position reports where the node was written.
func (n *Inst) Position() Pos { return n.Pos }

// Position reports where the node was written.
func (n *LabelNode) Position() Pos { return n.Pos }

// Position reports where the node was written.
func (n *Raw) Position() Pos { return n.Pos }

func (b *Builder) errorf(p Pos, format string, args ...any) {
	b.prog.errs = append(b.prog.errs, &Error{Pos: p, Msg: fmt.Sprintf(format, args...)})
}

// Add appends an instruction made by one of avo's x86 constructors, as in
// b.Add(x86.MOVQ(RAX, RBX)); the functions of package dsl/x86 call it on
// the default Builder. A constructor's error is recorded at the caller's
// position, and so are vector registers (X0, Y0, Z0, K0, ...), which a
// vDSO routine may not use: it has no FPU or vector state of its own.
func (b *Builder) Add(i *ir.Instruction, err error) {
	p := here(1)
	if err != nil {
		b.errorf(p, "%s: %v (see the instruction's forms in avo's x86 package)", p.instruction(), err)
		return
	}
	for _, op := range i.Operands {
		if r := vectorRegister(op); r != nil {
			b.errorf(p, "%s: %s is not a general-purpose register; vDSO routines use general-purpose registers only", i.Opcode, r.Asm())
			return
		}
	}
	b.node(p, &Inst{Inst: i, Pos: p})
}

// vectorRegister returns op if it is a register other than a
// general-purpose (or pseudo) one.
func vectorRegister(op operand.Op) reg.Register {
	if r, ok := op.(reg.Register); ok && r.Kind() != reg.KindGP && r.Kind() != reg.KindPseudo {
		return r
	}
	return nil
}

func (b *Builder) node(p Pos, n Node) {
	if b.dst == nil {
		b.errorf(p, "instruction outside an entry: call Entry first")
		return
	}
	*b.dst = append(*b.dst, n)
}

var namePattern = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// Entry starts a new entry point; the instructions that follow, up to the
// next Entry, are its body. signature is the Go signature of the stubs that
// call it, e.g. "func(clockid int32, ts *Timespec) int32".
func (b *Builder) Entry(name, signature string) { b.entry(here(1), name, signature) }

// Entry starts a new entry point in the default program.
func Entry(name, signature string) { std().entry(here(1), name, signature) }

func (b *Builder) entry(p Pos, name, signature string) {
	if b.marker != nil {
		b.errorf(p, "Entry %q inside a marker block: close the marker first", name)
		return
	}
	if b.inRegion != nil {
		b.errorf(p, "Entry %q inside Region %q: close the region first", name, b.inRegion.Name)
		return
	}
	if !namePattern.MatchString(name) {
		b.errorf(p, "entry name %q is not an identifier", name)
	}
	for _, e := range b.prog.Entries {
		if e.Name == name {
			b.errorf(p, "duplicate entry %q (first declared at %s)", name, e.Pos)
		}
	}
	e := &EntryPoint{Name: name, Signature: signature, Pos: p}
	b.prog.Entries = append(b.prog.Entries, e)
	b.dst = &e.Body
}

// Label defines a label at the current point. Labels share one namespace
// across the whole image.
func (b *Builder) Label(name string) { b.label(here(1), name) }

// Label defines a label in the default program.
func Label(name string) { std().label(here(1), name) }

func (b *Builder) label(p Pos, name string) {
	if !namePattern.MatchString(name) {
		b.errorf(p, "label %q is not an identifier", name)
		return
	}
	if strings.HasPrefix(name, ReservedLabelPrefix) {
		b.errorf(p, "label %q: labels starting with %q are reserved for the generator; rename it", name, ReservedLabelPrefix)
		return
	}
	b.node(p, &LabelNode{Name: name, Pos: p})
}

// ReservedLabelPrefix starts every label the generator places.
const ReservedLabelPrefix = "vg_"

// L refers to a label, as the operand of a branch.
func L(name string) operand.LabelRef { return operand.LabelRef(name) }

// NOP emits a one-byte 0x90. (Go's assembler treats the NOP mnemonic as a
// pseudo-instruction that emits nothing, which would break the 1:1 mapping
// from program to bytes.) Generator programs call x86.NOP.
func (b *Builder) NOP() { b.raw(here(1), 0x90) }

// Bytes emits literal bytes.
func (b *Builder) Bytes(bs ...byte) { b.raw(here(1), bs...) }

// Bytes emits literal bytes in the default program.
func Bytes(bs ...byte) { std().raw(here(1), bs...) }

func (b *Builder) raw(p Pos, bs ...byte) {
	if len(bs) == 0 {
		return
	}
	b.node(p, &Raw{Bytes: append([]byte(nil), bs...), Pos: p})
}

// Program finishes recording, checks the program as a whole and returns it
// with every mistake found (as an ErrorList).
func (b *Builder) Program() (*Program, error) {
	if !b.checked {
		b.check()
		b.checked = true
	}
	if len(b.prog.errs) > 0 {
		b.prog.errs.Sort()
		return nil, b.prog.errs
	}
	return b.prog, nil
}
