//go:build amd64

package floor

import (
	"testing"
	"unsafe"
)

func TestFloor(t *testing.T) {
	var page [4096 / 8]uint64
	page[4] = 42 // offset 32
	p := unsafe.Pointer(&page)
	a := Hres(p)
	b := Hres(p)
	if b <= a {
		t.Errorf("TSC not increasing: %d then %d", a, b)
	}
	if got := Coarse(p); got != 42 {
		t.Errorf("Coarse = %d, want 42", got)
	}
}
