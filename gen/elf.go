package gen

import (
	"bytes"
	"debug/elf"
	"fmt"
	"slices"

	"golang.org/x/arch/x86/x86asm"

	"github.com/vdsogen/vdsogen/dsl"
	"github.com/vdsogen/vdsogen/internal/elfimage"
	"github.com/vdsogen/vdsogen/layout"
	"github.com/vdsogen/vdsogen/marker"
)

// elfFile names the ELF vDSO image of a variant.
func elfFile(name, variant string) string { return layout.Files(name).ELF(variant) }

// elfImages builds the ELF vDSO image (internal/elfimage) of every shared
// variant from its final measurement and adds it to files as
// z<name>_<variant>.so. The data pages sit below the image in program
// order (elfimage.LayoutPages: the last page ends at the image); every
// RIP-relative reference to a page is resolved against that placement, so
// the harness link address leaves no trace and the files depend only on
// the program. Each image carries the variant's marker sites, restartable
// regions and pool in its .vdsogen_markers section (elfMarkers). Standalone
// variants get no image: they do not share the others' layout. The images
// must pass elfimage.CheckSame (every symbol at the same value in every
// image).
//
// Every image also carries unwind tables generated from its stack model
// (verify.StackModels: the depths the verifier proved), which
// elfimage.CheckUnwind proves equal to the model at every instruction,
// and non-allocated debugging sections (debugInfo): .symtab and DWARF
// line information mapping every byte to its program line.
func elfImages(files map[string][]byte, prog *dsl.Program, name string, ms map[string]*measured, t *layout.Table, models map[string]map[int]int) error {
	var syms []string
	var sizes []int
	isPage := map[string]bool{}
	for _, pg := range prog.Pages {
		syms = append(syms, pg.Symbol)
		sizes = append(sizes, pg.Size)
		isPage[pg.Symbol] = true
	}
	pages := elfimage.LayoutPages(syms, sizes)
	images := map[string][]byte{}
	for _, v := range t.Variants {
		if v.Standalone {
			continue
		}
		m := ms[v.Name]
		img := elfimage.Image{Program: name, Variant: v.Name, Code: bytes.Clone(m.image), Pages: pages, Markers: elfMarkers(&v, len(m.image)),
			Stack: models[v.Name], Debug: debugInfo(&v, m, name)}
		for _, e := range v.Entries {
			img.Entries = append(img.Entries, elfimage.Entry{Name: e.Name, Offset: e.Offset, Size: e.Size})
		}
		for _, p := range m.placed {
			if p.ref == nil && isRIPRelative(p.dec) {
				return fmt.Errorf("%s: image %s, offset %#x: %v: a RIP-relative operand that resolves to no symbol", p.it.pos, v.Symbol, p.off, p.dec)
			}
			if p.ref == nil || p.ref.sym == v.Symbol {
				continue // no reference, or one inside the image: position-independent
			}
			if !isPage[p.ref.sym] || p.dec.PCRel != 4 {
				return fmt.Errorf("%s: image %s, offset %#x: %v refers to %s, which is not a data page reachable by a 4-byte PC-relative field", p.it.pos, v.Symbol, p.off, p.dec, p.ref.sym)
			}
			field := p.off + p.dec.PCRelOff
			// The field holds target - end of instruction = S + Addend - P.
			img.Relocs = append(img.Relocs, elfimage.Reloc{Offset: field, Symbol: p.ref.sym, Addend: p.ref.off - int64(p.off+p.dec.Len-field)})
		}
		b, err := elfimage.Write(img)
		if err != nil {
			return fmt.Errorf("variant %s: %w", v.Name, err)
		}
		if err := elfimage.CheckUnwind(b, models[v.Name]); err != nil {
			return fmt.Errorf("variant %s: the unwind tables do not match the stack model:\n%w", v.Name, err)
		}
		images[elfFile(name, v.Name)] = b
	}
	if err := elfimage.CheckSame(images); err != nil {
		return fmt.Errorf("the ELF images fail their checks:\n%w", err)
	}
	for f, b := range images {
		files[f] = b
	}
	return nil
}

// elfMarkers returns the marker descriptors of variant v, whose image is
// size bytes long: its sites (with the table's bytes, whose relocated
// fields are zero), regions and replacement pool. A table with no
// alternative and no pool (Pool 0, as tables from before pools have) has
// an empty pool at the end of the image, as layout.Variant.Pool documents.
func elfMarkers(v *layout.Variant, size int) *elfimage.Markers {
	pool := v.Pool
	if pool == 0 && !slices.ContainsFunc(v.Sites, func(s layout.Site) bool { return marker.TraitsOf(s.Kind).PoolChoices }) {
		pool = size
	}
	return &elfimage.Markers{Pool: pool, Sites: v.Sites, Regions: v.Regions}
}

func isRIPRelative(d x86asm.Inst) bool {
	for _, a := range d.Args {
		if m, ok := a.(x86asm.Mem); ok && m.Base == x86asm.RIP {
			return true
		}
	}
	return false
}

// isGeneratedELF reports whether b is an ELF image vdsogen wrote (it
// carries the vdsogen data-page note), so that a stale one is removed like
// any generated file.
func isGeneratedELF(b []byte) bool {
	_, _, _, err := elfimage.Pages(b)
	return bytes.HasPrefix(b, []byte(elf.ELFMAG)) && err == nil
}
