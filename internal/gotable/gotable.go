// Package gotable writes a layout table as the Go source the generator
// commits (z<name>_layout_amd64.go): one function, so that the generator
// writes it and the verifier can prove a committed file is exactly the
// Go form of the JSON table the tools read.
package gotable

import (
	"bytes"
	"fmt"
	"go/format"

	"github.com/dave/jennifer/jen"

	"github.com/vdsogen/vdsogen/layout"
)

const layoutPkg = "github.com/vdsogen/vdsogen/layout"

// Render writes the layout table t as the Go file of package pkgName
// declaring varName.
func Render(pkgName, varName string, t *layout.Table) ([]byte, error) {
	f := jen.NewFile(pkgName)
	f.HeaderComment(layout.Generated)
	f.Commentf("%s is where every entry and marker site of image %q sits in each variant,", varName, t.Program)
	f.Comment("measured on the bytes the Go toolchain produced.")
	f.Var().Id(varName).Op("=").Qual(layoutPkg, "Table").Values(jen.Dict{
		jen.Id("Program"):  jen.Lit(t.Program),
		jen.Id("Pages"):    jen.Index().Qual(layoutPkg, "Page").Custom(multiLine, each(t.Pages, page)...),
		jen.Id("Variants"): jen.Index().Qual(layoutPkg, "Variant").Values(each(t.Variants, variant)...),
	})
	return Format(f)
}

// each is the Go value of every element of xs.
func each[T any](xs []T, value func(T) jen.Code) []jen.Code {
	var out []jen.Code
	for _, x := range xs {
		out = append(out, value(x))
	}
	return out
}

func variant(v layout.Variant) jen.Code {
	keys := jen.Dict{}
	for k, on := range v.Keys {
		keys[jen.Lit(k)] = jen.Lit(on)
	}
	vd := lits(map[string]any{"Name": v.Name, "Symbol": v.Symbol, "Size": v.Size, "Standalone": v.Standalone, "Pool": v.Pool})
	vd[jen.Id("Keys")] = jen.Map(jen.String()).Bool().Values(keys)
	vd[jen.Id("Entries")] = jen.Index().Qual(layoutPkg, "Entry").Values(each(v.Entries, entry)...)
	vd[jen.Id("Sites")] = jen.Index().Qual(layoutPkg, "Site").Values(each(v.Sites, site)...)
	vd[jen.Id("Source")] = jen.Index().Qual(layoutPkg, "Span").Custom(multiLine, each(v.Source, span)...)
	if len(v.Regions) > 0 {
		vd[jen.Id("Regions")] = jen.Index().Qual(layoutPkg, "Region").Custom(multiLine, each(v.Regions, region)...)
	}
	return jen.Values(vd)
}

func entry(e layout.Entry) jen.Code {
	return jen.Values(lits(map[string]any{"Name": e.Name, "Offset": e.Offset, "Size": e.Size, "Signature": e.Signature}))
}

func site(s layout.Site) jen.Code {
	d := lits(map[string]any{"Kind": string(s.Kind), "Key": s.Key, "Entry": s.Entry, "On": s.On, "Offset": s.Offset, "Target": s.Target, "Source": s.Source})
	d[jen.Id("Bytes")] = jen.Index().Byte().Values(hexBytes(s.Bytes)...)
	if len(s.Relocs) > 0 {
		d[jen.Id("Relocs")] = jen.Index().Qual(layoutPkg, "Reloc").Values(each(s.Relocs, reloc)...)
	}
	if s.Choice != "" {
		d[jen.Id("Choice")] = jen.Lit(s.Choice)
	}
	if len(s.Choices) > 0 {
		d[jen.Id("Choices")] = jen.Index().Qual(layoutPkg, "Choice").Custom(multiLine, each(s.Choices, choice)...)
	}
	return jen.Values(d)
}

func reloc(r layout.Reloc) jen.Code {
	return jen.Values(lits(map[string]any{"Offset": r.Offset, "Symbol": r.Symbol, "Addend": r.Addend}))
}

func choice(c layout.Choice) jen.Code {
	d := lits(map[string]any{"Name": c.Name, "Offset": c.Offset})
	d[jen.Id("Bytes")] = jen.Index().Byte().Values(hexBytes(c.Bytes)...)
	if c.Feature != "" {
		d[jen.Id("Feature")] = jen.Lit(c.Feature)
	}
	return jen.Values(d)
}

// span is one line: {Offset: 0, Source: "asm.go:37"}.
func span(sp layout.Span) jen.Code {
	return jen.Values(jen.Id("Offset").Op(":").Lit(sp.Offset), jen.Id("Source").Op(":").Lit(sp.Source))
}

func region(r layout.Region) jen.Code {
	return jen.Values(lits(map[string]any{"Name": r.Name, "Entry": r.Entry, "Start": r.Start, "PostCommit": r.PostCommit, "Abort": r.Abort, "Source": r.Source}))
}

// page is one line: {Symbol: "vdsoData", Size: 4096}.
func page(pg layout.Page) jen.Code {
	return jen.Values(jen.Id("Symbol").Op(":").Lit(pg.Symbol), jen.Id("Size").Op(":").Lit(pg.Size))
}

// lits is the keyed elements of a composite literal whose values are Go
// literals (jennifer orders a Dict's keys).
func lits(fields map[string]any) jen.Dict {
	d := jen.Dict{}
	for name, value := range fields {
		d[jen.Id(name)] = jen.Lit(value)
	}
	return d
}

// multiLine puts each element of a composite literal on its own line.
var multiLine = jen.Options{Open: "{", Close: "}", Separator: ",", Multi: true}

func hexBytes(bs []byte) []jen.Code {
	out := make([]jen.Code, len(bs))
	for i, b := range bs {
		out[i] = jen.Op(fmt.Sprintf("0x%02x", b))
	}
	return out
}

// Format formats a jennifer file; jennifer's own output is gofmt'd, and
// formatting again makes the bytes independent of its version's quirks.
func Format(f *jen.File) ([]byte, error) {
	var buf bytes.Buffer
	if err := f.Render(&buf); err != nil {
		return nil, fmt.Errorf("rendering Go: %w", err)
	}
	return format.Source(buf.Bytes())
}
