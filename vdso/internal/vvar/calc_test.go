package vvar

import (
	"math"
	"math/rand/v2"
	"testing"
)

// A synthetic 2.1 GHz TSC: fixed-point ns per cycle.
var testRate = 1e9 / 2.1e9 * (1 << ClockShift)

func testConfig(r float64) calcConfig {
	cyclesPerNs := (1 << ClockShift) / r
	return calcConfig{
		interval: 100e6 * cyclesPerNs,
		maxSlew:  500e-6,
		stepThr:  1_000_000 << ClockShift,
		maxErr:   20_000_000 << ClockShift,
		margin:   uint64(marginNs * cyclesPerNs),
	}
}

func initialParams(tsc uint64) Params {
	v := Params{Mode: ModeTSC, Version: Version, Shift: ClockShift, Mult: uint64(testRate), TSCBase: tsc, HresRes: 1, CoarseRes: 4e6}
	secs := [NumClocks]uint64{1_790_000_000, 3_700, 0, 0, 3_699, 1_790_000_000, 3_700, 3_750, 0, 0, 0, 1_790_000_037}
	for _, c := range append(hresClocks[:], coarseClocks[:]...) {
		v.Base[c] = Base{Sec: secs[c], Snsec: uint64(123456789+c) << ClockShift}
	}
	return v
}

// sampleOf makes a kernel sample of clock c taken at tsc whose value differs
// from what p gives there by errNs.
func sampleOf(p *Params, c int, tsc uint64, errNs float64) sample {
	v := valueAt(p, c, tsc).add(int64(errNs * (1 << ClockShift)))
	return sample{ok: true, tsc: tsc, width: 2500, sec: v.sec, nsec: int64(v.snsec >> ClockShift)}
}

// checkContinuity reads the old and the new page through the oracle at TSC
// values around the switch point: a reader later in time (larger or equal
// TSC) on the new parameters never sees less than one on the old.
func checkContinuity(t *testing.T, old, np *Params, w uint64, margin uint64, skip [NumClocks]bool) {
	t.Helper()
	var po, pn Page
	po.Store(*old)
	pn.Store(*np)
	ts := []uint64{old.TSCBase, w - 1_000_000, w - 1, w, w + 1, w + margin/3, w + margin - 1, w + margin}
	for _, c := range hresClocks {
		if skip[c] {
			continue
		}
		for _, t1 := range ts {
			s1, n1, _ := po.Read(c, t1)
			for _, t2 := range ts {
				if t2 < t1 {
					continue
				}
				s2, n2, _ := pn.Read(c, t2)
				if s2 < s1 || s2 == s1 && n2 < n1 {
					t.Fatalf("clock %d went backwards across the switch: old(%d)=%d.%09d > new(%d)=%d.%09d", c, t1-w, s1, n1, t2-w, s2, n2)
				}
			}
		}
	}
	for c := range np.Base {
		if np.Base[c].Snsec >= sNsecPerSec {
			t.Fatalf("clock %d: Snsec %d not normalised", c, np.Base[c].Snsec)
		}
	}
	if np.Mult == 0 || np.Mult >= 1<<32 {
		t.Fatalf("Mult %d out of range", np.Mult)
	}
}

// TestNextParamsContinuity throws random errors (both signs, small and
// large) and random rate estimates at nextParams and checks the continuity
// rule on every switch through the reference reader.
func TestNextParamsContinuity(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	cfg := testConfig(testRate)
	old := initialParams(1 << 40)
	counts := map[int]int{}
	for iter := 0; iter < 20000; iter++ {
		w := old.TSCBase + uint64(rng.Float64()*4.2e8) // up to 200 ms
		r := rates{mono: testRate * (1 + rng.NormFloat64()*1e-5), raw: testRate * (1 + rng.NormFloat64()*1e-5)}
		var s [NumClocks]sample
		for _, c := range hresClocks {
			var e float64
			switch x := rng.IntN(100); {
			case x < 70:
				e = rng.NormFloat64() * 300
			case x < 90:
				e = rng.NormFloat64() * 50_000
			case x < 95:
				e = (rng.Float64()*2 - 1) * 19e6 // up to the anomaly limit
			case x < 98:
				e = (rng.Float64()*2 - 1) * 100e9 // settable clocks: set; monotonic: forward step or anomaly
			default:
				s[c] = sample{} // rejected bracket
				counts[-1]++
				continue
			}
			s[c] = sampleOf(&old, c, w-uint64(rng.IntN(50_000)), e)
		}
		for _, c := range coarseClocks {
			s[c] = sampleOf(&old, c, w, rng.NormFloat64()*4e6)
		}
		np, res := nextParams(old, w, &s, r, cfg)
		if res.anomaly != nil {
			counts[actAnomaly]++
			if np.Mode != ModeInvalid {
				t.Fatal("anomaly left the page valid")
			}
			continue
		}
		var skip [NumClocks]bool
		for _, c := range hresClocks {
			a := res.clocks[c].action
			counts[a]++
			skip[c] = a == actSet
			switch a {
			case actStep, actSet:
				// The page now says what the kernel said at w, to the rounding of
				// the extrapolation from the sample (< 1 ns) plus the margin term.
				k := s[c].stime().add(int64(math.Round(float64(w-s[c].tsc) * r.of(c))))
				d, _ := sub(stime{int64(np.Base[c].Sec), np.Base[c].Snsec}, k)
				if extra := float64(cfg.margin) * math.Max(0, float64(old.Mult)-float64(np.Mult)); float64(d) < -1 || float64(d) > extra+1 {
					t.Fatalf("clock %d stepped to %v ns off the kernel", c, float64(d)/(1<<ClockShift))
				}
			}
		}
		checkContinuity(t, &old, &np, w, cfg.margin, skip)
		if mono := res.clocks[ClockMonotonicCoarse]; np.Base[ClockMonotonicCoarse].Sec < old.Base[ClockMonotonicCoarse].Sec ||
			np.Base[ClockMonotonicCoarse].Sec == old.Base[ClockMonotonicCoarse].Sec && np.Base[ClockMonotonicCoarse].Snsec < old.Base[ClockMonotonicCoarse].Snsec {
			t.Fatalf("MONOTONIC_COARSE went backwards (%+v)", mono)
		}
		old = np
	}
	t.Logf("actions over 20000 switches: step %d, slew %d, set %d, skip %d, anomaly %d", counts[actStep], counts[actSlew], counts[actSet], counts[-1], counts[actAnomaly])
	if counts[actSlew] == 0 || counts[actStep] == 0 || counts[actSet] == 0 || counts[actAnomaly] == 0 {
		t.Fatal("some path was never taken")
	}
}

// TestNextParamsTracksKernel simulates kernel clocks running at rates
// slightly different from the estimates (and MONOTONIC 20 ppm faster than
// MONOTONIC_RAW, as NTP makes it on a host whose crystal is 20 ppm slow),
// with sampling noise, full refreshes every 100 ms and ticks every 4 ms, and
// checks that the page follows the kernel closely without going backwards.
func TestNextParamsTracksKernel(t *testing.T) {
	for _, ticks := range []bool{false, true} {
		worst := trackKernel(t, ticks)
		for _, c := range hresClocks {
			t.Logf("ticks=%v clock %2d: worst |page - kernel| %4.0f ns", ticks, c, worst[c])
		}
		// 2 ppm rate error x 100 ms = 200 ns, noise 100 ns (sigma) on each
		// sample, and the shared Mult: 20 ppm x 100 ms = 2 us without ticks,
		// 20 ppm x 4 ms = 80 ns with.
		limit := 3000.0
		if ticks {
			limit = 800
		}
		for _, c := range hresClocks {
			if worst[c] > limit {
				t.Errorf("ticks=%v: clock %d strayed %.0f ns from the kernel", ticks, c, worst[c])
			}
		}
	}
}

func trackKernel(t *testing.T, ticks bool) map[int]float64 {
	rng := rand.New(rand.NewPCG(3, 4))
	const hz = 2.1                // GHz
	trueRate := map[int]float64{} // ns per cycle
	for _, c := range hresClocks {
		trueRate[c] = 1 / hz
	}
	trueRate[ClockMonotonicRaw] = 1 / hz * (1 - 20e-6)
	startSec := map[int]int64{ClockRealtime: 1_790_000_000, ClockMonotonic: 3700, ClockMonotonicRaw: 3600, ClockBoottime: 3800, ClockTAI: 1_790_000_037}
	t0 := uint64(1 << 40)
	kernel := func(c int, tsc uint64) (int64, int64) {
		ns := float64(tsc-t0) * trueRate[c]
		whole := int64(ns)
		return startSec[c] + whole/1e9, whole % 1e9
	}
	cfg := testConfig(testRate)
	var s [NumClocks]sample
	samp := func(tsc uint64) {
		for _, c := range hresClocks {
			at := tsc + uint64(rng.IntN(1000))
			noise := int64(rng.NormFloat64() * 100 * hz) // 100 ns of placement error
			sec, nsec := kernel(c, at)
			s[c] = sample{ok: true, tsc: uint64(int64(at) + noise), width: 2500, sec: sec, nsec: nsec}
		}
		s[ClockRealtimeCoarse] = sample{ok: true}
		s[ClockRealtimeCoarse].sec, s[ClockRealtimeCoarse].nsec = kernel(ClockRealtime, tsc)
		s[ClockMonotonicCoarse] = sample{ok: true}
		s[ClockMonotonicCoarse].sec, s[ClockMonotonicCoarse].nsec = kernel(ClockMonotonic, tsc)
	}
	// Estimates 2 ppm off the truth, as after a short calibration.
	r := rates{mono: trueRate[ClockMonotonic] * (1 << ClockShift) * (1 + 2e-6), raw: trueRate[ClockMonotonicRaw] * (1 << ClockShift) * (1 - 2e-6)}
	samp(t0)
	w := t0 + 5000
	p, res := nextParams(Params{}, w, &s, r, cfg)
	if res.anomaly != nil || !res.fresh {
		t.Fatalf("init: %v", res.anomaly)
	}
	var page Page
	worst := map[int]float64{}
	lastSec, lastNsec := map[int]int64{}, map[int]int64{}
	const tick = 4_000_000 * hz // cycles
	now := w
	for i := 1; i <= 15000; i++ { // 60 s
		page.Store(p)
		for j := 0; j < 4; j++ {
			tsc := now + uint64(j)*uint64(tick/4)
			for _, c := range hresClocks {
				sec, nsec, _ := page.Read(c, tsc)
				ks, kn := kernel(c, tsc)
				worst[c] = math.Max(worst[c], math.Abs(float64(sec-ks)*1e9+float64(nsec-kn)))
				if sec < lastSec[c] || sec == lastSec[c] && nsec < lastNsec[c] {
					t.Fatalf("clock %d went backwards", c)
				}
				lastSec[c], lastNsec[c] = sec, nsec
			}
		}
		nw := now + uint64(tick) + uint64(rng.IntN(200_000))
		now = nw
		full := i%25 == 0
		if !full && !ticks {
			continue
		}
		if full {
			samp(nw - 20_000)
		}
		old := p
		p, res = nextParams(old, nw, &s, r, cfg)
		if res.anomaly != nil {
			t.Fatal(res.anomaly)
		}
		checkContinuity(t, &old, &p, nw, cfg.margin, [NumClocks]bool{})
		w = nw
	}
	return worst
}
