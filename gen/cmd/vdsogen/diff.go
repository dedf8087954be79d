package main

import (
	"fmt"
	"path/filepath"
	"regexp"

	"github.com/vdsogen/vdsogen/internal/verify"
	"github.com/vdsogen/vdsogen/layout"
)

var cmdDiff = &command{
	name:      "diff",
	usageLine: "vdsogen diff [-json] [dir] variant1 variant2",
	short:     "show the differences between two variants",
	long: `Diff prints the byte and instruction differences between two variants of
the program in dir (default "."), each annotated with the marker site that
allows it (kind, key, source line), or marked NOT ALLOWED when it lies
outside every site. Data references count by what they refer to: the
images are linked at different addresses. The -json flag prints them as
JSON, in the format vdsogen/v1 that docs/json.md describes.

Diff exits 0 when every difference is allowed, 1 when one is not (or the
files cannot be assembled), and 2 on a usage error.`,
	run: runDiff,
}

func runDiff(c *cmdEnv, args []string) int {
	var dir, a, b string
	switch len(args) {
	case 2:
		if isDir(args[0]) {
			return c.usage("want two variants after the directory %s, have 1", args[0])
		}
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

// isDir reports whether arg must be a directory rather than a variant:
// variant names are lower-case identifiers (as in the variants file), so
// ".", "../pkg" or "vdso/" can only be a directory.
func isDir(arg string) bool { return !variantName.MatchString(arg) }

// variantName is the form of a variant's name in the variants file.
var variantName = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)
