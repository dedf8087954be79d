package verify

import (
	"fmt"
	"go/types"
	"regexp"
	"strings"

	"golang.org/x/arch/x86/x86asm"

	"github.com/vdsogen/vdsogen/layout"
)

// StubFiles is the Go side of a generated program, what the stubs rule
// proves: the functions Go code calls the entries through, as declared in
// the stubs' Go file, as written in their assembly file, and as linked.
type StubFiles struct {
	// AsmFile and GoFile are the base names of the two stub files
	// ("zclock_stubs_amd64.s", "zclock_stubs_amd64.go").
	AsmFile, GoFile string
	// Err says why the stub files could not be read whole (a missing
	// file, a package that does not load); the rule reports it.
	Err error
	// Text lists the TEXT symbols of AsmFile, in file order.
	Text []StubText
	// Decls lists the functions GoFile declares, in file order.
	Decls []StubDecl
	// Linked holds each TEXT symbol's bytes and address as linked, by name.
	Linked map[string]Image
	// Line maps an address of the build to the source line that produced
	// it, as harness.Result.Line does.
	Line func(addr uint64) (file string, line int, ok bool)
	// Signature resolves an entry's declared signature
	// (layout.Entry.Signature) in the target package.
	Signature func(expr string) (*types.Signature, error)
}

// StubText is one TEXT directive of the stubs' assembly file.
type StubText struct {
	Name string
	Line int
	// Flags is the flag expression ("NOSPLIT"); Frame and Args are the
	// frame and argument sizes of "$Frame-Args" (Args is -1 when absent).
	Flags       string
	Frame, Args int
}

func (tx StubText) frameSpec() string {
	if tx.Args < 0 {
		return fmt.Sprintf("$%d", tx.Frame)
	}
	return fmt.Sprintf("$%d-%d", tx.Frame, tx.Args)
}

// StubDecl is one function declaration of the stubs' Go file.
type StubDecl struct {
	Name string
	// Pos is where it is declared, "zclock_stubs_amd64.go:12:6".
	Pos string
	// Sig is the declared signature; nil with Err set when it does not
	// type-check.
	Sig *types.Signature
	Err error
	// HasBody reports a Go body: a stub's body is its assembly.
	HasBody bool
}

// cArgRegs are the C ABI's integer argument registers in order, 64- and
// 32-bit: an argument narrower than 8 bytes is passed widened to 32 bits.
var cArgRegs = [][2]x86asm.Reg{{x86asm.RDI, x86asm.EDI}, {x86asm.RSI, x86asm.ESI}, {x86asm.RDX, x86asm.EDX}, {x86asm.RCX, x86asm.ECX}, {x86asm.R8, x86asm.R8L}, {x86asm.R9, x86asm.R9L}}

// goSizes are the sizes and alignments of gc on amd64, which lay out an
// ABI0 frame.
var goSizes = types.SizesFor("gc", "amd64")

// stubKind tells an entry's stub from an image's address function.
type stubKind int

const (
	entryStub stubKind = iota
	addrStub
)

// wantStub is one function the stub files must define, as the table
// implies it.
type wantStub struct {
	name    string
	kind    stubKind
	variant *layout.Variant
	entry   layout.Entry // entryStub only
	sig     *types.Signature
}

// stubName is the name of the Go stub that calls entry in variant.
func stubName(entry, variant string) string { return entry + "_" + variant }

// addrFuncName is the name of the Go function returning where an image was
// linked.
func addrFuncName(imageSymbol string) string { return imageSymbol + "_addr" }

// addrSignature is the signature of every address function.
var addrSignature = types.NewSignatureType(nil, nil, nil, nil, types.NewTuple(types.NewVar(0, nil, "", types.Typ[types.UnsafePointer])), false)

// stubs: the table's own promises the stubs rely on hold (variant names
// and image symbols unique, entry names unique, every variant with the
// same entries, each entry's signature recorded, resolvable in the
// package, callable with the C ABI and equal in every variant, every stub
// name distinct); the stub files define exactly one stub per entry and
// variant plus one address function per image, no more; each Go
// declaration has the entry's signature; and the linked bytes of each
// stub load every argument from its ABI0 frame slot into its C ABI
// register with the right width and extension, call its own variant's
// image at the entry's offset, store the result with the right width into
// the result slot, and return, with the frame the toolchain gives a NOSPLIT
// $0 function, and nothing else.
func stubs(p *Pass) {
	sigs := stubTable(p)
	s := p.In.Stubs
	if s == nil {
		// The generator's layout builds hold no stubs yet; what the table
		// promises the stubs is checked above.
		return
	}
	switch {
	case s.Err != nil:
		p.stubErrorf(s.AsmFile, nil, "", 0, "%v", s.Err)
		if len(s.Text) == 0 {
			return // no stub file: one finding, not one per stub
		}
	case s.Signature == nil:
		p.stubErrorf(s.AsmFile, nil, "", 0, "no way to resolve the entries' signatures in the package")
	}
	want := wantStubs(p, sigs)
	names := map[string]*wantStub{}
	for _, w := range want {
		names[w.name] = w
	}
	if s.Err == nil || len(s.Decls) > 0 {
		stubDecls(p, s, want, names)
	}
	texts := map[string]StubText{}
	for _, tx := range s.Text {
		if _, ok := names[tx.Name]; !ok {
			p.stubErrorf(fmt.Sprintf("%s:%d", s.AsmFile, tx.Line), nil, "", 0, "TEXT %s is no stub of the table: the stub files define one function per entry and variant (<entry>_<variant>) and one per image (<image>_addr)", tx.Name)
			continue
		}
		texts[tx.Name] = tx
	}
	for _, w := range want {
		tx, ok := texts[w.name]
		if !ok {
			p.stubErrorf(s.AsmFile, w, "", 0, "no TEXT %s: %s", w.name, w.what())
			continue
		}
		if w.sig == nil {
			continue // the entry's signature is unknown, as reported
		}
		// "$0" without an argument size is how a function of no arguments
		// is written (avo does); any other function states its size.
		if args := frameSize(w.sig); tx.Frame != 0 || (tx.Args != args && !(tx.Args < 0 && args == 0)) {
			p.stubErrorf(fmt.Sprintf("%s:%d", s.AsmFile, tx.Line), w, "", 0, "stub %s declares frame %s; its signature %s needs $0-%d", w.name, tx.frameSpec(), sigString(w.sig), args)
		}
		if tx.Flags != "NOSPLIT" {
			// The bytes rule out most other flags (a stack check, no
			// frame pointer); TOPFRAME, DUPOK and the like change only
			// what the runtime and linker believe, so the text decides.
			p.stubErrorf(fmt.Sprintf("%s:%d", s.AsmFile, tx.Line), w, "", 0, "stub %s has flags %q; a stub is NOSPLIT and nothing else", w.name, tx.Flags)
		}
		img, ok := s.Linked[w.name]
		if !ok {
			p.stubErrorf(fmt.Sprintf("%s:%d", s.AsmFile, tx.Line), w, "", 0, "the build did not link stub %s", w.name)
			continue
		}
		checkStubBytes(p, s, w, tx, img)
	}
}

// what says what a wanted stub is for.
func (w *wantStub) what() string {
	if w.kind == addrStub {
		return fmt.Sprintf("the address function of image %s (variant %s)", w.variant.Symbol, w.variant.Name)
	}
	return fmt.Sprintf("the stub of entry %s in variant %s (%s+%#x)", w.entry.Name, w.variant.Name, w.variant.Symbol, w.entry.Offset)
}

// stubErrorf records a finding of the stubs rule at source, about stub w
// (nil for none) and inst, at offset off inside the stub.
func (p *Pass) stubErrorf(source string, w *wantStub, inst string, off int, format string, args ...any) {
	f := Finding{Check: p.rule, Offset: off, Source: source, Msg: fmt.Sprintf(format, args...)}
	if w != nil {
		f.Variants = []string{w.variant.Name}
		f.Entry = w.entry.Name
	}
	if inst != "" {
		f.Inst = []string{inst}
	}
	p.Report.Findings = append(p.Report.Findings, f)
}

// stubTable checks what the table promises the stubs and returns each
// entry's resolved signature by variant and entry name (missing where it
// does not resolve).
func stubTable(p *Pass) map[string]map[string]*types.Signature {
	t := p.In.Table
	sigs := map[string]map[string]*types.Signature{}
	variantOf, symbolOf := map[string]bool{}, map[string]string{}
	for i := range t.Variants {
		v := &t.Variants[i]
		if variantOf[v.Name] {
			p.tableErrorf([]string{v.Name}, "", 0, "the table declares variant %s twice: its stubs (<entry>_%s) would be defined twice", v.Name, v.Name)
		}
		variantOf[v.Name] = true
		if o, ok := symbolOf[v.Symbol]; ok {
			p.tableErrorf([]string{v.Name, o}, "", 0, "variants %s and %s both have image symbol %s: the stubs of one would call the other's image", v.Name, o, v.Symbol)
		}
		symbolOf[v.Symbol] = v.Name
		sigs[v.Name] = map[string]*types.Signature{}
		seen := map[string]bool{}
		for _, e := range v.Entries {
			if seen[e.Name] {
				p.tableErrorf([]string{v.Name}, e.Name, e.Offset, "the variant declares entry %s twice: its stub %s would call one of two offsets", e.Name, stubName(e.Name, v.Name))
				continue
			}
			seen[e.Name] = true
			sig, ok := entrySig(p, v, e)
			if ok {
				sigs[v.Name][e.Name] = sig
			}
		}
	}
	if len(t.Variants) == 0 {
		return sigs
	}
	// Every variant has the same entries with the same signatures, so that
	// a caller can use any variant's stubs (and a loader switch them).
	ref := &t.Variants[0]
	for i := range t.Variants[1:] {
		v := &t.Variants[i+1]
		for _, e := range v.Entries {
			re, ok := ref.Entry(e.Name)
			switch {
			case !ok:
				p.tableErrorf([]string{v.Name, ref.Name}, e.Name, e.Offset, "variant %s declares entry %s, variant %s does not", v.Name, e.Name, ref.Name)
			case sigs[v.Name][e.Name] != nil && sigs[ref.Name][e.Name] != nil && !types.Identical(sigs[v.Name][e.Name], sigs[ref.Name][e.Name]):
				p.tableErrorf([]string{v.Name, ref.Name}, e.Name, e.Offset, "entry %s has signature %q in variant %s but %q in variant %s: its stubs would differ", e.Name, e.Signature, v.Name, re.Signature, ref.Name)
			}
		}
		for _, re := range ref.Entries {
			if _, ok := v.Entry(re.Name); !ok {
				p.tableErrorf([]string{v.Name, ref.Name}, re.Name, 0, "variant %s declares no entry %s, variant %s does", v.Name, re.Name, ref.Name)
			}
		}
	}
	return sigs
}

// entrySig resolves e's declared signature and checks that the C ABI
// carries it: at most six parameters, at most one result, each an integer,
// bool or pointer.
func entrySig(p *Pass, v *layout.Variant, e layout.Entry) (*types.Signature, bool) {
	fail := func(format string, args ...any) (*types.Signature, bool) {
		p.tableErrorf([]string{v.Name}, e.Name, e.Offset, format, args...)
		return nil, false
	}
	if p.In.Stubs == nil {
		return nil, false // nothing to check the signature against
	}
	if e.Signature == "" {
		return fail("the table records no signature for entry %s: its stubs cannot be checked (regenerate the table)", e.Name)
	}
	if p.In.Stubs.Signature == nil {
		return nil, false // reported once by Stubs
	}
	sig, err := p.In.Stubs.Signature(e.Signature)
	if err != nil {
		return fail("signature %q of entry %s does not resolve in the package: %v", e.Signature, e.Name, err)
	}
	if sig.Variadic() || sig.Params().Len() > len(cArgRegs) || sig.Results().Len() > 1 {
		return fail("signature %q of entry %s cannot be called with the C ABI: at most %d parameters in registers and one result in AX", e.Signature, e.Name, len(cArgRegs))
	}
	for _, vars := range []*types.Tuple{sig.Params(), sig.Results()} {
		for i := range vars.Len() {
			if _, ok := scalarSize(vars.At(i).Type()); !ok {
				return fail("signature %q of entry %s: %s has type %s, which does not fit in a register", e.Signature, e.Name, nameOr(vars.At(i).Name(), "the result"), types.TypeString(vars.At(i).Type(), pkgName))
			}
		}
	}
	return sig, true
}

func nameOr(name, alt string) string {
	if name == "" {
		return alt
	}
	return name
}

// scalarSize returns the size of a type the C ABI passes in one integer
// register.
func scalarSize(t types.Type) (int, bool) {
	switch u := t.Underlying().(type) {
	case *types.Pointer:
		return 8, true
	case *types.Basic:
		if u.Info()&(types.IsInteger|types.IsBoolean) != 0 || u.Kind() == types.UnsafePointer {
			return int(goSizes.Sizeof(t)), true
		}
	}
	return 0, false
}

func signed(t types.Type) bool {
	b, ok := t.Underlying().(*types.Basic)
	return ok && b.Info()&types.IsInteger != 0 && b.Info()&types.IsUnsigned == 0
}

// wantStubs lists the functions the table implies, in table order, and
// reports names that collide (entry a_b in variant c and entry a in
// variant b_c both give a_b_c). A stub whose entry's signature is unknown
// has a nil sig: its name is known, its declaration and bytes cannot be
// checked.
func wantStubs(p *Pass, sigs map[string]map[string]*types.Signature) []*wantStub {
	t := p.In.Table
	var out []*wantStub
	owner := map[string]*wantStub{}
	add := func(w *wantStub) {
		if o, ok := owner[w.name]; ok {
			p.tableErrorf([]string{w.variant.Name}, w.entry.Name, w.entry.Offset, "%s is both %s and %s: rename an entry, a variant or the program", w.name, w.what(), o.what())
			return
		}
		owner[w.name] = w
		out = append(out, w)
	}
	for i := range t.Variants {
		v := &t.Variants[i]
		add(&wantStub{name: addrFuncName(v.Symbol), kind: addrStub, variant: v, sig: addrSignature})
	}
	for i := range t.Variants {
		v := &t.Variants[i]
		for _, e := range v.Entries {
			add(&wantStub{name: stubName(e.Name, v.Name), kind: entryStub, variant: v, entry: e, sig: sigs[v.Name][e.Name]})
		}
	}
	// Image symbols are Go symbols of the same package too.
	for i := range t.Variants {
		v := &t.Variants[i]
		if o, ok := owner[v.Symbol]; ok {
			p.tableErrorf([]string{v.Name}, o.entry.Name, 0, "%s is both the image of variant %s and %s", v.Symbol, v.Name, o.what())
		}
	}
	return out
}

// stubDecls checks the stubs' Go declarations against the table.
func stubDecls(p *Pass, s *StubFiles, want []*wantStub, names map[string]*wantStub) {
	decls := map[string]StubDecl{}
	for _, d := range s.Decls {
		w, ok := names[d.Name]
		if !ok {
			p.stubErrorf(d.Pos, nil, "", 0, "func %s is no stub of the table: the stub files declare one function per entry and variant (<entry>_<variant>) and one per image (<image>_addr)", d.Name)
			continue
		}
		decls[d.Name] = d
		switch {
		case d.HasBody:
			p.stubErrorf(d.Pos, w, "", 0, "func %s has a Go body; %s is implemented in %s", d.Name, w.what(), s.AsmFile)
		case d.Err != nil:
			p.stubErrorf(d.Pos, w, "", 0, "func %s: %v", d.Name, d.Err)
		case d.Sig == nil:
			p.stubErrorf(d.Pos, w, "", 0, "func %s has no signature", d.Name)
		case w.sig == nil:
			// The entry's signature is unknown, as reported.
		case !types.Identical(d.Sig, w.sig):
			want := "func() unsafe.Pointer"
			if w.kind == entryStub {
				want = fmt.Sprintf("%q, which the table records for entry %s", w.entry.Signature, w.entry.Name)
			}
			p.stubErrorf(d.Pos, w, "", 0, "func %s is declared %s; %s must be %s", d.Name, sigString(d.Sig), w.what(), want)
		}
	}
	for _, w := range want {
		if _, ok := decls[w.name]; !ok {
			p.stubErrorf(s.GoFile, w, "", 0, "no Go declaration of %s: %s", w.name, w.what())
		}
	}
}

// sigString spells a signature with package names, as Go source does.
func sigString(sig *types.Signature) string { return types.TypeString(sig, pkgName) }

func pkgName(p *types.Package) string { return p.Name() }

// frameSize is the ABI0 argument size of sig: parameters laid out as
// struct fields, results from the next pointer-aligned offset.
func frameSize(sig *types.Signature) int {
	params, results := frameSlots(sig)
	if len(results) > 0 {
		return results[len(results)-1].off + results[len(results)-1].size
	}
	if len(params) > 0 {
		return params[len(params)-1].off + params[len(params)-1].size
	}
	return 0
}

// slot is one argument or result in an ABI0 frame, at off(FP).
type slot struct {
	name   string
	off    int
	size   int
	signed bool
}

func frameSlots(sig *types.Signature) (params, results []slot) {
	off := 0
	place := func(v *types.Var) slot {
		size, _ := scalarSize(v.Type())
		a := int(goSizes.Alignof(v.Type()))
		off = (off + a - 1) / a * a
		s := slot{name: v.Name(), off: off, size: size, signed: signed(v.Type())}
		off += size
		return s
	}
	for i := range sig.Params().Len() {
		params = append(params, place(sig.Params().At(i)))
	}
	off = (off + 7) / 8 * 8
	for i := range sig.Results().Len() {
		results = append(results, place(sig.Results().At(i)))
	}
	return params, results
}

// step is one instruction a stub must hold: want, except that a call's
// rel32 or a LEAQ's displacement must reach target (symbol, offset).
type step struct {
	want   x86asm.Inst
	target *symOff
	why    string
	// fp is 0(FP) in SP terms, for naming a frame slot.
	fp int64
}

type symOff struct {
	sym string
	off int64
}

// stubSteps is the exact instruction sequence of w, as the generator
// writes it and the toolchain links it.
func stubSteps(w *wantStub) []step {
	sp := func(disp int) x86asm.Mem { return x86asm.Mem{Base: x86asm.RSP, Disp: int64(disp)} }
	ret := step{want: x86asm.Inst{Op: x86asm.RET}, why: "return to the Go caller"}
	params, results := frameSlots(w.sig)
	if w.kind == addrStub {
		// No call, so no frame: the return address is at 0(SP).
		return []step{
			{want: x86asm.Inst{Op: x86asm.LEA, Args: x86asm.Args{x86asm.RAX, x86asm.Mem{Base: x86asm.RIP}}, DataSize: 64}, target: &symOff{w.variant.Symbol, 0},
				why: fmt.Sprintf("the address of image %s into AX", w.variant.Symbol)},
			{want: x86asm.Inst{Op: x86asm.MOV, Args: x86asm.Args{sp(8 + results[0].off), x86asm.RAX}, MemBytes: 8, DataSize: 64},
				why: fmt.Sprintf("AX to the result slot ret+%d(FP)", results[0].off), fp: 8},
			ret,
		}
	}
	// A NOSPLIT $0 function that calls gets PUSHQ BP; MOVQ SP, BP from the
	// assembler, and POPQ BP before its RET: FP slots are at 16(SP) on.
	const fp = 16
	steps := []step{
		{want: x86asm.Inst{Op: x86asm.PUSH, Args: x86asm.Args{x86asm.RBP}, DataSize: 64}, why: "the frame pointer the assembler saves in a NOSPLIT $0 function that calls"},
		{want: x86asm.Inst{Op: x86asm.MOV, Args: x86asm.Args{x86asm.RBP, x86asm.RSP}, DataSize: 64}, why: "the frame pointer the assembler sets"},
	}
	for i, a := range params {
		r := cArgRegs[i][1]
		op := x86asm.MOV
		switch {
		case a.size == 8:
			r = cArgRegs[i][0]
		case a.size < 4 && a.signed:
			op = x86asm.MOVSX
		case a.size < 4:
			op = x86asm.MOVZX
		}
		ext := ""
		if op != x86asm.MOV {
			ext = map[bool]string{true: ", sign-extended to 32 bits", false: ", zero-extended to 32 bits"}[a.signed]
		}
		ds := 32
		if a.size == 8 {
			ds = 64
		}
		steps = append(steps, step{want: x86asm.Inst{Op: op, Args: x86asm.Args{r, sp(fp + a.off)}, MemBytes: a.size, DataSize: ds},
			why: fmt.Sprintf("argument %d %s (%d bytes at %s+%d(FP)) into %s, the C ABI's register for argument %d%s", i+1, a.name, a.size, a.name, a.off, r, i+1, ext), fp: fp})
	}
	steps = append(steps, step{want: x86asm.Inst{Op: x86asm.CALL, Args: x86asm.Args{x86asm.Rel(0)}, DataSize: 64}, target: &symOff{w.variant.Symbol, int64(w.entry.Offset)},
		why: fmt.Sprintf("a direct call of entry %s in variant %s's image, %s+%#x", w.entry.Name, w.variant.Name, w.variant.Symbol, w.entry.Offset)})
	for _, r := range results {
		reg := map[int]x86asm.Reg{1: x86asm.AL, 2: x86asm.AX, 4: x86asm.EAX, 8: x86asm.RAX}[r.size]
		steps = append(steps, step{want: x86asm.Inst{Op: x86asm.MOV, Args: x86asm.Args{sp(fp + r.off), reg}, MemBytes: r.size, DataSize: 8 * max(r.size, 2)},
			why: fmt.Sprintf("the result (%d bytes) from %s to ret+%d(FP)", r.size, reg, r.off), fp: fp})
	}
	return append(steps, step{want: x86asm.Inst{Op: x86asm.POP, Args: x86asm.Args{x86asm.RBP}, DataSize: 64}, why: "the frame pointer restored"}, ret)
}

// checkStubBytes decodes a stub as linked and compares it, instruction by
// instruction, with the sequence it must be; the first difference is the
// finding (what follows it would only repeat it).
func checkStubBytes(p *Pass, s *StubFiles, w *wantStub, tx StubText, img Image) {
	steps := stubSteps(w)
	source := func(off int) string {
		if s.Line != nil {
			if file, line, ok := s.Line(img.Addr + uint64(off)); ok {
				return fmt.Sprintf("%s:%d", file, line)
			}
		}
		return fmt.Sprintf("%s:%d", s.AsmFile, tx.Line)
	}
	off := 0
	for i, st := range steps {
		if off >= len(img.Bytes) {
			p.stubErrorf(source(max(off-1, 0)), w, "", off, "stub %s ends after %d instructions; want %s next (%s)", w.name, i, showWant(st), st.why)
			return
		}
		d, err := x86asm.Decode(img.Bytes[off:], 64)
		if err != nil || d.Len == 0 {
			p.stubErrorf(source(off), w, fmt.Sprintf("BYTE $%#02x (no instruction)", img.Bytes[off]), off, "stub %s: the bytes do not decode; want %s (%s)", w.name, showWant(st), st.why)
			return
		}
		have := showInst(p, img, off, d)
		if msg := matchStep(p, img, off, d, st); msg != "" {
			p.stubErrorf(source(off), w, have, off, "stub %s: %s; want %s (%s)", w.name, msg, showWant(st), st.why)
			return
		}
		off += d.Len
	}
	if off < len(img.Bytes) {
		d, _ := x86asm.Decode(img.Bytes[off:], 64)
		p.stubErrorf(source(off), w, showInst(p, img, off, d), off, "stub %s goes on after its RET (%d more bytes); a stub is exactly its %d instructions", w.name, len(img.Bytes)-off, len(steps))
	}
}

// matchStep says how the instruction d at off differs from st, or "".
func matchStep(p *Pass, img Image, off int, d x86asm.Inst, st step) string {
	want := st.want
	if d.Op != want.Op {
		return "a different instruction"
	}
	for _, pre := range d.Prefix {
		if pre == 0 {
			break
		}
		if pre.IsREX() || (pre&0xff == 0x66 && want.MemBytes == 2) {
			continue
		}
		return fmt.Sprintf("prefix %v is not part of the instruction", pre)
	}
	for i, a := range want.Args {
		h := d.Args[i]
		switch a := a.(type) {
		case x86asm.Rel:
			r, ok := h.(x86asm.Rel)
			if !ok {
				return "not a direct call"
			}
			return p.checkTarget(img.Addr+uint64(off+d.Len)+uint64(int64(r)), st.target)
		case x86asm.Mem:
			m, ok := h.(x86asm.Mem)
			if !ok {
				return fmt.Sprintf("operand %d is not memory", i+1)
			}
			if a.Base == x86asm.RIP {
				if m.Base != x86asm.RIP || m.Index != 0 || m.Segment != 0 {
					return "not a RIP-relative address"
				}
				if msg := p.checkTarget(img.Addr+uint64(off+d.Len)+uint64(int64(int32(m.Disp))), st.target); msg != "" {
					return msg
				}
				continue
			}
			switch {
			case m.Segment != a.Segment || m.Base != a.Base || m.Index != 0:
				return fmt.Sprintf("the memory operand is not the frame slot %#x(SP)", a.Disp)
			case m.Disp != a.Disp:
				return fmt.Sprintf("frame slot %#x(SP) (%+d(FP)) instead of %#x(SP) (%+d(FP))", m.Disp, m.Disp-st.fp, a.Disp, a.Disp-st.fp)
			}
		case x86asm.Reg:
			if h != a {
				return fmt.Sprintf("register %v instead of %v", h, a)
			}
		case nil:
			if h != nil {
				return fmt.Sprintf("an operand %v too many", h)
			}
		}
	}
	if want.MemBytes != 0 && want.Op != x86asm.LEA && d.MemBytes != want.MemBytes {
		return fmt.Sprintf("a %d-byte memory access instead of %d bytes", d.MemBytes, want.MemBytes)
	}
	return ""
}

// checkTarget says how addr differs from where a stub must reach.
func (p *Pass) checkTarget(addr uint64, want *symOff) string {
	sym, off, ok := p.In.Resolve(addr)
	if !ok {
		return fmt.Sprintf("reaches %#x, no symbol of the build", addr)
	}
	if sym == want.sym && off == want.off {
		return ""
	}
	what := ""
	for i := range p.In.Table.Variants {
		v := &p.In.Table.Variants[i]
		if v.Symbol != sym {
			continue
		}
		what = fmt.Sprintf(", variant %s's image", v.Name)
		for _, e := range v.Entries {
			if int64(e.Offset) == off {
				what = fmt.Sprintf(", entry %s of variant %s", e.Name, v.Name)
			}
		}
	}
	return fmt.Sprintf("reaches %s%+#x%s", sym, off, what)
}

// showWant renders a wanted instruction in Go syntax.
func showWant(st step) string {
	if st.target != nil {
		op := "CALL"
		if st.want.Op == x86asm.LEA {
			return fmt.Sprintf("LEAQ %s%+#x(SB), AX", st.target.sym, st.target.off)
		}
		return fmt.Sprintf("%s %s%+#x(SB)", op, st.target.sym, st.target.off)
	}
	return goSyntax(st.want, 0, nil)
}

// showInst renders a linked instruction in Go syntax, targets by symbol.
func showInst(p *Pass, img Image, off int, d x86asm.Inst) string {
	pc := img.Addr + uint64(off)
	if d.Op == x86asm.CALL || d.Op == x86asm.JMP {
		if r, ok := d.Args[0].(x86asm.Rel); ok {
			t := pc + uint64(d.Len) + uint64(int64(r))
			if sym, o, ok := p.In.Resolve(t); ok {
				return fmt.Sprintf("%s %s%+#x(SB)", strings.Fields(goSyntax(d, pc, nil))[0], sym, o)
			}
		}
	}
	text := goSyntax(d, pc, func(addr uint64) (string, uint64) {
		if sym, o, ok := p.In.Resolve(addr); ok {
			return sym, addr - uint64(o)
		}
		return "", 0
	})
	for _, a := range d.Args {
		if m, ok := a.(x86asm.Mem); ok && m.Base == x86asm.RIP {
			if sym, o, ok := p.In.Resolve(pc + uint64(d.Len) + uint64(int64(int32(m.Disp)))); ok {
				text = ripOperand.ReplaceAllLiteralString(text, fmt.Sprintf("%s%+#x(SB)", sym, o))
			}
		}
	}
	return text
}

// ripOperand is how x86asm.GoSyntax prints a RIP-relative operand.
var ripOperand = regexp.MustCompile(`-?0x[0-9a-f]+\(IP\)`)
