package gen

import (
	"context"
	"fmt"
	"go/types"

	"github.com/vdsogen/vdsogen/dsl"
	"github.com/vdsogen/vdsogen/internal/harness"
	"github.com/vdsogen/vdsogen/internal/verify"
	"github.com/vdsogen/vdsogen/layout"
)

// verifyStubs links the stubs about to be written with the final images
// and runs the verifier on that build, so that the stubs rule proves them
// on their bytes before anything is written: the layout builds cannot hold
// the stubs, which call offsets known only once the layout settled. The
// stubs' declarations are read back from the Go source about to be
// written, in the target package's types.
func verifyStubs(ctx context.Context, prog *dsl.Program, table *layout.Table, files map[string][]byte, stubsAsm, stubsGo string, pkg *types.Package) error {
	in := harness.Input{AsmFiles: map[string][]byte{}, Data: map[string]int{}}
	for _, pg := range prog.Pages {
		in.Data[pg.Symbol] = pg.Size
	}
	for _, v := range table.Variants {
		name := asmFile(table.Program, v.Name)
		in.AsmFiles[name] = files[name]
		in.Images = append(in.Images, v.Symbol)
	}
	stubs := verify.KeepStubs(&in, stubsAsm, files[stubsAsm])
	resolve := func(expr string) (*types.Signature, error) { return parseSignature(pkg, expr) }
	if err := stubs.Declare(files[stubsGo], resolve); err != nil {
		return fmt.Errorf("reading back the stubs' declarations: %w", err)
	}
	res, err := harness.Build(ctx, in)
	if err != nil {
		return fmt.Errorf("assembling the stubs with the images: %w", err)
	}
	vin, err := verify.FromHarness(table, res)
	if err != nil {
		return err
	}
	stubs.Link(res)
	vin.Stubs = stubs
	return verify.Verify(vin).Err()
}
