package main

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"

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
