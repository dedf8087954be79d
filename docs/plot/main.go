// Command plot turns `go test -bench` output into an SVG bar chart of the
// median ns/op of each benchmark, grouped: for a benchmark named
// Bench/<group>/<bar>, one group of bars per <group> (in order of first
// appearance), one bar per <bar>. It has no dependencies and writes the
// SVG by hand.
//
//	go test -run '^$' -bench BenchmarkClockGettime -count 5 ./vdso/ > bench.txt
//	go run ./docs/plot -bench BenchmarkClockGettime < bench.txt > docs/clock_gettime.svg
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// line matches "BenchmarkX/a/b-2   123   45.6 ns/op ...".
var line = regexp.MustCompile(`^(Benchmark\S+?)(?:-\d+)?\s+\d+\s+([0-9.]+) ns/op`)

func main() {
	bench := flag.String("bench", "BenchmarkClockGettime", "benchmark whose sub-benchmarks to plot")
	title := flag.String("title", "clock_gettime, ns/op (median; lower is better)", "chart title")
	flag.Parse()
	groups, bars, med, err := parse(os.Stdin, *bench)
	if err != nil {
		log.Fatal(err)
	}
	if len(groups) == 0 {
		log.Fatalf("no %s/<group>/<bar> results on stdin", *bench)
	}
	os.Stdout.WriteString(svg(*title, groups, bars, med))
}

// parse returns the groups and bars in order of first appearance and the
// median ns/op of each group/bar.
func parse(r io.Reader, bench string) (groups, bars []string, med map[[2]string]float64, err error) {
	samples := map[[2]string][]float64{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		m := line.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		parts := strings.SplitN(m[1], "/", 3)
		if len(parts) != 3 || parts[0] != bench {
			continue
		}
		v, err := strconv.ParseFloat(m[2], 64)
		if err != nil {
			return nil, nil, nil, err
		}
		if !slices.Contains(groups, parts[1]) {
			groups = append(groups, parts[1])
		}
		if !slices.Contains(bars, parts[2]) {
			bars = append(bars, parts[2])
		}
		k := [2]string{parts[1], parts[2]}
		samples[k] = append(samples[k], v)
	}
	med = map[[2]string]float64{}
	for k, s := range samples {
		slices.Sort(s)
		if n := len(s); n%2 == 1 {
			med[k] = s[n/2]
		} else {
			med[k] = (s[n/2-1] + s[n/2]) / 2
		}
	}
	return groups, bars, med, sc.Err()
}

var colors = []string{"#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7"}

func svg(title string, groups, bars []string, med map[[2]string]float64) string {
	const (
		barW, gap, left, top, plotH = 22, 24, 50, 40, 260
	)
	groupW := len(bars)*barW + gap
	width := left + len(groups)*groupW + 130
	height := top + plotH + 50
	hi := 0.0
	for _, v := range med {
		hi = max(hi, v)
	}
	step := niceStep(hi / 5)
	ymax := step * float64(int(hi/step)+1)
	y := func(v float64) float64 { return top + plotH - v/ymax*plotH }

	var s strings.Builder
	fmt.Fprintf(&s, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="11">`+"\n", width, height)
	fmt.Fprintf(&s, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(&s, `<text x="%d" y="20" font-size="14">%s</text>`+"\n", left, esc(title))
	for v := 0.0; v <= ymax+step/2; v += step {
		fmt.Fprintf(&s, `<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#ddd"/>`+"\n", left, left+len(groups)*groupW, y(v), y(v))
		fmt.Fprintf(&s, `<text x="%d" y="%.1f" text-anchor="end">%g</text>`+"\n", left-4, y(v)+4, v)
	}
	for gi, g := range groups {
		x0 := left + gi*groupW + gap/2
		for bi, bar := range bars {
			v, ok := med[[2]string{g, bar}]
			if !ok {
				continue
			}
			x := x0 + bi*barW
			fmt.Fprintf(&s, `<rect x="%d" y="%.1f" width="%d" height="%.1f" fill="%s"><title>%s/%s: %.2f ns/op</title></rect>`+"\n",
				x, y(v), barW-2, top+plotH-y(v), colors[bi%len(colors)], esc(g), esc(bar), v)
			fmt.Fprintf(&s, `<text x="%.1f" y="%.1f" text-anchor="middle" font-size="9">%.1f</text>`+"\n", float64(x)+float64(barW-2)/2, y(v)-3, v)
		}
		fmt.Fprintf(&s, `<text x="%.1f" y="%d" text-anchor="middle">%s</text>`+"\n", float64(x0)+float64(len(bars)*barW)/2, top+plotH+18, esc(g))
	}
	lx := left + len(groups)*groupW + 10
	for bi, bar := range bars {
		ly := top + 10 + bi*18
		fmt.Fprintf(&s, `<rect x="%d" y="%d" width="12" height="12" fill="%s"/><text x="%d" y="%d">%s</text>`+"\n", lx, ly, colors[bi%len(colors)], lx+18, ly+10, esc(bar))
	}
	s.WriteString("</svg>\n")
	return s.String()
}

// niceStep rounds x up to 1, 2 or 5 times a power of ten.
func niceStep(x float64) float64 {
	p := 1.0
	for p*10 <= x {
		p *= 10
	}
	for p > x && p > 1e-9 {
		p /= 10
	}
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= x {
			return m * p
		}
	}
	return 10 * p
}

func esc(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;").Replace(s)
}
