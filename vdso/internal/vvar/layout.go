package vvar

import (
	"math"
	"runtime"
	"sync"
	"sync/atomic"
)

// Layout version 3 of the data page. The generated assembly addresses the
// page only through these constants; layout_test.go checks every one of them
// against unsafe.Offsetof/Sizeof of Page.
const (
	OffSeq       = 0   // uint32: seqlock sequence, odd while the writer is updating
	OffMode      = 4   // uint32: ModeInvalid or ModeTSC
	OffVersion   = 8   // uint32: Version
	OffShift     = 12  // uint32: fixed-point shift
	OffMult      = 16  // uint64: (ns << Shift) per TSC cycle, < 1<<32
	OffTSCBase   = 24  // uint64: TSC value at which the bases were taken
	OffBase      = 32  // [NumClocks]Base
	BaseSize     = 16  // size of one Base
	OffBaseSec   = 0   // within Base: uint64 seconds
	OffBaseSnsec = 8   // within Base: uint64 nanoseconds << Shift
	OffHresRes   = 224 // uint64: resolution of the high-resolution clocks, ns
	OffCoarseRes = 232 // uint64: resolution of the coarse clocks, ns
	OffMaxDelta  = 240 // uint64: largest TSC - TSCBase the routines convert
	OffCoarseTSC = 248 // uint64: TSC from which the coarse bases may be stale
	PageSize     = 4096

	// Time-namespace page.
	OffTimensOffsets  = 0  // [NumClocks]TimensOffset
	TimensOffsetSize  = 16 // size of one TimensOffset
	OffTimensOffSec   = 0  // within TimensOffset: int64 seconds
	OffTimensOffNsec  = 8  // within TimensOffset: int64 nanoseconds in [0, 1e9)
	NumClocks         = 12 // clock ids 0..11 have a slot
	endOfPageFields   = 256
	endOfTimensFields = OffTimensOffsets + NumClocks*TimensOffsetSize
)

// Values of the mode word.
const (
	ModeInvalid = 0 // every routine makes the real system call
	ModeTSC     = 1 // the bases and the TSC conversion are valid
)

// Version is the layout version written to OffVersion. Version 2 added
// MaxDelta, version 3 CoarseTSC.
const Version = 3

// ClockShift is the shift the Timekeeper writes to OffShift. With it,
// Snsec + delta*Mult stays below 2^64 for 2^40 ns - 1 s (about 1098 s, 18.3
// minutes) of TSC after TSCBase, whatever the TSC frequency, and Mult fits
// in 32 bits for any TSC faster than 3.9 MHz. See doc.go.
const ClockShift = 24

// Linux clock ids.
const (
	ClockRealtime         = 0
	ClockMonotonic        = 1
	ClockProcessCPUTimeID = 2
	ClockThreadCPUTimeID  = 3
	ClockMonotonicRaw     = 4
	ClockRealtimeCoarse   = 5
	ClockMonotonicCoarse  = 6
	ClockBoottime         = 7
	ClockRealtimeAlarm    = 8
	ClockBoottimeAlarm    = 9
	ClockTAI              = 11
)

const nsecPerSec = 1_000_000_000

// Base is the value of one clock at TSCBase: Sec seconds plus Snsec>>Shift
// nanoseconds (Snsec < 1e9<<Shift).
type Base struct {
	Sec   uint64
	Snsec uint64
}

// Page is the seqlock data page (layout version 3, 4096 bytes). Its fields
// are unexported so that every write goes through Update; read it with Read,
// Res or Load. A Page must not be copied.
type Page struct {
	seq       uint32
	mode      uint32
	version   uint32
	shift     uint32
	mult      uint64
	tscBase   uint64
	base      [NumClocks]Base
	hresRes   uint64
	coarseRes uint64
	maxDelta  uint64
	coarseTSC uint64
	_         [PageSize - endOfPageFields]byte
}

// TimensOffset is the offset of one clock inside a time namespace:
// Sec + Nsec/1e9 seconds, Nsec in [0, 1e9) (Sec may be negative).
type TimensOffset struct {
	Sec  int64
	Nsec int64
}

// TimensPage holds the time-namespace offsets (4096 bytes). It is written
// once, before any routine that reads it runs, and has no seqlock.
type TimensPage struct {
	Offsets [NumClocks]TimensOffset
	_       [PageSize - endOfTimensFields]byte
}

// Params is a plain copy of the page's fields other than the sequence.
type Params struct {
	Mode      uint32
	Version   uint32
	Shift     uint32
	Mult      uint64
	TSCBase   uint64
	Base      [NumClocks]Base
	HresRes   uint64
	CoarseRes uint64
	// MaxDelta is the largest TSC - TSCBase the routines convert; past it
	// they make the system call (see MaxDeltaFor).
	MaxDelta uint64
	// CoarseTSC is the TSC value from which the coarse bases may no longer
	// be the kernel's current coarse values: at or past it the routines make
	// the system call for the coarse clocks (and time). Zero: always.
	// See coarseDeadline in calc.go and doc.go.
	CoarseTSC uint64
}

// MaxDeltaFor is the MaxDelta that keeps Snsec + delta*mult below 2^64
// for every Snsec < 1e9 << ClockShift: about 18 minutes of TSC, whatever
// its frequency. A reader past it (the process was frozen, or restored on
// another machine, before the Timekeeper could refresh) makes the system
// call instead of returning a wrapped value, as the kernel's vDSO does with
// CONFIG_GENERIC_VDSO_OVERFLOW_PROTECT.
func MaxDeltaFor(mult uint64) uint64 {
	if mult == 0 {
		return math.MaxUint64
	}
	return (math.MaxUint64 - (nsecPerSec<<ClockShift - 1)) / mult
}

// IsDataPageClock reports whether routines serve clock from the data page
// (REALTIME, MONOTONIC, MONOTONIC_RAW, REALTIME_COARSE, MONOTONIC_COARSE,
// BOOTTIME, TAI). Every other id, negative ones included, goes to the system
// call, exactly as the kernel's vDSO does.
func IsDataPageClock(clock int) bool {
	switch clock {
	case ClockRealtime, ClockMonotonic, ClockMonotonicRaw,
		ClockRealtimeCoarse, ClockMonotonicCoarse, ClockBoottime, ClockTAI:
		return true
	}
	return false
}

// IsCoarseClock reports whether clock is read with delta = 0.
func IsCoarseClock(clock int) bool {
	return clock == ClockRealtimeCoarse || clock == ClockMonotonicCoarse
}

// writers serialises the writers of every Page. A Page has no room for a
// mutex of its own: its layout is the routines' ABI. Writes are rare (a
// few hundred a second), so one mutex for all pages costs nothing.
var writers sync.Mutex

// Update runs f on a copy of the current parameters and publishes the
// result under the seqlock. See UpdateAt.
func (p *Page) Update(f func(*Params)) {
	p.UpdateAt(math.MaxUint64, func(v *Params, _ uint64) { f(v) })
}

// UpdateAt runs f on a copy of the current parameters and the TSC value w
// read just before, then publishes the result under the seqlock, provided
// the sequence became odd no more than limit TSC cycles after w; otherwise
// it runs f again on a new w. A timekeeper computing parameters that hold
// from a switch point w uses limit to bound how late after w the switch can
// happen (see nextParams). f may run more than once; it must not write to
// the page.
//
// The write side is publish (assembly), and only it runs with the sequence
// odd: f runs before. That matters for liveness, not only for speed. The
// routines spin while the sequence is odd, inside assembly, which the Go
// scheduler cannot preempt. Were the odd window Go code, the writer
// goroutine could be preempted in it (an allocation, a GC assist, an
// asynchronous preemption for a stop-the-world), and readers spinning on
// every P would never let it run again: the whole process hangs, which the
// vdso package's torture test showed in a second. Assembly is never
// preempted by the Go scheduler; the operating system may still deschedule
// the writer thread there, but it runs it again, so readers only wait.
//
// Why plain stores are enough on amd64: x86-TSO never reorders a store with
// an older store, nor a load with an older load. A reader loads seq, then
// the fields, then seq again. If any of its field loads saw a value of this
// update, the odd sequence, stored before that value, is visible to its
// second load, which therefore differs from the first; and if its first
// load saw the final even value, every field store preceded it. The odd
// sequence is stored with XCHG (a full barrier) so that the RDTSC that
// checks limit reads a time after the odd value is visible to every CPU.
// The generated routines use plain MOV loads, which are exactly what atomic
// loads compile to on amd64. The race detector does not see the assembly
// stores; Load and Read use atomic loads.
func (p *Page) UpdateAt(limit uint64, f func(v *Params, w uint64)) {
	writers.Lock()
	defer writers.Unlock()
	for i := 0; ; {
		// The coarse ticker writes without the mutex (it cannot take a Go
		// lock); publish fails if it did since seq was read.
		seq := p.evenSeq(&i)
		cur := p.loadFields(true)
		w := RDTSC()
		f(&cur, w)
		switch publish(p, &cur, w, limit, seq) {
		case publishDone:
			return
		case publishLate:
			publishRetries.Add(1)
		}
	}
}

// Results of publish.
const (
	publishLate     = 0 // more than limit cycles after w: nothing stored
	publishDone     = 1
	publishConflict = 2 // the sequence was no longer seq: nothing stored
)

// publish stores v into p under the seqlock (the sequence odd, the
// fields, the sequence even) if the sequence is still seq and RDTSC - w <=
// limit once it is odd. It returns publishDone, publishConflict (the
// sequence had changed: nothing stored) or publishLate (the fields left
// alone, the sequence even again, advanced by 2). Assembly, so that the Go
// scheduler cannot preempt the writer while readers spin. The caller
// holds writers.
//
//go:noescape
func publish(p *Page, v *Params, w, limit uint64, seq uint32) uint8

// publishRetries counts publications abandoned because the switch point
// was too old (tests).
var publishRetries atomic.Uint64

// lock takes the write side by hand and makes the sequence odd, returning
// it; unlock stores s+1 and releases. For tests that hold a write open.
func (p *Page) lock() uint32 {
	writers.Lock()
	s := atomic.LoadUint32(&p.seq) + 1
	atomic.StoreUint32(&p.seq, s)
	return s
}

func (p *Page) unlock(s uint32) {
	atomic.StoreUint32(&p.seq, s+1)
	writers.Unlock()
}

// Store replaces every field with v under the seqlock.
func (p *Page) Store(v Params) {
	p.Update(func(cur *Params) { *cur = v })
}

// Invalidate sets the mode to ModeInvalid: from the moment it returns, every
// routine makes the real system call. The other fields are left alone.
func (p *Page) Invalidate() {
	p.Update(func(cur *Params) { cur.Mode = ModeInvalid })
}

// Seq returns the current sequence (for tests and debuggers).
func (p *Page) Seq() uint32 { return atomic.LoadUint32(&p.seq) }

func (p *Page) loadFields(atomically bool) Params {
	if !atomically {
		v := Params{
			Mode: p.mode, Version: p.version, Shift: p.shift,
			Mult: p.mult, TSCBase: p.tscBase, Base: p.base,
			HresRes: p.hresRes, CoarseRes: p.coarseRes, MaxDelta: p.maxDelta,
			CoarseTSC: p.coarseTSC,
		}
		return v
	}
	var v Params
	v.Mode = atomic.LoadUint32(&p.mode)
	v.Version = atomic.LoadUint32(&p.version)
	v.Shift = atomic.LoadUint32(&p.shift)
	v.Mult = atomic.LoadUint64(&p.mult)
	v.TSCBase = atomic.LoadUint64(&p.tscBase)
	for c := range v.Base {
		v.Base[c].Sec = atomic.LoadUint64(&p.base[c].Sec)
		v.Base[c].Snsec = atomic.LoadUint64(&p.base[c].Snsec)
	}
	v.HresRes = atomic.LoadUint64(&p.hresRes)
	v.CoarseRes = atomic.LoadUint64(&p.coarseRes)
	v.MaxDelta = atomic.LoadUint64(&p.maxDelta)
	v.CoarseTSC = atomic.LoadUint64(&p.coarseTSC)
	return v
}

// Load returns a consistent snapshot of the page (a seqlock read).
func (p *Page) Load() Params {
	for i := 0; ; {
		s := p.evenSeq(&i)
		v := p.loadFields(true)
		if atomic.LoadUint32(&p.seq) == s {
			return v
		}
		readRetries.Add(1)
	}
}

// evenSeq waits until no write is in progress (the sequence is even) and
// returns the sequence. i counts the caller's waits, across its retries.
func (p *Page) evenSeq(i *int) uint32 {
	for {
		s := atomic.LoadUint32(&p.seq)
		if s&1 == 0 {
			return s
		}
		spin(i)
	}
}

// spin waits a little for a writer: busy for a few iterations (a writer's
// critical section is short), then yielding the processor.
func spin(i *int) {
	*i++
	if *i%64 == 0 {
		runtime.Gosched()
	}
}

// readRetries counts reads that found Seq changed under them (tests use it to
// prove the torture test overlapped reads with writes).
var readRetries atomic.Uint64

// Read is the reference implementation of the clock routines' read of the
// data page: the value of clock at TSC value tsc, or ok == false when the
// routine must make the system call instead (clock not served from the data
// page, or mode not ModeTSC). The generated routines compute bit-identical
// results:
//
//	retry:
//	  seq := load Seq; if seq is odd: goto retry
//	  if Mode != ModeTSC: syscall
//	  if the clock is coarse and tsc >= CoarseTSC: syscall
//	  delta := tsc - TSCBase; if int64(delta) < 0 { delta = 0 }
//	  if the clock is coarse { delta = 0 }
//	  if delta > MaxDelta: syscall
//	  (the routines test MaxDelta on the high-resolution path only, where
//	  delta can be non-zero)
//	  ns := Base[c].Snsec + delta*Mult   // uint64, wrapping
//	  ns >>= Shift & 63                  // SHRQ CL masks the count
//	  sec := Base[c].Sec
//	  if load Seq != seq: goto retry
//	  for ns >= 1e9 { ns -= 1e9; sec++ }
//
// The routines read tsc (LFENCE; RDTSC) after the first load of Seq, for
// the coarse clocks too (they need it for the CoarseTSC check only); the
// oracle takes it as an argument so that tests can pin it.
func (p *Page) Read(clock int, tsc uint64) (sec, nsec int64, ok bool) {
	if !IsDataPageClock(clock) {
		return 0, 0, false
	}
	coarse := IsCoarseClock(clock)
	b := &p.base[clock]
	for i := 0; ; {
		seq := p.evenSeq(&i)
		if atomic.LoadUint32(&p.mode) != ModeTSC {
			return 0, 0, false
		}
		if coarse && tsc >= atomic.LoadUint64(&p.coarseTSC) {
			if atomic.LoadUint32(&p.seq) != seq {
				continue
			}
			return 0, 0, false
		}
		delta := tsc - atomic.LoadUint64(&p.tscBase)
		if int64(delta) < 0 || coarse {
			delta = 0
		}
		if delta > atomic.LoadUint64(&p.maxDelta) {
			if atomic.LoadUint32(&p.seq) != seq {
				continue
			}
			return 0, 0, false
		}
		ns := atomic.LoadUint64(&b.Snsec) + delta*atomic.LoadUint64(&p.mult)
		ns >>= atomic.LoadUint32(&p.shift) & 63
		s := atomic.LoadUint64(&b.Sec)
		if atomic.LoadUint32(&p.seq) != seq {
			readRetries.Add(1)
			continue
		}
		for ns >= nsecPerSec {
			ns -= nsecPerSec
			s++
		}
		return int64(s), int64(ns), true
	}
}

// Res is the reference implementation of clock_getres: HresRes for REALTIME,
// MONOTONIC, MONOTONIC_RAW, BOOTTIME and TAI, CoarseRes for the coarse
// clocks, ok == false (system call) for every other id and whenever the mode
// is not ModeTSC.
func (p *Page) Res(clock int) (ns int64, ok bool) {
	if !IsDataPageClock(clock) {
		return 0, false
	}
	for i := 0; ; {
		seq := p.evenSeq(&i)
		mode := atomic.LoadUint32(&p.mode)
		var r uint64
		if IsCoarseClock(clock) {
			r = atomic.LoadUint64(&p.coarseRes)
		} else {
			r = atomic.LoadUint64(&p.hresRes)
		}
		if atomic.LoadUint32(&p.seq) != seq {
			continue
		}
		if mode != ModeTSC {
			return 0, false
		}
		return int64(r), true
	}
}

// Apply is the reference implementation of the time-namespace step: it adds
// Offsets[clock] to (sec, nsec) and normalises once. Only MONOTONIC,
// MONOTONIC_RAW, MONOTONIC_COARSE (monotonic offset) and BOOTTIME (boottime
// offset) have non-zero slots among the data-page clocks, so a routine that
// adds only for those four gets the same result. nsec must be in [0, 1e9).
func (t *TimensPage) Apply(clock int, sec, nsec int64) (int64, int64) {
	if clock < 0 || clock >= NumClocks {
		return sec, nsec
	}
	o := t.Offsets[clock]
	sec += o.Sec
	nsec += o.Nsec
	if nsec >= nsecPerSec {
		nsec -= nsecPerSec
		sec++
	}
	return sec, nsec
}

// ReadTimens is the reference implementation of a time-namespace routine:
// Read, then t.Apply.
func (p *Page) ReadTimens(t *TimensPage, clock int, tsc uint64) (sec, nsec int64, ok bool) {
	sec, nsec, ok = p.Read(clock, tsc)
	if !ok {
		return 0, 0, false
	}
	sec, nsec = t.Apply(clock, sec, nsec)
	return sec, nsec, true
}
