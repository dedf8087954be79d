//go:build ignore

// main records its routines but never calls gen.Main (and, as the compiler
// then insists, no longer imports gen): without the dsl's check the program
// would exit 0 having generated nothing.
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
