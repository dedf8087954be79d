//go:build linux && amd64

package vvar

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vdsogen/vdsogen/vdso/internal/timenstest"
)

// startOrSkip starts a timekeeper, skipping the test where the TSC is not
// usable (the error is the documented, ignorable one).
func startOrSkip(t *testing.T, p *Page, tn *TimensPage, o Options) *Timekeeper {
	t.Helper()
	tk, err := Start(p, tn, o)
	var te *TSCError
	if errors.As(err, &te) {
		t.Skipf("TSC unusable here: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tk.Stop)
	return tk
}

func kernelNs(c int) int64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(int32(c), &ts); err != nil {
		panic(err)
	}
	return ts.Nano()
}

func percentiles(v []float64) (p50, p99, mx float64) {
	if len(v) == 0 {
		return
	}
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2], s[len(s)*99/100], s[len(s)-1]
}

// bracketTolerance is the slack allowed outside kernel-before..kernel-after.
// The oracle's error has two parts (doc.go): where in its bracket the
// timekeeper placed each kernel reading (at most half a bracket, the
// brackets are ~1.2 us wide here) and the drift until the next full refresh
// (rate error x 100 ms: ~0.3 ppm once the baseline has grown, but up to
// ~60 ppm x 100 ms = 6 us right after a 20 ms calibration). The check's own
// bracket, one system call wide, absorbs most of the first part. 2 us covers
// the rest without hiding a real bug: a wrong rate, a lost carry or a wrong
// base shows up as milliseconds to seconds.
const bracketTolerance = 2000 // ns

// TestOracleAgainstKernel reads every data-page clock through the oracle
// between two system calls, with the timekeeper running on its defaults,
// and reports the error distribution.
func TestOracleAgainstKernel(t *testing.T) {
	var p Page
	tk := startOrSkip(t, &p, nil, Options{})
	dur := 1500 * time.Millisecond
	if testing.Short() {
		dur = 300 * time.Millisecond
	}
	type acc struct {
		off     []float64 // |oracle - bracket midpoint|, brackets <= 2.5 us only
		outside []float64 // distance outside the bracket, 0 inside
		width   []float64
	}
	res := map[int]*acc{}
	for _, c := range hresClocks {
		res[c] = &acc{}
	}
	end := time.Now().Add(dur)
	// Let the rate baseline grow past the calibration window first, as it has
	// in any process that has been running for more than a second; the first
	// 300 ms are checked too, with the tolerance for a fresh calibration.
	settle := time.Now().Add(300 * time.Millisecond)
	var fails []string
	for n := 0; time.Now().Before(end); n++ {
		for _, c := range hresClocks {
			k1 := kernelNs(c)
			sec, nsec, ok := p.Read(c, RDTSC())
			k2 := kernelNs(c)
			if !ok {
				t.Fatalf("clock %d: oracle says syscall on a running timekeeper", c)
			}
			o := sec*1e9 + nsec
			out := 0.0
			if o < k1 {
				out = float64(k1 - o)
			} else if o > k2 {
				out = float64(o - k2)
			}
			tol := float64(bracketTolerance)
			if time.Now().Before(settle) {
				tol = 10_000
			} else {
				a := res[c]
				if k2-k1 <= 2500 {
					a.off = append(a.off, math.Abs(float64(o-k1)-float64(k2-k1)/2))
				}
				a.outside = append(a.outside, out)
				a.width = append(a.width, float64(k2-k1))
			}
			if out > tol && len(fails) < 10 {
				fails = append(fails, fmt.Sprintf("clock %d: kernel %d .. %d, oracle %d (%.0f ns outside)", c, k1, k2, o, out))
			}
		}
		if n%64 == 0 {
			runtime.Gosched()
		}
	}
	for _, c := range hresClocks {
		a := res[c]
		o50, o99, omax := percentiles(a.off)
		x50, x99, xmax := percentiles(a.outside)
		w50, _, _ := percentiles(a.width)
		t.Logf("clock %2d: n=%d outside [before, after] p50 %.0f p99 %.0f max %.0f ns; |oracle - midpoint| p50 %.0f p99 %.0f max %.0f ns (brackets <= 2.5 us, p50 width %.0f ns)",
			c, len(a.outside), x50, x99, xmax, o50, o99, omax, w50)
	}
	st := tk.Stats()
	t.Logf("timekeeper: TSC %.3f MHz, Mult %d, Shift %d, %d refreshes, %d ticks, %d steps, %d slews, %d skipped samples, max |error| at refresh %v ns",
		st.TSCHz/1e6, st.Mult, st.Shift, st.Refreshes, st.Ticks, st.Steps, st.Slews, st.Skipped, roundAll(st.MaxAbsError))
	for _, f := range fails {
		t.Error(f)
	}
}

func roundAll(v [NumClocks]float64) []int {
	var r []int
	for _, c := range hresClocks {
		r = append(r, int(math.Round(v[c])))
	}
	return r
}

// TestCoarseAgainstKernel checks the coarse clocks: whenever the page
// serves them (before CoarseTSC), the value is exactly the kernel's current
// one, between a kernel read before and one after; past CoarseTSC the
// routine asks the kernel. It reports how often that happens.
func TestCoarseAgainstKernel(t *testing.T) {
	var p Page
	tk := startOrSkip(t, &p, nil, Options{})
	tick := tk.opts.TickInterval
	var stale []float64
	served, fallbacks := 0, 0
	end := time.Now().Add(300 * time.Millisecond)
	for time.Now().Before(end) || served == 0 && time.Now().Before(end.Add(5*time.Second)) {
		for _, c := range coarseClocks {
			k1 := kernelNs(c)
			sec, nsec, ok := p.Read(c, RDTSC())
			k2 := kernelNs(c)
			if !ok {
				fallbacks++
				continue
			}
			served++
			o := sec*1e9 + nsec
			if o > k2 {
				t.Fatalf("clock %d: oracle %d ahead of the kernel's %d", c, o, k2)
			}
			if o < k1 {
				t.Fatalf("clock %d: oracle %d behind the kernel's %d (by %v) before CoarseTSC", c, o, k1, time.Duration(k1-o))
			}
			stale = append(stale, float64(k1-o))
		}
		time.Sleep(50 * time.Microsecond)
	}
	if served == 0 {
		t.Fatalf("no coarse read served from the page in 5 s (%d system calls): is the timekeeper ticking?", fallbacks)
	}
	t.Logf("coarse: tick %v, %d reads served from the page (all equal to the kernel's), %.1f%% asked the kernel (past CoarseTSC)",
		tick, served, 100*float64(fallbacks)/float64(served+fallbacks))
	if r, ok := p.Res(ClockMonotonicCoarse); !ok || uint64(r) != p.Load().CoarseRes {
		t.Errorf("Res(MONOTONIC_COARSE) = %d, %v", r, ok)
	}
	var ts unix.Timespec
	unix.ClockGetres(ClockMonotonicCoarse, &ts)
	if r, _ := p.Res(ClockMonotonicCoarse); r != ts.Nano() {
		t.Errorf("coarse res %d, kernel %d", r, ts.Nano())
	}
	unix.ClockGetres(ClockMonotonic, &ts)
	if r, _ := p.Res(ClockMonotonic); r != ts.Nano() {
		t.Errorf("hres res %d, kernel %d", r, ts.Nano())
	}
}

// TestContinuity drives refreshes and ticks by hand as fast as a short
// interval allows, with a kernel clock that jitters by tens of microseconds
// (so that every refresh steps some clocks forward and slews others), while
// readers on every core read every clock in a tight loop: no value may ever
// go backwards.
func TestContinuity(t *testing.T) {
	var jitter atomic.Int64
	clock := func(id int32, ts *unix.Timespec) error {
		if err := unix.ClockGettime(id, ts); err != nil {
			return err
		}
		if id == ClockRealtimeCoarse || id == ClockMonotonicCoarse {
			return nil
		}
		*ts = unix.NsecToTimespec(ts.Nano() + jitter.Load())
		return nil
	}
	var p Page
	tk := startOrSkip(t, &p, nil, Options{Manual: true, Interval: 2 * time.Millisecond, clock: clock})
	// A rate baseline long enough that the jitter below (a walk within
	// about +-100 us) cannot look like a TSC rate change of 1000 ppm.
	for end := time.Now().Add(300 * time.Millisecond); time.Now().Before(end); {
		if err := tk.Refresh(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	var stop atomic.Bool
	var wg sync.WaitGroup
	var reads atomic.Uint64
	var bad atomic.Value
	clocks := append(hresClocks[:], coarseClocks[:]...)
	// Readers on every core but the one driving the refreshes.
	for r := 0; r < max(runtime.GOMAXPROCS(0)-1, 1); r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var last [NumClocks]int64
			n := uint64(0)
			for !stop.Load() {
				if n%4096 == 0 {
					runtime.Gosched()
				}
				for _, c := range clocks {
					sec, nsec, ok := p.Read(c, RDTSC())
					v := sec*1e9 + nsec
					if !ok && IsCoarseClock(c) {
						// Past CoarseTSC: the routine asks the kernel, and
						// no later page value may be older than its answer.
						v = kernelNs(c)
					} else if !ok {
						bad.Store(fmt.Sprintf("clock %d not served", c))
						return
					}
					if v < last[c] {
						bad.Store(fmt.Sprintf("clock %d went backwards by %d ns", c, last[c]-v))
						return
					}
					last[c] = v
					n++
				}
			}
			reads.Add(n)
		}()
	}
	dur := 1200 * time.Millisecond
	if testing.Short() {
		dur = 300 * time.Millisecond
	}
	// At least dur and 200 refreshes (a loaded machine runs fewer in dur),
	// at most 20 s.
	end, hardEnd := time.Now().Add(dur), time.Now().Add(20*time.Second)
	refreshes := 0
	for i := 0; (time.Now().Before(end) || refreshes < 200) && time.Now().Before(hardEnd) && bad.Load() == nil; i++ {
		// A random walk of +-20 us per refresh: the page is found ahead of
		// the "kernel" about half the time.
		jitter.Add(int64((i*7919)%41-20) * 1000)
		if err := tk.Refresh(); err != nil {
			t.Fatal(err)
		}
		refreshes++
		for j := 0; j < 3; j++ {
			if err := tk.Tick(); err != nil {
				t.Fatal(err)
			}
		}
		time.Sleep(500 * time.Microsecond)
	}
	stop.Store(true)
	wg.Wait()
	if b := bad.Load(); b != nil {
		t.Fatal(b)
	}
	st := tk.Stats()
	t.Logf("%d refreshes, %d ticks, %d reads, %d forward steps, %d slews, max |error| at refresh %v ns", refreshes, st.Ticks, reads.Load(), st.Steps, st.Slews, roundAll(st.MaxAbsError))
	if refreshes < 200 || st.Slews == 0 || st.Steps == 0 {
		t.Fatalf("the test did not exercise the corrections: %d refreshes, %d steps, %d slews", refreshes, st.Steps, st.Slews)
	}
}

func TestStopInvalidates(t *testing.T) {
	var p Page
	tk := startOrSkip(t, &p, nil, Options{Interval: 10 * time.Millisecond})
	if _, _, ok := p.Read(ClockMonotonic, RDTSC()); !ok {
		t.Fatal("page not valid after Start")
	}
	tk.Stop()
	if p.Load().Mode != ModeInvalid {
		t.Fatal("mode still valid after Stop")
	}
	for c := 0; c < NumClocks; c++ {
		if _, _, ok := p.Read(c, RDTSC()); ok {
			t.Errorf("clock %d still served after Stop", c)
		}
	}
	time.Sleep(30 * time.Millisecond) // a refresh goroutine still running would revalidate
	if p.Load().Mode != ModeInvalid {
		t.Fatal("page revalidated after Stop")
	}
	if err := tk.Refresh(); !errors.Is(err, ErrStopped) {
		t.Errorf("Refresh after Stop: %v", err)
	}
	tk.Stop() // idempotent
	var nilTK *Timekeeper
	nilTK.Stop()
}

func TestStartRejectsTSC(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		flags   string
		missing []string
	}{
		{"fpu tsc constant_tsc rep_good", []string{"nonstop_tsc"}},
		{"fpu tsc nonstop_tsc", []string{"constant_tsc"}},
		{"fpu", []string{"constant_tsc", "nonstop_tsc"}},
	} {
		path := filepath.Join(dir, "cpuinfo")
		info := "processor\t: 0\nflags\t\t: fpu tsc constant_tsc nonstop_tsc\n\nprocessor\t: 1\nflags\t\t: " + tc.flags + "\n"
		if err := os.WriteFile(path, []byte(info), 0o644); err != nil {
			t.Fatal(err)
		}
		var p Page
		p.Store(Params{Mode: ModeTSC, Shift: ClockShift, Mult: 1})
		tk, err := Start(&p, nil, Options{CPUInfoPath: path})
		var te *TSCError
		if !errors.As(err, &te) || !slices.Equal(te.Missing, tc.missing) {
			t.Fatalf("flags %q: err = %v, want a TSCError missing %v", tc.flags, err, tc.missing)
		}
		if tk != nil {
			t.Fatal("Timekeeper returned with an error")
		}
		tk.Stop()
		if p.Load().Mode != ModeInvalid {
			t.Fatal("page left valid")
		}
		if r := p.Load().CoarseRes; r == 0 {
			t.Error("resolutions not filled")
		}
	}
}

// TestTimeNamespace runs the test binary in a new time namespace (unshare,
// root) and checks there that FillTimens sees the offsets, that the page
// holds root-namespace times, and that Read + Apply equals the kernel.
func TestTimeNamespace(t *testing.T) {
	const mono, boot = 86400, 2 * 86400
	if timenstest.InChild() {
		timensChild(t, mono, boot)
		return
	}
	timenstest.Run(t, "TestTimeNamespace", mono, boot)
}

func timensChild(t *testing.T, mono, boot int64) {
	o, err := ReadTimensOffsets()
	if err != nil {
		t.Fatal(err)
	}
	if o.Monotonic != (TimensOffset{mono, 0}) || o.Boottime != (TimensOffset{boot, 0}) {
		t.Fatalf("offsets %+v", o)
	}
	var p Page
	var tn TimensPage
	startOrSkip(t, &p, &tn, Options{})
	if tn.Offsets[ClockMonotonic].Sec != mono || tn.Offsets[ClockBoottime].Sec != boot || tn.Offsets[ClockRealtime] != (TimensOffset{}) {
		t.Fatalf("timens page %+v", tn.Offsets)
	}
	time.Sleep(200 * time.Millisecond)
	offset := map[int]int64{ClockMonotonic: mono, ClockMonotonicRaw: mono, ClockBoottime: boot, ClockMonotonicCoarse: mono}
	for i := 0; i < 2000; i++ {
		for _, c := range hresClocks {
			// One snapshot for both reads: a tick may land between two reads
			// of the live page.
			var snap Page
			k1 := kernelNs(c)
			snap.Store(p.Load())
			tsc := RDTSC()
			sec, nsec, ok := snap.ReadTimens(&tn, c, tsc)
			hs, hn, _ := snap.Read(c, tsc)
			k2 := kernelNs(c)
			if !ok {
				t.Fatal("not served")
			}
			v := sec*1e9 + nsec
			if v < k1-bracketTolerance || v > k2+bracketTolerance {
				t.Fatalf("clock %d in the namespace: kernel %d .. %d, oracle %d", c, k1, k2, v)
			}
			if host := hs*1e9 + hn; v-host != offset[c]*1e9 {
				t.Fatalf("clock %d: page holds %d, namespace value %d: difference is not the offset", c, host, v)
			}
		}
		k1 := kernelNs(ClockMonotonicCoarse)
		sec, nsec, ok := p.ReadTimens(&tn, ClockMonotonicCoarse, RDTSC())
		k2 := kernelNs(ClockMonotonicCoarse)
		// Served only while it is the kernel's current value (CoarseTSC).
		if v := sec*1e9 + nsec; ok && (v < k1 || v > k2) {
			t.Fatalf("MONOTONIC_COARSE in the namespace: kernel %d .. %d, oracle %d", k1, k2, v)
		}
	}
}
