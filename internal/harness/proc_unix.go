//go:build unix

package harness

import (
	"os/exec"
	"syscall"
	"time"
)

// setProcessGroup runs the go command in its own process group, and makes
// cancellation kill the whole group: the go command and the compiler,
// assembler and linker it started, which would otherwise keep writing into
// the temporary directory while it is being removed.
func setProcessGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
}

// waitProcessGroup waits briefly for the killed group to go away after a
// cancelled build. The wait is bounded at 100 ms: a killed process can no
// longer create files, but it stays a group member as a zombie until it is
// reaped, which some init processes do only every second or so. removeAll's
// retries cover the rest.
func waitProcessGroup(cmd *exec.Cmd) {
	if cmd.Process == nil {
		return
	}
	pgid := cmd.Process.Pid
	deadline := time.Now().Add(100 * time.Millisecond)
	for syscall.Kill(-pgid, 0) == nil && time.Now().Before(deadline) {
		time.Sleep(2 * time.Millisecond)
	}
}
