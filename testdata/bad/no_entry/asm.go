//go:build ignore

package main

import (
	. "github.com/vdsogen/vdsogen/dsl"
	"github.com/vdsogen/vdsogen/gen"
)

var page = DataPage("page", 64)

func main() {
	// Every routine was deleted, or main forgot to call them.
	gen.Main()
}
