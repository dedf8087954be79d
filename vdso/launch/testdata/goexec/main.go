// Command goexec starts a few busy goroutines, so that the runtime runs
// several threads, then execs its arguments from whichever thread it is
// on: the exec of a multi-threaded process, which the kernel reports on
// the thread group leader's pid.
package main

import (
	"os"
	"syscall"
	"time"
)

func main() {
	for range 4 {
		go func() {
			for {
				time.Sleep(time.Microsecond)
			}
		}()
	}
	time.Sleep(10 * time.Millisecond)
	err := syscall.Exec(os.Args[1], os.Args[1:], os.Environ())
	panic(err)
}
