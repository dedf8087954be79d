//go:build linux && amd64

package vvar

import (
	"runtime"
	"sync/atomic"
	_ "unsafe" // go:linkname

	"golang.org/x/sys/unix"
)

// The coarse ticker copies the kernel's coarse clocks to the page right
// after each kernel tick, from a thread that needs nothing from the Go
// scheduler. A goroutine, however high its thread's priority, runs only
// when a P runs it: with every P busy (GOMAXPROCS goroutines spinning),
// the timekeeper's goroutine measured 100-270 ms late, and the routines
// then asked the kernel for most coarse reads (correct, since CoarseTSC
// had passed, but slow). The ticker's goroutine instead enters the state
// the runtime gives a goroutine blocked in a system call (its P handed to
// others) and stays in an assembly loop of system calls
// (clock_nanosleep, clock_gettime) and page stores until Stop; at
// SCHED_FIFO its thread runs as soon as the kernel tick it waits for has
// happened, whatever else runs.

// tickerArgs is shared with coarseTicker (assembly): the offsets are
// checked by TestTickerArgsLayout.
type tickerArgs struct {
	page    *Page    // 0
	stop    uint32   // 8: non-zero ends the loop
	_       uint32   // 12
	offSec  int64    // 16: our namespace's monotonic offset, subtracted
	offNsec int64    // 24
	age     int64    // 32: coarseDeadline's age, ns << ClockShift
	period  int64    // 40: CoarseRes, ns
	poll    int64    // 48: ns between reads while waiting for the tick
	ticks   uint64   // 56: publications
	ts      [2]int64 // 64: scratch timespec
	sleep   [2]int64 // 80: clock_nanosleep's timespec
	mono    [2]int64 // 96: the last MONOTONIC_COARSE read, as read
	rt      [2]int64 // 112: the last REALTIME_COARSE read
}

// coarseTicker is the loop; see rdtsc_amd64.s.
//
//go:noescape
func coarseTicker(a *tickerArgs)

//go:linkname entersyscallblock runtime.entersyscallblock
func entersyscallblock()

//go:linkname exitsyscall runtime.exitsyscall
func exitsyscall()

// coarsePoll is how often the ticker re-reads the kernel's coarse clock
// once the earliest time of its next tick has come: the fallback window
// after each kernel tick is the tick's own lateness plus up to this.
const coarsePoll = 20_000

// startCoarseTicker starts the ticker for page, whose CoarseRes is set.
func (tk *Timekeeper) startCoarseTicker() {
	res := int64(tk.page.Load().CoarseRes)
	age := res - res/1000 - coarseSlackNs
	if age <= 0 {
		return
	}
	a := &tickerArgs{
		page:    tk.page,
		offSec:  tk.offs.Monotonic.Sec,
		offNsec: tk.offs.Monotonic.Nsec,
		age:     age << ClockShift,
		period:  res,
		poll:    coarsePoll,
	}
	tk.ticker = a
	tk.tickerDone = make(chan struct{})
	started := make(chan struct{})
	go func() {
		defer close(tk.tickerDone)
		// Never unlocked: the thread ends with the goroutine.
		runtime.LockOSThread()
		if !tk.opts.NoRealtime {
			attr := unix.SchedAttr{Policy: unix.SCHED_FIFO, Priority: 1}
			if unix.SchedSetAttr(0, &attr, 0) == nil {
				tk.tickerRealtime.Store(true)
			}
		}
		close(started)
		entersyscallblock()
		coarseTicker(a)
		exitsyscall()
		runtime.KeepAlive(a)
	}()
	// Wait until it runs: the goroutine needs a P once, to get there, and
	// a caller that saturates every P right after Start would delay that.
	<-started
}

// stopCoarseTicker ends the ticker and waits for it.
func (tk *Timekeeper) stopCoarseTicker() {
	if tk.ticker == nil {
		return
	}
	atomic.StoreUint32(&tk.ticker.stop, 1)
	<-tk.tickerDone
}

func (tk *Timekeeper) coarseTicks() uint64 {
	if tk.ticker == nil {
		return 0
	}
	return atomic.LoadUint64(&tk.ticker.ticks)
}
