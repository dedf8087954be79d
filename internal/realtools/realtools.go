// Package realtools runs the system's binary tools (binutils' readelf,
// objdump, addr2line) on generated images for the tests, so that what the
// images claim is checked by the tools their users run, not only by this
// module's own readers.
package realtools

import (
	"fmt"
	"os/exec"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// Need returns the path of command name, or skips the test saying which
// Debian package provides it (.ci/run installs them).
func Need(t testing.TB, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Skipf("%s is not installed: apt-get install %s (.ci/run does)", name, pkg)
	}
	return p
}

// Run runs a tool and fails the test if it fails or prints a warning or
// an error; it returns the output.
func Run(t testing.TB, tool string, args ...string) string {
	t.Helper()
	out, err := exec.Command(tool, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", tool, strings.Join(args, " "), err, out)
	}
	for _, l := range strings.Split(string(out), "\n") {
		if low := strings.ToLower(l); strings.Contains(low, "warning") || strings.Contains(low, "error") {
			t.Errorf("%s %s: %s", tool, strings.Join(args, " "), l)
		}
	}
	return string(out)
}

// fdeHeader and cfaRow are lines of readelf's --debug-dump=frames-interp
// output: an FDE, and one "LOC CFA ra" row of its table.
var (
	fdeHeader = regexp.MustCompile(`FDE cie=[0-9a-f]+ pc=([0-9a-f]+)\.\.([0-9a-f]+)`)
	cfaRow    = regexp.MustCompile(`^([0-9a-f]{16}) +(\S+) +(\S+)`)
)

// CompareCFA compares readelf's interpreted unwind rows (the output of
// readelf -W --debug-dump=frames-interp) with a stack model: for every
// instruction the model has (code offset -> bytes below the return
// address), the last row of its FDE at or before the instruction's
// address (text+offset) must say CFA rsp+(8+depth) and return address at
// c-8. An FDE readelf prints no rows for keeps the CIE's initial rule,
// rsp+8 (checked against the CIE's own row). It returns every
// disagreement and the number of instructions compared.
func CompareCFA(out string, text int, depth map[int]int) (problems []string, n int) {
	type row struct {
		loc     int
		cfa, ra string
	}
	type fde struct {
		start, end int
		rows       []row
	}
	var fdes []*fde
	var cie []row
	for _, l := range strings.Split(out, "\n") {
		if m := fdeHeader.FindStringSubmatch(l); m != nil {
			s, _ := strconv.ParseUint(m[1], 16, 64)
			e, _ := strconv.ParseUint(m[2], 16, 64)
			fdes = append(fdes, &fde{start: int(s), end: int(e)})
			continue
		}
		if m := cfaRow.FindStringSubmatch(l); m != nil {
			loc, _ := strconv.ParseUint(m[1], 16, 64)
			r := row{int(loc), m[2], m[3]}
			if len(fdes) == 0 {
				cie = append(cie, r)
			} else {
				f := fdes[len(fdes)-1]
				f.rows = append(f.rows, r)
			}
		}
	}
	if len(fdes) == 0 {
		return []string{"no FDEs in readelf's output"}, 0
	}
	if len(cie) != 1 || cie[0].cfa != "rsp+8" || cie[0].ra != "c-8" {
		problems = append(problems, fmt.Sprintf("the CIE's initial rows are %v, want rsp+8 c-8", cie))
	}
	offs := make([]int, 0, len(depth))
	for o := range depth {
		offs = append(offs, o)
	}
	sort.Ints(offs)
	for _, o := range offs {
		d := depth[o]
		a := text + o
		var in *fde
		for _, f := range fdes {
			if a >= f.start && a < f.end {
				in = f
			}
		}
		if in == nil {
			problems = append(problems, fmt.Sprintf("offset %#x (address %#x): readelf shows no FDE covering it", o, a))
			continue
		}
		got := row{in.start, "rsp+8", "c-8"}
		for _, r := range in.rows {
			if r.loc <= a {
				got = r
			}
		}
		if want := fmt.Sprintf("rsp+%d", 8+d); got.cfa != want || got.ra != "c-8" {
			problems = append(problems, fmt.Sprintf("offset %#x (address %#x): readelf's row at %#x says CFA %s, ra %s; the model says %s, c-8", o, a, got.loc, got.cfa, got.ra, want))
		}
		n++
	}
	return problems, n
}
