package vvar

// RDTSC returns the time-stamp counter, ordered like the kernel's rdtsc_ordered.
func RDTSC() uint64
