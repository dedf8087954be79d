//go:build amd64

package vdso

import (
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/vdsogen/vdsogen/vdso/internal/floor"
	"github.com/vdsogen/vdsogen/vdso/internal/kvdso"
	"github.com/vdsogen/vdsogen/vdso/internal/vvar"
	"github.com/vdsogen/vdsogen/vdso/loader"
)

// BenchmarkEqualPath is clock_gettime on equal terms: the kernel's vDSO,
// the generated host and timens images (ELF images mapped by vdso/loader,
// the TSC choice CPUID picks) and the floor are all called the same way,
// through a function pointer and kvdso's C-ABI trampoline, as a C library
// calls a vDSO. BenchmarkClockGettime measures what a Go program gets (the
// generated stubs against the trampoline); this one compares the routines.
//
//	kernel  the running kernel's __vdso_clock_gettime
//	host    __vdso_clock_gettime of zclock_host.so, its own timekeeper running
//	timens  the same of zclock_timens.so, non-zero offsets on its timens page
//	floor   floor's C-ABI seqlock read around LFENCE;RDTSC (one load for
//	        MONOTONIC_COARSE) on the host image's data page
func BenchmarkEqualPath(b *testing.B) {
	if !kvdso.Available() {
		b.Skip("the process has no usable kernel vDSO")
	}
	host, hostPage := equalPathImage(b, "host")
	timens, _ := equalPathImage(b, "timens")
	for _, c := range benchClocks {
		id := c.id
		b.Run(c.name, func(b *testing.B) {
			through := func(fn uintptr, arg unsafe.Pointer) func(*testing.B) {
				return func(b *testing.B) {
					ts := (*unix.Timespec)(arg)
					for b.Loop() {
						benchRC = kvdso.CallClockGettime(fn, id, ts)
					}
				}
			}
			var ts unix.Timespec
			b.Run("kernel", func(b *testing.B) {
				for b.Loop() {
					benchRC = kvdso.ClockGettime(id, &ts)
				}
			})
			b.Run("host", through(host, unsafe.Pointer(&ts)))
			b.Run("timens", through(timens, unsafe.Pointer(&ts)))
			fl := floor.HresCAddr()
			if vvar.IsCoarseClock(int(id)) {
				fl = floor.CoarseCAddr()
			}
			b.Run("floor", through(fl, hostPage))
			benchUTS = ts
		})
	}
}

// equalPathImage maps variant's ELF image with a timekeeper running (and
// container-like offsets for timens) and returns its clock_gettime and its
// data page; both stop when b ends.
func equalPathImage(b *testing.B, variant string) (uintptr, unsafe.Pointer) {
	b.Helper()
	var prepare func(*vvar.TimensPage)
	if variant == "timens" {
		prepare = containerOffsets
	}
	im, page := benchImage(b, variant, loader.Options{}, prepare)
	fn, err := im.Entry("clock_gettime")
	if err != nil {
		b.Fatal(err)
	}
	var ts unix.Timespec
	if rc := kvdso.CallClockGettime(fn, unix.CLOCK_MONOTONIC, &ts); rc != 0 {
		b.Fatalf("%s clock_gettime: rc %d", variant, rc)
	}
	return fn, page
}

// BenchmarkWallMono: both readings a Go program wants, side by side in one
// run: WallMono (one call, one seqlock read), time.Now (the Go runtime's
// two kernel vDSO reads), and Now plus Monotonic (two calls into the image).
func BenchmarkWallMono(b *testing.B) {
	Stop()
	if err := Start(Options{Variant: Host}); err != nil {
		b.Skipf("no usable data page: %v", err)
	}
	defer Stop()
	var mono time.Duration
	b.Run("wallmono", func(b *testing.B) {
		for b.Loop() {
			benchTime, mono = WallMono()
		}
	})
	b.Run("timenow", func(b *testing.B) {
		for b.Loop() {
			benchTime = time.Now()
		}
	})
	b.Run("now+monotonic", func(b *testing.B) {
		for b.Loop() {
			benchTime, mono = Now(), Monotonic()
		}
	})
	benchU64 = uint64(mono)
}
