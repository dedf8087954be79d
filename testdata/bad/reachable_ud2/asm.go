//go:build ignore

package main

import (
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"

	. "github.com/vdsogen/vdsogen/dsl"
	. "github.com/vdsogen/vdsogen/dsl/x86"
	"github.com/vdsogen/vdsogen/gen"
)

var page = DataPage("page", 64)

var _ = U8(0)

func main() {
	// UD2 written with dsl/x86's wrapper: reachable, it is a crash, not an
	// exit (reachable_trap writes the same bytes with Bytes).
	Entry("now", "func(x int64) int64")
	MOVQ(page.At(0), RAX)
	TESTQ(RDI, RDI)
	JEQ(L("now_done"))
	UD2()
	Label("now_done")
	RET()
	gen.Main()
}
