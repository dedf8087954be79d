//go:build ignore

// As no_gen_main, run with -check as CI does: without the dsl's check
// the program would exit 0, a drift check that compared nothing.
package main

import (
	. "github.com/mmcloughlin/avo/reg"

	. "github.com/vdsogen/vdsogen/dsl"
	. "github.com/vdsogen/vdsogen/dsl/x86"
)

var page = DataPage("page", 64)

func main() {
	Entry("now", "func(x int64) int64")
	MOVQ(page.At(0), RAX)
	RET()
}
