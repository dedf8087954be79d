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
	StaticCall("scale", "double", "half")
	RET()

	Entry("double", "func(x int64) int64")
	LEAQ(Mem{Base: RDI, Index: RDI, Scale: 1}, RAX)
	RET()

	Entry("half", "func(x int32) int32")
	MOVL(EDI, EAX)
	SHRL(U8(1), EAX)
	RET()
	gen.Main()
}
