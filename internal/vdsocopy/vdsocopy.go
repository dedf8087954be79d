// Package vdsocopy lets tests copy the reference vDSO's generated files
// (vdso/zclock_*) into a module of their own, where the copy type-checks
// and links without the rest of package vdso: the tests corrupt the copy
// and verify it as a user's tree would be verified.
package vdsocopy

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
)

// Shim declares what vdso's generated files need from the rest of
// package vdso, whose internal imports resolve only inside this module.
const Shim = `package vdso

type Timespec struct{ Sec, Nsec int64 }

type Timeval struct{ Sec, Usec int64 }

var vdsoData [4096]byte

var vdsoTimens [4096]byte

var _ = clockLayout
`

// ModuleFiles returns the files that make a directory holding a copy of
// vdso's generated files a module named module: the downstream example's
// go.mod (renamed, with vdsogen replaced by the checkout at root, an
// absolute path) and go.sum, so that the stubs' Go declarations
// type-check, and shim.go (Shim).
func ModuleFiles(root, module string) (map[string][]byte, error) {
	mod, err := os.ReadFile(filepath.Join(root, "testdata/downstream/go.mod"))
	if err != nil {
		return nil, fmt.Errorf("the downstream example's go.mod: %w", err)
	}
	mod = bytes.Replace(mod, []byte("module example.com/ticks"), []byte("module "+module), 1)
	mod = bytes.Replace(mod, []byte("=> ../.."), []byte("=> "+root), 1)
	sum, err := os.ReadFile(filepath.Join(root, "testdata/downstream/go.sum"))
	if err != nil {
		return nil, fmt.Errorf("the downstream example's go.sum: %w", err)
	}
	return map[string][]byte{"go.mod": mod, "go.sum": sum, "shim.go": []byte(Shim)}, nil
}
