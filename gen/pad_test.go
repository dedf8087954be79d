package gen

import (
	"math/rand/v2"
	"testing"

	"github.com/vdsogen/vdsogen/marker"
)

func fitsWindow(d int, sites []span) bool {
	for _, s := range sites {
		if (d+s.off)/marker.PatchWindow != (d+s.off+s.n-1)/marker.PatchWindow {
			return false
		}
	}
	return true
}

// fiveBytes are 5-byte sites (a static branch's or call's) at offs.
func fiveBytes(offs []int) []span {
	var out []span
	for _, o := range offs {
		out = append(out, span{o, len(marker.NOP5)})
	}
	return out
}

func TestChooseOffset(t *testing.T) {
	tests := []struct {
		c     int
		sites []int
		want  int
		ok    bool
	}{
		{0, nil, 0, true},
		{1, nil, 16, true},
		{16, nil, 16, true},
		{17, nil, 32, true},
		{0, []int{0}, 0, true},    // [0,5) fits
		{0, []int{3}, 0, true},    // [3,8) just fits
		{0, []int{4}, 4, true},    // [4,9) crosses at every 8-aligned offset
		{1, []int{4}, 4, true},    // same, from an unaligned cursor
		{5, []int{4}, 12, true},   // first 4-aligned offset >= 5 that works
		{0, []int{7}, 4, true},    // [11,16)
		{0, []int{6}, 4, true},    // [10,15)
		{0, []int{0, 8}, 0, true}, // two sites one window apart
		{0, []int{0, 16, 35}, 0, true},
		{0, []int{0, 4}, 0, false}, // no offset puts both sites in a window
		{0, []int{0, 5}, 3, true},  // [3,8) and [8,13)
		{0, []int{1}, 0, true},
		{0, []int{5, 6}, 4, true}, // [9,14) and [10,15)
		{0, []int{0, 1, 2, 3, 4}, 0, false},
		{100, []int{2, 10}, 112, true},
	}
	for _, tt := range tests {
		d, ok := chooseOffset(tt.c, fiveBytes(tt.sites))
		if ok != tt.ok || (ok && d != tt.want) {
			t.Errorf("chooseOffset(%d, %v) = %d, %v; want %d, %v", tt.c, tt.sites, d, ok, tt.want, tt.ok)
		}
		if ok && (!fitsWindow(d, fiveBytes(tt.sites)) || d < tt.c) {
			t.Errorf("chooseOffset(%d, %v) = %d: a site crosses a window or d < c", tt.c, tt.sites, d)
		}
	}
}

// TestChooseOffsetProperties: against random inputs, the offset is never
// before c, every site stays in one window, and the best alignment wins
// (the smallest offset among those with the largest alignment that works).
func TestChooseOffsetProperties(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 20000 {
		c := r.IntN(200)
		var sites []span // sites of any length a window holds, as a kind may declare
		for range r.IntN(4) {
			sites = append(sites, span{r.IntN(64), 1 + r.IntN(marker.PatchWindow)})
		}
		d, ok := chooseOffset(c, sites)
		// The best answer by brute force over one period past c.
		best, found := -1, false
		for _, align := range []int{16, 8, 4, 2, 1} {
			for x := c; x < c+64 && !found; x++ {
				if x%align == 0 && fitsWindow(x, sites) {
					best, found = x, true
				}
			}
			if found {
				break
			}
		}
		if ok != found || (ok && d != best) {
			t.Fatalf("chooseOffset(%d, %v) = %d, %v; want %d, %v", c, sites, d, ok, best, found)
		}
		if ok && (d < c || !fitsWindow(d, sites)) {
			t.Fatalf("chooseOffset(%d, %v) = %d breaks a window", c, sites, d)
		}
	}
}
