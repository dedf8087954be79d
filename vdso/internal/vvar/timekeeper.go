//go:build linux && amd64

package vvar

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"math"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Options configure a Timekeeper. The zero value gives the defaults.
type Options struct {
	// Interval between full refreshes: every data-page clock sampled, the
	// rates re-estimated, the errors against the kernel corrected.
	// Default 100 ms (see doc.go for the reasoning).
	Interval time.Duration

	// TickInterval between ticks. A tick re-reads the two coarse clocks (two
	// system calls) and re-anchors the high-resolution clocks on the rate
	// model of the last full refresh (RDTSC and arithmetic only), which
	// bounds the error the shared Mult causes when MONOTONIC and
	// MONOTONIC_RAW run at different rates (NTP) to |rate difference| x
	// TickInterval. Default: the coarse resolution clock_getres reports (the
	// kernel's TICK_NSEC), but at least 1 ms, so that the coarse clocks are
	// as fresh as the kernel's. Negative: no ticks.
	TickInterval time.Duration

	// CalibrationWindow is how long Start measures the TSC against
	// CLOCK_MONOTONIC_RAW before publishing. Default 20 ms. The estimate is
	// refined on every refresh over a baseline growing to HistorySpan.
	CalibrationWindow time.Duration

	// Tries is the number of RDTSC-bracketed reads per clock and refresh;
	// the tightest bracket is used. Default 5.
	Tries int

	// MaxSlew is the largest relative slow-down used to absorb an error
	// (a clock ahead of the kernel). Default 500e-6 (500 ppm, like NTP).
	MaxSlew float64

	// StepThreshold: an error of REALTIME or TAI larger than this is taken
	// for the kernel clock being set, and followed. Default 1 ms.
	StepThreshold time.Duration

	// MaxError: a monotonic clock ahead of the kernel by more than this is an
	// anomaly (the TSC jumped); the page is invalidated and recalibrated.
	// Default 20 ms.
	MaxError time.Duration

	// Manual starts no goroutine: the caller drives Refresh and Tick
	// (tests, or a runtime with its own timer loop).
	Manual bool

	// NoRealtime leaves the refresh thread at the normal scheduling policy.
	// By default the refresh goroutine locks itself to an OS thread, asks
	// for SCHED_FIFO priority 1 (granted to root or with CAP_SYS_NICE; see
	// Stats.Realtime) and sleeps in clock_nanosleep on that thread, so that
	// busy processes do not delay its ticks. Correctness never depends on
	// it: the routines stop serving the coarse clocks from the page when a
	// tick is late (CoarseTSC); it only keeps such fallbacks rare.
	NoRealtime bool

	// NoCoarseTicker starts no coarse ticker (see coarse.go): the coarse
	// clocks are then copied by the refresh goroutine's ticks only, which
	// a process whose goroutines keep every P busy delays (the routines
	// then ask the kernel for the coarse clocks until the next tick).
	NoCoarseTicker bool

	// CPUInfoPath is read for the constant_tsc and nonstop_tsc flags.
	// Default /proc/cpuinfo.
	CPUInfoPath string

	// Clock reads a kernel clock for the samples. Default
	// unix.ClockGettime (a system call, ~1.3 us here). A faster reader of
	// the same clocks, such as the kernel's own vDSO (kvdso), gives
	// narrower brackets, hence a smaller placement error and a cheaper
	// refresh.
	Clock func(clockid int32, ts *unix.Timespec) error

	// clock is Clock or its default; tests wrap it.
	clock func(clockid int32, ts *unix.Timespec) error
}

const (
	// HistorySpan is the longest baseline the rate estimates use.
	HistorySpan  = 4 * time.Second
	historyLen   = 32
	marginNs     = 10_000 // cycles of RDTSC lag after the last Seq load covered by continuity, in ns
	rateChangeOK = 1e-3   // larger relative rate changes are anomalies
)

func (o Options) withDefaults() Options {
	if o.Interval <= 0 {
		o.Interval = 100 * time.Millisecond
	}
	if o.CalibrationWindow <= 0 {
		o.CalibrationWindow = 20 * time.Millisecond
	}
	if o.Tries <= 0 {
		o.Tries = 5
	}
	if o.MaxSlew <= 0 || o.MaxSlew >= 0.5 {
		o.MaxSlew = 500e-6
	}
	if o.StepThreshold <= 0 {
		o.StepThreshold = time.Millisecond
	}
	if o.MaxError <= 0 {
		o.MaxError = 20 * time.Millisecond
	}
	if o.CPUInfoPath == "" {
		o.CPUInfoPath = "/proc/cpuinfo"
	}
	if o.clock == nil {
		o.clock = o.Clock
	}
	if o.clock == nil {
		o.clock = unix.ClockGettime
	}
	return o
}

// TSCError is returned by Start when the TSC cannot serve as a clock here.
// The page has been left invalid, so every routine makes the system call:
// a caller may ignore this error and run correctly, only slower.
type TSCError struct {
	Missing []string // cpuinfo flags that are missing
	Reason  string   // other reason (PR_GET_TSC, unreadable cpuinfo)
}

func (e *TSCError) Error() string {
	if len(e.Missing) > 0 {
		return "vvar: TSC unusable as a clock: cpu lacks " + strings.Join(e.Missing, ", ")
	}
	return "vvar: TSC unusable as a clock: " + e.Reason
}

// ErrStopped is returned by Refresh and Tick after Stop.
var ErrStopped = errors.New("vvar: timekeeper stopped")

// Stats describe a Timekeeper's work; see (*Timekeeper).Stats.
type Stats struct {
	Refreshes uint64 // full refreshes published
	Ticks     uint64 // ticks published
	Steps     uint64 // a clock behind the kernel moved forward to it
	Slews     uint64 // a clock ahead of the kernel slowed down instead of stepping back
	Sets      uint64 // REALTIME/TAI followed a kernel step
	Skipped   uint64 // samples rejected (bracket too wide) or failed
	Anomalies uint64 // page invalidated and recalibrated
	TSCHz     float64
	Mult      uint64
	Shift     uint32
	// LastError is kernel minus page, in ns, at the last full refresh before
	// the correction; MaxAbsError its largest magnitude since Start (set
	// steps and initialisations excluded). BracketNs is the width of the
	// last accepted bracket.
	LastError   [NumClocks]float64
	MaxAbsError [NumClocks]float64
	BracketNs   [NumClocks]float64
	LastErr     error
	// Realtime reports whether the refresh thread runs at SCHED_FIFO;
	// TickerRealtime the same for the coarse ticker's thread.
	Realtime       bool
	TickerRealtime bool
	// CoarseTicks counts the coarse ticker's publications.
	CoarseTicks uint64
}

// Timekeeper keeps a Page's parameters in step with the kernel's clocks.
type Timekeeper struct {
	page *Page
	opts Options
	offs TimensOffsets // of our own namespace: samples minus offs = host time

	mu       sync.Mutex
	stopped  bool
	hist     []histEntry
	r        rates
	minWidth [NumClocks]uint64
	last     [NumClocks]sample // of the last full refresh
	haveLast bool

	// Tick placement (loop goroutine only).
	lastCoarse stime
	phase      int64 // ns after coarse + P at which the kernel's next update is expected
	misses     int
	stats      Stats

	stopOnce sync.Once
	stop     chan struct{}
	done     chan struct{}

	ticker         *tickerArgs // nil: no coarse ticker
	tickerDone     chan struct{}
	tickerRealtime atomic.Bool
}

type histEntry struct {
	tscM, tscR uint64
	mono, raw  int64 // ns
}

// Start checks that the TSC is usable, fills timens (if not nil) with the
// calling process's time-namespace offsets, calibrates the TSC against
// CLOCK_MONOTONIC_RAW for opts.CalibrationWindow, publishes the first
// parameters and, unless opts.Manual, starts the refresh goroutine.
//
// The page always holds root-namespace (host) times: when the calling
// process lives in a time namespace, the timekeeper subtracts its offsets
// from what the kernel returns, and the time-namespace routines add them
// back from the TimensPage.
//
// On error the page is left invalid (routines make the system call) and the
// Timekeeper is nil; a *TSCError means only that the fast path is
// unavailable. Stop on a nil Timekeeper does nothing.
func Start(page *Page, timens *TimensPage, opts Options) (*Timekeeper, error) {
	if page == nil {
		return nil, errors.New("vvar: nil page")
	}
	o := opts.withDefaults()
	page.Invalidate()
	offs, err := ReadTimensOffsets()
	if err != nil {
		return nil, err
	}
	if timens != nil {
		offs.Fill(timens)
	}
	var hr, cr unix.Timespec
	if err := unix.ClockGetres(ClockMonotonic, &hr); err != nil {
		return nil, fmt.Errorf("vvar: clock_getres: %w", err)
	}
	if err := unix.ClockGetres(ClockMonotonicCoarse, &cr); err != nil {
		return nil, fmt.Errorf("vvar: clock_getres: %w", err)
	}
	page.Update(func(p *Params) {
		p.Mode = ModeInvalid
		p.Version = Version
		p.Shift = ClockShift
		p.HresRes = uint64(hr.Nano())
		p.CoarseRes = uint64(cr.Nano())
	})
	if err := checkTSC(o.CPUInfoPath); err != nil {
		return nil, err
	}
	if o.TickInterval == 0 {
		o.TickInterval = max(time.Duration(cr.Nano()), time.Millisecond)
	}
	tk := &Timekeeper{
		page: page,
		opts: o,
		offs: offs,
		stop: make(chan struct{}),
	}
	tk.mu.Lock()
	var s [NumClocks]sample
	s[ClockMonotonic] = tk.sample(ClockMonotonic)
	s[ClockMonotonicRaw] = tk.sample(ClockMonotonicRaw)
	tk.updateRates(&s)
	time.Sleep(o.CalibrationWindow)
	err = tk.refreshLocked()
	tk.mu.Unlock()
	if err == nil && page.Load().Mode != ModeTSC {
		err = errors.New("page not published")
	}
	if err != nil {
		page.Invalidate()
		return nil, fmt.Errorf("vvar: calibration: %w", err)
	}
	if !o.Manual {
		tk.done = make(chan struct{})
		go tk.loop()
		if !o.NoCoarseTicker {
			tk.startCoarseTicker()
		}
	}
	return tk, nil
}

// checkTSC reports a *TSCError unless every CPU in cpuinfo has constant_tsc
// (the TSC rate does not follow frequency changes) and nonstop_tsc (it does
// not stop in deep C-states), and RDTSC is allowed in this process.
func checkTSC(cpuinfo string) error {
	data, err := os.ReadFile(cpuinfo)
	if err != nil {
		return &TSCError{Reason: err.Error()}
	}
	missing := map[string]bool{}
	seen := false
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || strings.TrimSpace(k) != "flags" {
			continue
		}
		seen = true
		have := map[string]bool{}
		for _, f := range strings.Fields(v) {
			have[f] = true
		}
		for _, f := range []string{"constant_tsc", "nonstop_tsc"} {
			if !have[f] {
				missing[f] = true
			}
		}
	}
	if !seen {
		return &TSCError{Missing: []string{"constant_tsc", "nonstop_tsc"}}
	}
	if len(missing) > 0 {
		var m []string
		for _, f := range []string{"constant_tsc", "nonstop_tsc"} {
			if missing[f] {
				m = append(m, f)
			}
		}
		return &TSCError{Missing: m}
	}
	var mode int32
	if err := unix.Prctl(unix.PR_GET_TSC, uintptr(unsafe.Pointer(&mode)), 0, 0, 0); err == nil && mode == unix.PR_TSC_SIGSEGV {
		return &TSCError{Reason: "RDTSC traps in this process (PR_TSC_SIGSEGV)"}
	}
	return nil
}

// Stop ends the refresh goroutine and invalidates the page, so no routine
// runs on parameters nobody refreshes any more. It may be called more than
// once, and on a nil Timekeeper.
func (tk *Timekeeper) Stop() {
	if tk == nil {
		return
	}
	tk.stopOnce.Do(func() {
		close(tk.stop)
		if tk.done != nil {
			<-tk.done
		}
		tk.stopCoarseTicker()
		tk.mu.Lock()
		tk.stopped = true
		tk.page.Invalidate()
		tk.mu.Unlock()
	})
}

// Refresh performs a full refresh now. The goroutine calls it every
// Interval; with Options.Manual the caller does.
func (tk *Timekeeper) Refresh() error { return tk.unlessStopped(tk.refreshLocked) }

// Tick performs a tick now (see Options.TickInterval). The goroutine calls
// it every TickInterval; with Options.Manual the caller does.
func (tk *Timekeeper) Tick() error { return tk.unlessStopped(tk.tickLocked) }

// unlessStopped runs update (refreshLocked or tickLocked) under tk.mu, or
// returns ErrStopped after Stop: nothing writes the page once Stop has
// invalidated it.
func (tk *Timekeeper) unlessStopped(update func() error) error {
	tk.mu.Lock()
	defer tk.mu.Unlock()
	if tk.stopped {
		return ErrStopped
	}
	return update()
}

// Stats returns a copy of the statistics.
func (tk *Timekeeper) Stats() Stats {
	tk.mu.Lock()
	defer tk.mu.Unlock()
	st := tk.stats
	st.TickerRealtime = tk.tickerRealtime.Load()
	st.CoarseTicks = tk.coarseTicks()
	return st
}

func (tk *Timekeeper) loop() {
	defer close(tk.done)
	// Never unlocked: the thread exits with the goroutine, and its
	// real-time priority with it, instead of returning to Go's pool.
	runtime.LockOSThread()
	if !tk.opts.NoRealtime {
		attr := unix.SchedAttr{Policy: unix.SCHED_FIFO, Priority: 1}
		if err := unix.SchedSetAttr(0, &attr, 0); err == nil {
			tk.mu.Lock()
			tk.stats.Realtime = true
			tk.mu.Unlock()
		}
	}
	full := tk.opts.Interval
	tick := tk.opts.TickInterval
	if tick <= 0 || tick >= full {
		tick = 0
	}
	nextFull := time.Now().Add(full)
	d := full
	if tick > 0 {
		d = tick
	}
	for {
		// A system call on this thread, not a Go timer: its wake-up then
		// depends on the kernel scheduler alone (at SCHED_FIFO, on nothing
		// but the timer interrupt), not on a Go P getting to run timers.
		ts := unix.NsecToTimespec(int64(d))
		unix.Nanosleep(&ts, nil)
		select {
		case <-tk.stop:
			return
		default:
		}
		tk.mu.Lock()
		now := time.Now()
		var err error
		if tick == 0 || !now.Add(tick/2).Before(nextFull) {
			err = tk.refreshLocked()
			nextFull = now.Add(full)
		} else {
			err = tk.tickLocked()
		}
		if err != nil {
			tk.stats.LastErr = err
		}
		d = full
		if tick > 0 {
			d = tk.untilNextTick(tick)
		}
		tk.mu.Unlock()
	}
}

// untilNextTick returns how long to sleep until the next tick. When the
// tick is the kernel's (TickInterval == CoarseRes, the default), the tick is
// placed just after the kernel advances its coarse clocks, so that ours lag
// the kernel's by little more than the wake-up latency instead of up to a
// whole tick. The kernel advances them every P = CoarseRes at a fixed phase:
// at the coarse value + P + phase (phase ~500 us here: the tick interrupt and
// the timekeeping accumulation grid are both periodic). The phase is learned
// by search: a tick that finds the coarse clock advanced moves the target
// P/128 earlier; one that finds it unchanged (too early) moves it P/16 later
// and retries P/16 later; a second miss in a row (NOHZ: the kernel skipped
// ticks) waits a whole P.
func (tk *Timekeeper) untilNextTick(tick time.Duration) time.Duration {
	p := tk.page.Load()
	P := int64(p.CoarseRes)
	if p.Mode != ModeTSC || P <= 0 || time.Duration(P) != tick {
		return tick
	}
	now := valueAt(&p, ClockMonotonic, RDTSC())
	b := p.Base[ClockMonotonicCoarse]
	coarse := stime{int64(b.Sec), b.Snsec}
	advanced := coarse != tk.lastCoarse
	tk.lastCoarse = coarse
	if advanced {
		tk.misses = 0
		tk.phase = max(tk.phase-P/128, 0)
	} else {
		tk.misses++
		tk.phase = min(tk.phase+P/16, P)
		if tk.misses == 1 {
			return time.Duration(P / 16)
		}
		return time.Duration(P)
	}
	ahead, ok := sub(coarse.add((P+tk.phase)<<ClockShift), now)
	if !ok {
		return tick
	}
	d := ahead >> ClockShift
	for d <= 0 {
		d += P
	}
	return time.Duration(min(max(d, 50_000), 2*P))
}

// toHost moves a reading of clock c from our time namespace to the root one.
func (tk *Timekeeper) toHost(c int, sec, nsec int64) (int64, int64) {
	var o TimensOffset
	switch c {
	case ClockMonotonic, ClockMonotonicRaw, ClockMonotonicCoarse:
		o = tk.offs.Monotonic
	case ClockBoottime:
		o = tk.offs.Boottime
	default:
		return sec, nsec
	}
	sec -= o.Sec
	nsec -= o.Nsec
	if nsec < 0 {
		nsec += nsecPerSec
		sec--
	}
	return sec, nsec
}

// sample reads clock c bracketed by RDTSC, Tries times, and keeps the
// tightest bracket. A bracket wider than 4 times the narrowest seen for the
// clock is rejected (the thread was preempted or interrupted every time);
// each rejection widens that limit by 1/8 so a lasting slowdown is adopted.
func (tk *Timekeeper) sample(c int) sample {
	var best sample
	for i := 0; i < tk.opts.Tries; i++ {
		var ts unix.Timespec
		a := RDTSC()
		err := tk.opts.clock(int32(c), &ts)
		b := RDTSC()
		if err != nil {
			return sample{}
		}
		if b < a {
			continue // moved to a CPU whose TSC is behind
		}
		if w := b - a; !best.ok || w < best.width {
			best = sample{ok: true, tsc: a + w/2, width: w, sec: ts.Sec, nsec: ts.Nsec}
		}
	}
	if !best.ok {
		return best
	}
	mw := &tk.minWidth[c]
	if *mw == 0 || best.width < *mw {
		*mw = best.width
	}
	if best.width > 4**mw {
		*mw += *mw / 8
		tk.stats.Skipped++
		return sample{}
	}
	best.sec, best.nsec = tk.toHost(c, best.sec, best.nsec)
	return best
}

// readCoarse reads a coarse clock: no bracket, it does not move with the TSC.
func (tk *Timekeeper) readCoarse(c int) sample {
	var ts unix.Timespec
	if err := tk.opts.clock(int32(c), &ts); err != nil {
		return sample{}
	}
	s := sample{ok: true, sec: ts.Sec, nsec: ts.Nsec}
	s.sec, s.nsec = tk.toHost(c, s.sec, s.nsec)
	return s
}

// updateRates re-estimates the rates from the oldest history entry and the
// MONOTONIC and MONOTONIC_RAW samples in s, and records s in the history
// (at most one entry per HistorySpan/historyLen).
func (tk *Timekeeper) updateRates(s *[NumClocks]sample) error {
	m, r := s[ClockMonotonic], s[ClockMonotonicRaw]
	if !m.ok || !r.ok {
		return nil
	}
	cur := histEntry{
		tscM: m.tsc, mono: m.sec*nsecPerSec + m.nsec,
		tscR: r.tsc, raw: r.sec*nsecPerSec + r.nsec,
	}
	if len(tk.hist) > 0 {
		o := tk.hist[0]
		dm, dr := int64(cur.tscM-o.tscM), int64(cur.tscR-o.tscR)
		if dm <= 0 || dr <= 0 {
			tk.resetHistory(cur)
			return errors.New("vvar: TSC went backwards")
		}
		nr := rates{
			mono: float64(cur.mono-o.mono) / float64(dm) * (1 << ClockShift),
			raw:  float64(cur.raw-o.raw) / float64(dr) * (1 << ClockShift),
		}
		if !(nr.mono > 0 && nr.raw > 0) {
			tk.resetHistory(cur)
			return errors.New("vvar: kernel clock did not advance")
		}
		if tk.r.raw > 0 && (math.Abs(nr.mono/tk.r.mono-1) > rateChangeOK || math.Abs(nr.raw/tk.r.raw-1) > rateChangeOK) {
			tk.resetHistory(cur)
			return fmt.Errorf("vvar: TSC rate changed by %.0f ppm", (nr.raw/tk.r.raw-1)*1e6)
		}
		tk.r = nr
	}
	spacing := uint64(0)
	if tk.r.raw > 0 {
		spacing = uint64(float64(HistorySpan/historyLen) * (1 << ClockShift) / tk.r.raw)
	}
	if n := len(tk.hist); n == 0 || cur.tscM-tk.hist[n-1].tscM >= spacing {
		if n == historyLen {
			copy(tk.hist, tk.hist[1:])
			tk.hist = tk.hist[:n-1]
		}
		tk.hist = append(tk.hist, cur)
	}
	return nil
}

func (tk *Timekeeper) resetHistory(cur histEntry) {
	tk.hist = append(tk.hist[:0], cur)
	tk.r = rates{}
}

// anomaly records err; the page is already invalid. The rates are
// re-estimated from the current samples on, and the next full refresh
// republishes from scratch.
func (tk *Timekeeper) anomaly(err error, s *[NumClocks]sample) {
	tk.stats.Anomalies++
	tk.stats.LastErr = err
	tk.haveLast = false
	m, r := s[ClockMonotonic], s[ClockMonotonicRaw]
	if m.ok && r.ok && m.width > 0 && r.width > 0 {
		tk.resetHistory(histEntry{tscM: m.tsc, tscR: r.tsc, mono: m.sec*nsecPerSec + m.nsec, raw: r.sec*nsecPerSec + r.nsec})
	} else {
		tk.hist, tk.r = tk.hist[:0], rates{}
	}
}

func (tk *Timekeeper) calcConfig() calcConfig {
	toFixed := func(d time.Duration) int64 { return int64(d) << ClockShift }
	cyclesPerNs := 1.0 // unused: nextParams refuses to run without rates
	if tk.r.raw > 0 {
		cyclesPerNs = float64(1<<ClockShift) / tk.r.raw
	}
	return calcConfig{
		interval: math.Max(float64(tk.opts.Interval)*cyclesPerNs, 1),
		maxSlew:  tk.opts.MaxSlew,
		stepThr:  toFixed(tk.opts.StepThreshold),
		maxErr:   toFixed(tk.opts.MaxError),
		margin:   uint64(marginNs * cyclesPerNs),
	}
}

func (tk *Timekeeper) refreshLocked() error {
	var s [NumClocks]sample
	for _, c := range hresClocks {
		s[c] = tk.sample(c)
	}
	for _, c := range coarseClocks {
		s[c] = tk.readCoarse(c)
	}
	if err := tk.updateRates(&s); err != nil {
		// updateRates has restarted the rate estimate from s.
		tk.page.Invalidate()
		tk.stats.Anomalies++
		tk.stats.LastErr = err
		tk.haveLast = false
		return err
	}
	cfg := tk.calcConfig()
	var res calcResult
	tk.page.UpdateAt(tk.switchLimit(), func(p *Params, w uint64) {
		*p, res = nextParams(*p, w, &s, tk.r, cfg)
	})
	if res.anomaly != nil {
		tk.anomaly(res.anomaly, &s)
		return res.anomaly
	}
	tk.last, tk.haveLast = s, true
	st := &tk.stats
	st.Refreshes++
	st.TSCHz = 1e9 * (1 << ClockShift) / tk.r.raw
	p := tk.page.Load()
	st.Mult, st.Shift = p.Mult, p.Shift
	for c, cr := range res.clocks {
		if s[c].ok && s[c].width > 0 {
			st.BracketNs[c] = float64(s[c].width) * tk.r.raw / (1 << ClockShift)
		}
		switch cr.action {
		case actStep, actSlew:
			st.LastError[c] = cr.err
			if !IsCoarseClock(c) {
				st.MaxAbsError[c] = math.Max(st.MaxAbsError[c], math.Abs(cr.err))
			}
			if cr.action == actSlew {
				st.Slews++
			} else if cr.err > 0 && !IsCoarseClock(c) {
				st.Steps++
			}
		case actSet:
			st.LastError[c] = cr.err
			st.Sets++
		}
	}
	return nil
}

// switchLimit is how many TSC cycles may pass between the switch point W
// that nextParams computes the new parameters at and the moment the
// sequence becomes odd: half of marginNs. Continuity (new(T) >= old(T)) is
// proven for T in [W, W + marginNs]; a reader that validated the old
// parameters read its TSC before the odd store plus its own tiny lag, so
// within W + marginNs/2 + lag. Later, UpdateAt computes again on a new W.
func (tk *Timekeeper) switchLimit() uint64 {
	if !(tk.r.raw > 0) {
		return math.MaxUint64
	}
	return uint64(float64(marginNs/2<<ClockShift) / tk.r.raw)
}

// tickLocked re-reads the coarse clocks and republishes every clock from
// the samples of the last full refresh extrapolated with the current rates:
// nextParams then steps forward the clocks that the shared Mult left behind
// their own rate, keeps slewing the ones ahead, and never goes backwards.
func (tk *Timekeeper) tickLocked() error {
	if !tk.haveLast || !(tk.r.raw > 0) {
		return nil
	}
	s := tk.last
	for _, c := range coarseClocks {
		s[c] = tk.readCoarse(c)
	}
	cfg := tk.calcConfig()
	var res calcResult
	published := false
	tk.page.UpdateAt(tk.switchLimit(), func(p *Params, w uint64) {
		if p.Mode != ModeTSC {
			return // only a full refresh may (re)initialise the page
		}
		published = true
		*p, res = nextParams(*p, w, &s, tk.r, cfg)
	})
	if !published {
		return nil
	}
	if res.anomaly != nil {
		tk.anomaly(res.anomaly, &s)
		return res.anomaly
	}
	tk.stats.Ticks++
	return nil
}
