//go:build linux && amd64

package vvar

// Costs on the development VM: Read 22 ns, Tick 4 us, Refresh 43 us (five
// bracketed system calls per clock at ~1.3 us each).

import "testing"

// manualPage starts a Timekeeper driven by the benchmark on a fresh page,
// stopped when b ends; it skips b where the TSC is unusable.
func manualPage(b *testing.B) (*Page, *Timekeeper) {
	b.Helper()
	p := new(Page)
	tk, err := Start(p, nil, Options{Manual: true})
	if err != nil {
		b.Skip(err)
	}
	b.Cleanup(tk.Stop)
	return p, tk
}

func BenchmarkTick(b *testing.B) {
	_, tk := manualPage(b)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		tk.Tick()
	}
}

func BenchmarkRefresh(b *testing.B) {
	_, tk := manualPage(b)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		tk.Refresh()
	}
}

func BenchmarkRead(b *testing.B) {
	p, _ := manualPage(b)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		p.Read(ClockMonotonic, RDTSC())
	}
}
