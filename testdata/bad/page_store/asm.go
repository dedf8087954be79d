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
	// A store to the data page: the kernel maps vvar read-only, and in
	// Go-stub mode the page is a Go global the store would corrupt.
	Entry("now", "func(x int64) int64")
	MOVQ(page.At(0), RAX)
	MOVQ(RDI, page.At(8))
	RET()
	gen.Main()
}
