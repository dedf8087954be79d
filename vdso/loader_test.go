package vdso

import (
	"bytes"
	"errors"
	"math"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/vdsogen/vdsogen/internal/elfimage"
	"github.com/vdsogen/vdsogen/vdso/internal/vvar"
	"github.com/vdsogen/vdsogen/vdso/loader"
)

// ldEntries are the entries of the kernel's x86-64 vDSO.
var ldEntries = []string{"clock_gettime", "gettimeofday", "time", "clock_getres"}

func ldLoad(t *testing.T, variant string, entries ...string) *loader.Image {
	t.Helper()
	im, err := loader.Load(ELFImages(), Layout(), variant, loader.Options{Entries: entries})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { im.Close() })
	return im
}

// manualTimekeeper starts a timekeeper on a loaded image's pages, driven
// from the calling goroutine, with the collector off: a seqlock writer
// stopped while the sequence is odd (by a stop-the-world, say) would leave
// readers spinning inside the routine, where the runtime cannot preempt
// them, and the world could then never stop. It skips the test where the
// TSC is unusable. Call stop (deferred) before closing the image.
func manualTimekeeper(t *testing.T, im *loader.Image) (page *vvar.Page, tn *vvar.TimensPage, tk *vvar.Timekeeper, stop func()) {
	t.Helper()
	page, tn = ldPages(t, im)
	gc := debug.SetGCPercent(-1)
	tk, err := vvar.Start(page, tn, vvar.Options{Manual: true})
	if err != nil {
		debug.SetGCPercent(gc)
		var tscErr *vvar.TSCError
		if errors.As(err, &tscErr) {
			t.Skipf("no usable TSC: %v", err)
		}
		t.Fatal(err)
	}
	return page, tn, tk, func() {
		tk.Stop()
		debug.SetGCPercent(gc)
	}
}

func ldPages(t testing.TB, im *loader.Image) (*vvar.Page, *vvar.TimensPage) {
	t.Helper()
	d, err := im.Page("vdsoData")
	if err != nil {
		t.Fatal(err)
	}
	tn, err := im.Page("vdsoTimens")
	if err != nil {
		t.Fatal(err)
	}
	return (*vvar.Page)(d), (*vvar.TimensPage)(tn)
}

func ldEntry(t *testing.T, im *loader.Image, name string) uintptr {
	t.Helper()
	fn, err := im.Entry(name)
	if err != nil {
		t.Fatal(err)
	}
	return fn
}

// ldClock calls fn, a loaded entry shaped as clock_gettime(clockid, ts),
// as the generated stubs are called.
func ldClock(fn uintptr) clockFunc {
	return func(clock int32, ts *Timespec) int32 {
		return int32(loader.CallIP(fn, uintptr(uint32(clock)), unsafe.Pointer(ts)))
	}
}

// TestELFImagesCheck: the committed images pass the checker, define the
// kernel's symbols, and place the pages as documented.
func TestELFImagesCheck(t *testing.T) {
	imgs := ELFImages()
	if len(imgs) != 2 || imgs["host"] == nil || imgs["timens"] == nil {
		t.Fatalf("images %v", imgs)
	}
	if err := elfimage.CheckSame(imgs); err != nil {
		t.Fatal(err)
	}
	for v, b := range imgs {
		for _, e := range Layout().Variants[0].Entries {
			for _, name := range []string{"__vdso_" + e.Name, e.Name} {
				if _, err := elfimage.Lookup(b, name, "LINUX_2.6"); err != nil {
					t.Errorf("%s: %s: %v", v, name, err)
				}
			}
		}
		if readelf, err := exec.LookPath("readelf"); err == nil {
			out, err := exec.Command(readelf, "-a", "-W", "zclock_"+v+".so").CombinedOutput()
			if err != nil || bytes.Contains(bytes.ToLower(out), []byte("warning")) || bytes.Contains(bytes.ToLower(out), []byte("error")) {
				t.Errorf("readelf -a zclock_%s.so: %v\n%s", v, err, out)
			}
		} else {
			t.Log("readelf not found (install binutils): not run")
		}
		pages, prog, variant, err := elfimage.Pages(b)
		if err != nil || prog != "clock" || variant != v || len(pages) != 2 ||
			pages[0] != (elfimage.Page{Symbol: "vdsoData", Index: 2, Size: vvar.PageSize}) ||
			pages[1] != (elfimage.Page{Symbol: "vdsoTimens", Index: 1, Size: vvar.PageSize}) {
			t.Errorf("%s: pages %+v %q %q %v", v, pages, prog, variant, err)
		}
	}
}

// TestLoaderMatchesStubs: every entry of every image, resolved through the
// mapped image's hash tables and version, called from Go, returns what the
// stub of the same variant returns, for every clock id. The pages hold
// parameters with Mult 0, so that values do not depend on when they are
// read; the stubs read the package's pages, the images the loader's.
func TestLoaderMatchesStubs(t *testing.T) {
	params := vvar.Params{Mode: vvar.ModeTSC, Version: vvar.Version, Shift: vvar.ClockShift, Mult: 0, TSCBase: 1, HresRes: 1, CoarseRes: 4000000, MaxDelta: ^uint64(0)}
	for c := range params.Base {
		params.Base[c] = vvar.Base{Sec: uint64(1_000_000 + 1000*c), Snsec: uint64(123_456_789+c) << vvar.ClockShift}
	}
	var offs vvar.TimensPage
	offs.Offsets[vvar.ClockMonotonic] = vvar.TimensOffset{Sec: 5000, Nsec: 999_999_999}
	offs.Offsets[vvar.ClockBoottime] = vvar.TimensOffset{Sec: -7, Nsec: 1}
	savedData, savedTimens := vdsoData.Load(), vdsoTimens
	defer func() { vdsoData.Store(savedData); vdsoTimens = savedTimens }()
	vdsoData.Store(params)
	vdsoTimens = offs

	ids := []int32{-1, math.MinInt32, math.MaxInt32, 12, 100}
	for c := int32(0); c < vvar.NumClocks; c++ {
		ids = append(ids, c)
	}
	stubs := map[string]struct {
		gettime, getres func(int32, *Timespec) int32
		gtod            func(*Timeval, unsafe.Pointer) int32
		time            func(*int64) int64
	}{
		"host":   {clock_gettime_host, clock_getres_host, gettimeofday_host, time_host},
		"timens": {clock_gettime_timens, clock_getres_timens, gettimeofday_timens, time_timens},
	}
	for _, v := range []string{"host", "timens"} {
		im := ldLoad(t, v)
		page, tn := ldPages(t, im)
		page.Store(params)
		*tn = offs
		s := stubs[v]

		// A parse_vdso-style lookup on the mapped bytes finds every name
		// through both hash tables, at the address Entry gives.
		r, err := elfimage.NewResolver(im.Mapped())
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range Layout().Variants[0].Entries {
			want := ldEntry(t, im, e.Name)
			for _, name := range []string{"__vdso_" + e.Name, e.Name} {
				for how, look := range map[string]func(string, string) (elfimage.Symbol, error){"gnu": r.LookupGNU, "sysv": r.LookupSysV} {
					sym, err := look(name, "LINUX_2.6")
					if err != nil || im.Base()+uintptr(sym.Value) != want {
						t.Errorf("%s: %s through %s: %+v %v", v, name, how, sym, err)
					}
				}
			}
		}

		for _, entry := range []string{"clock_gettime", "clock_gettime_tl", "clock_getres"} {
			fn := ldEntry(t, im, entry)
			stub := s.gettime
			switch entry {
			case "clock_getres":
				stub = s.getres
			case "clock_gettime_tl":
				stub = map[string]func(int32, *Timespec) int32{"host": clock_gettime_tl_host, "timens": clock_gettime_tl_timens}[v]
			}
			for _, id := range ids {
				var a, b Timespec
				ra := int32(loader.CallIP(fn, uintptr(uint32(id)), unsafe.Pointer(&a)))
				rb := stub(id, &b)
				// Ids served by the system call: CPU-time clocks move, so
				// only the result code must agree.
				if ra != rb || (vvar.IsDataPageClock(int(id)) || entry == "clock_getres") && a != b {
					t.Errorf("%s %s(%d): loader %d %+v, stub %d %+v", v, entry, id, ra, a, rb, b)
				}
			}
		}
		var tva, tvb Timeval
		ra := int32(loader.CallPP(ldEntry(t, im, "gettimeofday"), unsafe.Pointer(&tva), nil))
		rb := s.gtod(&tvb, nil)
		if ra != rb || tva != tvb {
			t.Errorf("%s gettimeofday: loader %d %+v, stub %d %+v", v, ra, tva, rb, tvb)
		}
		var tz [2]int32
		ra = int32(loader.CallPP(ldEntry(t, im, "gettimeofday"), unsafe.Pointer(&tva), unsafe.Pointer(&tz)))
		if rb = s.gtod(&tvb, unsafe.Pointer(&tz)); ra != rb {
			t.Errorf("%s gettimeofday with tz: loader %d, stub %d", v, ra, rb)
		}
		var ta, tb int64
		if a, b := int64(loader.CallPP(ldEntry(t, im, "time"), unsafe.Pointer(&ta), nil)), s.time(&tb); a != b || ta != tb {
			t.Errorf("%s time: loader %d %d, stub %d %d", v, a, ta, b, tb)
		}
		if a := int64(loader.CallPP(ldEntry(t, im, "time"), nil, nil)); a != tb {
			t.Errorf("%s time(NULL) = %d, want %d", v, a, tb)
		}
	}
}

// TestLoaderSwitchRefused: host and timens differ in a three-label region
// (clock_gettime_tl): an image with every entry cannot switch.
func TestLoaderSwitchRefused(t *testing.T) {
	im := ldLoad(t, "host")
	err := im.Switch("timens")
	if err == nil || !strings.Contains(err.Error(), "clock_gettime_tl") || !strings.Contains(err.Error(), "three_label") {
		t.Fatalf("Switch = %v, want a refusal naming the three-label region of clock_gettime_tl", err)
	}
	if im.Variant() != "host" {
		t.Errorf("variant %s after a refused switch", im.Variant())
	}
	if err := ldLoad(t, "host", ldEntries...).SwapSafe("host", "timens"); err != nil {
		t.Errorf("without clock_gettime_tl: %v", err)
	}
	if _, err := loader.Load(ELFImages(), Layout(), "nomarker", loader.Options{}); err == nil {
		t.Error("the standalone variant loaded")
	}
}

// TestLoaderSwitchTorture: readers on every CPU call clock_gettime
// (MONOTONIC) of a loaded image in a loop while it is switched between
// host and timens thousands of times. No crash; every value is the
// kernel's clock (host) or the kernel's clock plus the namespace offset
// (timens), within the timekeeper's tolerance of a bracket of system
// calls; and per reader, each variant's values never go backwards.
//
// It runs once per choice of the "tsc" alternative: the switch must keep
// the applied choice (checked after the last switch).
func TestLoaderSwitchTorture(t *testing.T) {
	for _, choice := range tscChoices {
		t.Run(choice, func(t *testing.T) { switchTorture(t, choice) })
	}
}

func switchTorture(t *testing.T, choice string) {
	im, err := loader.Load(ELFImages(), Layout(), "host", choiceOptions(t, choice, ldEntries...))
	if err != nil {
		t.Fatal(err)
	}
	defer im.Close()
	_, tn, tk, stopTimekeeper := manualTimekeeper(t, im)
	defer stopTimekeeper()
	const offset = 1000 * time.Second
	tn.Offsets[vvar.ClockMonotonic] = vvar.TimensOffset{Sec: int64(offset / time.Second)}

	const tol = 50 * time.Microsecond
	fn := ldEntry(t, im, "clock_gettime")
	switches := 3000
	if testing.Short() {
		switches = 300
	}
	readers := runtime.GOMAXPROCS(0)
	var work stress
	// Deferred after im.Close and stopTimekeeper, so it runs before them:
	// whatever ends the test (t.Fatal included), the readers have left the
	// image before it is unmapped, and a failure is reported, not a crash.
	defer work.halt()
	counts := make([][2]int, readers)
	for r := range readers {
		work.run(func() {
			last := [2]time.Duration{-1 << 62, -1 << 62}
			for !work.stopped() {
				var kb, ka unix.Timespec
				var ts Timespec
				unix.ClockGettime(unix.CLOCK_MONOTONIC, &kb)
				ret := int32(loader.CallIP(fn, unix.CLOCK_MONOTONIC, unsafe.Pointer(&ts)))
				unix.ClockGettime(unix.CLOCK_MONOTONIC, &ka)
				v, lo, hi := ts.dur(), time.Duration(kb.Nano())-tol, time.Duration(ka.Nano())+tol
				which := -1
				switch {
				case ret != 0:
				case v >= lo && v <= hi:
					which = 0
				case v-offset >= lo && v-offset <= hi:
					which = 1
				}
				if which < 0 {
					work.fail("reader %d: value %v is neither variant's: kernel bracket [%v, %v], ret %d", r, v, lo, hi, ret)
					return
				}
				if v < last[which] {
					work.fail("reader %d: variant %s: MONOTONIC went back from %v to %v", r, []string{"host", "timens"}[which], last[which], v)
					return
				}
				last[which] = v
				counts[r][which]++
			}
		})
	}
	start := time.Now()
	for i := range switches {
		if err := im.Switch([]string{"timens", "host"}[i%2]); err != nil {
			t.Fatal(err)
		}
		if i%64 == 0 {
			if err := tk.Refresh(); err != nil {
				t.Fatal(err)
			}
		}
	}
	el := time.Since(start)
	work.check(t)
	for _, v := range []string{"host", "timens"} {
		if err := im.Switch(v); err != nil {
			t.Fatal(err)
		}
		if got := im.Choices()["tsc"]; got != choice {
			t.Errorf("after switching to %s: tsc = %s, want %s", v, got, choice)
		}
		checkTSCSites(t, im, v, choice)
	}
	t.Logf("%d switches in %v (%v each); %d readers, reads [host timens]: %v", switches, el, el/time.Duration(switches), readers, counts)
}
