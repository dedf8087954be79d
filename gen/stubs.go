package gen

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"go/types"

	"github.com/dave/jennifer/jen"
	"github.com/mmcloughlin/avo/attr"
	"github.com/mmcloughlin/avo/gotypes"
	"github.com/mmcloughlin/avo/ir"
	"github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/printer"
	"github.com/mmcloughlin/avo/reg"
	"github.com/mmcloughlin/avo/x86"

	"github.com/vdsogen/vdsogen/dsl"
	"github.com/vdsogen/vdsogen/internal/gotable"
)

// argRegs are the C ABI's integer argument registers, in order.
var argRegs = []reg.GPPhysical{reg.RDI, reg.RSI, reg.RDX, reg.RCX, reg.R8, reg.R9}

// stub is the Go function that calls one entry of one variant.
type stub struct {
	name   string
	entry  *dsl.EntryPoint
	offset int
	image  string
	sig    *types.Signature
}

func stubName(entry, variant string) string { return entry + "_" + variant }

// entrySignature resolves an entry's stub signature in the target package
// and checks that the C ABI can carry it.
func entrySignature(pkg *types.Package, e *dsl.EntryPoint) (*types.Signature, error) {
	fail := func(format string, args ...any) error {
		return &dsl.Error{Pos: e.Pos, Msg: fmt.Sprintf("entry %q: ", e.Name) + fmt.Sprintf(format, args...)}
	}
	sig, err := parseSignature(pkg, e.Signature)
	if err != nil {
		return nil, fail("signature %q: %v", e.Signature, err)
	}
	if sig.Variadic() {
		return nil, fail("variadic signatures cannot be called with the C ABI")
	}
	if sig.Params().Len() > len(argRegs) {
		return nil, fail("%d parameters; the C ABI passes at most %d in registers", sig.Params().Len(), len(argRegs))
	}
	if sig.Results().Len() > 1 {
		return nil, fail("%d results; an entry returns at most one value (in AX)", sig.Results().Len())
	}
	all := []*types.Var{}
	for i := range sig.Params().Len() {
		all = append(all, sig.Params().At(i))
	}
	for i := range sig.Results().Len() {
		all = append(all, sig.Results().At(i))
	}
	for _, v := range all {
		if !scalar(v.Type()) {
			return nil, fail("%s has type %s; only integers, bool, uintptr and pointers fit in a register", nameOr(v.Name(), "the result"), v.Type())
		}
	}
	for i := range sig.Params().Len() {
		if sig.Params().At(i).Name() == "" {
			return nil, fail("parameter %d has no name; name every parameter (go vet checks the stub's frame by name)", i+1)
		}
	}
	return sig, nil
}

// parseSignature resolves a func type expression against the target
// package: predeclared types, the package's own types, unsafe.Pointer and
// types of packages it imports. (types.Eval sees only the package scope,
// not the imports of its files.)
func parseSignature(pkg *types.Package, expr string) (*types.Signature, error) {
	x, err := parser.ParseExpr(expr)
	if err != nil {
		return nil, err
	}
	ft, ok := x.(*ast.FuncType)
	if !ok {
		return nil, fmt.Errorf("not a func type")
	}
	var typeOf func(ast.Expr) (types.Type, error)
	typeOf = func(x ast.Expr) (types.Type, error) {
		switch x := x.(type) {
		case *ast.StarExpr:
			t, err := typeOf(x.X)
			if err != nil {
				return nil, err
			}
			return types.NewPointer(t), nil
		case *ast.ParenExpr:
			return typeOf(x.X)
		case *ast.Ident:
			if pkg != nil {
				if tn, ok := pkg.Scope().Lookup(x.Name).(*types.TypeName); ok {
					return tn.Type(), nil
				}
			}
			if tn, ok := types.Universe.Lookup(x.Name).(*types.TypeName); ok {
				return tn.Type(), nil
			}
			return nil, fmt.Errorf("undefined type %s", x.Name)
		case *ast.SelectorExpr:
			id, ok := x.X.(*ast.Ident)
			if !ok {
				break
			}
			if id.Name == "unsafe" && x.Sel.Name == "Pointer" {
				return types.Typ[types.UnsafePointer], nil
			}
			if pkg != nil {
				for _, imp := range pkg.Imports() {
					if imp.Name() == id.Name {
						if tn, ok := imp.Scope().Lookup(x.Sel.Name).(*types.TypeName); ok {
							return tn.Type(), nil
						}
					}
				}
			}
			return nil, fmt.Errorf("undefined type %s.%s (the package must import %s)", id.Name, x.Sel.Name, id.Name)
		}
		return nil, fmt.Errorf("type %T is not supported in an entry signature", x)
	}
	tuple := func(fl *ast.FieldList) (*types.Tuple, error) {
		if fl == nil {
			return types.NewTuple(), nil
		}
		var vars []*types.Var
		for _, f := range fl.List {
			if _, ok := f.Type.(*ast.Ellipsis); ok {
				return nil, fmt.Errorf("variadic signatures cannot be called with the C ABI")
			}
			t, err := typeOf(f.Type)
			if err != nil {
				return nil, err
			}
			if len(f.Names) == 0 {
				vars = append(vars, types.NewVar(token.NoPos, pkg, "", t))
			}
			for _, n := range f.Names {
				vars = append(vars, types.NewVar(token.NoPos, pkg, n.Name, t))
			}
		}
		return types.NewTuple(vars...), nil
	}
	params, err := tuple(ft.Params)
	if err != nil {
		return nil, err
	}
	results, err := tuple(ft.Results)
	if err != nil {
		return nil, err
	}
	return types.NewSignatureType(nil, nil, nil, params, results, false), nil
}

func nameOr(name, alt string) string {
	if name == "" {
		return alt
	}
	return name
}

func scalar(t types.Type) bool {
	switch u := t.Underlying().(type) {
	case *types.Pointer:
		return true
	case *types.Basic:
		return u.Info()&(types.IsInteger|types.IsBoolean) != 0 || u.Kind() == types.UnsafePointer
	}
	return false
}

// printStubs prints the assembly of every stub: load the Go (ABI0)
// arguments into the C ABI registers, call the entry inside the image,
// store AX as the result.
func printStubs(pkg *types.Package, stubs []stub, images []string) ([]byte, error) {
	f := ir.NewFile()
	f.Includes = []string{"textflag.h"}
	for _, s := range stubs {
		fn := ir.NewFunction(s.name)
		fn.Attributes = attr.NOSPLIT
		fn.SetSignature(gotypes.NewSignature(pkg, s.sig))
		fn.Doc = []string{fmt.Sprintf("calls entry %s at offset %d of %s.", s.entry.Name, s.offset, s.image)}
		add := func(i *ir.Instruction, err error) error {
			if err != nil {
				return fmt.Errorf("stub %s: %w", s.name, err)
			}
			fn.AddInstruction(i)
			return nil
		}
		params := fn.Signature.Params()
		for i := range s.sig.Params().Len() {
			b, err := params.At(i).Resolve()
			if err != nil {
				return nil, fmt.Errorf("stub %s: parameter %d: %w", s.name, i, err)
			}
			if err := add(loadArg(b, argRegs[i])); err != nil {
				return nil, err
			}
		}
		// A direct call to symbol+offset. avo's CALL takes no memory form,
		// so the target is spelled as a rel32 operand; it prints verbatim.
		target := operand.LabelRef(fmt.Sprintf("·%s+%d(SB)", s.image, s.offset))
		if err := add(x86.CALL(target)); err != nil {
			return nil, err
		}
		if s.sig.Results().Len() == 1 {
			b, err := fn.Signature.Results().At(0).Resolve()
			if err != nil {
				return nil, fmt.Errorf("stub %s: result: %w", s.name, err)
			}
			if err := add(storeResult(b)); err != nil {
				return nil, err
			}
		}
		if err := add(x86.RET()); err != nil {
			return nil, err
		}
		f.AddSection(fn)
	}
	for _, img := range images {
		fn := ir.NewFunction(addrFunc(img))
		fn.Attributes = attr.NOSPLIT
		fn.SetSignature(gotypes.NewSignature(nil, addrSignature()))
		if err := addrBody(fn, img); err != nil {
			return nil, err
		}
		f.AddSection(fn)
	}
	return printer.NewGoAsm(printer.Config{Name: "vdsogen"}).Print(f)
}

// addrFunc names the function that returns the address of an image, so
// that tests and loaders can read the bytes the linker placed.
func addrFunc(image string) string { return image + "_addr" }

func addrSignature() *types.Signature {
	ret := types.NewVar(token.NoPos, nil, "", types.Typ[types.UnsafePointer])
	return types.NewSignatureType(nil, nil, nil, nil, types.NewTuple(ret), false)
}

func addrBody(fn *ir.Function, image string) error {
	lea, err := x86.LEAQ(operand.Mem{Symbol: operand.Symbol{Name: "·" + image}, Base: reg.StaticBase}, reg.RAX)
	if err != nil {
		return err
	}
	b, err := fn.Signature.Results().At(0).Resolve()
	if err != nil {
		return err
	}
	mov, err := x86.MOVQ(reg.RAX, b.Addr)
	if err != nil {
		return err
	}
	ret, _ := x86.RET()
	fn.AddInstruction(lea)
	fn.AddInstruction(mov)
	fn.AddInstruction(ret)
	return nil
}

// loadArg widens a Go argument to 32 or 64 bits as C callers do.
func loadArg(b *gotypes.Basic, r reg.GPPhysical) (*ir.Instruction, error) {
	signed := b.Type.Info()&types.IsUnsigned == 0 && b.Type.Info()&types.IsInteger != 0
	switch sizes.Sizeof(b.Type) {
	case 1:
		if signed {
			return x86.MOVBLSX(b.Addr, r.As32())
		}
		return x86.MOVBLZX(b.Addr, r.As32())
	case 2:
		if signed {
			return x86.MOVWLSX(b.Addr, r.As32())
		}
		return x86.MOVWLZX(b.Addr, r.As32())
	case 4:
		return x86.MOVL(b.Addr, r.As32())
	default:
		return x86.MOVQ(b.Addr, r)
	}
}

func storeResult(b *gotypes.Basic) (*ir.Instruction, error) {
	switch sizes.Sizeof(b.Type) {
	case 1:
		return x86.MOVB(reg.AL, b.Addr)
	case 2:
		return x86.MOVW(reg.AX, b.Addr)
	case 4:
		return x86.MOVL(reg.EAX, b.Addr)
	default:
		return x86.MOVQ(reg.RAX, b.Addr)
	}
}

var sizes = types.SizesFor("gc", "amd64")

// stubDecls writes the Go declarations of the stubs.
func stubDecls(pkgName string, pkg *types.Package, stubs []stub, images []string) ([]byte, error) {
	f := jen.NewFile(pkgName)
	f.HeaderComment(header[3:])
	for _, img := range images {
		f.Commentf("%s returns the address of image %s, where the linker placed its bytes.", addrFunc(img), img)
		f.Func().Id(addrFunc(img)).Params().Qual("unsafe", "Pointer")
		f.Line()
	}
	for _, s := range stubs {
		f.Commentf("%s calls entry %s of image %s (offset %d).", s.name, s.entry.Name, s.image, s.offset)
		if hasPointer(s.sig) {
			f.Comment("")
			f.Comment("//go:noescape")
		}
		var params []jen.Code
		for i := range s.sig.Params().Len() {
			p := s.sig.Params().At(i)
			params = append(params, jen.Id(p.Name()).Add(typeCode(pkg, p.Type())))
		}
		fn := f.Func().Id(s.name).Params(params...)
		if s.sig.Results().Len() == 1 {
			r := s.sig.Results().At(0)
			if r.Name() != "" {
				fn.Params(jen.Id(r.Name()).Add(typeCode(pkg, r.Type())))
			} else {
				fn.Add(typeCode(pkg, r.Type()))
			}
		}
		f.Line()
	}
	return gotable.Format(f)
}

func hasPointer(sig *types.Signature) bool {
	for i := range sig.Params().Len() {
		t := sig.Params().At(i).Type().Underlying()
		if _, ok := t.(*types.Pointer); ok {
			return true
		}
		if b, ok := t.(*types.Basic); ok && b.Kind() == types.UnsafePointer {
			return true
		}
	}
	return false
}

// typeCode spells t as seen from pkg.
func typeCode(pkg *types.Package, t types.Type) jen.Code {
	switch t := t.(type) {
	case *types.Pointer:
		return jen.Op("*").Add(typeCode(pkg, t.Elem()))
	case *types.Named:
		obj := t.Obj()
		if obj.Pkg() == nil || (pkg != nil && obj.Pkg().Path() == pkg.Path()) {
			return jen.Id(obj.Name())
		}
		return jen.Qual(obj.Pkg().Path(), obj.Name())
	case *types.Alias:
		return typeCode(pkg, types.Unalias(t))
	case *types.Basic:
		if t.Kind() == types.UnsafePointer {
			return jen.Qual("unsafe", "Pointer")
		}
		return jen.Id(t.Name())
	}
	return jen.Id(t.String())
}
