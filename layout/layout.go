// Package layout holds the types of the layout tables vdsogen generates:
// for each variant image, where every entry point and every marker site
// sits and which bytes the site holds, the data pages the images may refer
// to, and which generator program line produced each byte (so that a
// verifier without the program can name it). Generated code fills a Table; the
// verifier, the CLI and loaders read it. The package has no dependencies so
// that a downstream module pays nothing for importing it.
package layout

// Table describes every variant image of one generated program.
type Table struct {
	// Program is the program name (the file and symbol prefix).
	Program string
	// Pages are the data pages the images may refer to: every RIP-relative
	// reference that leaves an image must land inside one of them.
	Pages    []Page
	Variants []Variant
}

// Page is a data page: a Go global of the package, Size bytes of which the
// routines may address.
type Page struct {
	Symbol string
	Size   int
}

// Span starts a run of image bytes that one generator program line
// produced: it covers [Offset, the next span's Offset).
type Span struct {
	Offset int
	// Source is the program line, as base-name:line ("asm.go:39").
	Source string
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
	// Source maps image offsets to the program lines that produced them,
	// in increasing Offset order.
	Source []Span
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

// SourceAt returns the program line that produced the byte at offset off,
// or "" if the table does not say.
func (v *Variant) SourceAt(off int) string {
	src := ""
	for _, s := range v.Source {
		if s.Offset > off {
			break
		}
		src = s.Source
	}
	return src
}
