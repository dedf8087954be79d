package vdso

import (
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"syscall"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/vdsogen/vdsogen/vdso/internal/vvar"
)

// The exact cost of one call, counted instruction by instruction: the test
// re-executes itself as a traced child that calls one routine from init
// (on the main thread, which is the traced one), plants an INT3 at the
// entry, and single-steps until the entry returns. Counts do not depend on
// timing, so they can be asserted exactly.

const (
	stepChildEnv = "VDSOGEN_STEP_CHILD"
	stepClockEnv = "VDSOGEN_STEP_CLOCK"
)

// stepTargets are the routines the cost test can count, by name.
var stepTargets = map[string]struct {
	fn      clockFunc
	variant string
	entry   string
}{
	"clock_gettime_host":        {clock_gettime_host, "host", "clock_gettime"},
	"clock_gettime_timens":      {clock_gettime_timens, "timens", "clock_gettime"},
	"clock_gettime_nomarker":    {clock_gettime_nomarker, "nomarker", "clock_gettime"},
	"clock_gettime_tl_host":     {clock_gettime_tl_host, "host", "clock_gettime_tl"},
	"clock_gettime_tl_timens":   {clock_gettime_tl_timens, "timens", "clock_gettime_tl"},
	"clock_gettime_tl_nomarker": {clock_gettime_tl_nomarker, "nomarker", "clock_gettime_tl"},
	"wall_mono_host":            {wallMonoStep(wall_mono_host), "host", "wall_mono"},
	"wall_mono_timens":          {wallMonoStep(wall_mono_timens), "timens", "wall_mono"},
	"wall_mono_nomarker":        {wallMonoStep(wall_mono_nomarker), "nomarker", "wall_mono"},
}

// wallMonoStep calls a wall_mono stub in the shape of a clock routine (the
// clock is ignored), so that the child can step it like the others.
func wallMonoStep(fn func(wall, mono *Timespec) int32) clockFunc {
	return func(_ int32, ts *Timespec) int32 {
		var mono Timespec
		return fn(ts, &mono)
	}
}

func init() {
	name := os.Getenv(stepChildEnv)
	if name == "" {
		return
	}
	// The traced child: a valid page, no writer running, one call.
	tk, err := vvar.Start(&vdsoData, &vdsoTimens, vvar.Options{Manual: true})
	if err != nil {
		fmt.Fprintln(os.Stderr, "step child:", err)
		os.Exit(3)
	}
	if err := tk.Refresh(); err != nil { // a fresh base: no second carry
		fmt.Fprintln(os.Stderr, "step child:", err)
		os.Exit(3)
	}
	// The page path of the coarse clocks: no writer runs, so keep the
	// coarse bases servable however long stepping takes (CoarseTSC would
	// otherwise pass within a tick and send the read to the kernel).
	vdsoData.Update(func(p *vvar.Params) { p.CoarseTSC = math.MaxUint64 })
	clock, err := strconv.Atoi(os.Getenv(stepClockEnv))
	if err != nil {
		fmt.Fprintln(os.Stderr, "step child: clock:", err)
		os.Exit(3)
	}
	var ts Timespec
	stepTargets[name].fn(int32(clock), &ts)
	os.Exit(0)
}

// entryAddr is where an entry of a variant sits in this (non-PIE) binary,
// which is also where it sits in the re-executed child.
func entryAddr(t *testing.T, variant, entry string) unsafe.Pointer {
	t.Helper()
	v, code := linked(t, variant)
	e, ok := v.Entry(entry)
	if !ok {
		t.Fatalf("no entry %s in %s", entry, variant)
	}
	return unsafe.Pointer(&code[e.Offset])
}

// countSteps runs the child for target and returns how many instructions
// one call of its entry for clock executes, RET included.
func countSteps(t *testing.T, target string, clock int32) int {
	t.Helper()
	runtime.LockOSThread() // every ptrace request must come from this thread
	defer runtime.UnlockOSThread()
	tg := stepTargets[target]
	entry := entryAddr(t, tg.variant, tg.entry)
	addr := uintptr(entry)

	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), stepChildEnv+"="+target, stepClockEnv+"="+strconv.Itoa(int(clock)))
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Ptrace: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting the traced child: %v", err)
	}
	pid := cmd.Process.Pid
	defer func() {
		unix.Kill(pid, unix.SIGKILL)
		var ws unix.WaitStatus
		unix.Wait4(pid, &ws, 0, nil)
	}()
	wait := func() unix.WaitStatus {
		var ws unix.WaitStatus
		if _, err := unix.Wait4(pid, &ws, 0, nil); err != nil {
			t.Fatalf("wait: %v", err)
		}
		if ws.Exited() || ws.Signaled() {
			t.Fatalf("the traced child ended (status %v) before the entry returned", ws)
		}
		return ws
	}
	wait() // stopped at exec
	if err := unix.PtraceSetOptions(pid, unix.PTRACE_O_EXITKILL); err != nil {
		t.Fatalf("PTRACE_SETOPTIONS: %v", err)
	}
	word := make([]byte, 8)
	if _, err := unix.PtracePeekText(pid, addr, word); err != nil {
		t.Fatalf("PEEKTEXT: %v", err)
	}
	if mine := unsafe.Slice((*byte)(entry), 8); string(mine) != string(word) {
		t.Fatalf("the child's code at %#x differs from ours: % x vs % x (a PIE binary?)", addr, word, mine)
	}
	orig := word[0]
	word[0] = 0xcc
	if _, err := unix.PtracePokeText(pid, addr, word); err != nil {
		t.Fatalf("POKETEXT: %v", err)
	}
	// Run to the breakpoint, passing on whatever else stops the child.
	var regs unix.PtraceRegs
	for sig := 0; ; {
		if err := unix.PtraceCont(pid, sig); err != nil {
			t.Fatalf("PTRACE_CONT: %v", err)
		}
		ws := wait()
		sig = 0
		if ws.StopSignal() != unix.SIGTRAP {
			sig = int(ws.StopSignal())
			continue
		}
		if err := unix.PtraceGetRegs(pid, &regs); err != nil {
			t.Fatalf("GETREGS: %v", err)
		}
		if uintptr(regs.Rip) == addr+1 {
			break
		}
	}
	word[0] = orig
	if _, err := unix.PtracePokeText(pid, addr, word); err != nil {
		t.Fatalf("POKETEXT: %v", err)
	}
	regs.Rip = uint64(addr)
	if err := unix.PtraceSetRegs(pid, &regs); err != nil {
		t.Fatalf("SETREGS: %v", err)
	}
	ret := make([]byte, 8)
	if _, err := unix.PtracePeekData(pid, uintptr(regs.Rsp), ret); err != nil {
		t.Fatalf("PEEKDATA: %v", err)
	}
	retAddr := binary.LittleEndian.Uint64(ret)
	// Step to the return address. Signals that arrive meanwhile are held
	// back: delivering one would step into the Go signal handler.
	steps := 0
	for regs.Rip != retAddr {
		if err := unix.PtraceSingleStep(pid); err != nil {
			t.Fatalf("PTRACE_SINGLESTEP: %v", err)
		}
		if ws := wait(); ws.StopSignal() != unix.SIGTRAP {
			continue // not a step: drop the signal, step again
		}
		steps++
		if err := unix.PtraceGetRegs(pid, &regs); err != nil {
			t.Fatalf("GETREGS: %v", err)
		}
		if steps > 10000 {
			t.Fatalf("%s: still stepping after %d instructions", target, steps)
		}
	}
	return steps
}

// minSteps counts a few times and keeps the least: a normalisation carry
// (rare: the base was refreshed just before) adds instructions.
func minSteps(t *testing.T, target string, clock int32) int {
	best := 0
	for i := 0; i < 3; i++ {
		if n := countSteps(t, target, clock); best == 0 || n < best {
			best = n
		}
	}
	return best
}

// TestHostPathCost, for every clock the data page serves: the host variant
// of the static-branch routine executes exactly one instruction more than
// the marker-free build (the NOP5); the three-label host path executes
// exactly as many. The counts are logged per clock (docs/performance.md).
func TestHostPathCost(t *testing.T) {
	if testing.Short() {
		t.Skip("re-executes the test binary under ptrace; skipped with -short")
	}
	for _, clock := range dataPageClocks {
		name := clockNames[clock]
		host, timens, nomarker := minSteps(t, "clock_gettime_host", clock), minSteps(t, "clock_gettime_timens", clock), minSteps(t, "clock_gettime_nomarker", clock)
		tlHost, tlTimens, tlNomarker := minSteps(t, "clock_gettime_tl_host", clock), minSteps(t, "clock_gettime_tl_timens", clock), minSteps(t, "clock_gettime_tl_nomarker", clock)
		t.Logf("%-16s static branch: host=%d timens=%d nomarker=%d; three-label: host=%d timens=%d nomarker=%d",
			name, host, timens, nomarker, tlHost, tlTimens, tlNomarker)
		if host != nomarker+1 {
			t.Errorf("%s: static branch: host path takes %d instructions, want nomarker+1 = %d", name, host, nomarker+1)
		}
		if tlHost != tlNomarker {
			t.Errorf("%s: three-label: host path takes %d instructions, want nomarker = %d", name, tlHost, tlNomarker)
		}
	}
	host, timens, nomarker := minSteps(t, "wall_mono_host", 0), minSteps(t, "wall_mono_timens", 0), minSteps(t, "wall_mono_nomarker", 0)
	t.Logf("wall_mono        static branch: host=%d timens=%d nomarker=%d", host, timens, nomarker)
	if host != nomarker+1 {
		t.Errorf("wall_mono: host path takes %d instructions, want nomarker+1 = %d", host, nomarker+1)
	}
}
