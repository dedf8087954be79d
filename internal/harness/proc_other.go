//go:build !unix

package harness

import "os/exec"

// setProcessGroup is a no-op where process groups are not available:
// cancellation kills only the go command itself.
func setProcessGroup(cmd *exec.Cmd) {}

func waitProcessGroup(cmd *exec.Cmd) {}
