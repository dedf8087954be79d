// Command goclocks reads CLOCK_MONOTONIC (the runtime's nanotime) and
// CLOCK_REALTIME (time.Now) through the vDSO the Go runtime found, each
// between two raw system calls.
package main

import (
	"fmt"
	"syscall"
	"time"
	"unsafe"
	_ "unsafe" // go:linkname
)

//go:linkname nanotime runtime.nanotime
func nanotime() int64

func kernel(clock int) int64 {
	var ts syscall.Timespec
	if _, _, e := syscall.RawSyscall(syscall.SYS_CLOCK_GETTIME, uintptr(clock), uintptr(unsafe.Pointer(&ts)), 0); e != 0 {
		panic(e)
	}
	return ts.Nano()
}

func main() {
	for _, c := range []struct {
		name string
		id   int
		read func() int64
	}{
		{"monotonic", 1, nanotime},
		{"realtime", 0, func() int64 { return time.Now().UnixNano() }},
	} {
		k0 := kernel(c.id)
		v := c.read()
		k1 := kernel(c.id)
		fmt.Println("clock", c.name, k0, v, k1)
	}
}
