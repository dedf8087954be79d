//go:build linux && amd64

package vdso

import (
	"errors"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vdsogen/vdsogen/vdso/internal/kvdso"
)

// TestAPI: Start/Stop, the variant choice, errors, no allocation, and the
// values of every function against the kernel before, during and after a
// run of the timekeeper.
func TestAPI(t *testing.T) {
	check := func(when string) {
		t.Helper()
		for c := int32(-1); c <= 12; c++ {
			var k unix.Timespec
			kerr := unix.ClockGettime(c, &k)
			ts, err := ClockGettime(c)
			if !errors.Is(err, kerr) && (err != nil || kerr != nil) {
				t.Errorf("%s: ClockGettime(%d) error %v, kernel %v", when, c, err, kerr)
			}
			var k2 unix.Timespec
			unix.ClockGettime(c, &k2)
			if err == nil && c >= 0 && c != 2 && c != 3 && (ts.Nano() < k.Nano() || ts.Nano() > k2.Nano()) {
				t.Errorf("%s: ClockGettime(%s) = %v, kernel %v before and %v after", when, clockNames[c], ts, k, k2)
			}
			var kr unix.Timespec
			kerr = unix.ClockGetres(c, &kr)
			if res, err := ClockGetres(c); !errors.Is(err, kerr) && (err != nil || kerr != nil) || res.Sec != kr.Sec || res.Nsec != kr.Nsec {
				t.Errorf("%s: ClockGetres(%d) = %v %v, kernel %v %v", when, c, res, err, kr, kerr)
			}
		}
		// Between two readings of the kernel's, whatever the scheduler
		// does in between.
		w1, now, w2 := time.Now().Round(0), Now(), time.Now().Round(0)
		if now.Before(w1) || now.After(w2) {
			t.Errorf("%s: Now() = %v, time.Now %v before and %v after", when, now, w1, w2)
		}
		m1, mono, m2 := time.Duration(kvdso.Now(unix.CLOCK_MONOTONIC)), Monotonic(), time.Duration(kvdso.Now(unix.CLOCK_MONOTONIC))
		if mono < m1 || mono > m2 {
			t.Errorf("%s: Monotonic() = %v, kernel %v before and %v after", when, mono, m1, m2)
		}
		tv, err := Gettimeofday()
		if s := Time(); err != nil || tv.Sec < s-1 || tv.Sec > s+1 {
			t.Errorf("%s: Gettimeofday %v %v, Time %d", when, tv, err, s)
		}
	}
	needKernelVDSO(t)
	Stop()
	check("before Start")
	if Running() {
		t.Fatal("running before Start")
	}
	if err := Start(Options{}); err != nil {
		t.Fatalf("Start: %v", err)
	}
	if !Running() || Current() != Host {
		t.Fatalf("Running %v, variant %v outside a time namespace", Running(), Current())
	}
	if err := Start(Options{}); err != ErrRunning {
		t.Errorf("second Start: %v, want ErrRunning", err)
	}
	time.Sleep(150 * time.Millisecond)
	check("running")
	if n := testing.AllocsPerRun(1000, func() {
		ClockGettime(unix.CLOCK_MONOTONIC)
		ClockGetres(unix.CLOCK_MONOTONIC)
		Now()
		Gettimeofday()
	}); n != 0 {
		t.Errorf("%v allocations per call", n)
	}
	Stop()
	check("after Stop")
	if err := Start(Options{Variant: Timens, TickInterval: -1}); err != nil || Current() != Timens {
		t.Fatalf("Start(Timens): %v, variant %v", err, Current())
	}
	check("timens variant, zero offsets")
	Stop()
	if err := Start(Options{Variant: 7}); err == nil {
		Stop()
		t.Error("Start accepted variant 7")
	}
	if Variant(7).String() != "Variant(7)" || Timens.String() != "timens" {
		t.Error("Variant.String")
	}
}
