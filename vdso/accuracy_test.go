//go:build linux && amd64

package vdso

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vdsogen/vdsogen/vdso/internal/kvdso"
	"github.com/vdsogen/vdsogen/vdso/internal/vvar"
)

// Accuracy targets for the high-resolution data-page clocks: |vdsogen -
// kernel| at p99 and at most, the kernel's value taken as the midpoint of
// two reads of the kernel's own vDSO bracketing each sample.
const (
	targetP99 = 1 * time.Microsecond
	targetMax = 20 * time.Microsecond
	// maxBracket: a sample whose kernel bracket is wider was interrupted
	// (preempted, a page fault, an interrupt); its error is unknown and it
	// is taken again.
	maxBracket = 2 * time.Microsecond
	// farOutside: a high-resolution sample outside its kernel bracket by
	// more than this counts against the 0.1 % limit. Nearer misses are
	// the page trailing the kernel by tens of nanoseconds (the shared Mult
	// rounded down, re-anchored late while the machine is saturated) and
	// are within the p99 target; ACCURACY.md has their counts.
	farOutside = 250 * time.Nanosecond
)

var clockNames = map[int32]string{
	0: "REALTIME", 1: "MONOTONIC", 2: "PROCESS_CPUTIME", 3: "THREAD_CPUTIME", 4: "MONOTONIC_RAW",
	5: "REALTIME_COARSE", 6: "MONOTONIC_COARSE", 7: "BOOTTIME", 8: "REALTIME_ALARM",
	9: "BOOTTIME_ALARM", 10: "SGI_CYCLE", 11: "TAI",
}

func isCoarse(c int32) bool { return vvar.IsCoarseClock(int(c)) }

func needKernelVDSO(t *testing.T) {
	t.Helper()
	if _, err := kvdso.Load(); err != nil {
		t.Skipf("the kernel's vDSO is needed to bracket samples: %v", err)
	}
}

// errStats collects, for one clock and variant, v - mid and whether v left
// the bracket [k1, k2].
type errStats struct {
	errs      []int64 // v - (k1+k2)/2, ns
	outside   int     // v < k1 or v > k2
	far       int     // by more than farOutside
	worstOut  int64   // largest distance outside the bracket, ns (negative: behind)
	rejected  int     // samples taken again (bracket too wide)
	behind    int     // coarse: v < k1 (a tick behind the kernel)
	ahead     int     // v > k2
	brackets  []int64 // k2 - k1
	aheadMost int64
}

func (s *errStats) add(k1, v, k2 int64) {
	s.errs = append(s.errs, v-(k1+k2)/2)
	s.brackets = append(s.brackets, k2-k1)
	if v < k1-int64(farOutside) || v > k2+int64(farOutside) {
		s.far++
	}
	switch {
	case v < k1:
		s.outside++
		s.behind++
		if d := v - k1; -d > abs(s.worstOut) {
			s.worstOut = d
		}
	case v > k2:
		s.outside++
		s.ahead++
		s.aheadMost = max(s.aheadMost, v-k2)
		if d := v - k2; d > abs(s.worstOut) {
			s.worstOut = d
		}
	}
}

func abs(x int64) int64 {
	if x < 0 {
		return -x
	}
	return x
}

// quantiles returns p50, p99 and max of |errs|.
func (s *errStats) quantiles() (p50, p99, mx time.Duration) {
	a := make([]int64, len(s.errs))
	for i, e := range s.errs {
		a[i] = abs(e)
	}
	slices.Sort(a)
	if len(a) == 0 {
		return 0, 0, 0
	}
	q := func(f float64) time.Duration { return time.Duration(a[int(math.Ceil(f*float64(len(a))))-1]) }
	return q(0.50), q(0.99), time.Duration(a[len(a)-1])
}

func (s *errStats) bracketP50() time.Duration {
	a := slices.Clone(s.brackets)
	slices.Sort(a)
	if len(a) == 0 {
		return 0
	}
	return time.Duration(a[len(a)/2])
}

// sampleKernel reads fn(clock) between two reads of the kernel's vDSO
// (taking the sample again while the bracket is wider than maxBracket) and
// returns the kernel reads minus offset, and the value.
func sampleKernel(t *testing.T, s *errStats, fn clockFunc, clock int32, offset int64) {
	for try := 0; ; try++ {
		var a, b unix.Timespec
		var ts Timespec
		rc1 := kvdso.ClockGettime(clock, &a)
		rc := fn(clock, &ts)
		rc2 := kvdso.ClockGettime(clock, &b)
		if rc != 0 || rc1 != 0 || rc2 != 0 {
			t.Fatalf("clock %d: routine %d, kernel %d %d", clock, rc, rc1, rc2)
		}
		if ts.Nsec < 0 || ts.Nsec >= 1e9 {
			t.Fatalf("clock %d: nsec %d not normalised", clock, ts.Nsec)
		}
		k1, k2 := a.Nano()-offset, b.Nano()-offset
		if k2-k1 > int64(maxBracket) && try < 100 {
			s.rejected++
			continue
		}
		s.add(k1, ts.Nano(), k2)
		return
	}
}

type accuracyRow struct {
	variant string
	clock   int32
	stats   *errStats
}

// measureAccuracy samples every data-page clock through every given
// routine for d, rounds spaced by gap, so that the samples spread over many
// refreshes and ticks of the timekeeper. offsets[c] is subtracted from the
// kernel's reads of clock c (a host variant inside a time namespace).
func measureAccuracy(t *testing.T, d, gap time.Duration, fns []struct {
	name    string
	fn      clockFunc
	offsets map[int32]int64
}) []accuracyRow {
	var rows []accuracyRow
	for _, f := range fns {
		for _, c := range dataPageClocks {
			rows = append(rows, accuracyRow{f.name, c, &errStats{}})
		}
	}
	end := kvdso.Nanotime() + int64(d)
	for kvdso.Nanotime() < end {
		i := 0
		for _, f := range fns {
			for _, c := range dataPageClocks {
				// A host image inside a time namespace answers a coarse
				// read past CoarseTSC with the system call, which gives
				// the namespace's time: nothing to compare.
				if f.offsets == nil || !isCoarse(c) {
					sampleKernel(t, rows[i].stats, f.fn, c, f.offsets[c])
				}
				i++
			}
		}
		for until := kvdso.Nanotime() + int64(gap); kvdso.Nanotime() < until; {
		}
	}
	return rows
}

// checkAccuracy logs the table and checks the targets: for the
// high-resolution clocks p99 <= targetP99, max <= targetMax, and at most
// 0.1% of the samples outside [kernel before, kernel after] by more than
// farOutside; for the
// coarse clocks no sample outside it at all: the routines serve them from
// the page only while the page holds the kernel's current coarse value
// (CoarseTSC) and ask the kernel otherwise.
func checkAccuracy(t *testing.T, rows []accuracyRow) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%-8s %-17s %7s %8s %8s %8s %8s %7s %7s %5s %5s\n", "variant", "clock", "samples", "p50", "p99", "max", "bracket", "behind", "ahead", "far", "again")
	for _, r := range rows {
		s := r.stats
		if len(s.errs) == 0 {
			continue
		}
		p50, p99, mx := s.quantiles()
		fmt.Fprintf(&b, "%-8s %-17s %7d %8v %8v %8v %8v %7d %7d %5d %5d\n", r.variant, clockNames[r.clock], len(s.errs), p50, p99, mx, s.bracketP50(), s.behind, s.ahead, s.far, s.rejected)
		if isCoarse(r.clock) {
			if s.ahead > 0 {
				t.Errorf("%s %s: ahead of the kernel in %d samples (by up to %v)", r.variant, clockNames[r.clock], s.ahead, time.Duration(s.aheadMost))
			}
			if s.behind > 0 {
				t.Errorf("%s %s: behind the kernel in %d samples (by up to %v)", r.variant, clockNames[r.clock], s.behind, time.Duration(-s.worstOut))
			}
			continue
		}
		if lim := len(s.errs)/1000 + 1; s.far > lim {
			t.Errorf("%s %s: outside the kernel's bracket by more than %v in %d of %d samples (more than 0.1%%)", r.variant, clockNames[r.clock], farOutside, s.far, len(s.errs))
		}
		if p99 > targetP99 || mx > targetMax {
			t.Errorf("%s %s: |error| p99 %v, max %v; target p99 <= %v, max <= %v", r.variant, clockNames[r.clock], p99, mx, targetP99, targetMax)
		}
	}
	t.Logf("|vdsogen - kernel| (kernel = midpoint of two kernel vDSO reads; behind/ahead: samples outside the bracket; far: by more than %v):\n%s", farOutside, b.String())
	return b.String()
}

// TestAccuracy is the differential test against the kernel's vDSO for
// every data-page clock, through the host and the timens routines (zero
// offsets here), over 2 s: many full refreshes and ticks.
func TestAccuracy(t *testing.T) {
	needKernelVDSO(t)
	startTimekeeper(t)
	vdsoTimens = vvar.TimensPage{}
	time.Sleep(300 * time.Millisecond) // a few refreshes past calibration
	rows := measureAccuracy(t, 2*time.Second, 20*time.Microsecond, []struct {
		name    string
		fn      clockFunc
		offsets map[int32]int64
	}{
		{"host", clock_gettime_host, nil},
		{"timens", clock_gettime_timens, nil},
	})
	checkAccuracy(t, rows)
}

// TestSyscallOrdering: for every clock id, a routine's value lies between
// two system calls of the same clock made before and after it, with no
// tolerance at all (the CPU-time clocks excepted: threads differ), and
// every id the system call rejects gives the same error. The coarse clocks
// too: the page serves them only while they are the kernel's current value.
func TestSyscallOrdering(t *testing.T) {
	tk := startTimekeeper(t)
	vdsoTimens = vvar.TimensPage{}
	fns := []struct {
		name string
		fn   clockFunc
	}{{"host", clock_gettime_host}, {"timens", clock_gettime_timens}, {"tl/host", clock_gettime_tl_host}, {"tl/timens", clock_gettime_tl_timens}}
	n := 0
	for end := time.Now().Add(time.Second); time.Now().Before(end); n++ {
		for _, f := range fns {
			for c := int32(-1); c <= 12; c++ {
				var k1, k2 unix.Timespec
				var ts Timespec
				err1 := unix.ClockGettime(c, &k1)
				rc := f.fn(c, &ts)
				err2 := unix.ClockGettime(c, &k2)
				if err1 != nil {
					if err2 == nil || rc != -int32(err1.(unix.Errno)) {
						t.Fatalf("%s(%d) = %d, the system call: %v", f.name, c, rc, err1)
					}
					continue
				}
				if rc != 0 {
					t.Fatalf("%s(%d) = %d, the system call succeeds", f.name, c, rc)
				}
				if c < 0 || c == unix.CLOCK_PROCESS_CPUTIME_ID || c == unix.CLOCK_THREAD_CPUTIME_ID {
					continue
				}
				v := ts.Nano()
				switch {
				case v > k2.Nano():
					t.Fatalf("%s(%s) = %d, after the later system call %d (by %v)", f.name, clockNames[c], v, k2.Nano(), time.Duration(v-k2.Nano()))
				case v < k1.Nano():
					t.Fatalf("%s(%s) = %d, before the earlier system call %d (by %v)", f.name, clockNames[c], v, k1.Nano(), time.Duration(k1.Nano()-v))
				}
			}
		}
	}
	t.Logf("%d rounds of %d routines x 14 ids; timekeeper max |error| by clock (ns) %.0f",
		n, len(fns), tk.Stats().MaxAbsError)
}
