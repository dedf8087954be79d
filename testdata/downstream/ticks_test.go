package ticks

import (
	"reflect"
	"slices"
	"testing"
)

// asmOffsets are the offsets asm.go addresses the fields of TickPage by
// (its off* constants), and asmPageSize the size of the page it declares.
var asmOffsets = map[string]uintptr{"Seq": 0, "Shift": 4, "TSCBase": 8, "Mult": 16, "Base": 24, "Offset": 32, "Floor": 40}

const asmPageSize = 64

// TestPageOffsets keeps TickPage in step with the offsets asm.go
// addresses: every named field of TickPage is one asm.go knows, at the
// same offset.
func TestPageOffsets(t *testing.T) {
	page := reflect.TypeFor[TickPage]()
	seen := map[string]bool{}
	for i := range page.NumField() {
		f := page.Field(i)
		if f.Name == "_" {
			continue
		}
		seen[f.Name] = true
		if want, ok := asmOffsets[f.Name]; !ok || f.Offset != want {
			t.Errorf("TickPage.%s at %d, asm.go uses %d (%v)", f.Name, f.Offset, want, ok)
		}
	}
	for name := range asmOffsets {
		if !seen[name] {
			t.Errorf("TickPage has no field %s, which asm.go addresses", name)
		}
	}
	if page.Size() != asmPageSize {
		t.Errorf("TickPage is %d bytes, asm.go declares %d", page.Size(), asmPageSize)
	}
}

// TestEveryVariantWrapped: Variants lists exactly the generated variants.
func TestEveryVariantWrapped(t *testing.T) {
	var generated, wrapped []string
	for _, v := range Layout().Variants {
		generated = append(generated, v.Name)
	}
	for name := range Variants {
		wrapped = append(wrapped, name)
	}
	slices.Sort(generated)
	slices.Sort(wrapped)
	if !slices.Equal(generated, wrapped) {
		t.Fatalf("variants.toml generates %v, Variants wraps %v: add the new variant's stubs to Variants", generated, wrapped)
	}
}

// TestSameOffsets: every entry is at the same offset in every variant.
func TestSameOffsets(t *testing.T) {
	l := Layout()
	ref := l.Variants[0]
	for _, v := range l.Variants[1:] {
		for i, e := range v.Entries {
			if e != ref.Entries[i] {
				t.Errorf("variant %s: entry %+v, variant %s: %+v", v.Name, e, ref.Name, ref.Entries[i])
			}
		}
	}
}

// TestValues calls every entry of every variant on a page without TSC
// contribution (Mult 0), so the expected values are exact.
func TestValues(t *testing.T) {
	defer Store(Params{})
	for _, tc := range []struct {
		name  string
		p     Params
		now   map[string]uint64 // by variant
		start uint64
	}{
		{"plain", Params{Base: 1000, Offset: 50}, map[string]uint64{"base": 1000, "shifted": 1050, "clamped": 1050}, 400},
		{"floor", Params{Base: 1000, Offset: 50, Floor: 5000}, map[string]uint64{"base": 1000, "shifted": 1050, "clamped": 5000}, 400},
		{"floor below", Params{Base: 1000, Offset: 50, Floor: 1049}, map[string]uint64{"base": 1000, "shifted": 1050, "clamped": 1050}, 0},
		// A TSC behind TSCBase (top bit set after the subtraction) counts as no time.
		{"tsc behind base", Params{Base: 7, Mult: 1, TSCBase: 1 << 62}, map[string]uint64{"base": 7, "shifted": 7, "clamped": 7}, 7},
	} {
		Store(tc.p)
		for name, r := range Variants {
			want, ok := tc.now[name]
			if !ok {
				t.Fatalf("%s: no expected value for variant %s", tc.name, name)
			}
			if got := r.Now(); got != want {
				t.Errorf("%s: ticks_now_%s() = %d, want %d", tc.name, name, got, want)
			}
			if got := r.Since(tc.start); got != want-tc.start {
				t.Errorf("%s: ticks_since_%s(%d) = %d, want %d", tc.name, name, tc.start, got, want-tc.start)
			}
		}
	}
}

// TestMonotonic reads the TSC-driven counter repeatedly in every variant.
func TestMonotonic(t *testing.T) {
	defer Store(Params{})
	Store(Params{Mult: 1, Shift: 10, Base: 1 << 40})
	for name, r := range Variants {
		prev := r.Now()
		if prev < 1<<40 {
			t.Fatalf("ticks_now_%s() = %d, below Base", name, prev)
		}
		for range 10000 {
			n := r.Now()
			if n < prev {
				t.Fatalf("ticks_now_%s went back: %d after %d", name, n, prev)
			}
			prev = n
		}
	}
}
