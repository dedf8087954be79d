//go:build linux && amd64

package vvar

import (
	"testing"
	"time"
)

// TestTickerArgsLayout: coarseTicker (assembly) addresses tickerArgs by
// these offsets, and the page by the layout constants.
func TestTickerArgsLayout(t *testing.T) {
	checkStruct(t, tickerArgs{}, []fieldCase{
		{"page", 0, 8}, {"stop", 8, 4}, {"_", 12, 4}, {"offSec", 16, 8}, {"offNsec", 24, 8},
		{"age", 32, 8}, {"period", 40, 8}, {"poll", 48, 8}, {"ticks", 56, 8},
		{"ts", 64, 16}, {"sleep", 80, 16}, {"mono", 96, 16}, {"rt", 112, 16},
	}, 128)
	// The page offsets the assembly uses.
	for _, c := range []struct {
		name      string
		got, want int
	}{
		{"Base[MONOTONIC]", OffBase + ClockMonotonic*BaseSize, 48},
		{"Base[REALTIME_COARSE]", OffBase + ClockRealtimeCoarse*BaseSize, 112},
		{"Base[MONOTONIC_COARSE]", OffBase + ClockMonotonicCoarse*BaseSize, 128},
		{"CoarseTSC", OffCoarseTSC, 248}, {"Mult", OffMult, 16}, {"TSCBase", OffTSCBase, 24},
	} {
		if c.got != c.want {
			t.Errorf("%s = %d, the assembly uses %d", c.name, c.got, c.want)
		}
	}
}

// startTicker starts a timekeeper on p that nobody refreshes (Manual) and
// its coarse ticker, both stopped when t ends, or skips the test where the
// coarse resolution is too fine for a ticker.
func startTicker(t *testing.T, p *Page) *Timekeeper {
	t.Helper()
	tk := startOrSkip(t, p, nil, Options{Manual: true})
	tk.startCoarseTicker()
	if tk.ticker == nil {
		t.Skip("coarse resolution too fine for a ticker")
	}
	return tk
}

// checkCoarseServed: MONOTONIC_COARSE, where p serves it, lies between the
// kernel's value before and after the read.
func checkCoarseServed(t *testing.T, p *Page) {
	t.Helper()
	k1 := kernelNs(ClockMonotonicCoarse)
	sec, nsec, ok := p.Read(ClockMonotonicCoarse, RDTSC())
	k2 := kernelNs(ClockMonotonicCoarse)
	if o := sec*1e9 + nsec; ok && (o < k1 || o > k2) {
		t.Fatalf("MONOTONIC_COARSE %d served, kernel %d .. %d", o, k1, k2)
	}
}

// TestCoarseTickerMatchesCalc: the ticker's publications carry the
// kernel's coarse values and the CoarseTSC coarseDeadline computes for
// them, and the ticker keeps publishing while the refresh goroutine is
// kept from running (Manual: nobody refreshes).
func TestCoarseTickerMatchesCalc(t *testing.T) {
	var p Page
	tk := startTicker(t, &p)
	time.Sleep(60 * time.Millisecond)
	n0 := tk.Stats().CoarseTicks
	time.Sleep(100 * time.Millisecond)
	n := tk.Stats().CoarseTicks - n0
	res := time.Duration(p.Load().CoarseRes)
	// A tick every CoarseRes; far fewer means the ticker is not running.
	if want := int(100 * time.Millisecond / res / 4); int(n) < want {
		t.Fatalf("%d coarse ticks in 100 ms (CoarseRes %v), want at least %d", n, res, want)
	}
	for i := 0; i < 200; i++ {
		v := p.Load()
		if v.CoarseTSC == 0 {
			continue
		}
		if got, want := v.CoarseTSC, coarseDeadline(&v); got != want {
			t.Fatalf("CoarseTSC %d, coarseDeadline %d (%+v)", got, want, v)
		}
		checkCoarseServed(t, &p)
		time.Sleep(time.Millisecond)
	}
	t.Logf("%d coarse ticks in 100 ms, realtime %v", n, tk.Stats().TickerRealtime)
}

// TestCoarseTickerWaitsForWriter holds the sequence odd (a writer in the
// middle of an update) across several kernel ticks: the ticker must wait
// (spinning, then sleeping, then trying again) without storing anything,
// and publish again once the writer is done.
func TestCoarseTickerWaitsForWriter(t *testing.T) {
	var p Page
	tk := startTicker(t, &p)
	res := time.Duration(p.Load().CoarseRes)
	time.Sleep(2 * res)
	s := p.lock()
	before := tk.Stats().CoarseTicks
	mc := p.base[ClockMonotonicCoarse]
	time.Sleep(5 * res)
	during := tk.Stats().CoarseTicks
	if p.base[ClockMonotonicCoarse] != mc || during != before {
		p.unlock(s)
		t.Fatalf("the ticker published while the sequence was odd (%d ticks)", during-before)
	}
	p.unlock(s)
	deadline := time.Now().Add(2 * time.Second)
	for tk.Stats().CoarseTicks == during && time.Now().Before(deadline) {
		time.Sleep(res / 4)
	}
	if tk.Stats().CoarseTicks == during {
		t.Fatal("the ticker did not publish after the writer finished")
	}
	if p.Seq()&1 != 0 {
		t.Fatal("sequence odd after the ticker published")
	}
	checkCoarseServed(t, &p)
}

// TestCoarseTickerStopsWhileWaiting: Stop ends a ticker that is waiting
// for a writer holding the sequence.
func TestCoarseTickerStopsWhileWaiting(t *testing.T) {
	var p Page
	tk := startTicker(t, &p)
	s := p.lock()
	time.Sleep(3 * time.Duration(p.coarseRes)) // the ticker now waits for the sequence
	done := make(chan struct{})
	go func() { tk.stopCoarseTicker(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		p.unlock(s)
		<-done
		t.Fatal("the ticker did not stop within 5 s while the sequence was held")
	}
	p.unlock(s)
	tk.Stop()
}
