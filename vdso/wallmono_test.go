//go:build linux && amd64

package vdso

import (
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vdsogen/vdsogen/vdso/internal/vvar"
)

var wallMonoRoutines = []struct {
	name   string
	fn     func(wall, mono *Timespec) int32
	timens bool
}{
	{"host", wall_mono_host, false},
	{"timens", wall_mono_timens, true},
	{"nomarker", wall_mono_nomarker, false},
}

// TestWallMono: every variant's wall_mono gives REALTIME and MONOTONIC
// (plus the namespace's monotonic offset in timens, none in the others)
// between two kernel reads of each, normalised.
func TestWallMono(t *testing.T) {
	startTimekeeper(t)
	off := monotonicOffset(t)
	for _, r := range wallMonoRoutines {
		want := time.Duration(0)
		if r.timens {
			want = off
		}
		for i := 0; i < 1000; i++ {
			rb, mb := kernel(t, unix.CLOCK_REALTIME), kernel(t, unix.CLOCK_MONOTONIC)
			var w, m Timespec
			if rc := r.fn(&w, &m); rc != 0 {
				t.Fatalf("%s: rc %d", r.name, rc)
			}
			ma, ra := kernel(t, unix.CLOCK_MONOTONIC), kernel(t, unix.CLOCK_REALTIME)
			if w.Nsec < 0 || w.Nsec >= 1e9 || m.Nsec < 0 || m.Nsec >= 1e9 {
				t.Fatalf("%s: not normalised: wall %v, mono %v", r.name, w, m)
			}
			if v := w.dur(); v < rb-tolerance || v > ra+tolerance {
				t.Fatalf("%s: wall %v, kernel REALTIME %v before and %v after", r.name, v, rb, ra)
			}
			if v := m.dur() - want; v < mb-tolerance || v > ma+tolerance {
				t.Fatalf("%s: mono - offset %v = %v, kernel MONOTONIC %v before and %v after", r.name, want, v, mb, ma)
			}
		}
	}
}

// TestWallMonoOneRead: both readings come from one TSC value, so wall -
// mono is the same in consecutive calls while the page's bases stay (up
// to 1 ns of the two shifts' rounding), however much time passes between
// the calls; two separate reads would differ by the time between them.
// Page updates change the bases now and then, so most pairs, not all,
// must agree.
func TestWallMonoOneRead(t *testing.T) {
	startTimekeeper(t)
	const n = 2000
	same := 0
	var w, m Timespec
	wall_mono_host(&w, &m)
	prev := w.dur() - m.dur()
	for i := 0; i < n; i++ {
		wall_mono_host(&w, &m)
		d := w.dur() - m.dur()
		if (d - prev).Abs() <= 1 {
			same++
		}
		prev = d
	}
	if same < n/2 {
		t.Errorf("wall - mono stayed within 1 ns in %d of %d consecutive calls: the readings are not from one TSC value", same, n)
	}
	t.Logf("wall - mono unchanged (±1 ns) in %d of %d consecutive calls", same, n)
}

// TestWallMonoFallback: with an invalid page, wall_mono answers with the
// system calls (no offset added by the routine: the kernel answers in the
// caller's namespace).
func TestWallMonoFallback(t *testing.T) {
	startTimekeeper(t)
	vdsoTimens = vvar.TimensPage{}
	vdsoTimens.Offsets[vvar.ClockMonotonic] = vvar.TimensOffset{Sec: 1000, Nsec: 1}
	t.Cleanup(func() { vdsoTimens = vvar.TimensPage{} })
	vdsoData.Update(func(p *vvar.Params) { p.Mode = 2 })
	for _, r := range wallMonoRoutines {
		rb, mb := kernel(t, unix.CLOCK_REALTIME), kernel(t, unix.CLOCK_MONOTONIC)
		var w, m Timespec
		if rc := r.fn(&w, &m); rc != 0 {
			t.Fatalf("%s: rc %d", r.name, rc)
		}
		ma, ra := kernel(t, unix.CLOCK_MONOTONIC), kernel(t, unix.CLOCK_REALTIME)
		if v := w.dur(); v < rb || v > ra {
			t.Errorf("%s: wall %v, kernel %v before and %v after", r.name, v, rb, ra)
		}
		if v := m.dur(); v < mb || v > ma {
			t.Errorf("%s: mono %v, kernel %v before and %v after", r.name, v, mb, ma)
		}
	}
}

// TestWallMonoAPI: WallMono agrees with the kernel and allocates nothing.
func TestWallMonoAPI(t *testing.T) {
	needKernelVDSO(t)
	Stop()
	if err := Start(Options{}); err != nil {
		t.Fatalf("Start: %v", err)
	}
	defer Stop()
	rb, mb := kernel(t, unix.CLOCK_REALTIME), kernel(t, unix.CLOCK_MONOTONIC)
	wall, mono := WallMono()
	ma, ra := kernel(t, unix.CLOCK_MONOTONIC), kernel(t, unix.CLOCK_REALTIME)
	if v := time.Duration(wall.UnixNano()); v < rb-tolerance || v > ra+tolerance {
		t.Errorf("wall %v, kernel %v before and %v after", v, rb, ra)
	}
	if mono < mb-tolerance || mono > ma+tolerance {
		t.Errorf("mono %v, kernel %v before and %v after", mono, mb, ma)
	}
	if n := testing.AllocsPerRun(1000, func() { WallMono() }); n != 0 {
		t.Errorf("%v allocations per call", n)
	}
}
