//go:build ignore

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
	MOVQ(page.At(0), RAX)
	StaticBranch("timens", func() {
		StaticBranch("timens", func() {
			ADDQ(page.At(8), RAX)
		})
	})
	RET()
	gen.Main()
}
