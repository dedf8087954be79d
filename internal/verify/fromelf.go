package verify

import (
	"errors"
	"fmt"
	"os"
	"slices"

	"github.com/vdsogen/vdsogen/internal/elfimage"
	"github.com/vdsogen/vdsogen/layout"
)

// ELF is one ELF vDSO image (elfimage.Write's format) read back for
// verification: what the file says of itself.
type ELF struct {
	Path string
	File []byte
	// Program and Variant are from the vdsogen note.
	Program, Variant string
	// Text is the address (and file offset) of .text; Code its bytes.
	Text uint64
	Code []byte
	// Pages is the data-page placement of the note.
	Pages []elfimage.Page
	// Markers are the .vdsogen_markers descriptors, nil if the image has
	// none.
	Markers *elfimage.Markers
	// Entries are from the __vdso_<name> symbols, in offset order.
	Entries []elfimage.Entry
}

// ReadELF reads the image at path. It fails only if the file cannot be
// read as an image at all (no ELF, no .text, no vdsogen note, unreadable
// descriptors); everything else is a finding of CheckELF.
func ReadELF(path string) (*ELF, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	e := &ELF{Path: path, File: b}
	if e.Text, e.Code, err = elfimage.TextSection(b); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	// Unsound page records are findings of CheckELF (elf-pages).
	e.Pages, e.Program, e.Variant, _ = elfimage.ReadNote(b)
	if e.Variant == "" || e.Program == "" {
		return nil, fmt.Errorf("%s: not an image vdsogen wrote: its vdsogen note names no program or variant", path)
	}
	switch e.Markers, err = elfimage.ReadMarkers(b); {
	case errors.Is(err, elfimage.ErrNoMarkers):
		e.Markers = nil
	case err != nil:
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if e.Entries, err = elfimage.EntriesOf(b, e.Text); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return e, nil
}

// resolve maps an address of the image loaded at 0 (so that data page p
// lies at p.Offset()) to the page holding it, as harness.Result.Resolve
// maps one to a Go global.
func (e *ELF) resolve(addr uint64) (string, int64, bool) {
	a := int64(addr)
	if a >= 1<<31 && a < 1<<32 {
		// x86asm's GoSyntax adds a RIP-relative disp32 zero-extended (the
		// verifier's own arithmetic sign-extends it), so a page below the
		// image shows up just below 4 GiB, where no byte of an image
		// loaded at 0 lies.
		a -= 1 << 32
	}
	for _, p := range e.Pages {
		span := int64(max(1, (p.Size+elfimage.PageSize-1)/elfimage.PageSize)) * elfimage.PageSize
		if a >= p.Offset() && a < p.Offset()+span {
			return p.Symbol, a - p.Offset(), true
		}
	}
	return "", 0, false
}

// variant is the layout-table variant the image describes: its entries
// from the dynamic symbols, its sites, regions and pool from the marker
// descriptors (none without them), its keys from its sites.
func (e *ELF) variant() layout.Variant {
	v := layout.Variant{Name: e.Variant, Symbol: e.Program + "_" + e.Variant, Size: len(e.Code), Pool: len(e.Code), Keys: map[string]bool{}}
	for _, en := range e.Entries {
		v.Entries = append(v.Entries, layout.Entry{Name: en.Name, Offset: en.Offset, Size: en.Size})
	}
	if e.Markers != nil {
		v.Sites, v.Regions, v.Pool = e.Markers.Sites, e.Markers.Regions, e.Markers.Pool
		for _, s := range v.Sites {
			v.Keys[s.Key] = s.On
		}
	}
	return v
}

// FromELF is the verifier's Input for images of one program with one
// data-page placement, built from the files alone (no Go table, no
// toolchain): each image is a variant (variant), linked at its .text
// address, and Resolve maps the data-page addresses to the pages of the
// note. Verify then runs every rule on them: the entries decode, sites
// hold what their descriptors say, the stack, the regions, every
// reference lands in a data page.
func FromELF(images []*ELF) (*Input, error) {
	if len(images) == 0 {
		return nil, errors.New("no images")
	}
	first := images[0]
	t := &layout.Table{Program: first.Program}
	for _, p := range first.Pages {
		t.Pages = append(t.Pages, layout.Page{Symbol: p.Symbol, Size: p.Size})
	}
	in := &Input{Table: t, Images: map[string]Image{}, Resolve: first.resolve}
	for _, e := range images {
		if e.Program != first.Program {
			return nil, fmt.Errorf("%s is of program %s, %s of program %s: verify one program's images together", e.Path, e.Program, first.Path, first.Program)
		}
		if !slices.Equal(e.Pages, first.Pages) {
			return nil, fmt.Errorf("%s places its data pages as %v, %s as %v", e.Path, e.Pages, first.Path, first.Pages)
		}
		if _, dup := in.Images[e.Variant]; dup {
			return nil, fmt.Errorf("%s: a second image of variant %s", e.Path, e.Variant)
		}
		t.Variants = append(t.Variants, e.variant())
		in.Images[e.Variant] = Image{Addr: e.Text, Bytes: e.Code}
	}
	return in, nil
}

// ImageFinding is a finding about the image file at Path.
type ImageFinding struct {
	Path string `json:"file"`
	Finding
}

// ImageGroup is images verified together (one program, one data-page
// placement) and what Verify found.
type ImageGroup struct {
	Images []*ELF
	Input  *Input
	Report *Report
}

// VerifyImages verifies ELF images from the files alone: each image's own
// checks (CheckELF), then every image rule (Verify) on the images of one
// program together (FromELF), so that their variants are compared as a
// package's are. Images of one program that place their data pages
// differently are verified apart, and that is a finding (elf-pages); two
// images of one variant of one program are an error.
func VerifyImages(images []*ELF) ([]ImageFinding, []*ImageGroup, error) {
	var out []ImageFinding
	var groups []*ImageGroup
	variants := map[string]string{} // program/variant -> path
	for _, e := range images {
		key := e.Program + "/" + e.Variant
		if p, dup := variants[key]; dup {
			return nil, nil, fmt.Errorf("%s and %s are both variant %s of program %s", p, e.Path, e.Variant, e.Program)
		}
		variants[key] = e.Path
		for _, f := range CheckELF(e) {
			out = append(out, ImageFinding{e.Path, f})
		}
		var g *ImageGroup
		for _, h := range groups {
			if h.Images[0].Program == e.Program && slices.Equal(h.Images[0].Pages, e.Pages) {
				g = h
				break
			}
			if h.Images[0].Program == e.Program {
				out = append(out, ImageFinding{e.Path, Finding{Check: elfimage.CheckPages, Variants: []string{e.Variant},
					Msg: fmt.Sprintf("the note places the data pages as %v, %s (variant %s) as %v", e.Pages, h.Images[0].Path, h.Images[0].Variant, h.Images[0].Pages)}})
			}
		}
		if g == nil {
			g = &ImageGroup{}
			groups = append(groups, g)
		}
		g.Images = append(g.Images, e)
	}
	for _, g := range groups {
		in, err := FromELF(g.Images)
		if err != nil {
			return nil, nil, err
		}
		g.Input, g.Report = in, Verify(in)
		for _, f := range g.Report.Findings {
			path := g.Images[0].Path
			for _, e := range g.Images {
				if len(f.Variants) > 0 && f.Variants[0] == e.Variant {
					path = e.Path
				}
			}
			out = append(out, ImageFinding{path, f})
		}
		if g.Report.OK() {
			out = append(out, unwindFindings(g)...)
		}
	}
	return out, groups, nil
}
