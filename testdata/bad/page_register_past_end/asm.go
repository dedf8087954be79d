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
	// Every operand names an offset inside the page, but the register
	// holds page+60 and the access adds 8: bytes 68..75 of a 64-byte page.
	Entry("now", "func(x int64) int64")
	LEAQ(page.At(60), R10)
	MOVQ(Mem{Base: R10, Disp: 8}, RAX)
	RET()
	gen.Main()
}
