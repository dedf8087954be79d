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
	// A reachable UD2 is a crash, not an exit.
	Entry("now", "func(x int64) int64")
	MOVQ(page.At(0), RAX)
	TESTQ(RDI, RDI)
	JEQ(L("now_done"))
	Bytes(0x0f, 0x0b) // UD2 as raw bytes (reachable_ud2 writes x86.UD2)
	Label("now_done")
	RET()
	gen.Main()
}
