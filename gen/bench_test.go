package gen

import (
	"context"
	"fmt"
	"math/bits"
	"strings"
	"testing"

	"github.com/vdsogen/vdsogen/dsl"
	"github.com/vdsogen/vdsogen/variants"
)

// BenchmarkGenerate times one gen.Generate, toolchain included (every
// padding round assembles and links with the Go toolchain, and the final
// build is verified), on a synthetic program: entries entries, each a load
// from the data page, one StaticBranch and a RET, under a variants file of
// variants variants. The keys are k0..k(n-1), n = min(log2(variants),
// entries), entry i using key i mod n, so that every key is used; the
// first 2^n variants are shared and take every combination of the keys,
// and the rest (only where entries=1 leaves too few keys: 2 of 4 and 6 of
// 8) are standalone builds. docs/performance.md has the numbers.
func BenchmarkGenerate(b *testing.B) {
	if testing.Short() {
		b.Skip("assembles with the Go toolchain; skipped under -short")
	}
	for _, entries := range []int{1, 8, 64} {
		for _, nv := range []int{2, 4, 8} {
			b.Run(fmt.Sprintf("entries=%d/variants=%d", entries, nv), func(b *testing.B) {
				prog, set := benchProgram(b, entries, nv)
				cfg := Config{Name: "vd", Dir: newTarget(b), Variants: set}
				var o *Output
				for b.Loop() {
					var err error
					if o, err = Generate(context.Background(), prog, cfg); err != nil {
						b.Fatalf("Generate: %v", err)
					}
				}
				b.ReportMetric(float64(o.Assemblies), "assemblies")
			})
		}
	}
}

// benchProgram builds the synthetic program and its variants file.
func benchProgram(b *testing.B, entries, nv int) (*dsl.Program, *variants.Set) {
	nkeys := min(bits.Len(uint(nv))-1, entries)
	bld := dsl.New()
	pg := bld.DataPage("page", 64)
	for i := range entries {
		addPageSum(bld, pg, fmt.Sprintf("e%d", i), fmt.Sprintf("k%d", i%nkeys))
	}
	prog, err := bld.Program()
	if err != nil {
		b.Fatalf("Program: %v", err)
	}
	var toml strings.Builder
	for v := range nv {
		fmt.Fprintf(&toml, "[variant.v%d]\n", v)
		if v >= 1<<nkeys {
			toml.WriteString("standalone = true\n")
		}
		for k := range nkeys {
			fmt.Fprintf(&toml, "k%d = %t\n", k, v>>k&1 == 1)
		}
		toml.WriteString("\n")
	}
	set, err := variants.Parse("bench.toml", []byte(toml.String()))
	if err != nil {
		b.Fatalf("variants: %v\n%s", err, toml.String())
	}
	return prog, set
}
