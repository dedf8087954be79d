package vdso

import (
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

func TestGettimeofday(t *testing.T) {
	startTimekeeper(t)
	for _, f := range []struct {
		name string
		fn   func(tv *Timeval, tz unsafe.Pointer) int32
	}{{"host", gettimeofday_host}, {"timens", gettimeofday_timens}, {"nomarker", gettimeofday_nomarker}} {
		before := kernel(t, unix.CLOCK_REALTIME)
		var tv Timeval
		if rc := f.fn(&tv, nil); rc != 0 {
			t.Fatalf("%s: gettimeofday = %d", f.name, rc)
		}
		after := kernel(t, unix.CLOCK_REALTIME)
		v := time.Duration(tv.Sec*1e9 + tv.Usec*1e3)
		if tv.Usec < 0 || tv.Usec >= 1e6 || v < before.Truncate(time.Microsecond)-tolerance || v > after+tolerance {
			t.Errorf("%s: gettimeofday = %+v, kernel %v..%v", f.name, tv, before, after)
		}
		// A NULL tv is allowed; a timezone goes to the system call.
		if rc := f.fn(nil, nil); rc != 0 {
			t.Errorf("%s: gettimeofday(NULL, NULL) = %d", f.name, rc)
		}
		var tz [2]int32
		if rc := f.fn(&tv, unsafe.Pointer(&tz)); rc != 0 {
			t.Errorf("%s: gettimeofday(tv, tz) = %d", f.name, rc)
		}
	}
}

// kernelTime is the kernel's time(2), the seconds of its last tick (the
// seconds of CLOCK_REALTIME_COARSE). x/sys's unix.Time is gettimeofday,
// whose seconds lead those for up to a tick after each second boundary.
func kernelTime() int64 {
	r, _, _ := unix.RawSyscall(unix.SYS_TIME, 0, 0, 0)
	return int64(r)
}

// TestTime: time() is the kernel's time(2) exactly, between a call before
// and one after.
func TestTime(t *testing.T) {
	startTimekeeper(t)
	for _, f := range []struct {
		name string
		fn   func(*int64) int64
	}{{"host", time_host}, {"timens", time_timens}, {"nomarker", time_nomarker}} {
		for range 1000 {
			before := kernelTime()
			var out int64
			got := f.fn(&out)
			after := kernelTime()
			if got != out || got < before || got > after {
				t.Fatalf("%s: time = %d (stored %d), kernel %d..%d", f.name, got, out, before, after)
			}
			before = kernelTime()
			got = f.fn(nil)
			if after = kernelTime(); got < before || got > after {
				t.Fatalf("%s: time(NULL) = %d, kernel %d..%d", f.name, got, before, after)
			}
		}
	}
}

func TestClockGetres(t *testing.T) {
	startTimekeeper(t)
	for _, f := range []struct {
		name string
		fn   clockFunc
	}{{"host", clock_getres_host}, {"timens", clock_getres_timens}, {"nomarker", clock_getres_nomarker}} {
		for clock := int32(-2); clock <= 12; clock++ {
			var kts unix.Timespec
			want := int32(0)
			if err := unix.ClockGetres(clock, &kts); err != nil {
				want = -int32(err.(unix.Errno))
			}
			var ts Timespec
			if rc := f.fn(clock, &ts); rc != want || (rc == 0 && (ts.Sec != kts.Sec || ts.Nsec != kts.Nsec)) {
				t.Errorf("%s: clock_getres(%d) = %d %+v, the system call gives %d %+v", f.name, clock, rc, ts, want, kts)
			}
			if want == 0 {
				if rc := f.fn(clock, nil); rc != 0 {
					t.Errorf("%s: clock_getres(%d, NULL) = %d", f.name, clock, rc)
				}
			}
		}
	}
}
