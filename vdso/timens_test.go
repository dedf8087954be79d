//go:build linux && amd64

package vdso

import (
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vdsogen/vdsogen/vdso/internal/timenstest"
	"github.com/vdsogen/vdsogen/vdso/internal/vvar"
)

// The offsets of the namespace TestTimeNamespace creates: not whole
// seconds apart, and the boottime one different from the monotonic one.
const (
	nsMono = 7 * 86400
	nsBoot = 9*86400 + 1
)

// TestTimeNamespace re-executes the test binary inside a new time namespace
// (unshare --time --fork --monotonic=N --boottime=M) and checks there, for
// every data-page clock, that the timens variant equals the kernel's clocks
// within the accuracy bound, that the host variant is off by exactly the
// namespace's offsets for MONOTONIC, MONOTONIC_RAW, MONOTONIC_COARSE and
// BOOTTIME and not at all for REALTIME, REALTIME_COARSE and TAI, and that
// Start chose the timens variant on its own.
func TestTimeNamespace(t *testing.T) {
	if timenstest.InChild() {
		timensChild(t)
		return
	}
	timenstest.Run(t, "TestTimeNamespace", nsMono, nsBoot, "-test.short")
}

func timensChild(t *testing.T) {
	needKernelVDSO(t)
	offs, err := vvar.ReadTimensOffsets()
	if err != nil {
		t.Fatal(err)
	}
	if offs.Monotonic != (vvar.TimensOffset{Sec: nsMono}) || offs.Boottime != (vvar.TimensOffset{Sec: nsBoot}) {
		t.Fatalf("not in the expected namespace: offsets %+v", offs)
	}
	if err := Start(Options{}); err != nil {
		t.Fatalf("Start: %v", err)
	}
	defer Stop()
	if Current() != Timens {
		t.Fatalf("Start chose %v in a time namespace", Current())
	}
	offset := map[int32]int64{
		unix.CLOCK_MONOTONIC: nsMono * 1e9, unix.CLOCK_MONOTONIC_RAW: nsMono * 1e9,
		unix.CLOCK_MONOTONIC_COARSE: nsMono * 1e9, unix.CLOCK_BOOTTIME: nsBoot * 1e9,
	}
	for c := int32(0); c < vvar.NumClocks; c++ {
		want := vvar.TimensOffset{}
		if c == vvar.ClockBoottimeAlarm {
			want.Sec = nsBoot
		} else {
			want.Sec = offset[c] / 1e9
		}
		if got := vdsoTimens.Offsets[c]; got != want {
			t.Errorf("timens page slot %d = %+v, want %+v", c, got, want)
		}
	}
	time.Sleep(300 * time.Millisecond)

	// Host off by exactly the offset: h1 <= timens - offset <= h2 for
	// host reads h1 before and h2 after. Not for the coarse clocks: past
	// CoarseTSC the host image asks the kernel, which answers in the
	// namespace's time; the timens image's coarse values must be the
	// kernel's, exactly.
	for i := 0; i < 20000; i++ {
		for _, c := range dataPageClocks {
			if isCoarse(c) {
				var k1, k2 unix.Timespec
				var v Timespec
				unix.ClockGettime(c, &k1)
				clock_gettime_timens(c, &v)
				unix.ClockGettime(c, &k2)
				if v.Nano() < k1.Nano() || v.Nano() > k2.Nano() {
					t.Fatalf("%s: timens %d, kernel %d before and %d after", clockNames[c], v.Nano(), k1.Nano(), k2.Nano())
				}
				continue
			}
			var h1, v, h2 Timespec
			clock_gettime_host(c, &h1)
			clock_gettime_timens(c, &v)
			clock_gettime_host(c, &h2)
			if x := v.Nano() - offset[c]; x < h1.Nano() || x > h2.Nano() {
				t.Fatalf("%s: timens %d - offset %d = %d, host read %d before and %d after", clockNames[c], v.Nano(), offset[c], x, h1.Nano(), h2.Nano())
			}
		}
	}
	// The API's functions take the timens variant.
	for _, c := range dataPageClocks {
		var k1, k2 unix.Timespec
		unix.ClockGettime(c, &k1)
		ts, err := ClockGettime(c)
		unix.ClockGettime(c, &k2)
		if err != nil || ts.Nano() < k1.Nano() || ts.Nano() > k2.Nano() {
			t.Errorf("ClockGettime(%s) = %v, %v; kernel %v before, %v after", clockNames[c], ts, err, k1, k2)
		}
	}

	// Timens variant against the kernel's clocks in the namespace, and
	// host variant against the kernel's minus the offsets.
	rows := measureAccuracy(t, time.Second, 20*time.Microsecond, []struct {
		name    string
		fn      clockFunc
		offsets map[int32]int64
	}{
		{"timens", clock_gettime_timens, nil},
		{"host", clock_gettime_host, offset},
	})
	t.Logf("in a time namespace (monotonic %d s, boottime %d s); host compared with the kernel minus the offsets", nsMono, nsBoot)
	checkAccuracy(t, rows)
	// And without subtracting: the host variant is off by the offset.
	for _, c := range dataPageClocks {
		if isCoarse(c) {
			continue // past CoarseTSC the host image answers in namespace time
		}
		var k unix.Timespec
		var h Timespec
		unix.ClockGettime(c, &k)
		clock_gettime_host(c, &h)
		if d := k.Nano() - h.Nano() - offset[c]; abs(d) > int64(time.Millisecond) {
			t.Errorf("%s: kernel - host = %d, want the offset %d", clockNames[c], k.Nano()-h.Nano(), offset[c])
		}
	}
}
