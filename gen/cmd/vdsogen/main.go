// Command vdsogen inspects and verifies the images vdsogen generated: it
// assembles a package's generated files with the Go toolchain, decodes the
// linked bytes and checks them against the layout table.
//
// Usage:
//
//	vdsogen <command> [arguments]
//
// The commands are:
//
//	verify    check generated images on the bytes the toolchain produces
//	inspect   print the layout table, or what an ELF image says of itself
//	diff      show the differences between two variants
//
// Use "vdsogen help <command>" for more information about a command.
// Generating is done by the generator program itself (see go-generate.md).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/vdsogen/vdsogen/internal/harness"
	"github.com/vdsogen/vdsogen/internal/verify"
	"github.com/vdsogen/vdsogen/layout"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// A command is one subcommand, documented in the go command's manner.
type command struct {
	name      string
	usageLine string
	short     string
	long      string
	run       func(c *cmdEnv, args []string) int
	flags     func(fs *flag.FlagSet)
}

// cmdEnv is what a running command writes to.
type cmdEnv struct {
	cmd            *command
	stdout, stderr io.Writer
	fs             *flag.FlagSet
	json           *bool
}

var commands []*command

func init() {
	commands = []*command{cmdVerify, cmdInspect, cmdDiff}
}

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

var cmdInspect = &command{
	name:      "inspect",
	usageLine: "vdsogen inspect [-json] [dir | files | images.so]",
	short:     "print the layout table, or what an ELF image says of itself",
	long: `Inspect prints the layout table of a generated program, per variant: every
entry with its offset, size and maximum stack depth (measured on the
assembled bytes), and the descriptor table of its markers:

	SITE     every marker site (static_branch, three_label, alternative,
	         static_call) with its key, entry, offset, size, state, the
	         choice it holds, its target and the generator program line
	         that declared it
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
depths as JSON, or for images their reports. Inspect exits 1 if the files
cannot be assembled or do not verify, or if an image cannot be read or
fails the image checks of verify (the findings go to standard error).`,
	run: runInspect,
}

var cmdDiff = &command{
	name:      "diff",
	usageLine: "vdsogen diff [-json] [dir] variant1 variant2",
	short:     "show the differences between two variants",
	long: `Diff prints the byte and instruction differences between two variants of
the program in dir (default "."), each annotated with the marker site that
allows it (kind, key, source line), or marked NOT ALLOWED when it lies
outside every site. Data references count by what they refer to: the
images are linked at different addresses.

Diff exits 0 when every difference is allowed, 1 when one is not (or the
files cannot be assembled), and 2 on a usage error.`,
	run: runDiff,
}

const mainUsage = `Vdsogen inspects and verifies the images vdsogen generated.

Usage:

	vdsogen <command> [arguments]

The commands are:
{{commands}}
Use "vdsogen help <command>" for more information about a command.
`

func printMainUsage(w io.Writer) {
	var b strings.Builder
	b.WriteString("\n")
	for _, c := range commands {
		fmt.Fprintf(&b, "\t%-10s %s\n", c.name, c.short)
	}
	fmt.Fprint(w, strings.Replace(mainUsage, "{{commands}}", b.String(), 1))
}

// run is the command line: it returns the exit code.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		printMainUsage(stderr)
		return 2
	}
	name, args := args[0], args[1:]
	if name == "help" || name == "-h" || name == "-help" || name == "--help" {
		return help(args, stdout, stderr)
	}
	for _, c := range commands {
		if c.name != name {
			continue
		}
		fs := flag.NewFlagSet(c.name, flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		env := &cmdEnv{cmd: c, stdout: stdout, stderr: stderr, fs: fs, json: fs.Bool("json", false, "")}
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				fmt.Fprintf(stdout, "usage: %s\n\n%s\n", c.usageLine, c.long)
				return 0
			}
			return env.usage("%v", err)
		}
		return c.run(env, fs.Args())
	}
	fmt.Fprintf(stderr, "vdsogen %s: unknown command\nRun 'vdsogen help' for usage.\n", name)
	return 2
}

func help(args []string, stdout, stderr io.Writer) int {
	switch len(args) {
	case 0:
		printMainUsage(stdout)
		return 0
	case 1:
		for _, c := range commands {
			if c.name == args[0] {
				fmt.Fprintf(stdout, "usage: %s\n\n%s\n", c.usageLine, c.long)
				return 0
			}
		}
		fmt.Fprintf(stderr, "vdsogen help %s: unknown help topic. Run 'vdsogen help'.\n", args[0])
		return 2
	}
	fmt.Fprintf(stderr, "usage: vdsogen help command\n\nToo many arguments given.\n")
	return 2
}

// usage reports a usage error the way the go command does.
func (c *cmdEnv) usage(format string, args ...any) int {
	fmt.Fprintf(c.stderr, "vdsogen %s: %s\nusage: %s\nRun 'vdsogen help %s' for details.\n", c.cmd.name, fmt.Sprintf(format, args...), c.cmd.usageLine, c.cmd.name)
	return 2
}

// fail reports an error that is not the user's command line.
func (c *cmdEnv) fail(err error) int {
	var be *harness.BuildError
	if errors.As(err, &be) {
		fmt.Fprintf(c.stderr, "vdsogen %s: the Go toolchain rejected the generated assembly:\n%s\n", c.cmd.name, strings.TrimRight(be.Output, "\n"))
		return 1
	}
	fmt.Fprintf(c.stderr, "vdsogen %s: %v\n", c.cmd.name, err)
	return 1
}

// load finds, assembles and verifies the program named by paths.
func (c *cmdEnv) load(paths []string) (*verify.Package, *verify.Input, *verify.Report, error) {
	if len(paths) == 0 {
		paths = []string{"."}
	}
	pkg, err := verify.Load(paths)
	if err != nil {
		return nil, nil, nil, err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	in, err := pkg.Assemble(ctx)
	if err != nil {
		return nil, nil, nil, err
	}
	// The page operands as written: the bytes cannot tell page+4096(SB)
	// from the symbol the linker put after the page.
	if err := pkg.ReadAsm(in); err != nil {
		return nil, nil, nil, err
	}
	return pkg, in, verify.Verify(in), nil
}

// where names the file a finding is about: its first variant's assembly,
// or the layout table.
func where(pkg *verify.Package, f verify.Finding) string {
	if len(f.Variants) > 0 {
		if p, ok := pkg.AsmFiles[f.Variants[0]]; ok {
			return p
		}
	}
	return pkg.LayoutFile
}

func printFindings(w io.Writer, pkg *verify.Package, r *verify.Report) {
	for _, f := range r.Findings {
		fmt.Fprintf(w, "%s: %s\n", where(pkg, f), f)
	}
}

func printPairs(w io.Writer, r *verify.Report) {
	for _, p := range r.Pairs {
		if p.Switchable {
			fmt.Fprintf(w, "live switch %s <-> %s: yes\n", p.A, p.B)
			continue
		}
		fmt.Fprintf(w, "live switch %s <-> %s: no: %s\n", p.A, p.B, strings.Join(p.Why, "; "))
	}
}

func writeJSON(w io.Writer, v any) {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
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

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

func runInspect(c *cmdEnv, args []string) int {
	elfArgs, err := isELFArgs(args)
	if err != nil {
		return c.usage("%v", err)
	}
	if elfArgs {
		return inspectELF(c, args)
	}
	pkg, _, r, err := c.load(args)
	if err != nil {
		return c.fail(err)
	}
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

func runDiff(c *cmdEnv, args []string) int {
	var dir, a, b string
	switch len(args) {
	case 2:
		dir, a, b = ".", args[0], args[1]
	case 3:
		dir, a, b = args[0], args[1], args[2]
	default:
		return c.usage("want two variants (and optionally a directory), have %d argument%s", len(args), plural(len(args)))
	}
	if a == b {
		return c.usage("both variants are %s", a)
	}
	pkg, in, r, err := c.load([]string{dir})
	if err != nil {
		return c.fail(err)
	}
	ds, err := verify.Diff(in, a, b)
	if err != nil {
		return c.fail(err)
	}
	va, _ := pkg.Table.Variant(a)
	vb, _ := pkg.Table.Variant(b)
	type diff struct {
		verify.Difference
		BytesA  string       `json:"bytes_a"`
		BytesB  string       `json:"bytes_b"`
		Allowed bool         `json:"allowed"`
		Marker  *layout.Site `json:"marker,omitempty"`
		Source  string       `json:"source"`
	}
	var out []diff
	bad := 0
	for _, d := range ds {
		x := diff{Difference: d, BytesA: fmt.Sprintf("% x", d.A), BytesB: fmt.Sprintf("% x", d.B), Allowed: d.Site >= 0, Source: va.SourceAt(d.Offset)}
		if d.Site >= 0 {
			s := va.Sites[d.Site]
			x.Marker = &s
			x.Source = s.Source
		} else {
			bad++
		}
		out = append(out, x)
	}
	if *c.json {
		writeJSON(c.stdout, struct {
			A           string `json:"a"`
			B           string `json:"b"`
			Differences []diff `json:"differences"`
		}{a, b, out})
	} else {
		w := c.stdout
		fmt.Fprintf(w, "diff %s %s (%s)\n", a, b, filepath.Dir(pkg.LayoutFile))
		for _, d := range out {
			fmt.Fprintf(w, "\n%#04x-%#04x entry %s: ", d.Offset, d.End, d.Entry)
			if d.Allowed {
				fmt.Fprintf(w, "allowed by %s %s (%s)\n", d.Marker.Kind, d.Marker.Key, d.Marker.Source)
			} else {
				fmt.Fprintf(w, "NOT ALLOWED: outside every marker site (%s)\n", d.Source)
			}
			for _, side := range []struct {
				name  string
				b     []byte
				insts []string
			}{{a, d.A, d.InstA}, {b, d.B, d.InstB}} {
				fmt.Fprintf(w, "  %s: % x\n", side.name, side.b)
				for _, in := range side.insts {
					fmt.Fprintf(w, "    %s\n", in)
				}
			}
		}
		fmt.Fprintf(w, "\n%d difference%s, %d not allowed\n", len(out), plural(len(out)), bad)
		for _, p := range r.Pairs {
			if (p.A == va.Name && p.B == vb.Name) || (p.A == vb.Name && p.B == va.Name) {
				printPairs(w, &verify.Report{Pairs: []verify.Pair{p}})
			}
		}
	}
	if bad > 0 {
		return 1
	}
	return 0
}
