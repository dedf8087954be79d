//go:build linux

// Package timenstest runs a test again inside a new time namespace, for the
// tests that must read a namespace's clocks from inside it: the test
// binary re-executes itself under unshare --time --fork, which needs root
// (CAP_SYS_ADMIN) and a kernel with CONFIG_TIME_NS.
package timenstest

import (
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// childEnv is set to 1 in the environment of the re-executed test binary.
const childEnv = "VDSOGEN_TIMENS_CHILD"

// InChild reports whether this process is the re-executed test binary,
// already inside the namespace Run made.
func InChild() bool { return os.Getenv(childEnv) == "1" }

// Run re-executes the test binary for test alone (with the extra test
// flags args) inside a new time namespace whose CLOCK_MONOTONIC and
// CLOCK_BOOTTIME offsets are mono and boot seconds, logs its output, and
// fails t unless the child ran test and passed. Without unshare(1), or
// where the kernel refuses the namespace, it skips t.
func Run(t *testing.T, test string, mono, boot int, args ...string) {
	t.Helper()
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		t.Skipf("unshare(1) not found: %v", err)
	}
	cmd := exec.Command(unshare, append([]string{"--time", "--fork",
		"--monotonic=" + strconv.Itoa(mono), "--boottime=" + strconv.Itoa(boot),
		os.Args[0], "-test.run=^" + test + "$", "-test.v", "-test.count=1"}, args...)...)
	cmd.Env = append(os.Environ(), childEnv+"=1")
	start := time.Now()
	out, err := cmd.CombinedOutput()
	if err != nil && strings.Contains(string(out), "unshare failed") &&
		(strings.Contains(string(out), "Operation not permitted") || strings.Contains(string(out), "Invalid argument")) {
		t.Skipf("the kernel refuses a new time namespace (EPERM: not root or no CAP_SYS_ADMIN; EINVAL: kernel without CONFIG_TIME_NS): %s", strings.TrimSpace(string(out)))
	}
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		t.Log("child: " + l)
	}
	if err != nil {
		t.Fatalf("child: %v", err)
	}
	if !strings.Contains(string(out), "--- PASS: "+test) {
		t.Fatalf("the child did not run %s", test)
	}
	t.Logf("child ran in %v", time.Since(start).Round(time.Millisecond))
}
