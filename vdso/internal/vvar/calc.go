package vvar

import (
	"fmt"
	"math"
)

// This file computes the next page parameters from the current ones and a
// set of kernel samples. It is pure (no clocks, no page) so that it can be
// tested deterministically; timekeeper.go feeds it.

// sNsecPerSec is one second in the page's fixed-point nanoseconds.
const sNsecPerSec = uint64(nsecPerSec) << ClockShift

// maxDiffSec bounds the clock differences handled in fixed point:
// 256 s << 24 plus a second fits an int64 comfortably.
const maxDiffSec = 256

// stime is an instant on a clock in the page's fixed-point form.
type stime struct {
	sec   int64
	snsec uint64 // < sNsecPerSec
}

// add returns t + d, d in fixed-point nanoseconds, |d| < 2^62.
func (t stime) add(d int64) stime {
	tot := int64(t.snsec) + d
	q, r := tot/int64(sNsecPerSec), tot%int64(sNsecPerSec)
	if r < 0 {
		r += int64(sNsecPerSec)
		q--
	}
	return stime{t.sec + q, uint64(r)}
}

func (t stime) less(u stime) bool {
	return t.sec < u.sec || t.sec == u.sec && t.snsec < u.snsec
}

// sub returns a - b in fixed-point nanoseconds; ok is false when the two are
// more than maxDiffSec seconds apart.
func sub(a, b stime) (d int64, ok bool) {
	ds := a.sec - b.sec
	if ds > maxDiffSec || ds < -maxDiffSec {
		return 0, false
	}
	return ds*int64(sNsecPerSec) + int64(a.snsec) - int64(b.snsec), true
}

func (t stime) base() Base { return Base{Sec: uint64(t.sec), Snsec: t.snsec} }

// valueAt is what a reader computes from p for clock c at TSC tsc, before the
// truncation to nanoseconds (p.Shift must be ClockShift). Truncating it gives
// exactly Page.Read's result: sNsecPerSec is a multiple of 1<<Shift.
func valueAt(p *Params, c int, tsc uint64) stime {
	delta := tsc - p.TSCBase
	if int64(delta) < 0 || IsCoarseClock(c) {
		delta = 0
	}
	tot := p.Base[c].Snsec + delta*p.Mult
	return stime{int64(p.Base[c].Sec) + int64(tot/sNsecPerSec), tot % sNsecPerSec}
}

// sample is one kernel reading of a clock, already moved to the root time
// namespace.
type sample struct {
	ok    bool
	tsc   uint64 // midpoint of the tightest RDTSC bracket
	width uint64 // its width in cycles
	sec   int64
	nsec  int64
}

func (s sample) stime() stime {
	return stime{s.sec, uint64(s.nsec) << ClockShift}
}

// rates are the kernel clocks' rates against the TSC in fixed-point
// nanoseconds per cycle: mono for REALTIME, MONOTONIC, BOOTTIME and TAI (the
// kernel derives all four from one timekeeper, so they share its NTP-adjusted
// rate), raw for MONOTONIC_RAW.
type rates struct{ mono, raw float64 }

func (r rates) of(c int) float64 {
	if c == ClockMonotonicRaw {
		return r.raw
	}
	return r.mono
}

type calcConfig struct {
	interval float64 // expected cycles to the next refresh
	maxSlew  float64 // largest relative slow-down used to absorb an error
	stepThr  int64   // settable clocks: errors beyond this are kernel steps (fixed point)
	maxErr   int64   // monotonic clocks ahead by more than this: anomaly (fixed point)
	margin   uint64  // cycles a reader's RDTSC may trail its last load of Seq
}

// Per-clock actions, for Stats.
const (
	actNone = iota
	actInit
	actStep    // behind the kernel: moved forward to it
	actSlew    // ahead of the kernel: kept continuous, slowed down
	actSet     // REALTIME/TAI set by someone: followed the kernel
	actSkip    // no usable sample this time: continued unchanged
	actAnomaly // monotonic clock far ahead of the kernel
)

type clockResult struct {
	err    float64 // kernel minus page at the switch point, ns
	action int
}

type calcResult struct {
	fresh   bool
	anomaly error
	clocks  [NumClocks]clockResult
}

var (
	hresClocks = [...]int{ClockRealtime, ClockMonotonic, ClockMonotonicRaw, ClockBoottime, ClockTAI}
	// MONOTONIC_COARSE first: the timekeeper reads them in this order, so
	// that a kernel tick between the two reads leaves REALTIME_COARSE newer
	// than MONOTONIC_COARSE, whose value CoarseTSC is computed from (see
	// coarseDeadline), never older.
	coarseClocks = [...]int{ClockMonotonicCoarse, ClockRealtimeCoarse}
)

// nextParams computes the parameters to publish at switch point w, a TSC
// value read after the sequence was made odd (so every reader that used the
// old parameters read its TSC before w + cfg.margin).
//
// Continuity rule: for every high-resolution clock c that is not a settable
// clock following a kernel step, the new value at any TSC T in
// [w, w + margin] is at least the old value at T. Since new(T) - old(T) =
// (Base'c - old_c(w)) + (T - w)(Mult' - Mult), it suffices that
// Base'c >= old_c(w) + margin*max(0, Mult - Mult'). Readers with T < w see
// Base'c (delta clamps to 0), which is >= old_c(w) >= old_c(T). So no
// reader's value goes backwards across the switch.
//
// Error correction, per clock, with e = kernel(w) - old(w):
//   - 0 <= e <= stepThr (behind): Base'c = kernel(w), a forward step of e.
//   - -maxErr <= e < 0 (ahead): Base'c = old(w); the clock asks for
//     rate + e/interval (at most maxSlew slower), so that it meets the kernel
//     at the next refresh instead of stepping back.
//   - REALTIME/TAI with |e| > stepThr: the clock was set; follow the kernel,
//     backwards included, as its own readers see.
//   - monotonic clocks with e > stepThr (BOOTTIME after a suspend, a refresh
//     delayed for very long): forward step.
//   - monotonic clocks with e < -maxErr: the TSC did something the kernel's
//     clocksource did not; anomaly, the page is invalidated.
//
// Mult is shared, so Mult' = floor(min over clocks of the rate they ask for):
// no clock ever needs to step back, and clocks that asked for more fall a
// little behind by the next refresh, where they step forward again.
func nextParams(old Params, w uint64, s *[NumClocks]sample, r rates, cfg calcConfig) (Params, calcResult) {
	var res calcResult
	np := old
	np.Version = Version
	np.Shift = ClockShift
	np.TSCBase = w
	np.Mode = ModeInvalid
	fresh := old.Mode != ModeTSC || old.Shift != ClockShift || old.Mult == 0
	res.fresh = fresh
	if !(r.mono > 0 && r.raw > 0) || math.IsInf(r.mono, 0) || math.IsInf(r.raw, 0) {
		res.anomaly = fmt.Errorf("vvar: no TSC rate")
		return np, res
	}
	kernelAt := func(c int) stime {
		d := float64(int64(w-s[c].tsc)) * r.of(c)
		return s[c].stime().add(int64(math.Round(d)))
	}

	var oldv [NumClocks]stime
	setStep := [NumClocks]bool{}
	desired := math.Inf(1)
	for _, c := range hresClocks {
		rate := r.of(c)
		if fresh {
			if !s[c].ok {
				res.anomaly = fmt.Errorf("vvar: no sample of clock %d", c)
				return np, res
			}
			np.Base[c] = kernelAt(c).base()
			res.clocks[c].action = actInit
			desired = math.Min(desired, rate)
			continue
		}
		oldv[c] = valueAt(&old, c, w)
		if !s[c].ok {
			np.Base[c] = oldv[c].base()
			res.clocks[c].action = actSkip
			desired = math.Min(desired, rate)
			continue
		}
		k := kernelAt(c)
		e, inRange := sub(k, oldv[c])
		settable := c == ClockRealtime || c == ClockTAI
		want := rate
		var act int
		switch {
		case inRange && e >= 0 && e <= cfg.stepThr:
			act = actStep
		case inRange && e < 0 && e >= -cfg.maxErr && (!settable || e >= -cfg.stepThr):
			act = actSlew
			want = math.Max(rate+float64(e)/cfg.interval, rate*(1-cfg.maxSlew))
		case settable:
			act = actSet
			setStep[c] = true
		case oldv[c].less(k):
			act = actStep
		default:
			res.clocks[c] = clockResult{err: fixedToNs(e, inRange, k, oldv[c]), action: actAnomaly}
			res.anomaly = fmt.Errorf("vvar: clock %d is %.0f ns ahead of the kernel", c, -res.clocks[c].err)
			return np, res
		}
		if act == actSlew {
			np.Base[c] = oldv[c].base()
		} else {
			np.Base[c] = k.base()
		}
		res.clocks[c] = clockResult{err: fixedToNs(e, inRange, k, oldv[c]), action: act}
		desired = math.Min(desired, want)
	}
	mult := math.Floor(desired)
	if !(mult >= 1 && mult < 1<<32) {
		res.anomaly = fmt.Errorf("vvar: multiplier %g out of range", desired)
		return np, res
	}
	np.Mult = uint64(mult)
	np.MaxDelta = MaxDeltaFor(np.Mult)

	// Keep readers whose RDTSC trailed their last Seq load continuous too.
	if !fresh && old.Mult > np.Mult {
		extra := cfg.margin * (old.Mult - np.Mult)
		if extra > 1<<61 || cfg.margin > 1<<32 {
			extra = 1 << 61
		}
		for _, c := range hresClocks {
			if setStep[c] {
				continue
			}
			lb := oldv[c].add(int64(extra))
			if cur := (stime{int64(np.Base[c].Sec), np.Base[c].Snsec}); cur.less(lb) {
				np.Base[c] = lb.base()
			}
		}
	}

	// The coarse clocks move together (one kernel tick advances both) and
	// CoarseTSC is computed from MONOTONIC_COARSE: both samples or neither.
	coarseOK := true
	for _, c := range coarseClocks {
		coarseOK = coarseOK && s[c].ok
	}
	// A MONOTONIC_COARSE sample older than the page's: another writer (the
	// coarse ticker) published a later kernel tick since the sample was
	// read. The page's coarse bases and their CoarseTSC stay.
	newer := true
	if !fresh && coarseOK {
		mc := old.Base[ClockMonotonicCoarse]
		newer = !s[ClockMonotonicCoarse].stime().less(stime{int64(mc.Sec), mc.Snsec})
	}
	for _, c := range coarseClocks {
		if !coarseOK || !newer {
			if fresh {
				res.anomaly = fmt.Errorf("vvar: no sample of clock %d", c)
				return np, res
			}
			res.clocks[c].action = actSkip
			continue
		}
		k := s[c].stime()
		ob := stime{int64(old.Base[c].Sec), old.Base[c].Snsec}
		if fresh {
			res.clocks[c].action = actInit
		} else {
			e, inRange := sub(k, ob)
			res.clocks[c].err = fixedToNs(e, inRange, k, ob)
			res.clocks[c].action = actStep
		}
		np.Base[c] = k.base()
	}
	if coarseOK && newer {
		np.CoarseTSC = coarseDeadline(&np)
	}
	for c := range np.Base {
		if !IsDataPageClock(c) {
			np.Base[c] = Base{} // unused slots stay zero
		}
	}
	np.Mode = ModeTSC
	return np, res
}

// coarseSlackNs is how much earlier than one kernel tick after the
// MONOTONIC_COARSE base CoarseTSC falls: it covers the page's MONOTONIC
// trailing the kernel's (sampling error, rate error and the drift of a late
// timekeeper: 50 us is 50 ppm for a whole second) and TSC skew between CPUs.
const coarseSlackNs = 50_000

// coarseDeadline returns the CoarseTSC for parameters p whose coarse bases
// are the kernel's coarse values V read just before: the TSC at which the
// page's MONOTONIC reaches V + CoarseRes - CoarseRes/1000 - coarseSlackNs,
// rounded down, or 0 (the routines always make the system call) when that
// is already past at TSCBase or cannot be computed.
//
// Why this bounds the coarse clocks exactly: the kernel advances its
// coarse clocks only in timekeeping_advance, and only when the clocksource
// has run for at least one tick interval (cycle_interval, about CoarseRes
// of MONOTONIC; NTP changes it by at most 500 ppm) since cycle_last, whose
// MONOTONIC value is the coarse value V. So while the kernel's MONOTONIC is
// below V + one interval, its coarse clocks are still V: a routine that
// reads the page before CoarseTSC returns exactly the kernel's current
// coarse value (neither ahead nor behind), and one at or past it asks the
// kernel. A fallback is therefore never followed by an older page value:
// the page's coarse value is only ever served while it is the kernel's.
// (clock_settime and adjtimex(ADJ_SETOFFSET, ADJ_TICK) move the kernel's
// clocks outside ticks; ACCURACY.md discusses them.)
func coarseDeadline(p *Params) uint64 {
	res := int64(p.CoarseRes)
	age := res - res/1000 - coarseSlackNs
	if age <= 0 || p.Mult == 0 || p.Shift != ClockShift {
		return 0
	}
	cb, hb := p.Base[ClockMonotonicCoarse], p.Base[ClockMonotonic]
	deadline := stime{int64(cb.Sec), cb.Snsec}.add(age << ClockShift)
	d, ok := sub(deadline, stime{int64(hb.Sec), hb.Snsec})
	if !ok || d <= 0 {
		return 0
	}
	cycles := uint64(d) / p.Mult
	if cycles > math.MaxUint64-p.TSCBase {
		return 0
	}
	return p.TSCBase + cycles
}

// fixedToNs converts a - b to nanoseconds, approximately when it is large.
func fixedToNs(d int64, inRange bool, a, b stime) float64 {
	if inRange {
		return float64(d) / (1 << ClockShift)
	}
	return float64(a.sec-b.sec)*1e9 + (float64(a.snsec)-float64(b.snsec))/(1<<ClockShift)
}
