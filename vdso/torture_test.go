//go:build linux && amd64

package vdso

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vdsogen/vdsogen/vdso/internal/kvdso"
	"github.com/vdsogen/vdsogen/vdso/internal/vvar"
)

// equivalent returns parameters that give exactly the same value as p for
// every TSC at or after p.TSCBase (not before: p clamps there), with TSCBase moved back by d cycles and
// every high-resolution base moved back by d*Mult. A reader that mixed
// fields of p and of the result (a torn read) would be off by about
// d*Mult>>Shift nanoseconds (0.5 s here).
func equivalent(p vvar.Params, d uint64) vvar.Params {
	q := p
	q.TSCBase -= d
	back := d * p.Mult // < 2^64: d is half a second of cycles
	one := uint64(1e9) << p.Shift
	for c := range q.Base {
		if !vvar.IsDataPageClock(c) || vvar.IsCoarseClock(c) {
			continue
		}
		b := &q.Base[c]
		secs := back / one
		rem := back % one
		b.Sec -= secs
		if b.Snsec < rem {
			b.Snsec += one
			b.Sec--
		}
		b.Snsec -= rem
	}
	return q
}

// stress runs goroutines until one of them fails or the test stops them,
// and keeps the first failure for the test to report.
type stress struct {
	stop   atomic.Bool
	wg     sync.WaitGroup
	failed atomic.Value
}

// run starts f in a goroutine that halt waits for.
func (s *stress) run(f func()) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		f()
	}()
}

// stopped reports whether the goroutines are to return.
func (s *stress) stopped() bool { return s.stop.Load() }

// fail records the first failure and stops every goroutine.
func (s *stress) fail(format string, args ...any) {
	s.failed.CompareAndSwap(nil, fmt.Sprintf(format, args...))
	s.stop.Store(true)
}

// halt stops the goroutines and waits until they have returned.
func (s *stress) halt() {
	s.stop.Store(true)
	s.wg.Wait()
}

// check halts the goroutines and fails t with the first failure.
func (s *stress) check(t *testing.T) {
	t.Helper()
	s.halt()
	if f := s.failed.Load(); f != nil {
		t.Fatal(f)
	}
}

// checkTime calls a time() routine between two reads of the kernel's
// coarse seconds: it must lie between them and not before last (its
// previous value), which it returns updated.
func checkTime(name string, fn func(*int64) int64, last int64) (int64, error) {
	k1 := kvdso.Now(unix.CLOCK_REALTIME_COARSE) / 1e9
	s := fn(nil)
	k2 := kvdso.Now(unix.CLOCK_REALTIME_COARSE) / 1e9
	if s < last || s < k1 || s > k2 {
		return last, fmt.Errorf("%s() = %d (last %d), the kernel's coarse seconds %d before and %d after", name, s, last, k1, k2)
	}
	return s, nil
}

// TestSeqlockTortureRoutines: a writer alternates the data page between two
// equivalent parameter sets as fast as it can (and runs a full refresh or a
// tick of the timekeeper every 256 alternations), while readers on every
// core call every generated clock_gettime, gettimeofday and time. A torn
// read would be off by half a second. Every value must be normalised; no
// clock may go backwards for a reader, the coarse ones included, whether a
// read came from the page or from the system call (a writer holding the
// sequence, a page past CoarseTSC); the coarse clocks must lie between a
// read of the kernel's before and one after, exactly (the page serves them
// only while they are the kernel's current values); the high-resolution
// ones within a millisecond of such a bracket.
func TestSeqlockTortureRoutines(t *testing.T) {
	needKernelVDSO(t)
	tk, err := vvar.Start(&vdsoData, &vdsoTimens, vvar.Options{Manual: true, Clock: kvdso.Clock()})
	if err != nil {
		t.Fatalf("starting the timekeeper: %v", err)
	}
	defer tk.Stop()
	vdsoTimens = vvar.TimensPage{}
	hz := tk.Stats().TSCHz
	d := uint64(hz / 2)
	recent := uint64(hz / 10000) // 100 us

	var work stress
	// Runs before tk.Stop: every goroutine has left before the test ends,
	// however it ends.
	defer work.halt()
	var writes atomic.Uint64
	work.run(func() {
		for i := 0; !work.stopped(); i++ {
			switch i % 256 {
			case 0:
				if err := tk.Refresh(); err != nil {
					work.fail("refresh: %v", err)
				}
			case 128:
				if err := tk.Tick(); err != nil {
					work.fail("tick: %v", err)
				}
			}
			p := vdsoData.Load()
			// Fresh parameters: a reader whose TSC (another CPU's) trails
			// TSCBase clamps to the base value, which the equivalent set
			// does not reproduce. Alternate only once every reader's TSC
			// is surely past TSCBase.
			for vvar.RDTSC()-p.TSCBase < recent && !work.stopped() {
			}
			vdsoData.Store(equivalent(p, d))
			vdsoData.Store(p)
			writes.Add(2)
		}
	})

	readers := runtime.GOMAXPROCS(0)
	var reads atomic.Uint64
	fns := []clockFunc{clock_gettime_host, clock_gettime_timens, clock_gettime_tl_host, clock_gettime_tl_timens, clock_gettime_nomarker, clock_gettime_tl_nomarker}
	// A torn read is off by 0.5 s; the high-resolution clocks are within
	// microseconds of the kernel's (TestAccuracy).
	const hresSlack = int64(time.Millisecond)
	for r := 0; r < readers; r++ {
		work.run(func() {
			var last [vvar.NumClocks]int64
			var lastTV, lastTime int64
			n := uint64(0)
			defer func() { reads.Add(n) }()
			for i := 0; !work.stopped(); i++ {
				fn := fns[i%len(fns)]
				for _, c := range dataPageClocks {
					var ts Timespec
					k1 := kvdso.Now(c)
					if rc := fn(c, &ts); rc != 0 {
						work.fail("clock %d: %d", c, rc)
						return
					}
					k2 := kvdso.Now(c)
					n++
					v := ts.Nano()
					if ts.Nsec < 0 || ts.Nsec >= 1e9 {
						work.fail("%s: nsec %d not normalised", clockNames[c], ts.Nsec)
						return
					}
					if v < last[c] {
						work.fail("%s went backwards by %v", clockNames[c], time.Duration(last[c]-v))
						return
					}
					last[c] = v
					slack := hresSlack
					if isCoarse(c) {
						slack = 0
					}
					if v < k1-slack || v > k2+slack {
						work.fail("%s = %d, kernel %d before and %d after (torn read?)", clockNames[c], v, k1, k2)
						return
					}
				}
				var tv Timeval
				gettimeofday_host(&tv, nil)
				if tv.Usec < 0 || tv.Usec >= 1e6 {
					work.fail("gettimeofday: usec %d", tv.Usec)
					return
				}
				us := tv.Sec*1e6 + tv.Usec
				if us < lastTV {
					work.fail("gettimeofday went backwards by %d us", lastTV-us)
					return
				}
				lastTV = us
				var err error
				if lastTime, err = checkTime("time_timens", time_timens, lastTime); err != nil {
					work.fail("%v", err)
					return
				}
				n += 2
			}
		})
	}
	for end := time.Now().Add(2 * time.Second); time.Now().Before(end) && !work.stopped(); {
		time.Sleep(10 * time.Millisecond)
	}
	work.check(t)
	t.Logf("%d readers, %d reads, %d page writes in 2 s", readers, reads.Load(), writes.Load())
	if writes.Load() < 1000 || reads.Load() < 1000 {
		t.Errorf("too little overlap: %d writes, %d reads", writes.Load(), reads.Load())
	}
}
