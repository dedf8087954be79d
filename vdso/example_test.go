//go:build linux && amd64

package vdso_test

import (
	"errors"
	"fmt"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vdsogen/vdsogen/vdso"
)

// Start the timekeeper once, early; read clocks anywhere after. The
// functions are correct before Start and after a failed Start too (they
// make the system call), only slower.
func ExampleStart() {
	err := vdso.Start(vdso.Options{})
	var tscErr *vdso.TSCError
	switch {
	case errors.As(err, &tscErr):
		fmt.Println("no usable TSC here, every read is a system call:", err)
	case err != nil:
		fmt.Println(err)
	}
	defer vdso.Stop()
	fmt.Println("variant:", vdso.Current()) // timens inside a time namespace
}

func ExampleClockGettime() {
	if err := vdso.Start(vdso.Options{}); err == nil {
		defer vdso.Stop()
	}
	t0, _ := vdso.ClockGettime(unix.CLOCK_MONOTONIC)
	time.Sleep(10 * time.Millisecond)
	t1, err := vdso.ClockGettime(unix.CLOCK_MONOTONIC)
	fmt.Println(err, t1.Nsec < 1e9, time.Duration(t1.Nano()-t0.Nano()) >= 10*time.Millisecond)
	// Output: <nil> true true
}

// Invalid clock ids fail as clock_gettime(2) does, with a unix.Errno.
func ExampleClockGettime_invalid() {
	_, err := vdso.ClockGettime(-1)
	fmt.Println(err, errors.Is(err, unix.EINVAL))
	// Output: invalid argument true
}

func ExampleNow() {
	if err := vdso.Start(vdso.Options{}); err == nil {
		defer vdso.Stop()
	}
	now := vdso.Now()
	fmt.Println(now.Sub(time.Now()).Abs() < time.Second)
	// Output: true
}

func ExampleClockGetres() {
	res, err := vdso.ClockGetres(unix.CLOCK_MONOTONIC_COARSE)
	fmt.Println(res.Nano() > 0, err) // the kernel's tick, 4 ms at HZ=250
	// Output: true <nil>
}

func ExampleGettimeofday() {
	tv, err := vdso.Gettimeofday()
	fmt.Println(err, tv.Usec >= 0 && tv.Usec < 1e6, tv.Sec-vdso.Time() <= 1)
	// Output: <nil> true true
}
