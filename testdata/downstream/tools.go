//go:build tools

// This file records the generator's dependencies in go.mod and go.sum:
// asm.go is built only by go generate (//go:build ignore), and go mod tidy
// ignores such files, so without it tidy would drop avo and vdsogen's
// generator packages and go generate would fail with "missing go.sum entry".
// The vdsogen command (go run .../gen/cmd/vdsogen) is recorded the same way.
package ticks

import (
	_ "github.com/mmcloughlin/avo/operand"
	_ "github.com/mmcloughlin/avo/reg"
	_ "github.com/vdsogen/vdsogen/dsl"
	_ "github.com/vdsogen/vdsogen/dsl/x86"
	_ "github.com/vdsogen/vdsogen/gen"
	_ "github.com/vdsogen/vdsogen/gen/cmd/vdsogen"
)
