//go:build linux && amd64

package vdso

import (
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/vdsogen/vdsogen/vdso/internal/kvdso"
	"github.com/vdsogen/vdsogen/vdso/internal/vvar"
)

// TestInvalidPage: with the page invalid (never started, stopped by the
// timekeeper, or a mode word that is neither ModeInvalid nor ModeTSC),
// every routine of every variant returns what the system call returns:
// the same result code for every clock id, a value between two system
// calls for every clock (equal for clock_getres), and the time-namespace
// offsets are not added (the system call already answers in the caller's
// namespace).
func TestInvalidPage(t *testing.T) {
	tk := startTimekeeper(t)
	// Offsets the timens routines would add if they used the page.
	var tn vvar.TimensPage
	vvar.TimensOffsets{Monotonic: vvar.TimensOffset{Sec: 1000, Nsec: 1}, Boottime: vvar.TimensOffset{Sec: 2000, Nsec: 2}}.Fill(&tn)
	vdsoTimens = tn
	t.Cleanup(func() { vdsoTimens = vvar.TimensPage{} })
	for _, invalidate := range []struct {
		name string
		do   func()
	}{
		{"mode 2", func() { vdsoData.Update(func(p *vvar.Params) { p.Mode = 2 }) }},
		{"mode 0xffffffff", func() { vdsoData.Update(func(p *vvar.Params) { p.Mode = 0xffffffff }) }},
		{"stopped", tk.Stop},
	} {
		invalidate.do()
		checkAllMatchSyscall(t, invalidate.name)
	}
}

func checkAllMatchSyscall(t *testing.T, how string) {
	ids := []int32{-1 << 31, -100, -3, -2, -1, 1<<31 - 1, 12, 13, 100}
	for c := int32(0); c < 12; c++ {
		ids = append(ids, c)
	}
	for _, r := range routines {
		for _, c := range ids {
			var k1, k2 unix.Timespec
			var ts Timespec
			err := unix.ClockGettime(c, &k1)
			rc := r.fn(c, &ts)
			unix.ClockGettime(c, &k2)
			if want := errRC(err); rc != want {
				t.Errorf("%s: %s(%d) = %d, the system call gives %d", how, r.name, c, rc, want)
				continue
			}
			if err != nil || c < 0 || c == unix.CLOCK_PROCESS_CPUTIME_ID || c == unix.CLOCK_THREAD_CPUTIME_ID {
				continue
			}
			if v := ts.Nano(); v < k1.Nano() || v > k2.Nano() {
				t.Errorf("%s: %s(%s) = %d, system calls %d .. %d (off by %v)", how, r.name, clockNames[c], v, k1.Nano(), k2.Nano(), time.Duration(v-k1.Nano()))
			}
		}
	}
	getres := []struct {
		name string
		fn   clockFunc
	}{{"host", clock_getres_host}, {"timens", clock_getres_timens}, {"nomarker", clock_getres_nomarker}}
	for _, r := range getres {
		for _, c := range ids {
			var k unix.Timespec
			var ts Timespec
			err := unix.ClockGetres(c, &k)
			if rc, want := r.fn(c, &ts), errRC(err); rc != want || (err == nil && (ts.Sec != k.Sec || ts.Nsec != k.Nsec)) {
				t.Errorf("%s: clock_getres/%s(%d) = %d %+v, the system call gives %d %+v", how, r.name, c, rc, ts, want, k)
			}
		}
	}
	gtod := []struct {
		name string
		fn   func(*Timeval, unsafe.Pointer) int32
	}{{"host", gettimeofday_host}, {"timens", gettimeofday_timens}, {"nomarker", gettimeofday_nomarker}}
	for _, r := range gtod {
		var k1, k2 unix.Timeval
		var tv Timeval
		unix.Gettimeofday(&k1)
		rc := r.fn(&tv, nil)
		unix.Gettimeofday(&k2)
		us := func(s, u int64) int64 { return s*1e6 + u }
		if v := us(tv.Sec, tv.Usec); rc != 0 || v < us(k1.Sec, k1.Usec) || v > us(k2.Sec, k2.Usec) {
			t.Errorf("%s: gettimeofday/%s = %d %+v, system calls %+v .. %+v", how, r.name, rc, tv, k1, k2)
		}
	}
	times := []struct {
		name string
		fn   func(*int64) int64
	}{{"host", time_host}, {"timens", time_timens}, {"nomarker", time_nomarker}}
	for _, r := range times {
		k1 := kernelTime()
		var out int64
		got := r.fn(&out)
		k2 := kernelTime()
		if got != out || got < k1 || got > k2 {
			t.Errorf("%s: time/%s = %d (stored %d), system calls %d .. %d", how, r.name, got, out, k1, k2)
		}
	}
}

func errRC(err error) int32 {
	if err == nil {
		return 0
	}
	return -int32(err.(unix.Errno))
}

// TestStalePage: a page older than MaxDelta (the process was frozen longer
// than the fixed point covers, or restored on another machine) is not
// converted: every high-resolution clock of every routine answers through
// the system call. The test sets MaxDelta to one cycle and the bases to one
// second after the epoch, so that a converted value would be decades off;
// with MaxDelta lifted again the same routines return that absurd value,
// which shows the check is what sent them to the kernel.
func TestStalePage(t *testing.T) {
	tk, err := vvar.Start(&vdsoData, &vdsoTimens, vvar.Options{Manual: true, Clock: kvdso.Clock()})
	if err != nil {
		t.Fatalf("starting the timekeeper: %v", err)
	}
	defer tk.Stop()
	vdsoTimens = vvar.TimensPage{}
	hres := []int32{unix.CLOCK_REALTIME, unix.CLOCK_MONOTONIC, unix.CLOCK_MONOTONIC_RAW, unix.CLOCK_BOOTTIME, unix.CLOCK_TAI}
	setMaxDelta := func(d uint64) {
		vdsoData.Update(func(p *vvar.Params) {
			p.MaxDelta = d
			for c := range p.Base {
				if vvar.IsDataPageClock(c) && !vvar.IsCoarseClock(c) {
					p.Base[c] = vvar.Base{Sec: 1}
				}
			}
		})
	}
	setMaxDelta(1)
	for _, r := range routines {
		for _, c := range hres {
			var k1, k2 unix.Timespec
			var ts Timespec
			unix.ClockGettime(c, &k1)
			rc := r.fn(c, &ts)
			unix.ClockGettime(c, &k2)
			if v := ts.Nano(); rc != 0 || v < k1.Nano() || v > k2.Nano() {
				t.Errorf("stale page: %s(%s) = %d, %d; system calls %d .. %d", r.name, clockNames[c], rc, v, k1.Nano(), k2.Nano())
			}
		}
	}
	var k1, k2 unix.Timeval
	var tv Timeval
	unix.Gettimeofday(&k1)
	gettimeofday_host(&tv, nil)
	unix.Gettimeofday(&k2)
	if tv.Sec < k1.Sec || tv.Sec > k2.Sec {
		t.Errorf("stale page: gettimeofday = %+v, system calls %+v .. %+v", tv, k1, k2)
	}

	setMaxDelta(^uint64(0))
	for _, r := range routines {
		var ts Timespec
		if rc := r.fn(unix.CLOCK_MONOTONIC, &ts); rc != 0 || ts.Sec > 100 {
			t.Errorf("MaxDelta lifted: %s(MONOTONIC) = %d, %+v; want the page's value, about 1 s", r.name, rc, ts)
		}
	}
}
