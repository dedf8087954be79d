package verify

import (
	"testing"
)

// TestStoreProvenance: a routine stores only to its own stack frame and
// to memory its caller passed (DI, SI, DX, CX, R8, R9 as received, plus
// any offset). Over clock_gettime's MOVQ DX, (SI); MOVQ AX, 8(SI) (7
// bytes; SI is the caller's timespec), each case stores through an
// address of another provenance, by class, or keeps the caller's pointer
// in a form the verifier follows.
func TestStoreProvenance(t *testing.T) {
	const notPassed = "an address not derived from a pointer the caller passed"
	cases := []struct {
		name string
		code []byte
		at   int // offset of the refused store in code
		msg  string
	}{
		{"pointer loaded from a data page", []byte{0x49, 0x8b, 0x42, 0x08, 0x48, 0x89, 0x10}, 4, notPassed},
		{"pointer loaded from the caller's memory", []byte{0x48, 0x8b, 0x06, 0x48, 0x89, 0x10, 0x90}, 3, notPassed},
		{"CMPXCHG through a loaded pointer", []byte{0x48, 0x8b, 0x06, 0x48, 0x0f, 0xb1, 0x10}, 3, "CMPXCHG stores 8 bytes through (AX), " + notPassed},
		{"XADD through a loaded pointer", []byte{0x48, 0x8b, 0x06, 0x48, 0x0f, 0xc1, 0x10}, 3, "XADD stores 8 bytes through (AX)"},
		{"LOCK ADD through a loaded pointer", []byte{0x48, 0x8b, 0x06, 0xf0, 0x48, 0x01, 0x10}, 3, "ADD stores 8 bytes through (AX)"},
		{"XCHG with memory returns a loaded pointer", []byte{0x48, 0x87, 0x06, 0x48, 0x89, 0x10, 0x90}, 3, notPassed},
		{"the caller's pointer through PUSH and POP", []byte{0x56, 0x58, 0x48, 0x89, 0x10, 0x90, 0x90}, 2, notPassed},
		{"the caller's pointer truncated to 32 bits", []byte{0x89, 0xf0, 0x48, 0x89, 0x10, 0x90, 0x90}, 2, notPassed},
		{"a constant as the address", []byte{0x31, 0xc0, 0x48, 0x89, 0x10, 0x90, 0x90}, 2, notPassed},
		{"the sum of two of the caller's pointers", []byte{0x48, 0x01, 0xf6, 0x48, 0x89, 0x16, 0x90}, 3, notPassed},
		{"a store through the clock id", []byte{0x48, 0x89, 0x17, 0x90, 0x90, 0x90, 0x90}, 0, "derived from DI as the entry received it, a number by the entry's signature func(clockid int32, ts *Timespec) int32"},
		{"the clock id as an index into the caller's buffer", []byte{0x48, 0x89, 0x14, 0x3e, 0x90, 0x90, 0x90}, -1, ""},
		{"a non-argument register as received", []byte{0x48, 0x89, 0x13, 0x90, 0x90, 0x90, 0x90}, 0, "derived from BX as the entry received it, which is no argument"},
		{"STOSQ through a loaded DI", []byte{0x48, 0x8b, 0x3e, 0x48, 0xab, 0x90, 0x90}, 3, "STOSQ stores 8 bytes through (DI), " + notPassed},
		{"SETcc into a loaded pointer", []byte{0x48, 0x8b, 0x06, 0x0f, 0x94, 0x00, 0x90}, 3, "SETE stores 1 bytes through (AX)"},
		// Accepted: the caller's pointer copied, exchanged, offset by a
		// register (the caller's buffer size is not known: the offset is
		// not bounded) or used as an index.
		{"XCHG of registers keeps the pointer", []byte{0x48, 0x87, 0xf0, 0x48, 0x89, 0x10, 0x90}, -1, ""},
		{"pointer plus an unbounded number", []byte{0x48, 0x01, 0xc6, 0x48, 0x89, 0x16, 0x90}, -1, ""},
		{"LEAQ (SI)(AX*1)", []byte{0x48, 0x8d, 0x1c, 0x06, 0x48, 0x89, 0x13}, -1, ""},
		{"LEAQ (AX)(SI*1)", []byte{0x48, 0x8d, 0x1c, 0x30, 0x48, 0x89, 0x13}, -1, ""},
		{"LOCK XADD to the caller's memory", []byte{0xf0, 0x48, 0x0f, 0xc1, 0x16, 0x90, 0x90}, -1, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := &mut{t: t, in: referenceInput(t)}
			x := gettimeStores(m)
			m.write(x.off, c.code, shared...)
			rule := "pages"
			if c.at < 0 {
				rule = ""
			}
			checkVerdict(t, m, where{rule, "host", eGettime, x.off + c.at, c.msg})
		})
	}
}

// TestCallPassesProvenance: an entry that stores through an argument
// register may be called or tail-called only with a pointer the caller
// passed in it. clock_getres's MOVQ 224(R10), DX (7 bytes) becomes XORL
// DI, DI and a CALL or JMP of time, which stores through DI.
func TestCallPassesProvenance(t *testing.T) {
	for _, c := range []struct {
		name string
		op   byte
		msg  string
	}{
		{"CALL", 0xe8, "calls entry time, which stores through DI, with DI not derived from a pointer the caller passed"},
		{"tail JMP", 0xe9, "jumps to entry time, which stores through DI, with DI not derived from a pointer the caller passed"},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := &mut{t: t, in: referenceInput(t)}
			x := m.at(eGetres, bytesAre(0x49, 0x8b, 0x92, 0xe0, 0x00, 0x00, 0x00))
			m.write(x.off, cat([]byte{0x31, 0xff, c.op}, rel32(x.off+7, m.entryStart(eTime))), shared...)
			checkFinding(t, m.in, Verify(m.in), where{"pages", "host", eGetres, x.off + 2, c.msg})
		})
	}
}
