package vdso

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/vdsogen/vdsogen/internal/elfimage"
	"github.com/vdsogen/vdsogen/layout"
	"github.com/vdsogen/vdsogen/vdso/internal/vvar"
	"github.com/vdsogen/vdsogen/vdso/loader"
)

// tscChoices are the choices of the "tsc" alternative (asm.go readTSC).
var tscChoices = []string{"rdtsc", "rdtscp", "lfence_rdtsc"}

// tscSites returns the "tsc" alternative sites of variant v.
func tscSites(tb testing.TB, v string) []layout.Site {
	tb.Helper()
	lv, ok := Layout().Variant(v)
	if !ok {
		tb.Fatalf("no variant %s", v)
	}
	var out []layout.Site
	for _, s := range lv.Sites {
		if s.Key == "tsc" && s.Kind == layout.Alternative {
			out = append(out, s)
		}
	}
	if len(out) == 0 {
		tb.Fatalf("%s has no tsc site", v)
	}
	return out
}

// checkTSCSites fails unless every "tsc" site of the mapped image holds
// choice's bytes.
func checkTSCSites(t *testing.T, im *loader.Image, variant, choice string) {
	t.Helper()
	toff, _, err := elfimage.Section(ELFImages()[variant], ".text")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range tscSites(t, variant) {
		i := slices.IndexFunc(s.Choices, func(c layout.Choice) bool { return c.Name == choice })
		if i < 0 {
			t.Fatalf("site %#x has no choice %s", s.Offset, choice)
		}
		want := s.Choices[i].Bytes
		if got := im.Mapped()[toff+s.Offset:][:len(want)]; !bytes.Equal(got, want) {
			t.Errorf("%s: tsc site of %s at %#x holds % x, want %s's % x", variant, s.Entry, s.Offset, got, choice, want)
		}
	}
}

// cpuinfo is what /proc/cpuinfo says of the first CPU.
type cpuinfo struct {
	vendor string
	family int
	flags  []string
}

func readCPUInfo(tb testing.TB) cpuinfo {
	tb.Helper()
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		tb.Skipf("no /proc/cpuinfo: %v", err)
	}
	defer f.Close()
	var ci cpuinfo
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			if ci.vendor != "" {
				break // end of the first CPU
			}
			continue
		}
		v = strings.TrimSpace(v)
		switch strings.TrimSpace(k) {
		case "vendor_id":
			ci.vendor = v
		case "cpu family":
			fmt.Sscan(v, &ci.family)
		case "flags":
			ci.flags = strings.Fields(v)
		}
	}
	if ci.vendor == "" || ci.flags == nil {
		tb.Skip("/proc/cpuinfo has no vendor_id or flags")
	}
	return ci
}

// policy is the choice the loader must pick for "tsc" by the layout
// package's rule, computed from /proc/cpuinfo rather than CPUID.
func (ci cpuinfo) policy() string {
	switch {
	case ci.vendor == "GenuineIntel" || ci.vendor == "AuthenticAMD" && ci.family >= 0x17:
		return "lfence_rdtsc"
	case slices.Contains(ci.flags, "rdtscp"):
		return "rdtscp"
	}
	return "rdtsc"
}

// RDTSCP may execute although CPUID hides it (a hypervisor that does not
// trap it): rdtscpProbe runs it in a child process, which dies of SIGILL
// if it does not.
var rdtscpProbe = sync.OnceValue(func() error {
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	cmd := exec.Command(exe, "-test.run=^TestRDTSCPProbeChild$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), "VDSOGEN_RDTSCP_PROBE=1")
	out, err := cmd.CombinedOutput()
	if err != nil || !bytes.Contains(out, []byte("rdtscp ran")) {
		return errors.New("RDTSCP does not execute here: " + strings.TrimSpace(string(out)))
	}
	return nil
})

// TestRDTSCPProbeChild is the child of rdtscpProbe: it loads the image
// with RDTSCP asserted and reads the TSC through it once.
func TestRDTSCPProbeChild(t *testing.T) {
	if os.Getenv("VDSOGEN_RDTSCP_PROBE") != "1" {
		t.Skip("run by rdtscpProbe")
	}
	cpu := loader.DetectCPU()
	cpu.RDTSCP = true
	im, err := loader.Load(ELFImages(), Layout(), "host", loader.Options{CPU: &cpu, Choices: map[string]string{"tsc": "rdtscp"}})
	if err != nil {
		t.Fatal(err)
	}
	defer im.Close()
	page, _ := ldPages(t, im)
	page.Store(vvar.Params{Mode: vvar.ModeTSC, Version: vvar.Version, Shift: vvar.ClockShift, Mult: 1, TSCBase: 1, MaxDelta: ^uint64(0)})
	var ts Timespec
	if rc := loader.CallIP(ldEntry(t, im, "clock_gettime"), unix.CLOCK_MONOTONIC, unsafe.Pointer(&ts)); rc != 0 || ts == (Timespec{}) {
		t.Fatalf("rc %d, %+v", rc, ts)
	}
	t.Log("rdtscp ran")
}

// choiceOptions returns the loader options that apply choice to "tsc",
// asserting RDTSCP when CPUID hides it but it executes (it skips tb when
// the choice cannot run here).
func choiceOptions(tb testing.TB, choice string, entries ...string) loader.Options {
	tb.Helper()
	opts := loader.Options{Entries: entries, Choices: map[string]string{"tsc": choice}}
	cpu := loader.DetectCPU()
	if has, _ := cpu.Has(layout.FeatureLFENCERDTSC); choice == "lfence_rdtsc" && !has {
		cpu.Vendor, cpu.Family = "GenuineIntel", 6 // unordered here, but it runs
		opts.CPU = &cpu
	}
	if choice == "rdtscp" && !cpu.RDTSCP {
		if err := rdtscpProbe(); err != nil {
			tb.Skip(err)
		}
		cpu.RDTSCP = true
		opts.CPU = &cpu
	}
	return opts
}

// TestLoaderTSCDefault: with no override the loader applies the choice the
// layout's policy gives for this CPU, computed here from /proc/cpuinfo.
func TestLoaderTSCDefault(t *testing.T) {
	ci := readCPUInfo(t)
	want := ci.policy()
	for _, v := range []string{"host", "timens"} {
		im := ldLoad(t, v)
		if got := im.Choices()["tsc"]; got != want {
			t.Errorf("%s: tsc = %s, /proc/cpuinfo (%s family %d, rdtscp %v) says %s", v, got, ci.vendor, ci.family, slices.Contains(ci.flags, "rdtscp"), want)
		}
		checkTSCSites(t, im, v, want)
	}
	t.Logf("%s family %#x: tsc = %s (CPUID: %v)", ci.vendor, ci.family, want, loader.DetectCPU())
}

// TestLoaderTSCChoices: with each choice applied, every tsc site holds its
// bytes and clock_gettime(MONOTONIC), through both entries, lies between
// two system calls and never goes back.
func TestLoaderTSCChoices(t *testing.T) {
	for _, choice := range tscChoices {
		t.Run(choice, func(t *testing.T) {
			im, err := loader.Load(ELFImages(), Layout(), "host", choiceOptions(t, choice))
			if err != nil {
				t.Fatal(err)
			}
			defer im.Close()
			if got := im.Choices()["tsc"]; got != choice {
				t.Fatalf("Choices()[tsc] = %s", got)
			}
			checkTSCSites(t, im, "host", choice)
			_, _, tk, stop := manualTimekeeper(t, im)
			defer stop()
			for _, entry := range []string{"clock_gettime", "clock_gettime_tl"} {
				read := ldClock(ldEntry(t, im, entry))
				last := time.Duration(-1 << 62)
				for i := range 20000 {
					v, kb, ka := readBetween(t, entry, read, unix.CLOCK_MONOTONIC)
					if v < kb-tolerance || v > ka+tolerance || v < last {
						t.Fatalf("%s read %d: %v outside [%v, %v] or before %v", entry, i, v, kb, ka, last)
					}
					last = v
					if i%1000 == 0 {
						if err := tk.Refresh(); err != nil {
							t.Fatal(err)
						}
					}
				}
			}
		})
	}
}

// TestLoaderChoiceErrors: an unknown key or choice is refused with the
// valid ones listed.
func TestLoaderChoiceErrors(t *testing.T) {
	for _, tc := range []struct {
		choices map[string]string
		want    string
	}{
		{map[string]string{"tcs": "rdtsc"}, `no site with choices has key "tcs" in clock (keys: tsc)`},
		{map[string]string{"tsc": "rdpid"}, `alternative tsc has no choice "rdpid" (choices: rdtsc, rdtscp, lfence_rdtsc)`},
		{map[string]string{"timens": "true"}, `no site with choices has key "timens"`},
	} {
		_, err := loader.Load(ELFImages(), Layout(), "host", loader.Options{Choices: tc.choices})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want one saying %q", tc.choices, err, tc.want)
		}
	}
}
