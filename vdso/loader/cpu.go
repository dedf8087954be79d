package loader

import (
	"encoding/binary"
	"fmt"

	"github.com/vdsogen/vdsogen/layout"
)

// CPU is what the loader knows of a processor to pick the choices of the
// sites of LoadTime kinds: the CPUID facts behind the layout package's
// features.
type CPU struct {
	// Vendor is the CPUID vendor string ("GenuineIntel", "AuthenticAMD").
	Vendor string
	// Family is the display family of CPUID leaf 1: the base family, plus
	// the extended family when the base family is 0xf (as the kernel and
	// /proc/cpuinfo's "cpu family" compute it).
	Family uint32
	// RDTSCP is CPUID 0x80000001 EDX bit 27.
	RDTSCP bool
}

// cpuid executes CPUID with EAX=leaf, ECX=sub (cpuid_amd64.s).
func cpuid(leaf, sub uint32) (a, b, c, d uint32)

// DetectCPU reads the running processor's vendor, family and features
// with CPUID.
func DetectCPU() CPU {
	maxLeaf, b, c, d := cpuid(0, 0)
	var vendor [12]byte
	binary.LittleEndian.PutUint32(vendor[0:], b)
	binary.LittleEndian.PutUint32(vendor[4:], d)
	binary.LittleEndian.PutUint32(vendor[8:], c)
	cpu := CPU{Vendor: string(vendor[:])}
	if maxLeaf >= 1 {
		a, _, _, _ := cpuid(1, 0)
		cpu.Family = familyOf(a)
	}
	if maxExt, _, _, _ := cpuid(0x80000000, 0); maxExt >= 0x80000001 {
		_, _, _, d := cpuid(0x80000001, 0)
		cpu.RDTSCP = d&(1<<27) != 0
	}
	return cpu
}

// familyOf decodes the display family from CPUID leaf 1 EAX.
func familyOf(eax uint32) uint32 {
	fam := (eax >> 8) & 0xf
	if fam == 0xf {
		fam += (eax >> 20) & 0xff
	}
	return fam
}

// Has reports whether the processor has feature f, one of the layout
// package's Feature constants; "" (no feature needed) is always present.
// An unknown feature is an error: the loader must not guess.
func (c CPU) Has(f string) (bool, error) {
	switch f {
	case "":
		return true, nil
	case layout.FeatureRDTSCP:
		return c.RDTSCP, nil
	case layout.FeatureLFENCERDTSC:
		// LFENCE orders RDTSC on every Intel CPU, and on AMD from family
		// 0x17, where LFENCE is dispatch-serializing.
		return c.Vendor == "GenuineIntel" || c.Vendor == "AuthenticAMD" && c.Family >= 0x17, nil
	}
	return false, fmt.Errorf("unknown CPU feature %q", f)
}

// String describes the processor as the loader sees it.
func (c CPU) String() string {
	return fmt.Sprintf("%s family %#x rdtscp=%v", c.Vendor, c.Family, c.RDTSCP)
}
