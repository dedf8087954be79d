//go:build linux && amd64

package vvar

// Costs on the development VM: Read 22 ns, Tick 4 us, Refresh 43 us (five
// bracketed system calls per clock at ~1.3 us each).

import "testing"

func BenchmarkTick(b *testing.B) {
	var p Page
	tk, err := Start(&p, nil, Options{Manual: true})
	if err != nil {
		b.Skip(err)
	}
	defer tk.Stop()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		tk.Tick()
	}
}

func BenchmarkRefresh(b *testing.B) {
	var p Page
	tk, err := Start(&p, nil, Options{Manual: true})
	if err != nil {
		b.Skip(err)
	}
	defer tk.Stop()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		tk.Refresh()
	}
}

func BenchmarkRead(b *testing.B) {
	var p Page
	tk, err := Start(&p, nil, Options{Manual: true})
	if err != nil {
		b.Skip(err)
	}
	defer tk.Stop()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		p.Read(ClockMonotonic, RDTSC())
	}
}
