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

// Benchmarks of one clock_gettime per operation, every implementation side
// by side in one run (docs/performance.md has the numbers, the goals and
// how to reproduce them). Nothing here asserts a timing.
//
//	host      clock_gettime of the host variant (the time-namespace code present, switched off)
//	timens    clock_gettime of the timens variant, non-zero offsets on the time-namespace page
//	nomarker  clock_gettime of the marker-free standalone build
//	kernel    the running kernel's __vdso_clock_gettime (internal/kvdso)
//	timenow   time.Now: Go has no API for BOOTTIME or the coarse clocks, so
//	          time.Now (wall and monotonic readings, high resolution) is the
//	          closest for every clock
//	floor     the seqlock read of the data page around LFENCE;RDTSC and no
//	          clock logic (internal/floor.Hres); for MONOTONIC_COARSE, which
//	          takes no TSC, the seqlock read around one load (floor.Coarse)
//
// The timekeeper runs during the benchmark, as it does in a program: the
// readers see its updates (a retry now and then), which the kernel's vDSO
// sees too.

var benchClocks = []struct {
	name string
	id   int32
}{
	{"MONOTONIC", unix.CLOCK_MONOTONIC},
	{"REALTIME", unix.CLOCK_REALTIME},
	{"BOOTTIME", unix.CLOCK_BOOTTIME},
	{"MONOTONIC_COARSE", unix.CLOCK_MONOTONIC_COARSE},
}

// Sinks keep the reads from being optimised away.
var (
	benchTS   Timespec
	benchUTS  unix.Timespec
	benchTime time.Time
	benchU64  uint64
	benchRC   int32
)

func BenchmarkClockGettime(b *testing.B) {
	tk, err := vvar.Start(&vdsoData, &vdsoTimens, vvar.Options{Clock: kvdso.Clock()})
	if err != nil {
		b.Skipf("no usable data page: %v", err)
	}
	defer tk.Stop()
	saved := vdsoTimens
	defer func() { vdsoTimens = saved }()
	vdsoTimens = vvar.TimensPage{}
	containerOffsets(&vdsoTimens)
	haveKernel := kvdso.Available()
	page := unsafe.Pointer(&vdsoData)

	for _, c := range benchClocks {
		id := c.id
		coarse := vvar.IsCoarseClock(int(id))
		b.Run(c.name, func(b *testing.B) {
			gen := func(fn clockFunc) func(*testing.B) {
				return func(b *testing.B) {
					var ts Timespec
					if rc := fn(id, &ts); rc != 0 {
						b.Fatalf("rc %d", rc)
					}
					for b.Loop() {
						benchRC = fn(id, &ts)
					}
					benchTS = ts
				}
			}
			b.Run("host", gen(clock_gettime_host))
			b.Run("timens", gen(clock_gettime_timens))
			b.Run("nomarker", gen(clock_gettime_nomarker))
			b.Run("kernel", func(b *testing.B) {
				if !haveKernel {
					b.Skip("the process has no usable kernel vDSO")
				}
				var ts unix.Timespec
				for b.Loop() {
					benchRC = kvdso.ClockGettime(id, &ts)
				}
				benchUTS = ts
			})
			b.Run("timenow", func(b *testing.B) {
				var t time.Time
				for b.Loop() {
					t = time.Now()
				}
				benchTime = t
			})
			b.Run("floor", func(b *testing.B) {
				var v uint64
				if coarse {
					for b.Loop() {
						v += floor.Coarse(page)
					}
				} else {
					for b.Loop() {
						v += floor.Hres(page)
					}
				}
				benchU64 = v
			})
		})
	}
}

// BenchmarkTSCRead: clock_gettime(MONOTONIC) of the host image mapped by
// vdso/loader with each choice of the "tsc" alternative applied (rdtsc,
// rdtscp, lfence_rdtsc), called through loader.CallIP, each image with its
// own timekeeper running; floor is floor.Hres on the data page of one such
// image (the seqlock read around LFENCE;RDTSC, no clock logic). A choice
// that cannot run here is skipped (choiceOptions).
func BenchmarkTSCRead(b *testing.B) {
	for _, choice := range tscChoices {
		b.Run(choice, func(b *testing.B) {
			im, _ := benchLoad(b, choice)
			fn, err := im.Entry("clock_gettime")
			if err != nil {
				b.Fatal(err)
			}
			var ts Timespec
			if rc := loader.CallIP(fn, unix.CLOCK_MONOTONIC, unsafe.Pointer(&ts)); rc != 0 {
				b.Fatalf("rc %d", rc)
			}
			for b.Loop() {
				benchRC = int32(loader.CallIP(fn, unix.CLOCK_MONOTONIC, unsafe.Pointer(&ts)))
			}
			benchTS = ts
		})
	}
	b.Run("floor", func(b *testing.B) {
		_, page := benchLoad(b, "lfence_rdtsc")
		var v uint64
		for b.Loop() {
			v += floor.Hres(page)
		}
		benchU64 = v
	})
}

// containerOffsets sets offsets like a container's on tn: monotonic and
// boottime shifted, the nanosecond parts large enough that MONOTONIC
// carries now and then.
func containerOffsets(tn *vvar.TimensPage) {
	for _, c := range []int{vvar.ClockMonotonic, vvar.ClockMonotonicRaw, vvar.ClockMonotonicCoarse} {
		tn.Offsets[c] = vvar.TimensOffset{Sec: 86400, Nsec: 987654321}
	}
	tn.Offsets[vvar.ClockBoottime] = vvar.TimensOffset{Sec: 172800, Nsec: 123456789}
}

// benchLoad loads the host image with choice applied to "tsc" and starts
// a timekeeper on its pages, both stopped when b ends.
func benchLoad(b *testing.B, choice string) (*loader.Image, unsafe.Pointer) {
	b.Helper()
	im, page := benchImage(b, "host", choiceOptions(b, choice), nil)
	if got := im.Choices()["tsc"]; got != choice {
		b.Fatalf("tsc = %s, want %s", got, choice)
	}
	return im, page
}

// benchImage maps variant's ELF image with opts, lets prepare (if any) set
// its time-namespace page, and starts a timekeeper on its pages; both stop
// when b ends. It returns the image and its data page.
func benchImage(b *testing.B, variant string, opts loader.Options, prepare func(*vvar.TimensPage)) (*loader.Image, unsafe.Pointer) {
	b.Helper()
	im, err := loader.Load(ELFImages(), Layout(), variant, opts)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { im.Close() })
	d, tn := ldPages(b, im)
	if prepare != nil {
		prepare(tn)
	}
	tk, err := vvar.Start(d, tn, vvar.Options{Clock: kvdso.Clock()})
	if err != nil {
		b.Skipf("no usable data page: %v", err)
	}
	b.Cleanup(tk.Stop)
	return im, unsafe.Pointer(d)
}

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
