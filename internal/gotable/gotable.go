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
	var vs []jen.Code
	for _, v := range t.Variants {
		var entries, sites []jen.Code
		for _, e := range v.Entries {
			entries = append(entries, jen.Values(jen.Dict{
				jen.Id("Name"):      jen.Lit(e.Name),
				jen.Id("Offset"):    jen.Lit(e.Offset),
				jen.Id("Size"):      jen.Lit(e.Size),
				jen.Id("Signature"): jen.Lit(e.Signature),
			}))
		}
		for _, s := range v.Sites {
			var relocs []jen.Code
			for _, r := range s.Relocs {
				relocs = append(relocs, jen.Values(jen.Dict{
					jen.Id("Offset"): jen.Lit(r.Offset),
					jen.Id("Symbol"): jen.Lit(r.Symbol),
					jen.Id("Addend"): jen.Lit(r.Addend),
				}))
			}
			site := jen.Dict{
				jen.Id("Kind"):   jen.Lit(string(s.Kind)),
				jen.Id("Key"):    jen.Lit(s.Key),
				jen.Id("Entry"):  jen.Lit(s.Entry),
				jen.Id("On"):     jen.Lit(s.On),
				jen.Id("Offset"): jen.Lit(s.Offset),
				jen.Id("Bytes"):  jen.Index().Byte().Values(hexBytes(s.Bytes)...),
				jen.Id("Target"): jen.Lit(s.Target),
				jen.Id("Source"): jen.Lit(s.Source),
			}
			if len(relocs) > 0 {
				site[jen.Id("Relocs")] = jen.Index().Qual(layoutPkg, "Reloc").Values(relocs...)
			}
			if s.Choice != "" {
				site[jen.Id("Choice")] = jen.Lit(s.Choice)
			}
			var choices []jen.Code
			for _, c := range s.Choices {
				d := jen.Dict{
					jen.Id("Name"):   jen.Lit(c.Name),
					jen.Id("Bytes"):  jen.Index().Byte().Values(hexBytes(c.Bytes)...),
					jen.Id("Offset"): jen.Lit(c.Offset),
				}
				if c.Feature != "" {
					d[jen.Id("Feature")] = jen.Lit(c.Feature)
				}
				choices = append(choices, jen.Values(d))
			}
			if len(choices) > 0 {
				site[jen.Id("Choices")] = jen.Index().Qual(layoutPkg, "Choice").Custom(multiLine, choices...)
			}
			sites = append(sites, jen.Values(site))
		}
		// One span per line: {Offset: 0, Source: "asm.go:37"}.
		var spans []jen.Code
		for _, sp := range v.Source {
			spans = append(spans, jen.Values(jen.Id("Offset").Op(":").Lit(sp.Offset), jen.Id("Source").Op(":").Lit(sp.Source)))
		}
		keys := jen.Dict{}
		for k, on := range v.Keys {
			keys[jen.Lit(k)] = jen.Lit(on)
		}
		var regions []jen.Code
		for _, r := range v.Regions {
			regions = append(regions, jen.Values(jen.Dict{
				jen.Id("Name"):       jen.Lit(r.Name),
				jen.Id("Entry"):      jen.Lit(r.Entry),
				jen.Id("Start"):      jen.Lit(r.Start),
				jen.Id("PostCommit"): jen.Lit(r.PostCommit),
				jen.Id("Abort"):      jen.Lit(r.Abort),
				jen.Id("Source"):     jen.Lit(r.Source),
			}))
		}
		vd := jen.Dict{
			jen.Id("Name"):       jen.Lit(v.Name),
			jen.Id("Symbol"):     jen.Lit(v.Symbol),
			jen.Id("Size"):       jen.Lit(v.Size),
			jen.Id("Standalone"): jen.Lit(v.Standalone),
			jen.Id("Keys"):       jen.Map(jen.String()).Bool().Values(keys),
			jen.Id("Entries"):    jen.Index().Qual(layoutPkg, "Entry").Values(entries...),
			jen.Id("Sites"):      jen.Index().Qual(layoutPkg, "Site").Values(sites...),
			jen.Id("Source"):     jen.Index().Qual(layoutPkg, "Span").Custom(multiLine, spans...),
			jen.Id("Pool"):       jen.Lit(v.Pool),
		}
		if len(regions) > 0 {
			vd[jen.Id("Regions")] = jen.Index().Qual(layoutPkg, "Region").Custom(multiLine, regions...)
		}
		vs = append(vs, jen.Values(vd))
	}
	var pages []jen.Code
	for _, pg := range t.Pages {
		pages = append(pages, jen.Values(jen.Id("Symbol").Op(":").Lit(pg.Symbol), jen.Id("Size").Op(":").Lit(pg.Size)))
	}
	f.Var().Id(varName).Op("=").Qual(layoutPkg, "Table").Values(jen.Dict{
		jen.Id("Program"):  jen.Lit(t.Program),
		jen.Id("Pages"):    jen.Index().Qual(layoutPkg, "Page").Custom(multiLine, pages...),
		jen.Id("Variants"): jen.Index().Qual(layoutPkg, "Variant").Values(vs...),
	})
	return Format(f)
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
