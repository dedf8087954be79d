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
	// Three static branches in a row: sites at entry offsets 0, 5 and 10
	// cannot all sit inside 8-byte windows, whatever the entry offset.
	Entry("now", "func(x int64) int64")
	StaticBranch("timens", func() { ADDQ(page.At(8), RAX) })
	StaticBranch("timens", func() { ADDQ(page.At(16), RAX) })
	StaticBranch("timens", func() { ADDQ(page.At(24), RAX) })
	RET()
	gen.Main()
}
