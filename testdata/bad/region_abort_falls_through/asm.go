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
	Entry("now", "func(x int64) int64")
	MOVQ(page.At(0), RAX)
	StaticBranch("timens", func() {
		ADDQ(page.At(8), RAX)
	})
	Label("retry")
	Region("read", func() {
		MOVQ(page.At(16), RCX)
		CMPQ(RCX, page.At(0))
		JNE(L("retry"))
	}, func() {
		MOVQ(RDI, RAX)
	})
	RET()
	gen.Main()
}
