package loader

import (
	"bytes"
	"maps"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/vdsogen/vdsogen/internal/elfimage"
)

// Processors for the policy tests.
var (
	intelOld  = CPU{Vendor: "GenuineIntel", Family: 6}
	amdK10    = CPU{Vendor: "AuthenticAMD", Family: 0x10}
	amd15TSCP = CPU{Vendor: "AuthenticAMD", Family: 0x15, RDTSCP: true}
	amdZen    = CPU{Vendor: "AuthenticAMD", Family: 0x17}
	hygon     = CPU{Vendor: "HygonGenuine", Family: 0x18, RDTSCP: true}
	everyFeat = CPU{Vendor: "GenuineIntel", Family: 6, RDTSCP: true}
)

// siteCode returns the n bytes of the mapped .text at offset off.
func siteCode(t *testing.T, im *Image, variant string, off, n int) []byte {
	t.Helper()
	toff, _, err := elfimage.Section(synthFiles(t)[variant], ".text")
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Clone(im.Mapped()[toff+off:][:n])
}

func TestFamilyOf(t *testing.T) {
	for _, tc := range []struct{ eax, fam uint32 }{
		{0x000906ea, 6},    // Intel Coffee Lake: base 6, extended ignored
		{0x00800f12, 0x17}, // AMD Zen: base 0xf + extended 8
		{0x00b00f21, 0x1a}, // AMD Zen 5: 0xf + 0xb
		{0x00000f00, 0xf},  // base 0xf, extended 0
		{0x00f00600, 6},    // extended family ignored below base 0xf
	} {
		if got := familyOf(tc.eax); got != tc.fam {
			t.Errorf("familyOf(%#x) = %#x, want %#x", tc.eax, got, tc.fam)
		}
	}
}

// TestChoicePolicy: with no override, the alternative gets the last choice
// whose feature the CPU has, the static call keeps the image's target, and
// the mapped site holds the choice's bytes.
func TestChoicePolicy(t *testing.T) {
	for _, tc := range []struct {
		cpu  CPU
		want string
		ret  uintptr
	}{
		{intelOld, "three", 3}, {amdK10, "one", 1}, {amd15TSCP, "two", 2},
		{amdZen, "three", 3}, {hygon, "two", 2}, {everyFeat, "three", 3},
	} {
		im := mustLoad(t, "off", Options{CPU: &tc.cpu})
		want := map[string]string{"a": tc.want, "s": "get"}
		if got := im.Choices(); !maps.Equal(got, want) {
			t.Errorf("%v: Choices() = %v, want %v", tc.cpu, got, want)
		}
		if got := call(t, im, "alt"); got != tc.ret {
			t.Errorf("%v: alt = %d, want %d", tc.cpu, got, tc.ret)
		}
		if got := siteCode(t, im, "off", altOff, 5); !bytes.Equal(got, movl[tc.want]) {
			t.Errorf("%v: site a holds % x, want % x", tc.cpu, got, movl[tc.want])
		}
		if got := call(t, im, "sc"); got != 42 {
			t.Errorf("%v: sc = %d, want get's 42", tc.cpu, got)
		}
	}
	if got, _ := DetectCPU().Has(""); !got {
		t.Error(`Has("") = false`)
	}
	if _, err := DetectCPU().Has("avx9"); err == nil {
		t.Error("an unknown feature was accepted")
	}
}

func TestChoiceOverrides(t *testing.T) {
	for _, alt := range []string{"one", "two", "three"} {
		for _, target := range []string{"get", "alt"} {
			im := mustLoad(t, "on", Options{CPU: &everyFeat, Choices: map[string]string{"a": alt, "s": target}})
			if got, want := im.Choices(), map[string]string{"a": alt, "s": target}; !maps.Equal(got, want) {
				t.Errorf("Choices() = %v, want %v", got, want)
			}
			wantAlt := uintptr(movl[alt][1])
			wantSC := wantAlt
			if target == "get" {
				wantSC = 1042 // the on variant's get
			}
			if got := call(t, im, "alt"); got != wantAlt {
				t.Errorf("a=%s: alt = %d, want %d", alt, got, wantAlt)
			}
			if got := call(t, im, "sc"); got != wantSC {
				t.Errorf("a=%s s=%s: sc = %d, want %d", alt, target, got, wantSC)
			}
			if got := siteCode(t, im, "on", scOff, 5); !bytes.Equal(got, callAt[target]) {
				t.Errorf("s=%s: site holds % x, want % x", target, got, callAt[target])
			}
		}
	}
}

func TestChoiceErrors(t *testing.T) {
	files, tab := synthFiles(t), synthTable()
	for _, tc := range []struct {
		choices map[string]string
		cpu     CPU
		want    []string
	}{
		{map[string]string{"b": "one"}, everyFeat, []string{`no site with choices has key "b"`, "keys: a, s"}},
		{map[string]string{"a": "four"}, everyFeat, []string{`has no choice "four"`, "choices: one, two, three"}},
		{map[string]string{"s": "tl"}, everyFeat, []string{`static_call s has no choice "tl"`, "choices: get, alt"}},
		{map[string]string{"a": "two"}, amdZen, []string{"needs CPU feature rdtscp", "lacks", "Options.CPU"}},
	} {
		_, err := Load(files, tab, "off", Options{CPU: &tc.cpu, Choices: tc.choices})
		if err == nil {
			t.Errorf("%v on %v loaded", tc.choices, tc.cpu)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%v: error %q does not say %q", tc.choices, err, w)
			}
		}
	}
	// Every alternative choice needs a feature the CPU lacks.
	tab = synthTable()
	for i := range tab.Variants[:2] {
		for j := range tab.Variants[i].Sites[2].Choices {
			tab.Variants[i].Sites[2].Choices[j].Feature = "rdtscp"
		}
	}
	if _, err := Load(files, tab, "off", Options{CPU: &amdZen}); err == nil || !strings.Contains(err.Error(), "no choice of alternative a") {
		t.Errorf("no runnable choice: %v", err)
	}
}

// TestSwitchKeepsChoices: the images of off and on differ in the
// alternative site (one, two), yet a switch neither refuses it nor
// reverts it: the applied choice is the CPU's, not the variant's. The
// static call follows the variant unless overridden.
func TestSwitchKeepsChoices(t *testing.T) {
	for _, pin := range []bool{false, true} {
		opts := Options{CPU: &amd15TSCP, Entries: []string{"get", "alt", "sc"}}
		if pin {
			opts.Choices = map[string]string{"s": "get"}
		}
		im := mustLoad(t, "off", opts)
		for i, v := range []string{"on", "off", "on"} {
			if err := im.Switch(v); err != nil {
				t.Fatalf("pin=%v: switch %d to %s: %v", pin, i, v, err)
			}
			wantS := map[string]string{"off": "get", "on": "alt"}[v]
			wantSC := map[string]uintptr{"off": 42, "on": 2}[v]
			if pin {
				wantS, wantSC = "get", map[string]uintptr{"off": 42, "on": 1042}[v]
			}
			if got, want := im.Choices(), map[string]string{"a": "two", "s": wantS}; !maps.Equal(got, want) {
				t.Errorf("pin=%v, after switch to %s: Choices() = %v, want %v", pin, v, got, want)
			}
			if got := siteCode(t, im, v, altOff, 5); !bytes.Equal(got, movl["two"]) {
				t.Errorf("pin=%v, after switch to %s: site a holds % x", pin, v, got)
			}
			if got := call(t, im, "alt"); got != 2 {
				t.Errorf("pin=%v, after switch to %s: alt = %d, want 2", pin, v, got)
			}
			if got := call(t, im, "sc"); got != wantSC {
				t.Errorf("pin=%v, after switch to %s: sc = %d, want %d", pin, v, got, wantSC)
			}
		}
	}
}

// TestSwitchTortureChoices: readers call alt and sc while the image is
// switched: alt is always the applied choice, sc returns a value of one
// of its two targets.
func TestSwitchTortureChoices(t *testing.T) {
	im := mustLoad(t, "off", Options{CPU: &amdK10, Entries: []string{"get", "alt", "sc"}})
	alt, _ := im.Entry("alt")
	sc, _ := im.Entry("sc")
	switches := 2000
	if testing.Short() {
		switches = 200
	}
	var bad atomic.Int64
	var seen [3]atomic.Int64
	switchWhileReading(t, im, switches, 2, func(int) {
		if CallIP(alt, 0, nil) != 1 {
			bad.Add(1)
		}
		switch CallIP(sc, 0, nil) {
		case 42:
			seen[0].Add(1)
		case 1042:
			seen[1].Add(1)
		case 1:
			seen[2].Add(1)
		default:
			bad.Add(1)
		}
	})
	if bad.Load() != 0 {
		t.Errorf("%d calls returned a value no variant gives", bad.Load())
	}
	t.Logf("%d switches; sc returned get off/get on/alt: %d %d %d", switches, seen[0].Load(), seen[1].Load(), seen[2].Load())
}
