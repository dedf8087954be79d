//go:build linux && amd64

package vdso

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vdsogen/vdsogen/vdso/internal/kvdso"
	"github.com/vdsogen/vdsogen/vdso/internal/vvar"
)

// Variant selects which generated image the Go API calls.
type Variant int32

const (
	// Auto (the zero Options) picks Timens when the process runs in a time
	// namespace with a non-zero offset (/proc/self/timens_offsets), and
	// Host otherwise.
	Auto Variant = iota
	// Host is the image for the root time namespace: the time-namespace
	// code is present but behind a static branch that is a 5-byte NOP.
	Host
	// Timens is the image for a process in a time namespace: MONOTONIC,
	// MONOTONIC_RAW and MONOTONIC_COARSE get the namespace's monotonic
	// offset, BOOTTIME its boottime offset, REALTIME and TAI none.
	Timens
)

func (v Variant) String() string {
	switch v {
	case Auto:
		return "auto"
	case Host:
		return "host"
	case Timens:
		return "timens"
	}
	return fmt.Sprintf("Variant(%d)", int32(v))
}

// Options configure Start. The zero value chooses the variant from the
// process's time namespace and the timekeeper's defaults (a full refresh
// every 100 ms, a tick every kernel tick); see vdso/internal/vvar.
type Options struct {
	// Variant forces a variant. Host inside a time namespace returns the
	// root namespace's clocks (the kernel's, without the offsets); that is
	// for tests and tools.
	Variant Variant
	// Interval between full refreshes of the data page; 0: 100 ms.
	Interval time.Duration
	// TickInterval between ticks (coarse clocks re-read); 0: the kernel's
	// tick; negative: no ticks.
	TickInterval time.Duration
}

// TSCError is the error Start wraps when the TSC cannot serve as a clock
// here; the functions then keep making system calls (correct, slower).
type TSCError = vvar.TSCError

// ErrRunning is returned by Start when the timekeeper already runs.
var ErrRunning = errors.New("vdso: already started")

var (
	mu      sync.Mutex
	keeper  *vvar.Timekeeper
	variant atomic.Int32 // Host or Timens; Host until Start
)

// Start fills the time-namespace page with the process's offsets, selects
// the variant, calibrates the TSC against the kernel (about 20 ms) and
// starts the goroutine that keeps the data page in step with the kernel's
// clocks. Until Start succeeds, and after Stop, every function makes the
// real system call: the results are always correct, only slower.
//
// Start fails with an error wrapping a *TSCError when the TSC cannot be a
// clock here (no constant_tsc/nonstop_tsc, RDTSC disabled); the functions
// then keep making system calls. Start on a running timekeeper returns
// ErrRunning.
func Start(opts Options) error {
	mu.Lock()
	defer mu.Unlock()
	if keeper != nil {
		return ErrRunning
	}
	v := opts.Variant
	if v == Auto {
		offs, err := vvar.ReadTimensOffsets()
		if err != nil {
			return err
		}
		v = Host
		if !offs.IsZero() {
			v = Timens
		}
	}
	if v != Host && v != Timens {
		return fmt.Errorf("vdso: unknown variant %v", v)
	}
	// The variant is chosen while the data page is still invalid (every
	// routine makes the system call), so no read ever combines a valid
	// page with the wrong variant.
	vdsoData.Invalidate()
	variant.Store(int32(v))
	tk, err := vvar.Start(&vdsoData, &vdsoTimens, vvar.Options{
		Interval:     opts.Interval,
		TickInterval: opts.TickInterval,
		Clock:        kvdso.Clock(),
	})
	if err != nil {
		return fmt.Errorf("vdso: %w", err)
	}
	keeper = tk
	return nil
}

// Stop ends the timekeeper and invalidates the data page: from then on
// every function makes the system call. Stop without Start does nothing.
func Stop() {
	mu.Lock()
	defer mu.Unlock()
	keeper.Stop()
	keeper = nil
}

// Running reports whether the timekeeper runs (the fast path is live).
func Running() bool {
	mu.Lock()
	defer mu.Unlock()
	return keeper != nil
}

// Current returns the variant the functions call (Host before Start).
func Current() Variant {
	if v := Variant(variant.Load()); v != Auto {
		return v
	}
	return Host
}

func errno(rc int32) error {
	if rc == 0 {
		return nil
	}
	return unix.Errno(-rc)
}

// ClockGettime returns the time of clock (a Linux clock id: unix.CLOCK_*)
// like clock_gettime(2). REALTIME, MONOTONIC, MONOTONIC_RAW, the two
// COARSE clocks, BOOTTIME and TAI come from the data page; every other id
// (CPU-time clocks, the alarm clocks, negative ids) goes to the system
// call. An invalid id gives unix.EINVAL.
func ClockGettime(clock int32) (Timespec, error) {
	ts, rc := clockCall(clock_gettime_host, clock_gettime_timens, clock)
	return ts, errno(rc)
}

// ClockGetres returns the resolution of clock like clock_getres(2).
func ClockGetres(clock int32) (Timespec, error) {
	ts, rc := clockCall(clock_getres_host, clock_getres_timens, clock)
	return ts, errno(rc)
}

// clockCall calls the current variant's routine of a clock_gettime-shaped
// pair. It inlines into its callers, where host and timens are constant
// functions: the calls are direct and ts stays on the stack (TestAPI
// counts allocations).
func clockCall(host, timens func(int32, *Timespec) int32, clock int32) (ts Timespec, rc int32) {
	if variant.Load() == int32(Timens) {
		rc = timens(clock, &ts)
	} else {
		rc = host(clock, &ts)
	}
	return ts, rc
}

// Gettimeofday returns CLOCK_REALTIME in microseconds like
// gettimeofday(2) (no time zone).
func Gettimeofday() (Timeval, error) {
	var tv Timeval
	var rc int32
	if variant.Load() == int32(Timens) {
		rc = gettimeofday_timens(&tv, nil)
	} else {
		rc = gettimeofday_host(&tv, nil)
	}
	return tv, errno(rc)
}

// Time returns the seconds of CLOCK_REALTIME_COARSE like time(2): the
// seconds of the last kernel tick.
func Time() int64 {
	if variant.Load() == int32(Timens) {
		return time_timens(nil)
	}
	return time_host(nil)
}

// Now returns the current CLOCK_REALTIME as a time.Time. Unlike time.Now
// it carries no monotonic reading; measure intervals with Monotonic.
func Now() time.Time {
	ts, _ := ClockGettime(unix.CLOCK_REALTIME) // cannot fail
	return ts.Time()
}

// Monotonic returns CLOCK_MONOTONIC (in a time namespace, the namespace's)
// as a duration since the clock's epoch (boot, unless shifted).
func Monotonic() time.Duration {
	ts, _ := ClockGettime(unix.CLOCK_MONOTONIC) // cannot fail
	return time.Duration(ts.Nano())
}

// WallMono returns CLOCK_REALTIME as a time.Time and CLOCK_MONOTONIC (in a
// time namespace, the namespace's) as a duration since its epoch, both
// computed from one read of the data page and one TSC value, in one call
// into the image; time.Now makes two calls into the kernel's vDSO for the
// same two readings.
//
// What it is not: wall carries no monotonic reading, since package time
// offers no way to attach one to a time.Time built elsewhere, so wall.Sub,
// time.Since and time.Until on it follow the wall clock, steps included.
// Measure intervals by subtracting mono values.
func WallMono() (wall time.Time, mono time.Duration) {
	var w, m Timespec
	if variant.Load() == int32(Timens) {
		wall_mono_timens(&w, &m)
	} else {
		wall_mono_host(&w, &m)
	}
	return time.Unix(w.Sec, w.Nsec), time.Duration(m.Nano())
}

// Nano returns ts in nanoseconds.
func (ts Timespec) Nano() int64 { return ts.Sec*1e9 + ts.Nsec }

// Time returns ts as a time.Time (seconds since the Unix epoch).
func (ts Timespec) Time() time.Time { return time.Unix(ts.Sec, ts.Nsec) }
