//go:build linux && amd64

package launch

import (
	"encoding/binary"
	"errors"
	"fmt"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// atSysinfoEhdr is the auxiliary vector's entry for the vDSO's address.
const atSysinfoEhdr = 33

// traceOptions: follow every new process and thread and every exec, and
// kill the tracees if the tracer dies, so that no program runs on a data
// page nobody keeps.
const traceOptions = unix.PTRACE_O_TRACEEXEC | unix.PTRACE_O_TRACEFORK | unix.PTRACE_O_TRACEVFORK |
	unix.PTRACE_O_TRACECLONE | unix.PTRACE_O_EXITKILL

// mapping is what an exec'd program gets: the memfd's data pages and code.
type mapping struct {
	path       string // /proc/<launcher>/fd/<memfd>, opened by the tracee
	dataSize   int
	codeOffset int64
	codeSize   int
}

// injector runs system calls in a stopped tracee, one at a time, on a
// `syscall` instruction written over the word at its RIP (restored by
// done). Every ptrace call must come from the tracing thread.
type injector struct {
	pid     int
	saved   unix.PtraceRegs
	rip     uintptr
	word    [8]byte
	patched bool
	// pending are signals that arrived while a call was being stepped;
	// they are sent again once the tracee runs its own code.
	pending []syscall.Signal
}

func newInjector(pid int) (*injector, error) {
	in := &injector{pid: pid}
	if err := unix.PtraceGetRegs(pid, &in.saved); err != nil {
		return nil, fmt.Errorf("reading registers: %w", err)
	}
	if in.saved.Cs != 0x33 {
		return nil, fmt.Errorf("not a 64-bit x86-64 program (code segment %#x)", in.saved.Cs)
	}
	in.rip = uintptr(in.saved.Rip)
	if _, err := unix.PtracePeekText(pid, in.rip, in.word[:]); err != nil {
		return nil, fmt.Errorf("reading the instruction at %#x: %w", in.rip, err)
	}
	w := in.word
	w[0], w[1] = 0x0f, 0x05 // syscall
	if _, err := unix.PtracePokeText(pid, in.rip, w[:]); err != nil {
		return nil, fmt.Errorf("writing a syscall instruction at %#x: %w", in.rip, err)
	}
	in.patched = true
	// At a PTRACE_EVENT_EXEC stop the tracee is still inside execve, which
	// writes its result (0) into RAX on the way out, over whatever we set:
	// the first injected call is read(-1, NULL, 0) whichever number it
	// gets, and fails harmlessly with EBADF. From then on the tracee stops
	// outside any system call.
	if _, err := in.call(unix.SYS_READ, ^uintptr(0), 0, 0); err != unix.EBADF {
		in.done()
		return nil, fmt.Errorf("leaving the exec: read(-1) returned %v, want EBADF", err)
	}
	return in, nil
}

// call runs system call nr with args in the tracee and returns its result
// (a negative errno is returned as an error).
func (in *injector) call(nr uintptr, args ...uintptr) (uintptr, error) {
	r := in.saved
	r.Rip = uint64(in.rip)
	r.Rax = uint64(nr)
	r.Orig_rax = ^uint64(0) // no system call to restart from the stop we are in
	a := make([]uintptr, 6)
	copy(a, args)
	r.Rdi, r.Rsi, r.Rdx, r.R10, r.R8, r.R9 = uint64(a[0]), uint64(a[1]), uint64(a[2]), uint64(a[3]), uint64(a[4]), uint64(a[5])
	if err := unix.PtraceSetRegs(in.pid, &r); err != nil {
		return 0, fmt.Errorf("setting registers: %w", err)
	}
	for {
		if err := unix.PtraceSingleStep(in.pid); err != nil {
			return 0, fmt.Errorf("single-stepping: %w", err)
		}
		var ws unix.WaitStatus
		if _, err := wait4(in.pid, &ws); err != nil {
			return 0, err
		}
		if !ws.Stopped() {
			return 0, fmt.Errorf("the program ended while being set up (%v)", describe(ws))
		}
		if err := unix.PtraceGetRegs(in.pid, &r); err != nil {
			return 0, fmt.Errorf("reading registers: %w", err)
		}
		if sig := ws.StopSignal(); sig != unix.SIGTRAP {
			in.pending = append(in.pending, sig)
		}
		if r.Rip == uint64(in.rip)+2 {
			break
		}
	}
	ret := int64(r.Rax)
	if ret < 0 && ret > -4096 {
		return 0, syscall.Errno(-ret)
	}
	return uintptr(ret), nil
}

// done puts back the instruction and the registers.
func (in *injector) done() error {
	var errs []error
	if in.patched {
		if _, err := unix.PtracePokeText(in.pid, in.rip, in.word[:]); err != nil {
			errs = append(errs, fmt.Errorf("restoring the instruction at %#x: %w", in.rip, err))
		}
		in.patched = false
	}
	if err := unix.PtraceSetRegs(in.pid, &in.saved); err != nil {
		errs = append(errs, fmt.Errorf("restoring registers: %w", err))
	}
	return errors.Join(errs...)
}

func wait4(pid int, ws *unix.WaitStatus) (int, error) {
	for {
		wpid, err := unix.Wait4(pid, ws, unix.WALL|unix.WNOTHREAD, nil)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("wait4: %w", err)
		}
		return wpid, nil
	}
}

// install maps the image into the tracee pid, stopped right after an
// exec, and points its AT_SYSINFO_EHDR at it. It returns the image's
// address there. On error the tracee may be half set up: the caller kills
// it.
func install(pid int, m mapping) (base uintptr, pending []syscall.Signal, err error) {
	in, err := newInjector(pid)
	if err != nil {
		return 0, nil, err
	}
	defer func() {
		if derr := in.done(); derr != nil && err == nil {
			err = derr
		}
		pending = in.pending
	}()
	auxv, err := findAuxv(pid, uintptr(in.saved.Rsp), atSysinfoEhdr)
	if err != nil {
		return 0, nil, err
	}
	total := uintptr(m.dataSize + m.codeSize)
	// Free address space for the whole image; the path goes into it first.
	region, err := in.call(unix.SYS_MMAP, 0, total, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS, ^uintptr(0), 0)
	if err != nil {
		return 0, nil, fmt.Errorf("mmap of %d bytes in the program: %w", total, err)
	}
	path := append([]byte(m.path), 0)
	for len(path)%8 != 0 {
		path = append(path, 0)
	}
	if _, err := unix.PtracePokeData(pid, region, path); err != nil {
		return 0, nil, fmt.Errorf("writing the memfd's path into the program at %#x (rip %#x): %w", region, in.rip, err)
	}
	atFdcwd := -100
	fd, err := in.call(unix.SYS_OPENAT, uintptr(atFdcwd), region, unix.O_RDONLY|unix.O_CLOEXEC)
	if err != nil {
		return 0, nil, fmt.Errorf("the program could not open the image's memfd %s: %w", m.path, err)
	}
	mapErr := func() error {
		if m.dataSize > 0 {
			got, err := in.call(unix.SYS_MMAP, region, uintptr(m.dataSize), unix.PROT_READ, unix.MAP_SHARED|unix.MAP_FIXED, fd, 0)
			if err != nil {
				return fmt.Errorf("mapping the data pages: %w", err)
			}
			if got != region {
				return fmt.Errorf("the data pages were mapped at %#x, not %#x", got, region)
			}
		}
		code := region + uintptr(m.dataSize)
		got, err := in.call(unix.SYS_MMAP, code, uintptr(m.codeSize), unix.PROT_READ|unix.PROT_EXEC, unix.MAP_SHARED|unix.MAP_FIXED, fd, uintptr(m.codeOffset))
		if err != nil {
			return fmt.Errorf("mapping the code: %w", err)
		}
		if got != code {
			return fmt.Errorf("the code was mapped at %#x, not %#x", got, code)
		}
		return nil
	}()
	if _, err := in.call(unix.SYS_CLOSE, fd); err != nil && mapErr == nil {
		mapErr = fmt.Errorf("closing the memfd in the program: %w", err)
	}
	if mapErr != nil {
		return 0, nil, mapErr
	}
	base = region + uintptr(m.dataSize)
	var v [8]byte
	binary.LittleEndian.PutUint64(v[:], uint64(base))
	if _, err := unix.PtracePokeData(pid, auxv, v[:]); err != nil {
		return 0, nil, fmt.Errorf("rewriting AT_SYSINFO_EHDR: %w", err)
	}
	return base, nil, nil
}

// findAuxv returns the address of the value of auxiliary vector entry typ
// on the initial stack of a freshly exec'd process: sp points at argc,
// then argv and envp, each ending with a NULL, then the (type, value)
// pairs up to AT_NULL.
func findAuxv(pid int, sp uintptr, typ uint64) (uintptr, error) {
	word := func(a uintptr) (uint64, error) {
		var b [8]byte
		if _, err := unix.PtracePeekData(pid, a, b[:]); err != nil {
			return 0, fmt.Errorf("reading the program's stack at %#x: %w", a, err)
		}
		return binary.LittleEndian.Uint64(b[:]), nil
	}
	argc, err := word(sp)
	if err != nil {
		return 0, err
	}
	p := sp + 8 + uintptr(argc+1)*8 // past argv and its NULL
	for {
		w, err := word(p)
		if err != nil {
			return 0, err
		}
		p += 8
		if w == 0 {
			break
		}
	}
	for {
		t, err := word(p)
		if err != nil {
			return 0, err
		}
		if t == typ {
			return p + 8, nil
		}
		if t == 0 {
			return 0, fmt.Errorf("the kernel gave the program no AT_SYSINFO_EHDR to point at the image (booted with vdso=0?)")
		}
		p += 16
	}
}

// describe says how a process ended or stopped, as a shell would.
func describe(ws unix.WaitStatus) string {
	switch {
	case ws.Exited():
		return fmt.Sprintf("exit status %d", ws.ExitStatus())
	case ws.Signaled():
		return fmt.Sprintf("killed by %v", ws.Signal())
	case ws.Stopped():
		return fmt.Sprintf("stopped by %v", ws.StopSignal())
	}
	return fmt.Sprintf("wait status %#x", uint32(ws))
}

// groupStop reports whether a stopped tracee is in a group stop rather
// than a signal-delivery stop: PTRACE_GETSIGINFO fails with EINVAL there.
func groupStop(pid int) bool {
	var si [128]byte
	_, _, e := unix.Syscall6(unix.SYS_PTRACE, unix.PTRACE_GETSIGINFO, uintptr(pid), 0, uintptr(unsafe.Pointer(&si)), 0, 0)
	return e == unix.EINVAL
}
