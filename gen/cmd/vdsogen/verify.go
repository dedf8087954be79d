package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/vdsogen/vdsogen/internal/elfimage"
	"github.com/vdsogen/vdsogen/internal/verify"
	"github.com/vdsogen/vdsogen/layout"
)

var cmdVerify = &command{
	name:      "verify",
	usageLine: "vdsogen verify [-json] [dir | files | images.so]",
	short:     "check generated images on the bytes the toolchain produces",
	long: `Verify assembles the generated files of one program with the Go toolchain,
reads the linked bytes back and decodes them, and checks them against the
layout table. The argument is a package directory (default ".") holding
z<name>_layout_amd64.go and z<name>_<variant>_amd64.s, or those files.

The checks are:

	entries  every entry has the same offset and size in every shared
	         variant, decodes, and the filler between entries is INT3
	sites    variants differ only inside marker sites; every site starts
	         and ends on an instruction boundary and holds what its marker
	         declares (NOP5, JMP rel32 to the body, the tail then INT3, an
	         alternative's choice and NOPs matching the replacement pool,
	         CALL rel32 to a static call's target entry)
	flow     every path from an entry ends in RET, a JMP or a tail call to
	         another entry's start: no path reaches a trap (INT3 filler, a
	         region's signature, UD2, HLT, INT, bytes that do not decode),
	         a privileged, far or frame instruction, or the entry's end
	stack    on every edge (JMP, Jcc, JCXZ, LOOP, CALL, abort) the depth is
	         consistent, zero at RET and at a tail call, never written
	         but by PUSH/POP/ADD/SUB, never stored above what was pushed,
	         equal where control enters and leaves every site, and bounded
	regions  every restartable region lies on instruction boundaries, its
	         abort handler follows the signature and is entered only by a
	         restart, and the stack depth is the same throughout it
	reach    no reference leaves the image except to a declared data
	         page; every branch lands inside the image; none is indirect
	pages    data pages are read-only, and every access (RIP-relative or
	         through a register holding a page address, in every
	         alternative's choice) lies inside the page's declared size;
	         so does every page operand of the assembly text
	stubs    the stub files define one Go stub per entry and variant and
	         one address function per image, each declared with the
	         entry's signature (in the table), and each linked stub loads
	         its arguments from their ABI0 slots into the C ABI registers,
	         calls its own variant's image at the entry's offset, stores
	         the result in its slot and returns, nothing else
	table    the Go layout table (z<name>_layout_amd64.go) is exactly the
	         Go form of the JSON table the checks read (z<name>_layout.json)

A package's ELF images (z<name>_<variant>.so, written by gen's -elf) are
verified too, if there are any: each against its variant, and as a whole:

	elf-text      .text is the assembled variant, byte for byte, except
	              that a RIP-relative data-page field counts by the page
	              byte it refers to, and an alternative or static-call site
	              may hold any of its choices (as a loader applies one)
	elf-symbols   every entry has __vdso_<entry> (GLOBAL FUNC) and its weak
	              alias <entry>, both at the entry's offset in .text with
	              its size; no other symbol
	elf-hash      DT_GNU_HASH (bloom filter, buckets, chains) and DT_HASH
	              are sound: glibc's and parse_vdso's lookups find every
	              symbol and reject absent names, hash collisions included
	elf-versions  the version definitions are well formed and every symbol
	              is LINUX_2.6, as glibc's dl_vdso_vsym asks for it
	elf-pages     the note's data pages lie below the image, page-aligned,
	              and do not overlap
	elf-markers   the .vdsogen_markers descriptors are the table's, and each
	              relocated field they record refers to its page byte
	elf-unwind    the .eh_frame rows are the stack depths the stack rule
	              proves, at every instruction (CFA = RSP+8+depth)
	elf-<rule>    the ELF structure rules of vdso2c and gVisor's check_vdso

Given .so files instead, verify checks the images alone, without a Go
table or toolchain: the ELF checks above but elf-text, then every rule of
the first list on what the images describe (entries from their symbols,
sites, regions and pool from their descriptors, data pages from their
notes); images of one program are compared with each other as variants.

Every failure is printed as

	file: asm.go:line:col: check: variant v, entry e, offset 0x..: message [v: instruction; w: instruction]

naming the variant's assembly file (or image) and the generator program
position that produced the bytes; offsets are in the image's code, except
that ELF findings whose message starts "file offset:" give the offset of
the record at fault in the file. Verify also says which pairs of
variants can be switched live (every difference one atomic instruction).

The -json flag prints the whole report as JSON instead, in the format
vdsogen/v1 that docs/json.md describes.

Verify exits 0 when every check passes, 1 when one fails or the files
cannot be assembled or read, and 2 on a usage error.`,
	flags: func(fs *flag.FlagSet) {},
	run:   imagesOrPackage(verifyELF, verifyPackage),
}

func verifyPackage(c *cmdEnv, pkg *verify.Package, in *verify.Input, r *verify.Report) int {
	elfFs, soFiles, err := packageELF(pkg, in)
	if err != nil {
		return c.fail(err)
	}
	n := len(r.Findings) + len(elfFs)
	if *c.json {
		out := struct {
			Program  string              `json:"program"`
			Layout   string              `json:"layout"`
			Images   []string            `json:"images"`
			OK       bool                `json:"ok"`
			Findings []fileFinding       `json:"findings"`
			Stack    []verify.EntryStack `json:"stack"`
			Pairs    []verify.Pair       `json:"pairs"`
		}{Program: pkg.Table.Program, Layout: pkg.LayoutFile, Images: append([]string{}, soFiles...), OK: n == 0, Findings: []fileFinding{}, Stack: r.Stack, Pairs: r.Pairs}
		for _, f := range r.Findings {
			out.Findings = append(out.Findings, fileFinding{Path: where(pkg, f), Finding: f})
		}
		out.Findings = append(out.Findings, elfFs...)
		writeJSON(c.stdout, out)
	} else {
		printFindings(c.stdout, pkg, r)
		for _, f := range elfFs {
			fmt.Fprintf(c.stdout, "%s: %s\n", f.Path, f.Finding)
		}
	}
	if n > 0 {
		if !*c.json {
			fmt.Fprintf(c.stderr, "vdsogen verify: %s: %d finding%s\n", filepath.Dir(pkg.LayoutFile), n, plural(n))
		}
		return 1
	}
	if !*c.json {
		entries := 0
		if len(pkg.Table.Variants) > 0 {
			entries = len(pkg.Table.Variants[0].Entries)
		}
		images := ""
		if len(soFiles) > 0 {
			images = fmt.Sprintf(", %d ELF images", len(soFiles))
		}
		fmt.Fprintf(c.stdout, "ok %s: program %s, %d variants, %d entries%s\n", filepath.Dir(pkg.LayoutFile), pkg.Table.Program, len(pkg.Table.Variants), entries, images)
		printEntries(c.stdout, pkg.Table, r)
		printPairs(c.stdout, r)
	}
	return 0
}

// printEntries lists every entry once for the shared variants (the
// verifier has just checked that they sit at the same offset with the same
// size in each) and once per standalone variant, with the maximum stack
// depth the stack rule measured.
func printEntries(w io.Writer, t *layout.Table, r *verify.Report) {
	groups := [][]layout.Variant{nil}
	for _, v := range t.Variants {
		if v.Standalone {
			groups = append(groups, []layout.Variant{v})
			continue
		}
		groups[0] = append(groups[0], v)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  ENTRY\tOFFSET\tSIZE\tMAX STACK\tVARIANTS")
	for _, g := range groups {
		if len(g) == 0 {
			continue
		}
		var names []string
		for _, v := range g {
			names = append(names, v.Name)
		}
		what := strings.Join(names, ", ")
		if g[0].Standalone {
			what += " (standalone)"
		}
		for _, e := range g[0].Entries {
			var depths []string
			for _, v := range g {
				if d, ok := r.MaxStack(v.Name, e.Name); ok && !slices.Contains(depths, strconv.Itoa(d)) {
					depths = append(depths, strconv.Itoa(d))
				}
			}
			fmt.Fprintf(tw, "  %s\t%#04x\t%d\t%s\t%s\n", e.Name, e.Offset, e.Size, strings.Join(depths, "/"), what)
		}
	}
	tw.Flush()
}

// fileFinding is a finding with the file it is about.
type fileFinding = verify.ImageFinding

// packageELF finds the ELF images beside a verified package,
// z<program>_<variant>.so for every shared variant, and checks each one
// against the package (verify.CompareELF: its .text is the assembled
// image, its symbols, descriptors and pages the table's) and as a whole
// (elfFindings). A package without images is fine (they are optional,
// gen's -elf); one with some but not all of them is not.
func packageELF(pkg *verify.Package, in *verify.Input) ([]fileFinding, []string, error) {
	dir := filepath.Dir(pkg.LayoutFile)
	var images []*verify.ELF
	var missing []layout.Variant
	var files []string
	for _, v := range pkg.Table.Variants {
		if v.Standalone {
			continue
		}
		path := filepath.Join(dir, layout.Files(pkg.Table.Program).ELF(v.Name))
		if _, err := os.Stat(path); err != nil {
			missing = append(missing, v)
			continue
		}
		e, err := verify.ReadELF(path)
		if err != nil {
			return nil, nil, err
		}
		images = append(images, e)
		files = append(files, path)
	}
	// An image of no shared variant is one the generator would have
	// removed: stale, or not of this program's making.
	var out []fileFinding
	all, err := filepath.Glob(layout.Files(pkg.Table.Program).AllELF(dir))
	if err != nil {
		return nil, nil, err
	}
	for _, p := range all {
		if !slices.Contains(files, p) {
			out = append(out, fileFinding{Path: p, Finding: verify.Finding{Check: "elf-files",
				Msg: fmt.Sprintf("an ELF image of program %s that is not one of its shared variants' (%s)", pkg.Table.Program, strings.Join(sharedNames(pkg.Table), ", "))}})
		}
	}
	if len(images) == 0 {
		return out, nil, nil
	}
	for _, v := range missing {
		out = append(out, fileFinding{Path: pkg.LayoutFile, Finding: verify.Finding{Check: "elf-files", Variants: []string{v.Name},
			Msg: fmt.Sprintf("no %s beside the other images of the program", layout.Files(pkg.Table.Program).ELF(v.Name))}})
	}
	for _, e := range images {
		v, ok := pkg.Table.Variant(e.Variant)
		if !ok || filepath.Base(e.Path) != layout.Files(e.Program).ELF(e.Variant) {
			out = append(out, fileFinding{Path: e.Path, Finding: verify.Finding{Check: verify.CheckELFNote, Variants: []string{e.Variant},
				Msg: fmt.Sprintf("the note says variant %s, program %s: not the variant the file name says", e.Variant, e.Program)}})
			continue
		}
		for _, f := range verify.CompareELF(in, v, e) {
			out = append(out, fileFinding{Path: e.Path, Finding: f})
		}
	}
	whole, _, err := verify.VerifyImages(images)
	if err != nil {
		return nil, nil, err
	}
	// The table's entries and the image's own symbols may both find a
	// symbol wrong: say it once.
	seen := map[string]bool{}
	var uniq []fileFinding
	for _, f := range append(out, whole...) {
		if k := f.Path + "\x00" + f.Finding.String(); !seen[k] {
			seen[k] = true
			uniq = append(uniq, f)
		}
	}
	return uniq, files, nil
}

// verifyELF is verify on ELF images alone.
func verifyELF(c *cmdEnv, paths []string) int {
	var images []*verify.ELF
	for _, p := range paths {
		e, err := verify.ReadELF(p)
		if err != nil {
			fmt.Fprintf(c.stderr, "vdsogen verify: %v\n", err)
			return 1
		}
		images = append(images, e)
	}
	fs, groups, err := verify.VerifyImages(images)
	if err != nil {
		return c.fail(err)
	}
	if *c.json {
		type program struct {
			Program string              `json:"program"`
			Files   []string            `json:"files"`
			Stack   []verify.EntryStack `json:"stack"`
			Pairs   []verify.Pair       `json:"pairs"`
		}
		out := struct {
			OK       bool          `json:"ok"`
			Findings []fileFinding `json:"findings"`
			Programs []program     `json:"programs"`
		}{OK: len(fs) == 0, Findings: append([]fileFinding{}, fs...)}
		for _, g := range groups {
			out.Programs = append(out.Programs, program{g.Input.Table.Program, groupFiles(g), g.Report.Stack, g.Report.Pairs})
		}
		writeJSON(c.stdout, out)
	} else {
		for _, f := range fs {
			fmt.Fprintf(c.stdout, "%s: %s\n", f.Path, f.Finding)
		}
	}
	if len(fs) > 0 {
		if !*c.json {
			fmt.Fprintf(c.stderr, "vdsogen verify: %s: %d finding%s\n", strings.Join(paths, " "), len(fs), plural(len(fs)))
		}
		return 1
	}
	if !*c.json {
		for _, g := range groups {
			t := g.Input.Table
			entries := 0
			if len(t.Variants) > 0 {
				entries = len(t.Variants[0].Entries)
			}
			files := groupFiles(g)
			fmt.Fprintf(c.stdout, "ok %s: program %s, %d image%s, %d entries\n", strings.Join(files, " "), t.Program, len(files), plural(len(files)), entries)
			printEntries(c.stdout, t, g.Report)
			printPairs(c.stdout, g.Report)
		}
	}
	return 0
}

// groupFiles lists the paths of a group's images.
func groupFiles(g *verify.ImageGroup) []string {
	var out []string
	for _, e := range g.Images {
		out = append(out, e.Path)
	}
	return out
}

// sharedNames lists the names of a table's shared variants.
func sharedNames(t *layout.Table) []string {
	var out []string
	for _, v := range t.Variants {
		if !v.Standalone {
			out = append(out, v.Name)
		}
	}
	return out
}

// wholeImageProblems runs elfimage's whole-image checks on an image file,
// with the entries its own symbols give.
func wholeImageProblems(file []byte) []elfimage.Problem {
	ps := elfimage.HashProblems(file)
	ps = append(ps, elfimage.VersionProblems(file)...)
	ps = append(ps, elfimage.PageProblems(file)...)
	if text, _, err := elfimage.TextSection(file); err == nil {
		if entries, err := elfimage.EntriesOf(file, text); err == nil {
			ps = append(ps, elfimage.SymbolProblems(file, entries)...)
		}
	}
	return ps
}
