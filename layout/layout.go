// Package layout holds the types of the layout tables vdsogen generates:
// for each variant image, where every entry point and every marker site
// sits and which bytes the site holds. Generated code fills a Table; the
// verifier, the CLI and loaders read it. The package has no dependencies so
// that a downstream module pays nothing for importing it.
package layout

// Table describes every variant image of one generated program.
type Table struct {
	// Program is the program name (the file and symbol prefix).
	Program  string
	Variants []Variant
}

// Variant is one assembled image.
type Variant struct {
	Name string
	// Symbol is the Go assembly TEXT symbol of the image.
	Symbol string
	// Size is the image's length in bytes.
	Size int
	// Standalone variants elide their off markers; they do not share the
	// layout of the other variants and are never switchable to or from.
	Standalone bool
	// Keys is the value of every marker key in this variant.
	Keys    map[string]bool
	Entries []Entry
	Sites   []Site
}

// Entry is an entry point inside an image.
type Entry struct {
	Name   string
	Offset int
	Size   int
}

// Kind is the kind of a marker site.
type Kind string

// The marker kinds.
const (
	StaticBranch Kind = "static_branch"
	ThreeLabel   Kind = "three_label"
)

// Site is one marker site in one variant: the bytes that differ between
// variants live only inside sites.
type Site struct {
	Kind  Kind
	Key   string
	Entry string
	// On reports whether Key is on in this variant.
	On     bool
	Offset int
	Bytes  []byte
	// Target is the offset a static branch jumps to when on (its body), and
	// for a three-label region the offset of l_out.
	Target int
	// Source is the generator program line that declared the marker.
	Source string
	// Relocs are the PC-relative data references inside the site. Their
	// bytes in Bytes are zero: the value depends on where the image is
	// linked relative to the data page.
	Relocs []Reloc
}

// Reloc is a 4-byte PC-relative reference to Symbol+Addend at Offset
// (relative to the site), as in R_X86_64_PC32.
type Reloc struct {
	Offset int
	Symbol string
	Addend int
}

// Variant returns the variant named name.
func (t *Table) Variant(name string) (*Variant, bool) {
	for i := range t.Variants {
		if t.Variants[i].Name == name {
			return &t.Variants[i], true
		}
	}
	return nil, false
}

// Entry returns the entry named name.
func (v *Variant) Entry(name string) (Entry, bool) {
	for _, e := range v.Entries {
		if e.Name == name {
			return e, true
		}
	}
	return Entry{}, false
}
