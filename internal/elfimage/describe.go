package elfimage

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/vdsogen/vdsogen/layout"
)

// DescribeVariant reads back, from an image file alone, what the layout
// table says of its variant: the program and variant names and the
// data-page placement (the vdsogen note), the entries (the __vdso_*
// symbols of version DefaultVersion, as offsets in .text), the code size,
// and the marker sites, replacement pool and regions (.vdsogen_markers; an
// image without the section has none). The keys are those of its sites
// (a switch's value is the site's On). The image describes itself, as the
// kernel's vDSO does with its .altinstructions.
//
// The section does not record where a site's data references are
// (Site.Relocs): their fields are zero in Site.Bytes and hold the linked
// displacement in the code. DescribeVariant recovers them as one Reloc per
// 4-byte run where the code and the descriptor differ, with an empty
// Symbol: a data page lies below the image, so a displacement to it is
// never zero, and every such field shows. A loader needs no more than
// "this site refers to data".
func DescribeVariant(file []byte) (program string, v layout.Variant, pages []layout.Page, err error) {
	placed, program, variant, err := Pages(file)
	if err != nil {
		return "", layout.Variant{}, nil, fmt.Errorf("elfimage: %w", err)
	}
	toff, tsize, err := Section(file, ".text")
	if err != nil {
		return "", layout.Variant{}, nil, fmt.Errorf("elfimage: %w", err)
	}
	code := file[toff : toff+tsize]
	v = layout.Variant{Name: variant, Size: tsize, Pool: tsize, Keys: map[string]bool{}}
	for _, p := range placed {
		pages = append(pages, layout.Page{Symbol: p.Symbol, Size: p.Size})
	}
	syms, err := Symbols(file)
	if err != nil {
		return "", layout.Variant{}, nil, fmt.Errorf("elfimage: %w", err)
	}
	for _, s := range syms {
		name, ok := strings.CutPrefix(s.Name, "__vdso_")
		if !ok || s.Version != DefaultVersion {
			continue
		}
		if s.Value < uint64(toff) || s.Value-uint64(toff)+s.Size > uint64(tsize) {
			return "", layout.Variant{}, nil, fmt.Errorf("elfimage: %s [%#x, +%d) is not inside .text", s.Name, s.Value, s.Size)
		}
		v.Entries = append(v.Entries, layout.Entry{Name: name, Offset: int(s.Value) - toff, Size: int(s.Size)})
	}
	slices.SortFunc(v.Entries, func(a, b layout.Entry) int { return a.Offset - b.Offset })
	m, err := ReadMarkers(file)
	switch {
	case errors.Is(err, ErrNoMarkers):
		return program, v, pages, nil
	case err != nil:
		return "", layout.Variant{}, nil, err
	}
	if err := m.Validate(code); err != nil {
		return "", layout.Variant{}, nil, fmt.Errorf("elfimage: %s: %w", MarkersSection, err)
	}
	v.Pool, v.Sites, v.Regions = m.Pool, m.Sites, m.Regions
	for i := range v.Sites {
		s := &v.Sites[i]
		s.Relocs = dataFields(code[s.Offset:s.Offset+len(s.Bytes)], s.Bytes)
		if len(s.Choices) == 0 {
			v.Keys[s.Key] = s.On
		}
	}
	return program, v, pages, nil
}

// dataFields finds the relocated fields of a site: 4-byte runs where the
// linked code differs from the descriptor's bytes (zero there).
func dataFields(code, desc []byte) []layout.Reloc {
	var out []layout.Reloc
	for i := 0; i < len(code); i++ {
		if code[i] != desc[i] {
			out = append(out, layout.Reloc{Offset: i})
			i += 3
		}
	}
	return out
}

// DescribeImages builds the layout table of a set of images of one program
// (variant name -> file) from the files alone (DescribeVariant); the
// variants are in name order.
func DescribeImages(files map[string][]byte) (*layout.Table, error) {
	t := &layout.Table{}
	for _, name := range slices.Sorted(maps.Keys(files)) {
		program, v, pages, err := DescribeVariant(files[name])
		if err != nil {
			return nil, fmt.Errorf("image %s: %w", name, err)
		}
		if v.Name != name {
			return nil, fmt.Errorf("image %s: its note names variant %q", name, v.Name)
		}
		if len(t.Variants) == 0 {
			t.Program, t.Pages = program, pages
		} else if program != t.Program || !slices.Equal(pages, t.Pages) {
			return nil, fmt.Errorf("image %s: program %q with pages %v, image %s: program %q with pages %v",
				name, program, pages, t.Variants[0].Name, t.Program, t.Pages)
		}
		t.Variants = append(t.Variants, v)
	}
	return t, nil
}
