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

func main() {
	Entry("shift", "func(x int64) int64")
	MOVQ(RDI, RAX)
	ThreeLabel("timens", func() {
		INCQ(RAX)
	}, func() {
		MOVQ(RAX, Mem{Base: RSI})
		RET()
	})
	gen.Main()
}
