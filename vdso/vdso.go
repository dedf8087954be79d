package vdso

import "github.com/vdsogen/vdsogen/vdso/internal/vvar"

//go:generate go run asm.go -out . -name clock -variants variants.toml -elf

// Timespec is struct timespec of the C ABI on x86-64.
type Timespec struct {
	Sec  int64
	Nsec int64
}

// The pages the generated routines read. The generated code refers to them
// by name (see asm.go).
var (
	vdsoData   vvar.Page
	vdsoTimens vvar.TimensPage
)

// Timeval is struct timeval of the C ABI on x86-64.
type Timeval struct {
	Sec  int64
	Usec int64
}
