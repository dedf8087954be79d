//go:build amd64

// Package floor is the lower bound the generated clock_gettime is measured
// against: the part of a data-page read that no clock routine can avoid.
// Hres is the seqlock read of the data page around the same LFENCE;RDTSC
// the generated routine uses (rdtsc_ordered), with no clock logic: no
// clock-id checks, no mode check, no scaling, no normalisation, no
// store of the result. Coarse is the seqlock read around one 8-byte load,
// the floor of a coarse clock read, which takes no TSC.
//
// Both are hand-written Go assembly (ABI0, NOSPLIT, no frame), called
// directly from Go; the generated routines are reached through a stub
// that adds one CALL and RET. The page is passed as an argument, so the
// package does not depend on where the data page lives.
package floor

import "unsafe"

// Hres waits for an even sequence on the page, reads the TSC with
// LFENCE;RDTSC, and retries if the sequence changed. It returns the TSC.
// page must point at a vvar.Page (the sequence is the uint32 at offset 0).
//
//go:noescape
func Hres(page unsafe.Pointer) uint64

// Coarse waits for an even sequence on the page, loads the 8 bytes at
// offset 32 (the first clock base, vvar.OffBase) and retries if the
// sequence changed. It returns the loaded value.
//
//go:noescape
func Coarse(page unsafe.Pointer) uint64

// HresCAddr is the address of Hres with the C ABI, shaped as
// clock_gettime(clockid, ts) with the page passed where ts goes (SI) and the
// TSC returned in AX: called through kvdso.CallClockGettime, the floor pays
// the same call as a vDSO function reached through a pointer.
func HresCAddr() uintptr {
	hres, _ := cAddrs()
	return hres
}

// CoarseCAddr is Coarse with the C ABI, as HresCAddr is Hres.
func CoarseCAddr() uintptr {
	_, coarse := cAddrs()
	return coarse
}

// cAddrs returns the addresses of the C-ABI reads (assembly functions
// without a Go declaration, which Go code cannot name).
func cAddrs() (hres, coarse uintptr)
