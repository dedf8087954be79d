package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/vdsogen/vdsogen/internal/verify"
	"github.com/vdsogen/vdsogen/layout"
)

// fileFinding is a finding with the file it is about.
type fileFinding struct {
	File string `json:"file"`
	verify.Finding
}

// elfFindings verifies ELF images as a whole, from the files alone: each
// image's own checks (verify.CheckELF), then every image rule
// (verify.Verify) on the input the images describe (verify.FromELF), all
// images of one program together, so that their variants are compared as
// the package's are. It returns the findings, each with its image's path,
// and per program the table and report of the images.
func elfFindings(images []*verify.ELF) ([]fileFinding, []*elfProgram, error) {
	var out []fileFinding
	var progs []*elfProgram
	byProgram := map[string][]*verify.ELF{}
	var order []string
	for _, e := range images {
		if _, ok := byProgram[e.Program]; !ok {
			order = append(order, e.Program)
		}
		byProgram[e.Program] = append(byProgram[e.Program], e)
	}
	for _, prog := range order {
		group := byProgram[prog]
		pathOf := map[string]string{}
		for _, e := range group {
			pathOf[e.Variant] = e.Path
			for _, f := range verify.CheckELF(e) {
				out = append(out, fileFinding{e.Path, f})
			}
		}
		in, err := verify.FromELF(group)
		if err != nil {
			return nil, nil, err
		}
		r := verify.Verify(in)
		for _, f := range r.Findings {
			file := group[0].Path
			if len(f.Variants) > 0 && pathOf[f.Variants[0]] != "" {
				file = pathOf[f.Variants[0]]
			}
			out = append(out, fileFinding{file, f})
		}
		prog := &elfProgram{Table: in.Table, Report: r}
		for _, e := range group {
			prog.Files = append(prog.Files, e.Path)
		}
		progs = append(progs, prog)
	}
	return out, progs, nil
}

// elfProgram is what verify says of the images of one program.
type elfProgram struct {
	Table  *layout.Table
	Report *verify.Report
	Files  []string
}

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
		path := filepath.Join(dir, "z"+pkg.Table.Program+"_"+v.Name+".so")
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
	if len(images) == 0 {
		return nil, nil, nil
	}
	var out []fileFinding
	for _, v := range missing {
		out = append(out, fileFinding{pkg.LayoutFile, verify.Finding{Check: "elf-files", Variants: []string{v.Name},
			Msg: fmt.Sprintf("no z%s_%s.so beside the other images of the program", pkg.Table.Program, v.Name)}})
	}
	for _, e := range images {
		v, ok := pkg.Table.Variant(e.Variant)
		if !ok || !strings.HasSuffix(e.Path, "_"+e.Variant+".so") {
			out = append(out, fileFinding{e.Path, verify.Finding{Check: verify.CheckELFNote, Variants: []string{e.Variant},
				Msg: fmt.Sprintf("the note says variant %s, program %s: not the variant the file name says", e.Variant, e.Program)}})
			continue
		}
		for _, f := range verify.CompareELF(in, v, e) {
			out = append(out, fileFinding{e.Path, f})
		}
	}
	whole, _, err := elfFindings(images)
	if err != nil {
		return nil, nil, err
	}
	return append(out, whole...), files, nil
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
	fs, progs, err := elfFindings(images)
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
		for _, p := range progs {
			out.Programs = append(out.Programs, program{p.Table.Program, p.Files, p.Report.Stack, p.Report.Pairs})
		}
		writeJSON(c.stdout, out)
	} else {
		for _, f := range fs {
			fmt.Fprintf(c.stdout, "%s: %s\n", f.File, f.Finding)
		}
	}
	if len(fs) > 0 {
		if !*c.json {
			fmt.Fprintf(c.stderr, "vdsogen verify: %s: %d finding%s\n", strings.Join(paths, " "), len(fs), plural(len(fs)))
		}
		return 1
	}
	if !*c.json {
		for _, p := range progs {
			entries := 0
			if len(p.Table.Variants) > 0 {
				entries = len(p.Table.Variants[0].Entries)
			}
			fmt.Fprintf(c.stdout, "ok %s: program %s, %d image%s, %d entries\n", strings.Join(p.Files, " "), p.Table.Program, len(p.Files), plural(len(p.Files)), entries)
			printEntries(c.stdout, p.Table, p.Report)
			printPairs(c.stdout, p.Report)
		}
	}
	return 0
}
