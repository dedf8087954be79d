//go:build ignore

package main

import (
	. "github.com/mmcloughlin/avo/reg"

	. "github.com/vdsogen/vdsogen/dsl"
	. "github.com/vdsogen/vdsogen/dsl/x86"
	"github.com/vdsogen/vdsogen/gen"
)

var (
	page    = DataPage("page", 64)
	offsets = DataPage("offsets", 64) // not declared in package target
)

func main() {
	Entry("now", "func(x int64) int64")
	MOVQ(page.At(0), RAX)
	ADDQ(offsets.At(0), RAX)
	RET()
	gen.Main()
}
