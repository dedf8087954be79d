package vvar

import (
	"encoding/binary"
	"math"
	"math/bits"
	"reflect"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// TestLayoutConstants checks every ABI constant: first against the values
// the generated assembly was written for, then against the Go structs.
func TestLayoutConstants(t *testing.T) {
	abi := []struct {
		name      string
		got, want int
	}{
		{"OffSeq", OffSeq, 0}, {"OffMode", OffMode, 4}, {"OffVersion", OffVersion, 8},
		{"OffShift", OffShift, 12}, {"OffMult", OffMult, 16}, {"OffTSCBase", OffTSCBase, 24},
		{"OffBase", OffBase, 32}, {"BaseSize", BaseSize, 16}, {"OffBaseSec", OffBaseSec, 0},
		{"OffBaseSnsec", OffBaseSnsec, 8}, {"OffHresRes", OffHresRes, 224},
		{"OffCoarseRes", OffCoarseRes, 232}, {"OffMaxDelta", OffMaxDelta, 240}, {"OffCoarseTSC", OffCoarseTSC, 248}, {"PageSize", PageSize, 4096},
		{"OffTimensOffsets", OffTimensOffsets, 0}, {"TimensOffsetSize", TimensOffsetSize, 16},
		{"OffTimensOffSec", OffTimensOffSec, 0}, {"OffTimensOffNsec", OffTimensOffNsec, 8},
		{"NumClocks", NumClocks, 12},
		{"ModeInvalid", ModeInvalid, 0}, {"ModeTSC", ModeTSC, 1}, {"Version", Version, 3},
		{"ClockShift", ClockShift, 24},
		{"ClockRealtime", ClockRealtime, unix.CLOCK_REALTIME},
		{"ClockMonotonic", ClockMonotonic, unix.CLOCK_MONOTONIC},
		{"ClockProcessCPUTimeID", ClockProcessCPUTimeID, unix.CLOCK_PROCESS_CPUTIME_ID},
		{"ClockThreadCPUTimeID", ClockThreadCPUTimeID, unix.CLOCK_THREAD_CPUTIME_ID},
		{"ClockMonotonicRaw", ClockMonotonicRaw, unix.CLOCK_MONOTONIC_RAW},
		{"ClockRealtimeCoarse", ClockRealtimeCoarse, unix.CLOCK_REALTIME_COARSE},
		{"ClockMonotonicCoarse", ClockMonotonicCoarse, unix.CLOCK_MONOTONIC_COARSE},
		{"ClockBoottime", ClockBoottime, unix.CLOCK_BOOTTIME},
		{"ClockRealtimeAlarm", ClockRealtimeAlarm, unix.CLOCK_REALTIME_ALARM},
		{"ClockBoottimeAlarm", ClockBoottimeAlarm, unix.CLOCK_BOOTTIME_ALARM},
		{"ClockTAI", ClockTAI, unix.CLOCK_TAI},
	}
	for _, c := range abi {
		if c.got != c.want {
			t.Errorf("%s = %d, want %d", c.name, c.got, c.want)
		}
	}

	// Every field of every struct the assembly reads, in declaration
	// order, with the offset and size it uses. "_" is the padding to the
	// end of the page.
	checkStruct(t, Page{}, []fieldCase{
		{"seq", OffSeq, 4}, {"mode", OffMode, 4}, {"version", OffVersion, 4}, {"shift", OffShift, 4},
		{"mult", OffMult, 8}, {"tscBase", OffTSCBase, 8}, {"base", OffBase, NumClocks * BaseSize},
		{"hresRes", OffHresRes, 8}, {"coarseRes", OffCoarseRes, 8}, {"maxDelta", OffMaxDelta, 8},
		{"coarseTSC", OffCoarseTSC, 8}, {"_", endOfPageFields, PageSize - endOfPageFields},
	}, PageSize)
	checkStruct(t, Base{}, []fieldCase{{"Sec", OffBaseSec, 8}, {"Snsec", OffBaseSnsec, 8}}, BaseSize)
	checkStruct(t, TimensPage{}, []fieldCase{
		{"Offsets", OffTimensOffsets, NumClocks * TimensOffsetSize},
		{"_", endOfTimensFields, PageSize - endOfTimensFields},
	}, PageSize)
	checkStruct(t, TimensOffset{}, []fieldCase{{"Sec", OffTimensOffSec, 8}, {"Nsec", OffTimensOffNsec, 8}}, TimensOffsetSize)
	if a := unsafe.Alignof(Page{}); a != 8 {
		t.Errorf("Alignof(Page) = %d, want 8", a)
	}
	if OffBase+NumClocks*BaseSize != OffHresRes {
		t.Errorf("bases end at %d, HresRes at %d", OffBase+NumClocks*BaseSize, OffHresRes)
	}
}

// fieldCase is one struct field as the assembly addresses it.
type fieldCase struct {
	name      string
	off, size uintptr
}

// checkStruct compares the fields of v, by reflection, with want: the same
// fields in the same order, each at the offset and of the size the assembly
// uses, and the struct of the given size. A field added, removed, moved or
// resized in Go without its constant is an error.
func checkStruct(t *testing.T, v any, want []fieldCase, size uintptr) {
	t.Helper()
	typ := reflect.TypeOf(v)
	if typ.Size() != size {
		t.Errorf("Sizeof(%s) = %d, the assembly uses %d", typ.Name(), typ.Size(), size)
	}
	if typ.NumField() != len(want) {
		t.Errorf("%s has %d fields, the assembly knows %d", typ.Name(), typ.NumField(), len(want))
	}
	for i := range min(typ.NumField(), len(want)) {
		f, w := typ.Field(i), want[i]
		if f.Name != w.name || f.Offset != w.off || f.Type.Size() != w.size {
			t.Errorf("%s field %d: %s at %d, %d bytes; the assembly uses %s at %d, %d bytes",
				typ.Name(), i, f.Name, f.Offset, f.Type.Size(), w.name, w.off, w.size)
		}
	}
}

// TestLayoutBytes writes distinct values through Store and reads them back
// at the constant offsets, as the assembly does.
func TestLayoutBytes(t *testing.T) {
	var p Page
	v := Params{
		Mode: 0x01020304, Version: 0x05060708, Shift: 0x090a0b0c,
		Mult: 0x1112131415161718, TSCBase: 0x2122232425262728,
		HresRes: 0x3132333435363738, CoarseRes: 0x4142434445464748, MaxDelta: 0x7172737475767778,
		CoarseTSC: 0x8182838485868788,
	}
	for c := range v.Base {
		v.Base[c] = Base{Sec: 0x5100000000000000 + uint64(c), Snsec: 0x6100000000000000 + uint64(c)}
	}
	p.Store(v)
	mem := unsafe.Slice((*byte)(unsafe.Pointer(&p)), PageSize)
	u32 := func(off int) uint64 { return uint64(binary.LittleEndian.Uint32(mem[off:])) }
	u64 := func(off int) uint64 { return binary.LittleEndian.Uint64(mem[off:]) }
	checks := []struct {
		name      string
		got, want uint64
	}{
		{"Seq", u32(OffSeq), 2},
		{"Mode", u32(OffMode), uint64(v.Mode)},
		{"Version", u32(OffVersion), uint64(v.Version)},
		{"Shift", u32(OffShift), uint64(v.Shift)},
		{"Mult", u64(OffMult), v.Mult},
		{"TSCBase", u64(OffTSCBase), v.TSCBase},
		{"HresRes", u64(OffHresRes), v.HresRes},
		{"CoarseRes", u64(OffCoarseRes), v.CoarseRes},
		{"MaxDelta", u64(OffMaxDelta), v.MaxDelta},
		{"CoarseTSC", u64(OffCoarseTSC), v.CoarseTSC},
	}
	for c := range v.Base {
		checks = append(checks,
			struct {
				name      string
				got, want uint64
			}{"Base.Sec", u64(OffBase + c*BaseSize + OffBaseSec), v.Base[c].Sec},
			struct {
				name      string
				got, want uint64
			}{"Base.Snsec", u64(OffBase + c*BaseSize + OffBaseSnsec), v.Base[c].Snsec})
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: read %#x at its offset, want %#x", c.name, c.got, c.want)
		}
	}
	for i := endOfPageFields; i < PageSize; i++ {
		if mem[i] != 0 {
			t.Fatalf("padding byte %d = %#x", i, mem[i])
		}
	}

	var tp TimensPage
	TimensOffsets{Monotonic: TimensOffset{-7, 8}, Boottime: TimensOffset{9, 10}}.Fill(&tp)
	tm := unsafe.Slice((*byte)(unsafe.Pointer(&tp)), PageSize)
	for c := 0; c < NumClocks; c++ {
		sec := int64(binary.LittleEndian.Uint64(tm[OffTimensOffsets+c*TimensOffsetSize+OffTimensOffSec:]))
		nsec := int64(binary.LittleEndian.Uint64(tm[OffTimensOffsets+c*TimensOffsetSize+OffTimensOffNsec:]))
		want := TimensOffset{}
		switch c {
		case ClockMonotonic, ClockMonotonicRaw, ClockMonotonicCoarse:
			want = TimensOffset{-7, 8}
		case ClockBoottime, ClockBoottimeAlarm:
			want = TimensOffset{9, 10}
		}
		if (TimensOffset{sec, nsec}) != want {
			t.Errorf("timens slot %d = {%d %d}, want %v", c, sec, nsec, want)
		}
	}
}

func TestReadFallbacks(t *testing.T) {
	var p Page
	v := Params{Mode: ModeTSC, Version: Version, Shift: ClockShift, Mult: 1 << ClockShift, TSCBase: 100, HresRes: 1, CoarseRes: 4000000}
	v.MaxDelta = MaxDeltaFor(v.Mult)
	v.CoarseTSC = 1000
	for c := range v.Base {
		v.Base[c] = Base{Sec: 10, Snsec: 5 << ClockShift}
	}
	p.Store(v)
	for c := -3; c < 16; c++ {
		_, _, ok := p.Read(c, 200)
		_, rok := p.Res(c)
		if want := IsDataPageClock(c); ok != want || rok != want {
			t.Errorf("clock %d: Read ok=%v Res ok=%v, want %v", c, ok, rok, want)
		}
	}
	// 100 cycles at 1 ns per cycle; coarse clocks do not move.
	if s, ns, _ := p.Read(ClockMonotonic, 200); s != 10 || ns != 105 {
		t.Errorf("MONOTONIC = %d.%09d, want 10.000000105", s, ns)
	}
	if s, ns, _ := p.Read(ClockMonotonicCoarse, 200); s != 10 || ns != 5 {
		t.Errorf("MONOTONIC_COARSE = %d.%09d, want 10.000000005", s, ns)
	}
	// At and past CoarseTSC the coarse clocks go to the system call; the
	// others do not care.
	for _, tsc := range []uint64{1000, 1001, math.MaxUint64} {
		for _, c := range []int{ClockRealtimeCoarse, ClockMonotonicCoarse} {
			if s, ns, ok := p.Read(c, tsc); ok {
				t.Errorf("clock %d at TSC %d (CoarseTSC 1000) = %d.%09d, want the system call", c, tsc, s, ns)
			}
		}
		if _, _, ok := p.Read(ClockMonotonic, tsc); !ok && tsc < 1<<40 {
			t.Errorf("MONOTONIC at TSC %d: ok=false", tsc)
		}
	}
	if _, _, ok := p.Read(ClockMonotonicCoarse, 999); !ok {
		t.Error("MONOTONIC_COARSE just before CoarseTSC: ok=false, want the page's value")
	}
	// TSC before the base: clamped.
	if s, ns, _ := p.Read(ClockMonotonic, 50); s != 10 || ns != 5 {
		t.Errorf("MONOTONIC before base = %d.%09d, want 10.000000005", s, ns)
	}
	// Carry over several seconds.
	if s, ns, _ := p.Read(ClockMonotonic, 100+2_999_999_999); s != 13 || ns != 4 {
		t.Errorf("MONOTONIC +3s = %d.%09d, want 13.000000004", s, ns)
	}
	if r, _ := p.Res(ClockRealtime); r != 1 {
		t.Errorf("res REALTIME = %d", r)
	}
	if r, _ := p.Res(ClockRealtimeCoarse); r != 4000000 {
		t.Errorf("res REALTIME_COARSE = %d", r)
	}
	p.Invalidate()
	if _, _, ok := p.Read(ClockMonotonic, 200); ok {
		t.Error("Read ok on an invalid page")
	}
	if _, ok := p.Res(ClockMonotonic); ok {
		t.Error("Res ok on an invalid page")
	}
	if got := p.Load(); got.Mult != v.Mult || got.Base != v.Base {
		t.Error("Invalidate changed more than the mode")
	}
}

// TestParamsLayout: publish (assembly) copies Params into the Page by
// offset: Mode, Version and Shift at 0, 4, 8 (the Page's 4, 8, 12), and
// everything from Mult on at the Page's own offsets.
func TestParamsLayout(t *testing.T) {
	var v Params
	for _, c := range []struct {
		name      string
		got, want uintptr
	}{
		{"Mode", unsafe.Offsetof(v.Mode), OffMode - 4},
		{"Version", unsafe.Offsetof(v.Version), OffVersion - 4},
		{"Shift", unsafe.Offsetof(v.Shift), OffShift - 4},
		{"Mult", unsafe.Offsetof(v.Mult), OffMult},
		{"TSCBase", unsafe.Offsetof(v.TSCBase), OffTSCBase},
		{"Base", unsafe.Offsetof(v.Base), OffBase},
		{"HresRes", unsafe.Offsetof(v.HresRes), OffHresRes},
		{"CoarseRes", unsafe.Offsetof(v.CoarseRes), OffCoarseRes},
		{"size", unsafe.Sizeof(v), endOfPageFields},
	} {
		if c.got != c.want {
			t.Errorf("Params.%s at %d, publish assumes %d", c.name, c.got, c.want)
		}
	}
	// publish with a limit already passed changes nothing but the sequence.
	var p Page
	p.Store(paramsFor(3))
	s := p.Seq()
	before := p.Load()
	q := paramsFor(4)
	if r := publish(&p, &q, RDTSC()-1e12, 1000, s); r != publishLate {
		t.Fatalf("publish with a switch point 1e12 cycles old = %d, want publishLate", r)
	}
	if p.Load() != before || p.Seq() != s+2 {
		t.Fatalf("aborted publish changed the page (seq %d -> %d)", s, p.Seq())
	}
	// Another writer published since the caller read the sequence.
	if r := publish(&p, &q, RDTSC(), math.MaxUint64, s); r != publishConflict {
		t.Fatalf("publish with a stale sequence = %d, want publishConflict", r)
	}
	if p.Load() != before || p.Seq() != s+2 {
		t.Fatalf("conflicting publish changed the page (seq %d -> %d)", s+2, p.Seq())
	}
	if r := publish(&p, &q, RDTSC(), math.MaxUint64, s+2); r != publishDone || p.Load() != q || p.Seq() != s+4 {
		t.Fatalf("publish = %d: got %+v seq %d", r, p.Load(), p.Seq())
	}
}

// TestReadMaxDelta: past MaxDelta the reference reader asks for the system
// call instead of wrapping; at MaxDelta the largest Snsec does not wrap.
func TestReadMaxDelta(t *testing.T) {
	const mult = 8_000_000 // ~2.1 GHz at ClockShift 24
	max := MaxDeltaFor(mult)
	if hi, lo := bits.Mul64(max, mult); hi != 0 || lo > math.MaxUint64-(nsecPerSec<<ClockShift-1) {
		t.Fatalf("MaxDeltaFor(%d) = %d: %d*%d overflows with the largest Snsec", mult, max, max, mult)
	}
	if hi, lo := bits.Mul64(max+1, mult); hi == 0 && lo <= math.MaxUint64-(nsecPerSec<<ClockShift-1) {
		t.Errorf("MaxDeltaFor(%d) = %d is not the largest safe delta", mult, max)
	}
	secs := float64(max) * mult / (1 << ClockShift) / 1e9
	if secs < 1000 || secs > 1100 {
		t.Errorf("MaxDelta covers %.0f s, want about 1098 s", secs)
	}
	var p Page
	v := Params{Mode: ModeTSC, Version: Version, Shift: ClockShift, Mult: mult, TSCBase: 1000, MaxDelta: max, CoarseTSC: math.MaxUint64}
	for c := range v.Base {
		v.Base[c] = Base{Sec: 10, Snsec: nsecPerSec<<ClockShift - 1}
	}
	p.Store(v)
	if _, _, ok := p.Read(ClockMonotonic, 1000+max); !ok {
		t.Errorf("Read at TSCBase+MaxDelta: ok=false, want a value")
	}
	for _, c := range []int{ClockRealtime, ClockMonotonic, ClockMonotonicRaw, ClockBoottime, ClockTAI} {
		if s, ns, ok := p.Read(c, 1000+max+1); ok {
			t.Errorf("clock %d at TSCBase+MaxDelta+1 = %d.%09d, want the system call", c, s, ns)
		}
	}
	if _, _, ok := p.Read(ClockMonotonicCoarse, 1000+max+1); !ok {
		t.Errorf("MONOTONIC_COARSE ignores the TSC, but Read asks for the system call")
	}
}
