// The good program without its //go:build ignore line: it is compiled
// into package target as well.
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
	Entry("now", "func(x int64) int64")
	MOVQ(page.At(0), RAX)
	StaticBranch("timens", func() {
		ADDQ(page.At(8), RAX)
	})
	ADDQ(RDI, RAX)
	RET()

	Entry("shift", "func(x int64) int64")
	MOVQ(RDI, RAX)
	ThreeLabel("timens", func() {
		ADDQ(page.At(16), RAX)
		ADDL(U8(1), EAX)
	}, func() {
		RET()
	})
	gen.Main()
}
