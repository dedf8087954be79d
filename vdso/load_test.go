//go:build linux && amd64

package vdso

import (
	"os"
	"os/exec"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vdsogen/vdsogen/vdso/internal/kvdso"
	"github.com/vdsogen/vdsogen/vdso/internal/vvar"
)

// The load test: the machine saturated from outside (2 x nproc busy
// processes) and from inside (GOMAXPROCS spinning goroutines), the
// timekeeper as Start runs it, and every data-page clock checked for what
// must hold at any load. Run it longer with VDSOGEN_LOAD_DURATION=30s (a
// time.Duration) to measure; ACCURACY.md has the figures.

// busyChildEnv makes the test binary a busy process that spins for the
// given duration and exits (and dies with its parent before that).
const busyChildEnv = "VDSOGEN_BUSY_CHILD"

func init() {
	d := os.Getenv(busyChildEnv)
	if d == "" {
		return
	}
	unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(unix.SIGKILL), 0, 0, 0)
	dur, err := time.ParseDuration(d)
	if err != nil {
		os.Exit(2)
	}
	runtime.GOMAXPROCS(1)
	for end := time.Now().Add(dur); time.Now().Before(end); {
		for i := 0; i < 1_000_000; i++ {
			benchU64 += uint64(i)
		}
	}
	os.Exit(0)
}

// startBusy starts n busy processes for at most d and kills them (by pid)
// when t ends.
func startBusy(t *testing.T, n int, d time.Duration) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for range n {
		cmd := exec.Command(exe, "-test.run=^$")
		cmd.Env = append(os.Environ(), busyChildEnv+"="+d.String())
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if err := cmd.Start(); err != nil {
			t.Fatalf("starting a busy process: %v", err)
		}
		t.Cleanup(func() {
			cmd.Process.Kill()
			cmd.Wait()
		})
	}
}

func loadDuration(t *testing.T) time.Duration {
	d := 2 * time.Second
	if s := os.Getenv("VDSOGEN_LOAD_DURATION"); s != "" {
		var err error
		if d, err = time.ParseDuration(s); err != nil {
			t.Fatalf("VDSOGEN_LOAD_DURATION: %v", err)
		}
	}
	return d
}

// TestLoadBoundedAge saturates the machine and checks, for every data-page
// clock through the host and timens routines (zero offsets):
//   - no clock ever goes backwards for a reader, whether a read came from
//     the page or from the system call;
//   - the coarse clocks lie between a read of the kernel's before and one
//     after, exactly: never ahead, never behind (a bounded age of zero:
//     the page serves them only while they are the kernel's current
//     values, CoarseTSC);
//   - the high-resolution clocks meet the accuracy targets of
//     checkAccuracy (p99 <= 1 us, max <= 20 us against the kernel's
//     bracket midpoint, at most 0.1 % of samples more than 250 ns outside
//     the bracket);
//   - time() is the kernel's coarse seconds, exactly.
//
// It logs how far the page's own coarse value trailed the kernel's (the
// timekeeper's lateness, which decides how often the routines ask the
// kernel) and how often the page could serve a coarse read.
func TestLoadBoundedAge(t *testing.T) {
	if testing.Short() {
		t.Skip("saturates the machine for seconds; skipped with -short")
	}
	needKernelVDSO(t)
	d := loadDuration(t)
	busy := 2 * runtime.NumCPU()
	startBusy(t, busy, d+10*time.Second)
	tk := startTimekeeper(t)
	vdsoTimens = vvar.TimensPage{}

	var work stress
	// Registered after startTimekeeper's cleanup, so it runs first: the
	// goroutines are gone before the page is invalidated, however the
	// test ends.
	defer work.halt()
	procs := runtime.GOMAXPROCS(0)
	for range procs {
		work.run(func() {
			for x := uint64(0); !work.stopped(); x++ {
			}
		})
	}
	var served, asked atomic.Uint64
	// How far the page's own MONOTONIC_COARSE trails the kernel's, at each
	// coarse read: the timekeeper's lateness.
	var agesMu sync.Mutex
	var ages []int64
	fns := []struct {
		name string
		fn   clockFunc
	}{{"host", clock_gettime_host}, {"timens", clock_gettime_timens}, {"tl/host", clock_gettime_tl_host}}
	for range procs {
		work.run(func() {
			last := make([][vvar.NumClocks]int64, len(fns))
			var lastTime int64
			var nServed, nAsked uint64
			var myAges []int64
			defer func() {
				served.Add(nServed)
				asked.Add(nAsked)
				agesMu.Lock()
				ages = append(ages, myAges...)
				agesMu.Unlock()
			}()
			for !work.stopped() {
				for i, f := range fns {
					for _, c := range dataPageClocks {
						var ts Timespec
						k1 := kvdso.Now(c)
						if c == unix.CLOCK_MONOTONIC_COARSE {
							b := vdsoData.Load().Base[c]
							myAges = append(myAges, k1-(int64(b.Sec)*1e9+int64(b.Snsec>>vvar.ClockShift)))
						}
						if isCoarse(c) {
							if _, _, ok := vdsoData.Read(int(c), vvar.RDTSC()); ok {
								nServed++
							} else {
								nAsked++
							}
						}
						if rc := f.fn(c, &ts); rc != 0 {
							work.fail("%s(%s) = %d", f.name, clockNames[c], rc)
							return
						}
						k2 := kvdso.Now(c)
						v := ts.Nano()
						if v < last[i][c] {
							work.fail("%s(%s) went backwards by %v", f.name, clockNames[c], time.Duration(last[i][c]-v))
							return
						}
						last[i][c] = v
						if isCoarse(c) && (v < k1 || v > k2) {
							work.fail("%s(%s) = %d, the kernel's %d before and %d after", f.name, clockNames[c], v, k1, k2)
							return
						}
					}
				}
				var err error
				if lastTime, err = checkTime("time_host", time_host, lastTime); err != nil {
					work.fail("%v", err)
					return
				}
			}
		})
	}
	rows := measureAccuracy(t, d, 20*time.Microsecond, []struct {
		name    string
		fn      clockFunc
		offsets map[int32]int64
	}{{"host", clock_gettime_host, nil}, {"timens", clock_gettime_timens, nil}})
	work.check(t)
	t.Logf("load: %d busy processes, %d spinning and %d reading goroutines (GOMAXPROCS %d) for %v", busy, procs, procs, procs, d)
	checkAccuracy(t, rows)
	slices.Sort(ages)
	if len(ages) > 0 {
		q := func(f float64) time.Duration { return time.Duration(ages[min(int(f*float64(len(ages))), len(ages)-1)]) }
		tick := time.Duration(vdsoData.Load().CoarseRes)
		behind := 0
		for _, a := range ages {
			if a > 0 {
				behind++
			}
		}
		t.Logf("page's coarse value behind the kernel's: %.1f%% of %d samples, p50 %v p99 %v max %v (tick %v); coarse reads the page could serve: %d of %d (%.1f%%), the rest asked the kernel",
			100*float64(behind)/float64(len(ages)), len(ages), q(0.5), q(0.99), time.Duration(ages[len(ages)-1]), tick,
			served.Load(), served.Load()+asked.Load(), 100*float64(served.Load())/float64(max(served.Load()+asked.Load(), 1)))
	}
	st := tk.Stats()
	t.Logf("timekeeper: realtime %v, %d refreshes, %d ticks, max |error| at refresh %.0f ns", st.Realtime, st.Refreshes, st.Ticks, st.MaxAbsError)
}
