package verify

import "github.com/vdsogen/vdsogen/internal/elfimage"

// CheckELFUnwind is the check that an image's unwind tables (.eh_frame)
// agree with the stack model the verifier proves on its code.
const CheckELFUnwind = "elf-unwind"

// unwindFindings proves the unwind tables of every image of g equal to the
// stack depths the stack rule proved on its code (StackModels: where a
// variant does not reach code that another reaches, that one's depth), at
// every instruction: what the generator checked before writing, checked
// again on the file. An image without tables has nothing to prove here
// (elfimage.Check's eh-frame rule says whether it must have them).
func unwindFindings(g *ImageGroup) []ImageFinding {
	models, err := StackModels(g.Input)
	if err != nil {
		return nil // the stack rule reported it
	}
	var out []ImageFinding
	for _, e := range g.Images {
		if _, err := elfimage.ReadUnwind(e.File); err != nil {
			continue // no tables, or unreadable ones: elfimage.Check's eh-frame rule
		}
		ps, err := elfimage.UnwindProblems(e.File, models[e.Variant])
		if err != nil {
			continue
		}
		v := e.variant()
		im := decodeImage(&v, Image{Addr: e.Text, Bytes: e.Code}, e.resolve)
		for _, p := range ps {
			off := int(p.Offset)
			out = append(out, ImageFinding{e.Path, Finding{Check: CheckELFUnwind, Variants: []string{e.Variant},
				Entry: im.entryName(off), Source: v.SourceAt(off), Offset: off, Msg: p.Msg}})
		}
	}
	return out
}
