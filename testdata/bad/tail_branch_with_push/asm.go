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
	// A conditional tail call to another entry with 8 bytes still pushed
	// (the other entry would return to the pushed value): the DSL has no
	// label for another entry, so the program is refused before the
	// verifier, which would refuse the bytes too (TestSoundness).
	Entry("now", "func(x int64) int64")
	PUSHQ(RDI)
	TESTQ(RDI, RDI)
	JEQ(L("twice"))
	POPQ(RAX)
	RET()

	Entry("twice", "func(x int64) int64")
	MOVQ(RDI, RAX)
	ADDQ(RDI, RAX)
	RET()
	gen.Main()
}
