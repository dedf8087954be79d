package main

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/vdsogen/vdsogen/internal/elfimage"
	"github.com/vdsogen/vdsogen/internal/verify"
	"github.com/vdsogen/vdsogen/layout"
)

var cmdInspect = &command{
	name:      "inspect",
	usageLine: "vdsogen inspect [-json] [dir | files | images.so]",
	short:     "print the layout table, or what an ELF image says of itself",
	long: `Inspect prints the layout table of a generated program, per variant: every
entry with its offset, size and maximum stack depth (measured on the
assembled bytes), and the descriptor table of its markers:

	SITE     every marker site with its kind, key, entry, offset, size,
	         state, the choice it holds, its target and the generator
	         program line that declared it; the kinds are
	         ` + kindNames() + `
	CHOICE   every choice of an alternative or static call: the CPU
	         feature it needs or the entry it calls, its offset (in the
	         replacement pool, or the target entry's), and the site's
	         bytes with it applied; * marks the one the site holds
	REGION   every restartable region: its entry, start,
	         post_commit_offset (length) and abort handler

Offsets are from the start of the image. It ends with which pairs of
variants can be switched live.

The arguments are as for verify, or ELF images (.so files) vdsogen -elf
wrote: for those, Inspect needs no Go table and no toolchain. It prints
what each file says of itself: the program and variant (from its vdsogen
note), the data pages, the entries (from the dynamic symbols __vdso_*),
and the descriptor table read back from its .vdsogen_markers section, in
which relocated data-page fields of site bytes are zero.

The -json flag prints the table, the descriptors ("markers") and the stack
depths as JSON, or for images their reports, in the format vdsogen/v1 that
docs/json.md describes. Inspect exits 1 if the files
cannot be assembled or do not verify, or if an image cannot be read or
fails the image checks of verify (the findings go to standard error).`,
	run: imagesOrPackage(inspectELF, inspectPackage),
}

func inspectPackage(c *cmdEnv, pkg *verify.Package, _ *verify.Input, r *verify.Report) int {
	t := pkg.Table
	if *c.json {
		markers := []descriptors{}
		for i := range t.Variants {
			markers = append(markers, describeVariant(&t.Variants[i]))
		}
		writeJSON(c.stdout, struct {
			Table   *layout.Table       `json:"table"`
			Markers []descriptors       `json:"markers"`
			Stack   []verify.EntryStack `json:"stack"`
			Pairs   []verify.Pair       `json:"pairs"`
		}{t, markers, r.Stack, r.Pairs})
	} else {
		w := c.stdout
		fmt.Fprintf(w, "program %s (%s)\n", t.Program, pkg.LayoutFile)
		var pages []string
		for _, pg := range t.Pages {
			pages = append(pages, fmt.Sprintf("%s (%d bytes)", pg.Symbol, pg.Size))
		}
		fmt.Fprintf(w, "data pages: %s\n", strings.Join(pages, ", "))
		for _, v := range t.Variants {
			var keys []string
			for _, k := range sortedKeys(v.Keys) {
				keys = append(keys, fmt.Sprintf("%s=%v", k, v.Keys[k]))
			}
			kind := "shared layout"
			if v.Standalone {
				kind = "standalone"
			}
			fmt.Fprintf(w, "\nvariant %s: image %s, %d bytes, %s, keys %s\n", v.Name, v.Symbol, v.Size, kind, strings.Join(keys, " "))
			tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
			fmt.Fprintf(tw, "  ENTRY\tOFFSET\tSIZE\tMAX STACK\n")
			for _, e := range v.Entries {
				stack := "?"
				if m, ok := r.MaxStack(v.Name, e.Name); ok {
					stack = fmt.Sprint(m)
				}
				fmt.Fprintf(tw, "  %s\t%#04x\t%d\t%s\n", e.Name, e.Offset, e.Size, stack)
			}
			tw.Flush()
			describeVariant(&v).print(w, v.Size)
		}
		fmt.Fprintln(w)
		printPairs(w, r)
	}
	if !r.OK() {
		printFindings(c.stderr, pkg, r)
		fmt.Fprintf(c.stderr, "vdsogen inspect: %d finding%s: run 'vdsogen verify'\n", len(r.Findings), plural(len(r.Findings)))
		return 1
	}
	return 0
}

func sortedKeys(m map[string]bool) []string { return slices.Sorted(maps.Keys(m)) }

// kindNames lists the registered marker kinds, as layout.Kind names them.
func kindNames() string {
	var names []string
	for _, k := range layout.Kinds() {
		names = append(names, string(k))
	}
	return strings.Join(names, ", ")
}

// descriptors is the descriptor table of one image's marker sites and
// restartable regions, as inspect prints it and -json encodes it: what
// the layout table says of a variant, or what an ELF image's
// .vdsogen_markers section holds.
type descriptors struct {
	Variant string `json:"variant,omitempty"`
	// Pool is the offset of the replacement pool.
	Pool    int          `json:"pool"`
	Sites   []siteDesc   `json:"sites"`
	Regions []regionDesc `json:"regions"`
}

type siteDesc struct {
	Kind   layout.Kind `json:"kind"`
	Key    string      `json:"key"`
	Entry  string      `json:"entry"`
	Offset int         `json:"offset"`
	Length int         `json:"length"`
	On     bool        `json:"on"`
	// Choice is the choice the site holds (alternative, static call).
	Choice string `json:"choice,omitempty"`
	Target int    `json:"target"`
	// Bytes are hex, as "0f 1f 44 00 00"; relocated fields are zero.
	Bytes   string       `json:"bytes"`
	Source  string       `json:"source,omitempty"`
	Choices []choiceDesc `json:"choices,omitempty"`
}

type choiceDesc struct {
	Name    string `json:"name"`
	Feature string `json:"feature,omitempty"`
	// Offset is the choice's place in the pool (alternative) or the
	// target entry's offset (static call).
	Offset int    `json:"offset"`
	Bytes  string `json:"bytes"`
}

type regionDesc struct {
	Name             string `json:"name"`
	Entry            string `json:"entry"`
	Start            int    `json:"start"`
	PostCommitOffset int    `json:"post_commit_offset"`
	Abort            int    `json:"abort"`
	Source           string `json:"source,omitempty"`
}

// describe builds the descriptor table of sites and regions.
func describe(variant string, pool int, sites []layout.Site, regions []layout.Region) descriptors {
	d := descriptors{Variant: variant, Pool: pool, Sites: []siteDesc{}, Regions: []regionDesc{}}
	for _, s := range sites {
		sd := siteDesc{Kind: s.Kind, Key: s.Key, Entry: s.Entry, Offset: s.Offset, Length: len(s.Bytes), On: s.On, Choice: s.Choice, Target: s.Target, Bytes: hex(s.Bytes), Source: s.Source}
		for _, c := range s.Choices {
			sd.Choices = append(sd.Choices, choiceDesc{Name: c.Name, Feature: c.Feature, Offset: c.Offset, Bytes: hex(c.Bytes)})
		}
		d.Sites = append(d.Sites, sd)
	}
	for _, r := range regions {
		d.Regions = append(d.Regions, regionDesc{Name: r.Name, Entry: r.Entry, Start: r.Start, PostCommitOffset: r.PostCommit, Abort: r.Abort, Source: r.Source})
	}
	return d
}

// describeVariant is describe for a variant of the layout table.
func describeVariant(v *layout.Variant) descriptors {
	return describe(v.Name, v.Pool, v.Sites, v.Regions)
}

func hex(b []byte) string { return fmt.Sprintf("% x", b) }

// orDash prints "" as "-".
func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// print writes the descriptor table: the sites, the choices of the
// alternatives and static calls, and the regions, each table indented
// and preceded by a blank line; an image of size bytes whose pool is not
// empty also gets its pool.
func (d descriptors) print(w io.Writer, size int) {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	if len(d.Sites) > 0 {
		fmt.Fprintln(w)
		fmt.Fprintf(tw, "  SITE\tKEY\tENTRY\tOFFSET\tSIZE\tON\tCHOICE\tTARGET\tSOURCE\n")
		for _, s := range d.Sites {
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%#04x\t%d\t%v\t%s\t%#04x\t%s\n", s.Kind, s.Key, s.Entry, s.Offset, s.Length, s.On, orDash(s.Choice), s.Target, orDash(s.Source))
		}
		tw.Flush()
	}
	if slices.ContainsFunc(d.Sites, func(s siteDesc) bool { return len(s.Choices) > 0 }) {
		fmt.Fprintln(w)
		fmt.Fprintf(tw, "  CHOICE\tOF\tAT\tFEATURE\tOFFSET\tBYTES\n")
		for _, s := range d.Sites {
			for _, c := range s.Choices {
				name := c.Name
				if c.Name == s.Choice {
					name += " *" // the one the site holds
				}
				fmt.Fprintf(tw, "  %s\t%s %s\t%#04x\t%s\t%#04x\t%s\n", name, s.Kind, s.Key, s.Offset, orDash(c.Feature), c.Offset, c.Bytes)
			}
		}
		tw.Flush()
	}
	if d.Pool > 0 && d.Pool < size {
		fmt.Fprintf(w, "  replacement pool: %#04x-%#04x (%d bytes)\n", d.Pool, size, size-d.Pool)
	}
	if len(d.Regions) > 0 {
		fmt.Fprintln(w)
		fmt.Fprintf(tw, "  REGION\tENTRY\tSTART\tPOST_COMMIT\tABORT\tSOURCE\n")
		for _, r := range d.Regions {
			fmt.Fprintf(tw, "  %s\t%s\t%#04x\t%d\t%#04x\t%s\n", r.Name, r.Entry, r.Start, r.PostCommitOffset, r.Abort, orDash(r.Source))
		}
		tw.Flush()
	}
}

// isELFArgs reports whether the arguments of inspect or verify name ELF images
// (.so files) rather than a generated package; it is a usage error to mix
// the two.
func isELFArgs(args []string) (bool, error) {
	n := 0
	for _, a := range args {
		if strings.HasSuffix(a, ".so") {
			n++
		}
	}
	if n > 0 && n < len(args) {
		return false, errors.New("give either ELF images (.so) or a package directory or generated files, not both")
	}
	return n > 0, nil
}

// elfReport is what inspect reads back from one ELF image.
type elfReport struct {
	File    string `json:"file"`
	Program string `json:"program"`
	Variant string `json:"variant"`
	// TextOffset is the file offset (and address) of the code; every
	// other offset is relative to it.
	TextOffset int                  `json:"text_offset"`
	CodeSize   int                  `json:"code_size"`
	Pages      []elfPage            `json:"pages"`
	Entries    []elfEntry           `json:"entries"`
	Markers    *descriptors         `json:"markers"` // nil: the image has no .vdsogen_markers
	Problems   []elfimage.Violation `json:"problems"`
}

// elfEntry is an entry as an image's dynamic symbols give it.
type elfEntry struct {
	Name   string `json:"name"`
	Offset int    `json:"offset"` // in the code
	Size   int    `json:"size"`
}

type elfPage struct {
	Symbol string `json:"symbol"`
	// Offset is the page's address relative to the image's load address.
	Offset int64 `json:"offset"`
	Size   int   `json:"size"`
}

// readELF reads the report of the image at path: its code, its entries
// from the dynamic symbols __vdso_<entry>, its data pages and program
// from the vdsogen note, the descriptors of its .vdsogen_markers section
// and whatever elfimage.Check finds wrong with it.
func readELF(path string) (*elfReport, error) {
	file, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	r := &elfReport{File: path, Entries: []elfEntry{}, Pages: []elfPage{}, Problems: []elfimage.Violation{}}
	checkErr := elfimage.Check(file)
	var ce *elfimage.CheckError
	if errors.As(checkErr, &ce) {
		r.Problems = ce.Violations
	}
	// The whole-image checks verify runs that need only the file.
	for _, p := range wholeImageProblems(file) {
		r.Problems = append(r.Problems, elfimage.Violation{Rule: p.Check, Detail: fmt.Sprintf("file offset %#x: %s", p.Offset, p.Msg)})
	}
	// fail reports what could not be read, with what Check found.
	fail := func(err error) (*elfReport, error) {
		return nil, fmt.Errorf("%s: %w", path, errors.Join(err, checkErr))
	}
	text, size, err := elfimage.Section(file, ".text")
	if err != nil {
		return fail(err)
	}
	r.TextOffset, r.CodeSize = text, size
	pages, program, variant, err := elfimage.Pages(file)
	if err != nil {
		return fail(fmt.Errorf("not an image vdsogen wrote: %w", err))
	}
	r.Program, r.Variant = program, variant
	for _, p := range pages {
		r.Pages = append(r.Pages, elfPage{Symbol: p.Symbol, Offset: p.Offset(), Size: p.Size})
	}
	if r.Entries, err = elfEntries(file, text); err != nil {
		return fail(err)
	}
	m, err := elfimage.ReadMarkers(file)
	switch {
	case errors.Is(err, elfimage.ErrNoMarkers):
	case err != nil:
		return fail(err)
	default:
		d := describe("", m.Pool, m.Sites, m.Regions)
		r.Markers = &d
	}
	return r, nil
}

// elfEntries returns the entries of an image from its dynamic symbols
// __vdso_<entry>, as offsets in the code at file offset text, in offset
// order.
func elfEntries(file []byte, text int) ([]elfEntry, error) {
	syms, err := elfimage.Symbols(file)
	if err != nil {
		return nil, err
	}
	out := []elfEntry{}
	for _, s := range syms {
		name, ok := strings.CutPrefix(s.Name, "__vdso_")
		if !ok || s.Value < uint64(text) {
			continue
		}
		out = append(out, elfEntry{Name: name, Offset: int(s.Value) - text, Size: int(s.Size)})
	}
	slices.SortStableFunc(out, func(a, b elfEntry) int { return a.Offset - b.Offset })
	return out, nil
}

// print writes the report in text.
func (r *elfReport) print(w io.Writer) {
	fmt.Fprintf(w, "image %s: program %s, variant %s, %d bytes of code at %#x\n", r.File, r.Program, r.Variant, r.CodeSize, r.TextOffset)
	var pages []string
	for _, p := range r.Pages {
		pages = append(pages, fmt.Sprintf("%s at %d (%d bytes)", p.Symbol, p.Offset, p.Size))
	}
	fmt.Fprintf(w, "data pages: %s\n", strings.Join(pages, ", "))
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintf(tw, "  ENTRY\tOFFSET\tSIZE\n")
	for _, e := range r.Entries {
		fmt.Fprintf(tw, "  %s\t%#04x\t%d\n", e.Name, e.Offset, e.Size)
	}
	tw.Flush()
	if r.Markers == nil {
		fmt.Fprintf(w, "no %s section: the image does not describe its markers\n", elfimage.MarkersSection)
		return
	}
	if len(r.Markers.Sites) == 0 && len(r.Markers.Regions) == 0 {
		fmt.Fprintln(w, "no marker sites, no restartable regions")
	}
	r.Markers.print(w, r.CodeSize)
}

// inspectELF is inspect on ELF images: it prints what each file says of
// itself, and exits 1 if one cannot be read or fails elfimage.Check.
func inspectELF(c *cmdEnv, paths []string) int {
	var reports []*elfReport
	for _, p := range paths {
		r, err := readELF(p)
		if err != nil {
			return c.fail(err)
		}
		reports = append(reports, r)
	}
	if *c.json {
		writeJSON(c.stdout, struct {
			Images []*elfReport `json:"images"`
		}{reports})
	} else {
		for i, r := range reports {
			if i > 0 {
				fmt.Fprintln(c.stdout)
			}
			r.print(c.stdout)
		}
	}
	code := 0
	for _, r := range reports {
		for _, v := range r.Problems {
			fmt.Fprintf(c.stderr, "%s: %s: %s\n", filepath.ToSlash(r.File), v.Rule, v.Detail)
			code = 1
		}
	}
	return code
}
