//go:build linux && amd64

package kvdso

import (
	"runtime"
	"sync"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

func mustLoad(t testing.TB) Funcs {
	t.Helper()
	f, err := Load()
	if err != nil {
		t.Skipf("kernel vDSO unusable: %v", err)
	}
	return f
}

func TestLoad(t *testing.T) {
	f := mustLoad(t)
	if f.ClockGettime == 0 || f.Gettimeofday == 0 || f.Time == 0 || f.ClockGetres == 0 {
		t.Errorf("missing functions: %+v", f)
	}
	t.Logf("kernel vDSO: %+v", f)
}

// TestResolveVersion: a symbol of another version is not taken.
func TestResolveVersion(t *testing.T) {
	base, err := sysinfoEhdr()
	if err != nil {
		t.Skip(err)
	}
	size, err := mappingSize(base)
	if err != nil {
		t.Fatal(err)
	}
	img, err := readMem(base, size)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Resolve(img, "__vdso_clock_gettime", "clock_gettime", "__vdso_nonexistent")
	if err != nil {
		t.Fatal(err)
	}
	if got["__vdso_clock_gettime"] == 0 || got["clock_gettime"] != got["__vdso_clock_gettime"] {
		t.Errorf("resolved %v: want __vdso_clock_gettime and its weak alias clock_gettime at one offset", got)
	}
	if _, ok := got["__vdso_nonexistent"]; ok {
		t.Error("resolved a symbol that does not exist")
	}
	if _, err := Resolve([]byte("\x7fELF junk")); err == nil {
		t.Error("Resolve accepted junk")
	}
}

// TestClockGettime: for every clock id the kernel's vDSO returns what the
// system call returns (the same error, or a value between two system
// calls), and invalid ids give -EINVAL.
func TestClockGettime(t *testing.T) {
	mustLoad(t)
	for clock := int32(-3); clock <= 12; clock++ {
		var k1, v, k2 unix.Timespec
		err1 := unix.ClockGettime(clock, &k1)
		rc := ClockGettime(clock, &v)
		err2 := unix.ClockGettime(clock, &k2)
		if err1 != nil || err2 != nil {
			if err1 == nil || err2 == nil || rc != -int32(err1.(unix.Errno)) {
				t.Errorf("clock %d: vdso %d, system call %v / %v", clock, rc, err1, err2)
			}
			continue
		}
		if rc != 0 {
			t.Errorf("clock %d: vdso %d, system call fine", clock, rc)
			continue
		}
		if clock == unix.CLOCK_PROCESS_CPUTIME_ID || clock == unix.CLOCK_THREAD_CPUTIME_ID || clock < 0 {
			// CPU-time clocks (negative ids: of this thread or process,
			// possibly only in ticks) are not ordered across threads.
			if v.Nano() < 0 {
				t.Errorf("clock %d: %v", clock, v)
			}
			continue
		}
		if v.Nano() < k1.Nano() || v.Nano() > k2.Nano() {
			t.Errorf("clock %d: vdso %d not in [%d, %d]", clock, v.Nano(), k1.Nano(), k2.Nano())
		}
	}
	for _, clock := range []int32{-1 << 31, 1<<31 - 1, 100} {
		var ts unix.Timespec
		if rc := ClockGettime(clock, &ts); rc != -int32(unix.EINVAL) {
			t.Errorf("clock %d: %d, want -EINVAL", clock, rc)
		}
	}
	if Nanotime() <= 0 || Now(-1<<31) != 0 {
		t.Error("Nanotime/Now")
	}
}

func TestOtherFunctions(t *testing.T) {
	mustLoad(t)
	for clock := int32(-2); clock <= 12; clock++ {
		var want, got unix.Timespec
		err := unix.ClockGetres(clock, &want)
		rc := ClockGetres(clock, &got)
		if (err == nil && (rc != 0 || got != want)) || (err != nil && rc != -int32(err.(unix.Errno))) {
			t.Errorf("clock_getres(%d): vdso %d %v, system call %v %v", clock, rc, got, err, want)
		}
	}
	if rc := ClockGetres(unix.CLOCK_MONOTONIC, nil); rc != 0 {
		t.Errorf("clock_getres(NULL) = %d", rc)
	}
	var k1, k2 unix.Timeval
	var tv unix.Timeval
	unix.Gettimeofday(&k1)
	rc := Gettimeofday(&tv, nil)
	unix.Gettimeofday(&k2)
	if rc != 0 || tv.Nano() < k1.Nano() || tv.Nano() > k2.Nano() {
		t.Errorf("gettimeofday: %d %v, kernel %v..%v", rc, tv, k1, k2)
	}
	var tz [2]int32
	if rc := Gettimeofday(nil, unsafe.Pointer(&tz)); rc != 0 {
		t.Errorf("gettimeofday(NULL, tz) = %d", rc)
	}
	// The kernel's time() is the seconds of its data page's coarse
	// realtime. No system call reads that page: gettimeofday's seconds lead
	// it for up to a tick after each second boundary, and time(2) reads the
	// timekeeper, which the kernel updates in a separate step from the page
	// (CI saw time() one second behind a time(2) before it). So the bracket is
	// CLOCK_REALTIME_COARSE through the same vDSO, read from the same page
	// under its seqlock before and after.
	for range 1000 {
		var c1, c2 unix.Timespec
		ClockGettime(unix.CLOCK_REALTIME_COARSE, &c1)
		var out int64
		got := Time(&out)
		ClockGettime(unix.CLOCK_REALTIME_COARSE, &c2)
		if got != out || got < c1.Sec || got > c2.Sec {
			t.Fatalf("time = %d (stored %d), CLOCK_REALTIME_COARSE %d..%d", got, out, c1.Sec, c2.Sec)
		}
	}
	// Against the system call, the page and the timekeeper may straddle a
	// second boundary in either order: one second either way.
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_REALTIME_COARSE, &ts); err != nil {
		t.Fatal(err)
	}
	if got := Time(nil); got < ts.Sec-1 || got > ts.Sec+1 {
		t.Errorf("time = %d, system call CLOCK_REALTIME_COARSE %d", got, ts.Sec)
	}
}

// TestTrampolineStack: the trampolines call with SP 16-byte aligned
// whatever the caller's alignment and stack depth, and calls from many
// goroutines with fresh (small) stacks work.
func TestTrampolineStack(t *testing.T) {
	p := probeAddr()
	var depth func(n int) uintptr
	depth = func(n int) uintptr {
		var pad [3]uint64 // vary the frame so both alignments occur
		if n > 0 {
			return depth(n-1) + uintptr(pad[n%3])
		}
		return uintptr(callIP(p, 0, nil))
	}
	for n := 0; n < 64; n++ {
		sp := depth(n)
		if sp%16 != 0 {
			t.Fatalf("depth %d: SP %#x at the CALL is not 16-byte aligned", n, sp)
		}
	}
	var wg sync.WaitGroup
	for g := 0; g < 4*runtime.GOMAXPROCS(0); g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 1000; i++ {
				var ts unix.Timespec
				if Available() && ClockGettime(unix.CLOCK_MONOTONIC, &ts) != 0 {
					t.Error("clock_gettime failed")
					return
				}
				if sp := uintptr(callPP(p, nil, nil)); sp%16 != 0 {
					t.Errorf("SP %#x not aligned", sp)
					return
				}
			}
		}()
	}
	wg.Wait()
}

func TestNoAllocation(t *testing.T) {
	mustLoad(t)
	var ts unix.Timespec
	if n := testing.AllocsPerRun(1000, func() { ClockGettime(unix.CLOCK_MONOTONIC, &ts) }); n != 0 {
		t.Errorf("ClockGettime allocates %v times per call", n)
	}
	if n := testing.AllocsPerRun(1000, func() { Now(unix.CLOCK_REALTIME) }); n != 0 {
		t.Errorf("Now allocates %v times per call", n)
	}
}

func BenchmarkClockGettime(b *testing.B) {
	mustLoad(b)
	var ts unix.Timespec
	for b.Loop() {
		ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	}
}

func BenchmarkSyscall(b *testing.B) {
	var ts unix.Timespec
	for b.Loop() {
		unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	}
}
