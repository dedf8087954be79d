//go:build linux && amd64

// Package kvdso calls the running kernel's own vDSO from Go: it finds the
// vDSO through the auxiliary vector (AT_SYSINFO_EHDR), resolves its
// functions by name and version (LINUX_2.6, as the kernel's
// tools/testing/selftests/vDSO/parse_vdso.c does), and calls them through a
// small assembly trampoline with the C calling convention.
//
// It exists to measure vdsogen's routines against the kernel: the kernel's
// vDSO reads the same clocks as the system call in tens of nanoseconds,
// fine enough to bracket a single read, where a system call (about 1.3 us
// on the development VM) is not. Calls do not allocate.
//
// Inside a time namespace the kernel maps its time-namespace page for the
// process, so these functions return the namespace's clocks, exactly as
// the system call does.
package kvdso

import (
	"bytes"
	"debug/elf"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ErrNoVDSO is returned when the process has no vDSO (AT_SYSINFO_EHDR
// absent: a kernel booted with vdso=0, or a process started without one).
var ErrNoVDSO = errors.New("kvdso: the process has no vDSO")

// Version is the symbol version the x86-64 vDSO defines its functions in.
const Version = "LINUX_2.6"

// atSysinfoEhdr is AT_SYSINFO_EHDR, the auxv key of the vDSO's ELF header.
const atSysinfoEhdr = 33

// Funcs are the addresses of the kernel vDSO's functions (0: absent).
type Funcs struct {
	ClockGettime uintptr // __vdso_clock_gettime
	Gettimeofday uintptr // __vdso_gettimeofday
	Time         uintptr // __vdso_time
	ClockGetres  uintptr // __vdso_clock_getres
}

var (
	once    sync.Once
	funcs   Funcs
	loadErr error
)

// Load finds and parses the vDSO once and returns its functions. Every
// other function of the package calls it; call it first to learn why the
// kernel's vDSO is unusable.
func Load() (Funcs, error) {
	once.Do(func() { funcs, loadErr = load() })
	return funcs, loadErr
}

// Available reports whether the kernel's clock_gettime can be called.
func Available() bool {
	f, err := Load()
	return err == nil && f.ClockGettime != 0
}

// Clock returns a reader of the kernel's clocks through the kernel's own
// vDSO, in the form vvar.Options.Clock takes, or nil (the system call) if
// the process has none. Its brackets are ~50 ns wide where a system call's
// are ~1.3 us: a timekeeper then places its samples about 25 times more
// precisely.
func Clock() func(int32, *unix.Timespec) error {
	if !Available() {
		return nil
	}
	return func(clock int32, ts *unix.Timespec) error {
		if rc := ClockGettime(clock, ts); rc != 0 {
			return unix.Errno(-rc)
		}
		return nil
	}
}

func load() (Funcs, error) {
	base, err := sysinfoEhdr()
	if err != nil {
		return Funcs{}, err
	}
	size, err := mappingSize(base)
	if err != nil {
		return Funcs{}, err
	}
	// A copy, read through /proc/self/mem (debug/elf wants an io.ReaderAt;
	// the mapping is the kernel's, read and execute only).
	img, err := readMem(base, size)
	if err != nil {
		return Funcs{}, err
	}
	syms, err := Resolve(img, "__vdso_clock_gettime", "__vdso_gettimeofday", "__vdso_time", "__vdso_clock_getres")
	if err != nil {
		return Funcs{}, err
	}
	addr := func(name string) uintptr {
		if v, ok := syms[name]; ok {
			return base + uintptr(v)
		}
		return 0
	}
	f := Funcs{
		ClockGettime: addr("__vdso_clock_gettime"),
		Gettimeofday: addr("__vdso_gettimeofday"),
		Time:         addr("__vdso_time"),
		ClockGetres:  addr("__vdso_clock_getres"),
	}
	if f.ClockGettime == 0 {
		return f, errors.New("kvdso: the vDSO has no __vdso_clock_gettime@" + Version)
	}
	return f, nil
}

// sysinfoEhdr returns AT_SYSINFO_EHDR from the auxiliary vector.
func sysinfoEhdr() (uintptr, error) {
	auxv, err := unix.Auxv()
	if err != nil {
		return 0, fmt.Errorf("kvdso: auxv: %w", err)
	}
	for _, kv := range auxv {
		if kv[0] == atSysinfoEhdr {
			if kv[1] == 0 {
				break
			}
			return kv[1], nil
		}
	}
	return 0, ErrNoVDSO
}

// readMem reads size bytes of this process's memory at addr.
func readMem(addr uintptr, size int) ([]byte, error) {
	f, err := os.Open("/proc/self/mem")
	if err != nil {
		return nil, fmt.Errorf("kvdso: %w", err)
	}
	defer f.Close()
	img := make([]byte, size)
	if _, err := f.ReadAt(img, int64(addr)); err != nil {
		return nil, fmt.Errorf("kvdso: reading the vDSO at %#x: %w", addr, err)
	}
	return img, nil
}

// mappingSize returns the length of the [vdso] mapping of /proc/self/maps,
// which must start at base.
func mappingSize(base uintptr) (int, error) {
	maps, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		return 0, fmt.Errorf("kvdso: %w", err)
	}
	for _, line := range strings.Split(string(maps), "\n") {
		f := strings.Fields(line)
		if len(f) < 6 || f[5] != "[vdso]" {
			continue
		}
		lo, hi, ok := strings.Cut(f[0], "-")
		start, err1 := strconv.ParseUint(lo, 16, 64)
		end, err2 := strconv.ParseUint(hi, 16, 64)
		if !ok || err1 != nil || err2 != nil || end <= start {
			return 0, fmt.Errorf("kvdso: bad /proc/self/maps line %q", line)
		}
		if uintptr(start) != base {
			return 0, fmt.Errorf("kvdso: [vdso] mapped at %#x, AT_SYSINFO_EHDR is %#x", start, base)
		}
		return int(end - start), nil
	}
	return 0, errors.New("kvdso: no [vdso] in /proc/self/maps")
}

// Resolve looks up names among the dynamic symbols of the vDSO image img
// and returns, for each one found, its offset from the image's load
// address (where its ELF header is mapped). Like parse_vdso.c it accepts
// only defined GLOBAL or WEAK FUNC symbols whose version is Version (any
// version if the image has no version table), and it rebases by the first
// PT_LOAD (load address + p_offset - p_vaddr).
func Resolve(img []byte, names ...string) (map[string]uint64, error) {
	f, err := elf.NewFile(bytes.NewReader(img))
	if err != nil {
		return nil, fmt.Errorf("kvdso: parsing the vDSO: %w", err)
	}
	if f.Class != elf.ELFCLASS64 || f.Machine != elf.EM_X86_64 || f.Type != elf.ET_DYN {
		return nil, fmt.Errorf("kvdso: vDSO is %v %v %v, want ELFCLASS64 EM_X86_64 ET_DYN", f.Class, f.Machine, f.Type)
	}
	var load *elf.Prog
	for _, p := range f.Progs {
		if p.Type == elf.PT_LOAD {
			load = p
			break
		}
	}
	if load == nil {
		return nil, errors.New("kvdso: vDSO has no PT_LOAD")
	}
	syms, err := f.DynamicSymbols()
	if err != nil {
		return nil, fmt.Errorf("kvdso: vDSO symbols: %w", err)
	}
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	out := map[string]uint64{}
	for _, s := range syms {
		if !want[s.Name] || s.Section == elf.SHN_UNDEF || elf.ST_TYPE(s.Info) != elf.STT_FUNC {
			continue
		}
		if b := elf.ST_BIND(s.Info); b != elf.STB_GLOBAL && b != elf.STB_WEAK {
			continue
		}
		if s.HasVersion && s.Version != Version {
			continue
		}
		out[s.Name] = s.Value + load.Off - load.Vaddr
	}
	return out, nil
}

// The trampolines (call_amd64.s) call fn with the C ABI on a frame of their
// own, large enough for the kernel's vDSO.
//
//go:noescape
func callIP(fn uintptr, a uintptr, p unsafe.Pointer) int64

//go:noescape
func callPP(fn uintptr, p, q unsafe.Pointer) int64

func probeAddr() uintptr

// ClockGettime calls the kernel's __vdso_clock_gettime(clock, ts) and
// returns its result: 0, or a negative errno (-EINVAL for an invalid
// clock). It panics if the vDSO is unusable (see Load, Available).
func ClockGettime(clock int32, ts *unix.Timespec) int32 {
	return int32(callIP(get(&funcs.ClockGettime), uintptr(int64(clock)), unsafe.Pointer(ts)))
}

// CallClockGettime calls fn, any function with __vdso_clock_gettime's C
// signature (a generated image's entry, say), through the same trampoline
// ClockGettime uses for the kernel's: a benchmark that calls both this way
// compares the routines, not two ways of reaching them.
func CallClockGettime(fn uintptr, clock int32, ts *unix.Timespec) int32 {
	if fn == 0 {
		panic("kvdso: CallClockGettime of address 0")
	}
	return int32(callIP(fn, uintptr(int64(clock)), unsafe.Pointer(ts)))
}

// ClockGetres calls __vdso_clock_getres(clock, res); res may be nil.
func ClockGetres(clock int32, res *unix.Timespec) int32 {
	return int32(callIP(get(&funcs.ClockGetres), uintptr(int64(clock)), unsafe.Pointer(res)))
}

// Gettimeofday calls __vdso_gettimeofday(tv, tz); either may be nil.
func Gettimeofday(tv *unix.Timeval, tz unsafe.Pointer) int32 {
	return int32(callPP(get(&funcs.Gettimeofday), unsafe.Pointer(tv), tz))
}

// Time calls __vdso_time(t) and returns the seconds; t may be nil.
func Time(t *int64) int64 {
	return callPP(get(&funcs.Time), unsafe.Pointer(t), nil)
}

// Nanotime returns CLOCK_MONOTONIC in nanoseconds from the kernel's vDSO.
func Nanotime() int64 { return Now(unix.CLOCK_MONOTONIC) }

// Now returns clock in nanoseconds from the kernel's vDSO (0 on error,
// which only an invalid clock gives).
func Now(clock int32) int64 {
	var ts unix.Timespec
	if callIP(get(&funcs.ClockGettime), uintptr(int64(clock)), unsafe.Pointer(&ts)) != 0 {
		return 0
	}
	return ts.Sec*1e9 + ts.Nsec
}

// get returns the function at *p after making sure Load has run (an atomic
// load once it has); it panics rather than call address 0.
func get(p *uintptr) uintptr {
	once.Do(func() { funcs, loadErr = load() })
	if *p == 0 {
		if loadErr != nil {
			panic(loadErr)
		}
		panic("kvdso: function missing from the vDSO")
	}
	return *p
}
