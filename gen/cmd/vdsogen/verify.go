package main

import (
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/vdsogen/vdsogen/internal/verify"
	"github.com/vdsogen/vdsogen/layout"
)

var cmdVerify = &command{
	name:      "verify",
	usageLine: "vdsogen verify [-json] [dir | files]",
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

Every failure is printed as

	file: asm.go:line:col: check: variant v, entry e, offset 0x..: message [v: instruction; w: instruction]

naming the variant's assembly file and the generator program position that
produced the bytes. Verify also says which pairs of variants can be
switched live (every difference one atomic instruction).

The -json flag prints the whole report as JSON instead.

Verify exits 0 when every check passes, 1 when one fails or the files
cannot be assembled, and 2 on a usage error.`,
	flags: func(fs *flag.FlagSet) {},
	run:   runVerify,
}

func runVerify(c *cmdEnv, args []string) int {
	pkg, _, r, err := c.load(args)
	if err != nil {
		return c.fail(err)
	}
	if *c.json {
		type finding struct {
			File string `json:"file"`
			verify.Finding
		}
		out := struct {
			Program  string              `json:"program"`
			Layout   string              `json:"layout"`
			OK       bool                `json:"ok"`
			Findings []finding           `json:"findings"`
			Stack    []verify.EntryStack `json:"stack"`
			Pairs    []verify.Pair       `json:"pairs"`
		}{Program: pkg.Table.Program, Layout: pkg.LayoutFile, OK: r.OK(), Findings: []finding{}, Stack: r.Stack, Pairs: r.Pairs}
		for _, f := range r.Findings {
			out.Findings = append(out.Findings, finding{where(pkg, f), f})
		}
		writeJSON(c.stdout, out)
	} else {
		printFindings(c.stdout, pkg, r)
	}
	if !r.OK() {
		if !*c.json {
			fmt.Fprintf(c.stderr, "vdsogen verify: %s: %d finding%s\n", filepath.Dir(pkg.LayoutFile), len(r.Findings), plural(len(r.Findings)))
		}
		return 1
	}
	if !*c.json {
		entries := 0
		if len(pkg.Table.Variants) > 0 {
			entries = len(pkg.Table.Variants[0].Entries)
		}
		fmt.Fprintf(c.stdout, "ok %s: program %s, %d variants, %d entries\n", filepath.Dir(pkg.LayoutFile), pkg.Table.Program, len(pkg.Table.Variants), entries)
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
