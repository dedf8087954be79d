package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/vdsogen/vdsogen/internal/elfimage"
	"github.com/vdsogen/vdsogen/internal/verify"
	"github.com/vdsogen/vdsogen/layout"
)

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
