package vvar

import (
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// paramsFor derives every field from k, so that a snapshot mixing two
// updates breaks one of the relations checkConsistent tests.
func paramsFor(k uint64) Params {
	v := Params{
		Mode:      ModeTSC,
		Version:   uint32(k),
		Shift:     uint32(k % 31),
		Mult:      k * 3,
		TSCBase:   k, // > 0: Read with tsc 0 clamps delta to 0
		HresRes:   k + 1,
		CoarseRes: k + 2,
		CoarseTSC: k + 3, // Read with tsc 0 serves the coarse clocks
	}
	for c := range v.Base {
		v.Base[c] = Base{Sec: k, Snsec: ((k*uint64(c+1) + 7) % nsecPerSec) << v.Shift}
	}
	return v
}

// TestSeqlockTorture runs a writer updating as fast as it can against
// readers on every core, through both Read (the routines' oracle) and Load,
// and checks that no reader ever sees a mixture of two updates. It runs until
// the readers have been overlapped by writes (retried) and have seen new
// versions enough times to mean something, at most 1.5 s.
func TestSeqlockTorture(t *testing.T) {
	var p Page
	p.Store(paramsFor(1))
	var stop atomic.Bool
	var writes atomic.Uint64
	retries0 := readRetries.Load()
	// After each update the writer pauses for 0 to ~1 us (k%16 steps): back
	// to back updates leave readers almost no even window, so they mostly
	// spin; pauses let reads start and be overlapped by the next update.
	go func() {
		for k := uint64(2); !stop.Load(); k++ {
			p.Update(func(v *Params) { *v = paramsFor(k) })
			writes.Store(k)
			for j := uint64(0); j < (k%16)*64; j++ {
				_ = stop.Load()
			}
		}
	}()
	readers := max(runtime.GOMAXPROCS(0), 2)
	var wg sync.WaitGroup
	var reads, torn, changes atomic.Uint64
	for r := 0; r < readers; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			last := uint64(0)
			for i := 0; !stop.Load(); i++ {
				c := i % NumClocks
				if i%2 == 0 && IsDataPageClock(c) {
					sec, nsec, ok := p.Read(c, 0)
					k := uint64(sec)
					want := int64((k*uint64(c+1) + 7) % nsecPerSec)
					if !ok || nsec != want || k < last { // versions only grow
						torn.Add(1)
					}
					if k != last {
						changes.Add(1)
						last = k
					}
				} else {
					v := p.Load()
					if v != paramsFor(v.TSCBase) {
						torn.Add(1)
					}
				}
				reads.Add(1)
			}
		}()
	}
	const enough = 2000
	deadline := time.Now().Add(1500 * time.Millisecond)
	for time.Now().Before(deadline) && (changes.Load() < enough || readRetries.Load()-retries0 < enough) {
		time.Sleep(20 * time.Millisecond)
	}
	stop.Store(true)
	wg.Wait()
	retries := readRetries.Load() - retries0
	t.Logf("%d readers, %d writes, %d reads, %d version changes seen by readers, %d reads retried because a write overlapped them",
		readers, writes.Load(), reads.Load(), changes.Load(), retries)
	if torn.Load() != 0 {
		t.Fatalf("%d torn or inconsistent reads", torn.Load())
	}
	// The race detector slows the writer tenfold; a few hundred overlapped
	// reads still mean something. Fewer means the goroutines did not run in
	// parallel (other processes holding the CPUs): nothing was proven, but
	// nothing failed either.
	const minimum = enough / 4
	if changes.Load() < minimum || retries < minimum {
		t.Skipf("inconclusive: only %d changes seen and %d overlapped reads in 1.5 s (no parallelism available?); no torn read among %d",
			changes.Load(), retries, reads.Load())
	}
	if s := p.Seq(); s&1 != 0 {
		t.Fatalf("sequence %d odd after the writer stopped", s)
	}
}

// TestConcurrentWriters checks that Update serialises writers.
func TestConcurrentWriters(t *testing.T) {
	var p Page
	var wg sync.WaitGroup
	const per = 2000
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < per; i++ {
				p.Update(func(v *Params) { v.Mult++ })
			}
		}()
	}
	wg.Wait()
	if got := p.Load().Mult; got != 4*per {
		t.Fatalf("Mult = %d after %d increments: writers overlapped", got, 4*per)
	}
	if p.Seq() != 2*4*per {
		t.Fatalf("Seq = %d, want %d", p.Seq(), 2*4*per)
	}
}

// TestReadWaitsForWriter holds the write side open by hand and checks that
// a reader neither returns during the write nor returns the old values
// after it.
func TestReadWaitsForWriter(t *testing.T) {
	var p Page
	p.Store(paramsFor(1))
	s := p.lock()
	atomic.StoreUint64(&p.base[ClockMonotonic].Sec, 2) // half an update
	done := make(chan [2]int64)
	go func() {
		sec, nsec, _ := p.Read(ClockMonotonic, 0)
		done <- [2]int64{sec, nsec}
	}()
	select {
	case v := <-done:
		t.Fatalf("Read returned %v while the sequence was odd", v)
	case <-time.After(20 * time.Millisecond):
	}
	v := paramsFor(2)
	atomic.StoreUint32(&p.shift, v.Shift)
	atomic.StoreUint64(&p.base[ClockMonotonic].Snsec, v.Base[ClockMonotonic].Snsec)
	p.unlock(s)
	got := <-done
	if want := (paramsFor(2).Base[ClockMonotonic].Snsec >> paramsFor(2).Shift); got[0] != 2 || got[1] != int64(want) {
		t.Fatalf("Read = %v after the update, want [2 %d]", got, want)
	}
}
