package vdso

import (
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vdsogen/vdsogen/vdso/internal/kvdso"
	"github.com/vdsogen/vdsogen/vdso/internal/vvar"
)

type clockFunc func(clockid int32, ts *Timespec) int32

// routines are every generated clock_gettime, by entry and variant.
var routines = []struct {
	name   string
	fn     clockFunc
	timens bool
}{
	{"clock_gettime/host", clock_gettime_host, false},
	{"clock_gettime/timens", clock_gettime_timens, true},
	{"clock_gettime/nomarker", clock_gettime_nomarker, false},
	{"clock_gettime_tl/host", clock_gettime_tl_host, false},
	{"clock_gettime_tl/timens", clock_gettime_tl_timens, true},
	{"clock_gettime_tl/nomarker", clock_gettime_tl_nomarker, false},
}

// tolerance bounds |routine - kernel| for a clock read from the data page:
// the timekeeper's error bound against the kernel plus scheduling noise
// between the bracketing reads is far below it.
const tolerance = 50 * time.Microsecond

// coarseTolerance: a coarse clock on the page may trail the kernel's by the
// timekeeper's coarse refresh interval (at least 1 ms) plus a tick.
const coarseTolerance = 20 * time.Millisecond

// dataPageClocks are the clocks the routines serve from the data page.
var dataPageClocks = []int32{
	unix.CLOCK_REALTIME, unix.CLOCK_MONOTONIC, unix.CLOCK_MONOTONIC_RAW,
	unix.CLOCK_REALTIME_COARSE, unix.CLOCK_MONOTONIC_COARSE, unix.CLOCK_BOOTTIME, unix.CLOCK_TAI,
}

// startTimekeeper fills the data page for the duration of a test, sampling
// the kernel's clocks as Start does (through the kernel's vDSO).
func startTimekeeper(t *testing.T) *vvar.Timekeeper {
	t.Helper()
	tk, err := vvar.Start(&vdsoData, &vdsoTimens, vvar.Options{Clock: kvdso.Clock()})
	if err != nil {
		t.Fatalf("starting the timekeeper: %v", err)
	}
	t.Cleanup(tk.Stop)
	return tk
}

func kernel(t *testing.T, clock int32) time.Duration {
	t.Helper()
	var ts unix.Timespec
	if err := unix.ClockGettime(clock, &ts); err != nil {
		t.Fatalf("clock_gettime(%d): %v", clock, err)
	}
	return time.Duration(ts.Nano())
}

// monotonicOffset puts a time-namespace offset on MONOTONIC (none on the
// other clocks) for the duration of a test and returns it.
func monotonicOffset(t *testing.T) time.Duration {
	vdsoTimens = vvar.TimensPage{}
	vdsoTimens.Offsets[vvar.ClockMonotonic] = vvar.TimensOffset{Sec: 1234, Nsec: 987654321}
	t.Cleanup(func() { vdsoTimens = vvar.TimensPage{} })
	return 1234*time.Second + 987654321*time.Nanosecond
}

// readBetween reads clock through fn (the routine name) between two kernel
// reads of it, and fails t unless the routine succeeds with a normalised
// value. It returns the value and the kernel's reads before and after.
func readBetween(t *testing.T, name string, fn clockFunc, clock int32) (v, before, after time.Duration) {
	t.Helper()
	before = kernel(t, clock)
	var ts Timespec
	if rc := fn(clock, &ts); rc != 0 {
		t.Fatalf("%s(%d) = %d", name, clock, rc)
	}
	after = kernel(t, clock)
	if ts.Nsec < 0 || ts.Nsec >= 1e9 {
		t.Fatalf("%s(%d): nsec %d not normalised", name, clock, ts.Nsec)
	}
	return ts.dur(), before, after
}

func (ts Timespec) dur() time.Duration { return time.Duration(ts.Sec*1e9 + ts.Nsec) }

// TestClockGettimeMatchesKernel brackets every routine's value between two
// kernel reads of the same clock (zero time-namespace offsets here).
func TestClockGettimeMatchesKernel(t *testing.T) {
	startTimekeeper(t)
	vdsoTimens = vvar.TimensPage{}
	for _, r := range routines {
		for _, clock := range dataPageClocks {
			tol := tolerance
			if clock == unix.CLOCK_REALTIME_COARSE || clock == unix.CLOCK_MONOTONIC_COARSE {
				tol = coarseTolerance
			}
			for i := 0; i < 1000; i++ {
				if v, before, after := readBetween(t, r.name, r.fn, clock); v < before-tol || v > after+tol {
					t.Fatalf("%s(%d) = %v, kernel read %v before and %v after (tolerance %v)", r.name, clock, v, before, after, tol)
				}
			}
		}
	}
}

// TestTimensOffsets: the timens variants add the namespace offset to
// MONOTONIC and not to REALTIME; the host variants ignore the page.
func TestTimensOffsets(t *testing.T) {
	startTimekeeper(t)
	off := monotonicOffset(t)
	for _, r := range routines {
		for _, clock := range []int32{unix.CLOCK_REALTIME, unix.CLOCK_MONOTONIC} {
			want := time.Duration(0)
			if r.timens && clock == unix.CLOCK_MONOTONIC {
				want = off
			}
			v, before, after := readBetween(t, r.name, r.fn, clock)
			if v -= want; v < before-tolerance || v > after+tolerance {
				t.Errorf("%s(%d) - offset %v = %v, kernel read %v before and %v after", r.name, clock, want, v, before, after)
			}
		}
	}
}

// TestSyscallFallback: other and invalid clock ids, and an invalid page,
// give exactly what the system call gives.
func TestSyscallFallback(t *testing.T) {
	tk := startTimekeeper(t)
	for _, r := range routines {
		for _, clock := range []int32{-1, -1 << 31, 1<<31 - 1, 12, 100} {
			var ts Timespec
			if rc := r.fn(clock, &ts); rc != -int32(unix.EINVAL) {
				t.Errorf("%s(%d) = %d, want -EINVAL (%d)", r.name, clock, rc, -int32(unix.EINVAL))
			}
		}
		// Not on the data page: whatever the system call says.
		for _, clock := range []int32{8, 9, 10} {
			var ts Timespec
			var kts unix.Timespec
			want := int32(0)
			if err := unix.ClockGettime(clock, &kts); err != nil {
				want = -int32(err.(unix.Errno))
			}
			if rc := r.fn(clock, &ts); rc != want {
				t.Errorf("%s(%d) = %d, the system call gives %d", r.name, clock, rc, want)
			}
		}
		var ts Timespec
		if rc := r.fn(unix.CLOCK_PROCESS_CPUTIME_ID, &ts); rc != 0 || ts.dur() <= 0 {
			t.Errorf("%s(PROCESS_CPUTIME_ID) = %d, %v", r.name, rc, ts)
		}
	}
	tk.Stop() // marks the page invalid, and nothing makes it valid again
	for _, r := range routines {
		before := kernel(t, unix.CLOCK_MONOTONIC)
		var ts Timespec
		if rc := r.fn(unix.CLOCK_MONOTONIC, &ts); rc != 0 {
			t.Fatalf("%s on an invalid page = %d", r.name, rc)
		}
		after := kernel(t, unix.CLOCK_MONOTONIC)
		// The syscall itself: no tolerance needed.
		if v := ts.dur(); v < before || v > after {
			t.Errorf("%s on an invalid page = %v, kernel %v..%v", r.name, v, before, after)
		}
	}
}
