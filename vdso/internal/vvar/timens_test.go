package vvar

import (
	"fmt"
	"strings"
	"testing"
)

func TestParseTimensOffsets(t *testing.T) {
	tests := []struct {
		in      string
		want    TimensOffsets
		wantErr string
	}{
		{in: "", want: TimensOffsets{}},
		{in: "monotonic           0         0\nboottime            0         0\n", want: TimensOffsets{}},
		{
			in:   "monotonic      86400         0\nboottime     172800 500000000\n",
			want: TimensOffsets{Monotonic: TimensOffset{86400, 0}, Boottime: TimensOffset{172800, 500000000}},
		},
		{
			in:   "boottime -5 999999999\n\nmonotonic -1 1\n",
			want: TimensOffsets{Monotonic: TimensOffset{-1, 1}, Boottime: TimensOffset{-5, 999999999}},
		},
		{in: "1 3 4\n7 5 6\n", want: TimensOffsets{Monotonic: TimensOffset{3, 4}, Boottime: TimensOffset{5, 6}}},
		{in: "monotonic 1\n", wantErr: "want \"clock sec nsec\""},
		{in: "monotonic x 0\n", wantErr: "seconds"},
		{in: "monotonic 1 y\n", wantErr: "nanoseconds"},
		{in: "monotonic 1 1000000000\n", wantErr: "out of [0, 1e9)"},
		{in: "monotonic 1 -1\n", wantErr: "out of [0, 1e9)"},
		{in: "realtime 1 0\n", wantErr: "unknown clock"},
	}
	for _, tc := range tests {
		got, err := ParseTimensOffsets(strings.NewReader(tc.in))
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%q: err = %v, want one containing %q", tc.in, err, tc.wantErr)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%q: got %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
	}
}

func TestTimensApply(t *testing.T) {
	var tp TimensPage
	TimensOffsets{Monotonic: TimensOffset{-10, 999_999_999}, Boottime: TimensOffset{3, 1}}.Fill(&tp)
	cases := []struct {
		clock                 int
		sec, nsec, wsec, wnse int64
	}{
		{ClockMonotonic, 100, 1, 91, 0},
		{ClockMonotonic, 100, 0, 90, 999_999_999},
		{ClockMonotonicRaw, 100, 5, 91, 4},
		{ClockMonotonicCoarse, 100, 999_999_999, 91, 999_999_998},
		{ClockBoottime, 100, 999_999_999, 104, 0},
		{ClockRealtime, 100, 7, 100, 7},
		{ClockTAI, 100, 7, 100, 7},
		{ClockRealtimeCoarse, 100, 7, 100, 7},
	}
	for _, c := range cases {
		s, ns := tp.Apply(c.clock, c.sec, c.nsec)
		if s != c.wsec || ns != c.wnse {
			t.Errorf("clock %d: %d.%09d -> %d.%09d, want %d.%09d", c.clock, c.sec, c.nsec, s, ns, c.wsec, c.wnse)
		}
	}
}

func TestReadTimensOffsetsSelf(t *testing.T) {
	// Whatever namespace the test runs in, the file (or its absence) parses.
	if _, err := ReadTimensOffsets(); err != nil {
		t.Fatal(err)
	}
	var tp TimensPage
	if err := FillTimens(&tp); err != nil {
		t.Fatal(err)
	}
}

// TestTimensOffsetsFormat: Format writes what ParseTimensOffsets reads
// back, negative seconds included, in the kernel's line form.
func TestTimensOffsetsFormat(t *testing.T) {
	for _, o := range []TimensOffsets{
		{},
		{Monotonic: TimensOffset{Sec: 86400, Nsec: 123456789}},
		{Monotonic: TimensOffset{Sec: -2, Nsec: 500000000}, Boottime: TimensOffset{Sec: 3600}},
	} {
		s := o.Format()
		got, err := ParseTimensOffsets(strings.NewReader(s))
		if err != nil || got != o {
			t.Errorf("%+v formats as %q, which reads back as %+v, %v", o, s, got, err)
		}
		if !strings.HasPrefix(s, fmt.Sprintf("monotonic %d %d\n", o.Monotonic.Sec, o.Monotonic.Nsec)) {
			t.Errorf("%+v: %q does not start with the monotonic line", o, s)
		}
	}
}
