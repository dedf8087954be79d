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
	// Source is the program position, as base-name:line ("asm.go:39").
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
	// Pool is the offset of the replacement pool, which runs to the end of
	// the image after the last entry (Pool == Size when the program has no
	// alternative).
	Pool int
	// Regions are the restartable regions of the image (see Region).
	Regions []Region
	// Source maps image offsets to the program lines that produced them,
	// in increasing Offset order.
	Source []Span
}

// Entry is an entry point inside an image.
type Entry struct {
	Name   string
	Offset int
	Size   int
	// Signature is the Go func type the program declared for the entry
	// ("func(clockid int32, ts *Timespec) int32"), spelled as in the target
	// package. Its parameters are the C ABI's integer arguments (DI, SI,
	// DX, CX, R8, R9) and its result comes back in AX; the Go stub of
	// every variant has exactly this signature.
	Signature string
}

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
	// Target is the offset a static branch jumps to when on (its body); for
	// a three-label region the offset of l_out; for a static call the
	// offset of the entry it calls; for an alternative the offset in the
	// replacement pool of the choice the site holds.
	Target int
	// Source is the generator program line that declared the marker.
	Source string
	// Relocs are the PC-relative data references inside the site. Their
	// bytes in Bytes are zero: the value depends on where the image is
	// linked relative to the data page.
	Relocs []Reloc
	// Choice names what an alternative or static-call site holds in this
	// variant: one of Choices.
	Choice string
	// Choices are the forms an alternative or static-call site can take,
	// in declaration order. For an alternative, a loader applies at load
	// time the last choice whose Feature the CPU has.
	Choices []Choice
}

// Choice is one form of an alternative or static-call site.
type Choice struct {
	// Name is the choice's name (alternative) or the target entry's name
	// (static call).
	Name string
	// Feature is the CPU feature an alternative choice needs ("" for none),
	// as named by package layout's Feature constants.
	Feature string
	// Bytes are the whole site's bytes with this choice applied: the
	// choice's instructions and NOP padding, or CALL rel32 to the target.
	Bytes []byte
	// Offset is where the choice's instructions sit in the replacement
	// pool (alternative), or the target entry's offset (static call).
	Offset int
}

// CPU features an alternative choice may require.
const (
	FeatureRDTSCP = "rdtscp" // CPUID 0x80000001 EDX bit 27
	// FeatureLFENCERDTSC: LFENCE orders RDTSC (every Intel CPU; AMD from
	// family 0x17, where LFENCE is dispatch-serializing), after the
	// kernel's X86_FEATURE_LFENCE_RDTSC.
	FeatureLFENCERDTSC = "lfence_rdtsc"
)

// Features lists what a choice may need: none (""), then every CPU feature
// a loader can test.
var Features = []string{"", FeatureRDTSCP, FeatureLFENCERDTSC}

// Region is a restartable region, described as the kernel's rseq critical
// sections are: code that a signal handler or debugger finding a thread
// inside [Start, Start+PostCommit) may restart at Abort. The 4 bytes before
// Abort hold RegionSignature (the displacement of a UD1 instruction that
// is never executed), so that a tool can check it was given a real abort
// handler.
type Region struct {
	Name       string
	Entry      string
	Start      int
	PostCommit int
	Abort      int
	Source     string
}

// RegionSignature is the word before every region's abort handler.
const RegionSignature uint32 = 0x53475356 // "VSGS" little-endian

// Contains reports whether the offset off lies inside the region's
// critical section.
func (r Region) Contains(off int) bool { return off >= r.Start && off < r.Start+r.PostCommit }

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

// ChoiceNamed returns the choice of s named name.
func (s *Site) ChoiceNamed(name string) (Choice, bool) {
	for _, c := range s.Choices {
		if c.Name == name {
			return c, true
		}
	}
	return Choice{}, false
}

// ChoiceNames lists the names of s's choices, in declaration order.
func (s *Site) ChoiceNames() []string {
	names := make([]string, len(s.Choices))
	for i, c := range s.Choices {
		names[i] = c.Name
	}
	return names
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
