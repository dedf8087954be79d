//go:build ignore

package main

import (
	. "github.com/mmcloughlin/avo/reg"

	. "github.com/vdsogen/vdsogen/dsl"
	. "github.com/vdsogen/vdsogen/dsl/x86"
	"github.com/vdsogen/vdsogen/gen"
)

var page = DataPage("page", 64)

func main() {
	// The out-of-line body pushes and jumps back: after the site the stack
	// is 8 bytes deeper where timens is on than where it is off.
	Entry("now", "func(x int64) int64")
	MOVQ(page.At(0), RAX)
	StaticBranch("timens", func() {
		PUSHQ(RAX)
	})
	MOVQ(RDI, RAX)
	RET()
	gen.Main()
}
