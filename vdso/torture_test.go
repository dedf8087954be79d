//go:build linux && amd64

package vdso

import (
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

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

// TestSeqlockTortureRoutines: a writer alternates the data page between two
// equivalent parameter sets as fast as it can (and runs a full refresh or a
// tick of the timekeeper every 256 alternations), while readers on every
// core call every generated clock_gettime, gettimeofday and time. A torn
// read would be off by half a second; every value must be normalised,
// within 200 ms of the kernel's clock, and no clock may go backwards for a
// reader.
func TestSeqlockTortureRoutines(t *testing.T) {
	needKernelVDSO(t)
	tk, err := vvar.Start(&vdsoData, &vdsoTimens, vvar.Options{Manual: true, Clock: kernelClock()})
	if err != nil {
		t.Fatalf("starting the timekeeper: %v", err)
	}
	defer tk.Stop()
	vdsoTimens = vvar.TimensPage{}
	hz := tk.Stats().TSCHz
	d := uint64(hz / 2)
	recent := uint64(hz / 10000) // 100 us

	var stop atomic.Bool
	var writes atomic.Uint64
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; !stop.Load(); i++ {
			switch i % 256 {
			case 0:
				if err := tk.Refresh(); err != nil {
					t.Errorf("refresh: %v", err)
				}
			case 128:
				if err := tk.Tick(); err != nil {
					t.Errorf("tick: %v", err)
				}
			}
			p := vdsoData.Load()
			// Fresh parameters: a reader whose TSC (another CPU's) trails
			// TSCBase clamps to the base value, which the equivalent set
			// does not reproduce. Alternate only once every reader's TSC
			// is surely past TSCBase.
			for vvar.RDTSC()-p.TSCBase < recent {
			}
			vdsoData.Store(equivalent(p, d))
			vdsoData.Store(p)
			writes.Add(2)
		}
	}()

	readers := runtime.GOMAXPROCS(0)
	var reads atomic.Uint64
	fns := []clockFunc{clock_gettime_host, clock_gettime_timens, clock_gettime_tl_host, clock_gettime_tl_timens, clock_gettime_nomarker, clock_gettime_tl_nomarker}
	// A torn read is off by 0.5 s; the coarse clocks may trail the
	// kernel's by up to a refresh while this writer is busy.
	const window = int64(200 * time.Millisecond)
	// A reader that gives up waiting for this writer (spinLimit in asm.go)
	// asks the kernel, whose coarse clocks lead the page's by up to a tick
	// (ACCURACY.md): the next read from the page is then up to one tick
	// behind. That, and only that, is tolerated for the coarse clocks, and
	// counted; a torn read would be off by half a second.
	tick := int64(vdsoData.Load().CoarseRes)
	var tickSteps atomic.Uint64
	for r := 0; r < readers; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var last [vvar.NumClocks]int64
			var lastTV, lastTime int64
			n := uint64(0)
			defer func() { reads.Add(n) }()
			for i := 0; !stop.Load(); i++ {
				fn := fns[i%len(fns)]
				for _, c := range dataPageClocks {
					var ts Timespec
					if rc := fn(c, &ts); rc != 0 {
						t.Errorf("clock %d: %d", c, rc)
						return
					}
					n++
					v := ts.Nano()
					if ts.Nsec < 0 || ts.Nsec >= 1e9 {
						t.Errorf("%s: nsec %d not normalised", clockNames[c], ts.Nsec)
						return
					}
					if v < last[c] {
						if vvar.IsCoarseClock(int(c)) && last[c]-v <= tick {
							tickSteps.Add(1)
						} else {
							t.Errorf("%s went backwards by %v (torn read?)", clockNames[c], time.Duration(last[c]-v))
							return
						}
					}
					last[c] = v
					if i%16 == 0 {
						if k := kvdso.Now(c); abs(k-v) > window {
							t.Errorf("%s = %d, kernel %d (torn read?)", clockNames[c], v, k)
							return
						}
					}
				}
				var tv Timeval
				gettimeofday_host(&tv, nil)
				if tv.Usec < 0 || tv.Usec >= 1e6 {
					t.Errorf("gettimeofday: usec %d", tv.Usec)
					return
				}
				us := tv.Sec*1e6 + tv.Usec
				if us < lastTV {
					t.Errorf("gettimeofday went backwards by %d us", lastTV-us)
					return
				}
				lastTV = us
				s := time_timens(nil)
				if s < lastTime {
					t.Errorf("time went backwards")
					return
				}
				lastTime = s
				n += 2
			}
		}()
	}
	time.Sleep(2 * time.Second)
	stop.Store(true)
	wg.Wait()
	t.Logf("%d readers, %d reads, %d page writes in 2 s; coarse clocks stepped back by at most a tick (%v) %d times (the syscall fallback, see ACCURACY.md)",
		readers, reads.Load(), writes.Load(), time.Duration(tick), tickSteps.Load())
	if writes.Load() < 1000 || reads.Load() < 1000 {
		t.Errorf("too little overlap: %d writes, %d reads", writes.Load(), reads.Load())
	}
}
