//go:build ignore

// A PUSHQ without its POPQ before the RET: the Go assembler rejects the
// image with "unbalanced PUSH/POP" and no line; the generator names both.
package main

import (
	. "github.com/mmcloughlin/avo/reg"

	. "github.com/vdsogen/vdsogen/dsl"
	. "github.com/vdsogen/vdsogen/dsl/x86"
	"github.com/vdsogen/vdsogen/gen"
)

var page = DataPage("page", 64)

func main() {
	Entry("now", "func(x int64) int64")
	PUSHQ(RBX)
	MOVQ(page.At(0), RAX)
	RET()
	gen.Main()
}
