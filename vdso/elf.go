package vdso

import (
	"embed"

	"github.com/vdsogen/vdsogen/layout"
)

// The ELF vDSO images of the shared variants, z<name>_<variant>.so, written
// by go generate (vdsogen -elf) and checked like every generated file. They
// are committed and embedded, as the kernel builds its vDSO image into
// itself: a process loads them with vdso/loader without a toolchain.
//
//go:embed zclock_*.so
var elfFS embed.FS

// ELFImages returns a copy of the ELF vDSO image of every shared variant,
// by variant name ("host", "timens"), for vdso/loader.Load.
func ELFImages() map[string][]byte {
	out := map[string][]byte{}
	ents, _ := elfFS.ReadDir(".")
	for _, e := range ents {
		b, err := elfFS.ReadFile(e.Name())
		if err != nil {
			continue
		}
		if v, ok := layout.Files(clockLayout.Program).VariantOfELF(e.Name()); ok {
			out[v] = b
		}
	}
	return out
}

// Layout returns the layout table of the images (entries, marker sites);
// vdso/loader.Load uses it to apply the load-time choices of the "tsc"
// alternative and to decide which switches are swap-safe. Callers must not
// modify it.
func Layout() *layout.Table { return &clockLayout }
