package verify

import (
	"encoding/binary"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/arch/x86/x86asm"
)

// The reference vDSO's entries, as the routines name them.
const (
	eGettime   = "clock_gettime"
	eGettimeTL = "clock_gettime_tl"
	eGtod      = "gettimeofday"
	eTime      = "time"
	eGetres    = "clock_getres"
)

// in returns the first instruction of entry in the host variant that pred
// accepts (the shared variants have the same instructions there).
func (m *mut) at(entry string, pred func(im *image, in *inst) bool) inst {
	return m.find("host", func(im *image, in *inst) bool { return im.entryName(in.off) == entry && pred(im, in) })
}

// op accepts an instruction by operation.
func op(o x86asm.Op) func(*image, *inst) bool {
	return func(_ *image, in *inst) bool { return in.Op == o }
}

// bytesAre accepts an instruction by its encoding.
func bytesAre(b ...byte) func(*image, *inst) bool {
	return func(im *image, in *inst) bool { return string(im.b[in.off:in.end()]) == string(b) }
}

// after accepts an instruction past off that pred accepts.
func after(off int, pred func(*image, *inst) bool) func(*image, *inst) bool {
	return func(im *image, in *inst) bool { return in.off > off && pred(im, in) }
}

// overwrite replaces the instruction of entry that pred picks with b, in
// every shared variant, and returns where rule must report it: at that
// instruction, with msg.
func (m *mut) overwrite(entry string, pred func(*image, *inst) bool, b []byte, rule, msg string) where {
	x := m.at(entry, pred)
	m.write(x.off, b, shared...)
	return where{rule, "host", entry, x.off, msg}
}

// entryStart is where entry starts.
func (m *mut) entryStart(entry string) int {
	e, ok := m.variant("host").Entry(entry)
	if !ok {
		m.t.Fatalf("no entry %s", entry)
	}
	return e.Offset
}

// entryEnd is where entry ends in the table.
func (m *mut) entryEnd(entry string) int {
	e, ok := m.variant("host").Entry(entry)
	if !ok {
		m.t.Fatalf("no entry %s", entry)
	}
	return e.Offset + e.Size
}

// reaches8 reports whether a branch ending at end reaches target with an
// 8-bit displacement.
func reaches8(end, target int) bool { d := target - end; return d >= -128 && d <= 127 }

// rel8 is the 8-bit displacement of a branch ending at end to target; a
// case whose places drifted out of range fails instead of branching
// elsewhere.
func (m *mut) rel8(end, target int) []byte {
	if !reaches8(end, target) {
		m.t.Fatalf("a branch ending at %#x cannot reach %#x with an 8-bit displacement", end, target)
	}
	return []byte{byte(int8(target - end))}
}

// rel32 is the displacement of a branch ending at end to target.
func rel32(end, target int) []byte {
	return binary.LittleEndian.AppendUint32(nil, uint32(int32(target-end)))
}

func cat(parts ...[]byte) []byte {
	var out []byte
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

var shared = []string{"host", "timens"}

// hexNumber finds hexadecimal numbers in a finding.
var hexNumber = regexp.MustCompile(`0x[0-9a-f]+`)

// checkFinding fails t unless r has a finding as w says; every finding
// must name its operands symbolically (no harness address, no Op(0)).
func checkFinding(t *testing.T, in *Input, r *Report, w where) {
	t.Helper()
	var got []string
	found := false
	for _, f := range r.Findings {
		s := f.String()
		got = append(got, s)
		if strings.Contains(s, "Op(") {
			t.Errorf("finding shows an undecoded operation: %s", s)
		}
		for _, h := range hexNumber.FindAllString(s, -1) {
			if n, err := strconv.ParseUint(h[2:], 16, 64); err == nil && n > 0x10000 {
				if sym, _, ok := in.Resolve(n); ok {
					t.Errorf("finding shows the harness address %s (in %s) instead of a symbol: %s", h, sym, s)
				}
			}
		}
		if !found && f.Check == w.check && len(f.Variants) > 0 && f.Variants[0] == w.variant && f.Entry == w.entry && f.Offset == w.offset && strings.Contains(f.Msg, w.msg) {
			if f.Source == "" && f.Entry != "" {
				t.Errorf("finding has no source line: %s", f)
			}
			t.Logf("caught: %s", s)
			found = true
		}
	}
	if !found {
		t.Errorf("want a %s finding for variant %s, entry %q, offset %#x, %q; got:\n\t%s", w.check, w.variant, w.entry, w.offset, w.msg, strings.Join(got, "\n\t"))
	}
}

// checkVerdict verifies m's input and checks the verdict: accepted when
// w.check is empty, else a finding as w says.
func checkVerdict(t *testing.T, m *mut, w where) {
	t.Helper()
	r := Verify(m.in)
	if w.check == "" {
		if !r.OK() {
			t.Fatalf("refused: %v", r.Err())
		}
		return
	}
	checkFinding(t, m.in, r, w)
}

// gettimeStores finds clock_gettime's two stores of the result, MOVQ DX,
// (SI); MOVQ AX, 8(SI): 7 bytes the cases overwrite.
func gettimeStores(m *mut) inst {
	m.t.Helper()
	x := m.at(eGettime, bytesAre(0x48, 0x89, 0x16))
	if got := string(m.in.Images["host"].Bytes[x.off : x.off+7]); got != "\x48\x89\x16\x48\x89\x46\x08" {
		m.t.Fatalf("clock_gettime's stores moved: % x", got)
	}
	return x
}

// TestSoundness corrupts the reference vDSO's assembled bytes (in every
// shared variant, as a changed routine would) one way per case, over the
// classes of control flow, stack and data-page mistakes, and checks that
// the named check reports it at the right variant, entry and offset.
func TestSoundness(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(m *mut) where
	}{
		// Traps and refused instructions reached from an entry.
		{"RET replaced by INT3", func(m *mut) where {
			return m.overwrite(eGettime, op(x86asm.RET), []byte{0xcc}, "flow", "control reaches INT3")
		}},
		{"SYSCALL replaced by UD2", func(m *mut) where {
			return m.overwrite(eTime, op(x86asm.SYSCALL), []byte{0x0f, 0x0b}, "flow", "control reaches UD2")
		}},
		{"HLT on the return path", func(m *mut) where {
			// over XORL AX, AX before RET
			return m.overwrite(eGetres, bytesAre(0x31, 0xc0), []byte{0xf4, 0x90}, "flow", "HLT")
		}},
		{"INT 0x80 instead of SYSCALL", func(m *mut) where {
			return m.overwrite(eGtod, op(x86asm.SYSCALL), []byte{0xcd, 0x80}, "flow", "software interrupt")
		}},
		{"bad byte on a reached path", func(m *mut) where {
			// PUSH ES: invalid in 64-bit mode
			return m.overwrite(eTime, op(x86asm.PAUSE), []byte{0x06, 0x90}, "flow", "do not decode")
		}},
		{"UD1 reached", func(m *mut) where {
			x := m.at(eGetres, bytesAre(0x31, 0xc0))
			ret := m.at(eGetres, after(x.off, op(x86asm.RET)))
			m.write(x.off, []byte{0x0f, 0xb9, 0xc0}, shared...) // UD1 AX, AX over XORL; RET
			_ = ret
			return where{"flow", "host", eGetres, x.off, "UD1"}
		}},
		{"SYSENTER", func(m *mut) where {
			return m.overwrite(eGetres, op(x86asm.SYSCALL), []byte{0x0f, 0x34}, "flow", "the only system call instruction allowed is SYSCALL")
		}},
		{"RDMSR", func(m *mut) where {
			return m.overwrite(eGettime, op(x86asm.SYSCALL), []byte{0x0f, 0x32}, "flow", "RDMSR, privileged")
		}},
		{"far RET", func(m *mut) where {
			return m.overwrite(eTime, op(x86asm.RET), []byte{0xcb}, "flow", "far control transfer")
		}},
		{"RET imm16", func(m *mut) where {
			// over XORL AX, AX; RET
			return m.overwrite(eGetres, bytesAre(0x31, 0xc0), []byte{0xc2, 0x08, 0x00}, "flow", "RET with an immediate")
		}},
		{"STD", func(m *mut) where {
			return m.overwrite(eGetres, bytesAre(0x31, 0xc0), []byte{0xfd, 0x90}, "flow", "direction flag")
		}},
		{"LEAVE", func(m *mut) where {
			return m.overwrite(eGetres, bytesAre(0x31, 0xc0), []byte{0xc9, 0x90}, "flow", "LEAVE, a frame instruction")
		}},
		// Paths off the end of an entry, into a region's signature, into
		// its abort handler.
		{"last JMP of an entry becomes NOPs", func(m *mut) where {
			// The entry's end is the table's (filler may follow it before
			// the next entry).
			end := m.entryEnd(eGettime)
			last := m.image("host").covering(end - 1)
			if last == nil || last.Op != x86asm.JMP {
				m.t.Fatalf("entry %s does not end with a JMP: %v", eGettime, last)
			}
			m.write(last.off, repeat(0x90, last.Len), shared...)
			// The last instruction is the static branch's body, which only
			// the variant with the branch on reaches.
			return where{"flow", "timens", eGettime, end - 1, "falls through past the end of entry clock_gettime"}
		}},
		{"table cuts an entry's last RET", func(m *mut) where {
			// The table says entry time is one byte shorter: its last RET
			// is filler now, and the SYSCALL before it falls off the end.
			im := m.image("host")
			ret := im.covering(m.entryEnd(eTime) - 1)
			if ret == nil || ret.Op != x86asm.RET || ret.Len != 1 {
				m.t.Fatalf("entry %s does not end with a RET: %v", eTime, ret)
			}
			sc := im.covering(ret.off - 1)
			if sc == nil || sc.Op != x86asm.SYSCALL {
				m.t.Fatalf("entry %s's last RET does not follow a SYSCALL: %v", eTime, sc)
			}
			for _, v := range shared {
				vv := m.variant(v)
				for i := range vv.Entries {
					if vv.Entries[i].Name == eTime {
						vv.Entries[i].Size--
					}
				}
			}
			return where{"flow", "host", eTime, sc.off, "falls through past the end of entry time"}
		}},
		{"RET before a region's signature becomes NOP", func(m *mut) where {
			r := m.variant("host").Regions[0]
			sig := m.image("host").covering(r.Abort - 1)
			m.write(sig.off-1, []byte{0x90}, shared...)
			return where{"flow", "host", r.Entry, sig.off, "region cg_seqlock's signature"}
		}},
		{"JRCXZ into a region's signature", func(m *mut) where {
			r := m.variant("host").Regions[0]
			sig := m.image("host").covering(r.Abort - 1)
			// A PAUSE of the entry from which JRCXZ (rel8) reaches the signature.
			p := m.at(r.Entry, func(im *image, in *inst) bool { return in.Op == x86asm.PAUSE && reaches8(in.off+2, sig.off) })
			m.write(p.off, cat([]byte{0xe3}, m.rel8(p.off+2, sig.off)), shared...)
			return where{"flow", "host", r.Entry, sig.off, "UD1"}
		}},
		{"LOOP to a region's abort handler", func(m *mut) where {
			r := m.variant("host").Regions[0]
			// A PAUSE past the region from which LOOP (rel8) reaches the handler.
			p := m.at(r.Entry, after(r.Start+r.PostCommit-1, func(im *image, in *inst) bool { return in.Op == x86asm.PAUSE && reaches8(in.off+2, r.Abort) }))
			m.write(p.off, cat([]byte{0xe2}, m.rel8(p.off+2, r.Abort)), shared...)
			return where{"regions", "host", r.Entry, p.off, "other than by a restart"}
		}},
		{"JMP to a region's abort handler", func(m *mut) where {
			r := m.variant("host").Regions[2] // gettimeofday's
			j := m.at(r.Entry, func(im *image, in *inst) bool {
				return in.Op == x86asm.JMP && in.Len == 2 && in.off > r.Start && reaches8(in.end(), r.Abort)
			})
			m.write(j.off, cat([]byte{0xeb}, m.rel8(j.end(), r.Abort)), shared...)
			return where{"regions", "host", r.Entry, j.off, "other than by a restart"}
		}},
		// Branches to other entries and calls.
		{"Jcc to another entry with a push", func(m *mut) where {
			// TESTQ SI, SI; JE; MOVQ $0, (SI) becomes PUSH AX; TESTQ SI, SI;
			// JE time; POP AX; NOP2: 12 bytes either way.
			x := m.at(eGetres, bytesAre(0x48, 0x85, 0xf6))
			jcc := x.off + 4
			m.write(x.off, cat([]byte{0x50, 0x48, 0x85, 0xf6, 0x0f, 0x84}, rel32(jcc+6, m.entryStart(eTime)), []byte{0x58, 0x66, 0x90}), shared...)
			return where{"stack", "host", eGetres, jcc, "branches (JE) to entry time with 8 bytes on the stack"}
		}},
		{"JMP to another entry with a push", func(m *mut) where {
			// MOVL $nr, AX; SYSCALL; RET (8 bytes) becomes PUSH AX; JMP time; NOP2.
			x := m.at(eGetres, func(im *image, in *inst) bool {
				return string(im.b[in.off:min(in.off+8, len(im.b))]) == "\xb8\xe5\x00\x00\x00\x0f\x05\xc3"
			})
			m.write(x.off, cat([]byte{0x50, 0xe9}, rel32(x.off+6, m.entryStart(eTime)), []byte{0x66, 0x90}), shared...)
			return where{"stack", "host", eGetres, x.off + 1, "jumps to entry time with 8 bytes on the stack"}
		}},
		{"Jcc into the middle of another entry", func(m *mut) where {
			ja := m.at(eGettime, op(x86asm.JA))
			m.write(ja.off+2, rel32(ja.end(), m.entryStart(eGettimeTL)+9), shared...)
			return where{"reach", "host", eGettime, ja.off, "inside entry clock_gettime_tl but not to its start"}
		}},
		{"CALL into the middle of its own entry", func(m *mut) where {
			x := m.at(eGettime, bytesAre(0xb8, 0xe4, 0x00, 0x00, 0x00)) // MOVL $228, AX
			norm := m.at(eGettime, bytesAre(0xb9, 0x00, 0xca, 0x9a, 0x3b))
			m.write(x.off, cat([]byte{0xe8}, rel32(x.off+5, norm.off)), shared...)
			return where{"flow", "host", eGettime, x.off, "only an entry's start may be called"}
		}},
		// Writes of RSP the verifier cannot follow; stores outside the frame.
		{"MOVQ AX, SP", func(m *mut) where {
			// over CMPQ AX, CX
			return m.overwrite(eGettime, bytesAre(0x48, 0x39, 0xc8), []byte{0x48, 0x89, 0xc4}, "stack", "writes RSP in a way the verifier cannot follow")
		}},
		{"XCHGQ AX, SP", func(m *mut) where {
			return m.overwrite(eGtod, bytesAre(0x48, 0x39, 0xc8), []byte{0x48, 0x87, 0xc4}, "stack", "writes RSP")
		}},
		{"POPQ SP", func(m *mut) where {
			return m.overwrite(eGetres, bytesAre(0x31, 0xc0), []byte{0x5c, 0x90}, "stack", "writes RSP")
		}},
		{"push on one path of a loop", func(m *mut) where {
			// The normalisation loop's SUBQ CX, AX becomes PUSH AX; NOP2:
			// the loop head is reached with 0 and with 8 bytes pushed.
			sub := m.at(eGettime, bytesAre(0x48, 0x29, 0xc8))
			head := m.at(eGettime, bytesAre(0x48, 0x39, 0xc8))
			m.write(sub.off, []byte{0x50, 0x66, 0x90}, shared...)
			return where{"stack", "host", eGettime, head.off, "bytes on one path and"}
		}},
		{"store over the return address", func(m *mut) where {
			// over MOVQ DX, (SI); MOVQ AX, 8(SI)
			return m.overwrite(eGettime, bytesAre(0x48, 0x89, 0x16), []byte{0x48, 0x89, 0x14, 0x24, 0x90, 0x90, 0x90}, "stack", "stores 8 bytes at 0(SP) with 0 bytes pushed")
		}},
		{"store below the stack pointer", func(m *mut) where {
			return m.overwrite(eGettime, bytesAre(0x48, 0x89, 0x16), []byte{0x48, 0x89, 0x54, 0x24, 0xf8, 0x90, 0x90}, "stack", "below the stack pointer")
		}},
		// Data pages: read-only, every access inside the declared size.
		{"store to a page through a register", func(m *mut) where {
			// over MOVL 4(R10), AX
			return m.overwrite(eGettime, bytesAre(0x41, 0x8b, 0x42, 0x04), []byte{0x41, 0x89, 0x42, 0x04}, "pages", "stores 4 bytes to data page vdsoData at vdsoData+4: data pages are read-only")
		}},
		{"read-modify-write of a page", func(m *mut) where {
			// ADDL AX, 4(R10)
			return m.overwrite(eTime, bytesAre(0x41, 0x8b, 0x42, 0x04), []byte{0x41, 0x01, 0x42, 0x04}, "pages", "to data page vdsoData at vdsoData+4")
		}},
		{"LOCK RMW of a page", func(m *mut) where {
			// over IMULQ 16(R10), AX
			return m.overwrite(eGettime, bytesAre(0x49, 0x0f, 0xaf, 0x42, 0x10), []byte{0xf0, 0x49, 0x01, 0x42, 0x10}, "pages", "stores 8 bytes to data page vdsoData at vdsoData+16")
		}},
		{"RIP-relative store to a page", func(m *mut) where {
			x := m.at(eTime, op(x86asm.LEA)) // LEAQ vdsoData(SB), R10
			m.write(x.off+1, []byte{0x89}, shared...)
			return where{"pages", "host", eTime, x.off, "stores 8 bytes to data page vdsoData at vdsoData+0"}
		}},
		{"store through a copy of a page address", func(m *mut) where {
			// In the timens body: LEAQ vdsoTimens(SB), R8; ADDQ (R8)(R11*1), DX
			// becomes ... ADDQ DX, (R8)(R11*1).
			x := m.at(eGettime, bytesAre(0x4b, 0x03, 0x14, 0x18))
			m.write(x.off, []byte{0x4b, 0x01, 0x14, 0x18}, shared...)
			// The body runs only where the timens branch is on.
			return where{"pages", "timens", eGettime, x.off, "to data page vdsoTimens at vdsoTimens+0..+176"}
		}},
		{"displacement past the page", func(m *mut) where {
			x := m.at(eGettime, bytesAre(0x49, 0x3b, 0x82, 0xf0, 0x00, 0x00, 0x00)) // CMPQ AX, 240(R10)
			m.write(x.off+3, []byte{0xfc, 0x0f}, shared...)                         // 4092(R10)
			return where{"pages", "host", eGettime, x.off, "reads 8 bytes at vdsoData+4092 through 4092(R10): outside the 4096 bytes declared for data page vdsoData"}
		}},
		{"LEAQ page+3900 then 240(R10)", func(m *mut) where {
			lea := m.at(eGettime, op(x86asm.LEA))
			d := binary.LittleEndian.Uint32(m.in.Images["host"].Bytes[lea.off+3:])
			for _, v := range shared {
				dv := binary.LittleEndian.Uint32(m.in.Images[v].Bytes[lea.off+3:])
				m.write(lea.off+3, binary.LittleEndian.AppendUint32(nil, dv+3900), v)
			}
			_ = d
			x := m.at(eGettime, bytesAre(0x49, 0x3b, 0x82, 0xf0, 0x00, 0x00, 0x00))
			return where{"pages", "host", eGettime, x.off, "reads 8 bytes at vdsoData+4140 through 240(R10)"}
		}},
		{"negative displacement from a page", func(m *mut) where {
			x := m.at(eGetres, bytesAre(0x41, 0x8b, 0x42, 0x04))
			m.write(x.off+3, []byte{0xfc}, shared...) // -4(R10)
			return where{"pages", "host", eGetres, x.off, "reads 4 bytes at vdsoData-4"}
		}},
		{"index no longer compared", func(m *mut) where {
			// CMPL DI, $11 becomes TESTL DI, DI; NOP: R11 is any 32-bit
			// clock id times 16.
			cmp := m.at(eGettime, op(x86asm.CMP))
			m.write(cmp.off, []byte{0x85, 0xff, 0x90}, shared...)
			x := m.at(eGettime, bytesAre(0x4b, 0x03, 0x44, 0x1a, 0x28)) // ADDQ 40(R10)(R11*1), AX
			return where{"pages", "host", eGettime, x.off, "reads 8 bytes at vdsoData+40..+68719476760 through 40(R10)(R11*1): outside the 4096 bytes"}
		}},
		{"index copied with its upper half", func(m *mut) where {
			// MOVL DI, R11 becomes MOVQ DI, R11: the compare bounded only
			// the low 32 bits of DI.
			mov := m.at(eGettime, bytesAre(0x41, 0x89, 0xfb))
			m.write(mov.off, []byte{0x49, 0x89, 0xfb}, shared...)
			x := m.at(eGettime, bytesAre(0x4b, 0x03, 0x44, 0x1a, 0x28))
			return where{"pages", "host", eGettime, x.off, "into data page vdsoData at an offset the verifier cannot bound"}
		}},
		{"index bounded too loosely", func(m *mut) where {
			shl := m.at(eGettime, op(x86asm.SHL)) // SHLQ $4, R11 becomes $9
			m.write(shl.off+3, []byte{0x09}, shared...)
			x := m.at(eGettime, bytesAre(0x4b, 0x03, 0x44, 0x1a, 0x28))
			return where{"pages", "host", eGettime, x.off, "reads 8 bytes at vdsoData+40..+5672"}
		}},
		{"index compared the wrong way", func(m *mut) where {
			// JA syscall becomes JB syscall: the fall-through has DI >= 11.
			ja := m.at(eGettime, op(x86asm.JA))
			m.write(ja.off+1, []byte{0x82}, shared...)
			x := m.at(eGettime, bytesAre(0x4b, 0x03, 0x44, 0x1a, 0x28))
			return where{"pages", "host", eGettime, x.off, "reads 8 bytes at vdsoData+216..+68719476760"}
		}},
		{"page address truncated to 32 bits", func(m *mut) where {
			// XORL R8, R8 becomes MOVL R10, R10.
			x := m.at(eGettime, bytesAre(0x45, 0x31, 0xc0))
			m.write(x.off, []byte{0x45, 0x89, 0xd2}, shared...)
			sub := m.at(eGettime, bytesAre(0x49, 0x2b, 0x42, 0x18)) // SUBQ 24(R10), AX
			return where{"pages", "host", eGettime, sub.off, "lost track of"}
		}},
		{"page address through the stack", func(m *mut) where {
			// MOVL 4(R10), AX becomes PUSHQ R10; POPQ R10.
			x := m.at(eGetres, bytesAre(0x41, 0x8b, 0x42, 0x04))
			m.write(x.off, []byte{0x41, 0x52, 0x41, 0x5a}, shared...)
			y := m.at(eGetres, bytesAre(0x49, 0x8b, 0x92, 0xe0, 0x00, 0x00, 0x00)) // MOVQ 224(R10), DX
			return where{"pages", "host", eGetres, y.off, "lost track of"}
		}},
		{"page address kept across a CALL", func(m *mut) where {
			// MOVL $1e9, CX becomes CALL time: R10 holds vdsoData.
			x := m.at(eGettime, bytesAre(0xb9, 0x00, 0xca, 0x9a, 0x3b))
			m.write(x.off, cat([]byte{0xe8}, rel32(x.off+5, m.entryStart(eTime))), shared...)
			return where{"pages", "host", eGettime, x.off, "calls entry time with a data page's address in R10"}
		}},
		{"tail call with a page address", func(m *mut) where {
			x := m.at(eGettime, bytesAre(0xb9, 0x00, 0xca, 0x9a, 0x3b))
			m.write(x.off, cat([]byte{0xe9}, rel32(x.off+5, m.entryStart(eTime))), shared...)
			return where{"pages", "host", eGettime, x.off, "jumps to entry time with a data page's address in R10"}
		}},
		{"string store through a page address", func(m *mut) where {
			// MOVL 4(R10), AX becomes MOVQ R10, DI; STOSB.
			x := m.at(eGetres, bytesAre(0x41, 0x8b, 0x42, 0x04))
			m.write(x.off, []byte{0x4c, 0x89, 0xd7, 0xaa}, shared...)
			return where{"pages", "host", eGetres, x.off + 3, "STOSB addresses memory through DI implicitly"}
		}},
		{"branch into an alternative's middle", func(m *mut) where {
			// The seqlock's JNE pause goes to the alternative's second
			// instruction: another choice may start elsewhere.
			s := m.site("host", "alternative")
			j := m.at(s.Entry, func(im *image, in *inst) bool {
				return in.Op == x86asm.JNE && in.Len == 2 && in.off < s.Offset && reaches8(in.end(), s.Offset+3)
			})
			m.write(j.off+1, m.rel8(j.end(), s.Offset+3), shared...)
			return where{"flow", "host", s.Entry, j.off, "inside alternative tsc"}
		}},
		{"absolute page address in an immediate", func(m *mut) where {
			// LEAQ vdsoData(SB), R10 becomes MOVQ $vdsoData+4094, R10 (the
			// harness links below 2 GiB): R10 is still the page.
			lea := m.at(eTime, op(x86asm.LEA))
			im := m.image("host")
			mem, _ := ripMem(im.instAt(lea.off))
			abs := im.addr + uint64(int64(lea.end())+int64(int32(mem.Disp)))
			m.write(lea.off, cat([]byte{0x49, 0xc7, 0xc2}, binary.LittleEndian.AppendUint32(nil, uint32(abs+4094))), shared...)
			x := m.at(eTime, bytesAre(0x41, 0x8b, 0x42, 0x04))
			return where{"pages", "host", eTime, x.off, "reads 4 bytes at vdsoData+4098"}
		}},
		{"address of the image's own code as a base", func(m *mut) where {
			// LEAQ vdsoData(SB), R10 becomes LEAQ image+0(SB), R10.
			lea := m.at(eTime, op(x86asm.LEA))
			m.write(lea.off+3, rel32(lea.end(), 0), shared...)
			x := m.at(eTime, bytesAre(0x45, 0x8b, 0x0a)) // MOVL (R10), R9
			return where{"pages", "host", eTime, x.off, "lost track of"}
		}},
		{"store into the image's code", func(m *mut) where {
			// LEAQ vdsoData(SB), R10 becomes MOVL AX, image+0(SB); NOP.
			lea := m.at(eTime, op(x86asm.LEA))
			m.write(lea.off, cat([]byte{0x89, 0x05}, rel32(lea.off+6, 0), []byte{0x90}), shared...)
			return where{"pages", "host", eTime, lea.off, "stores to image+0x0, the image's own code"}
		}},
		{"alternative choice stores to the page", func(m *mut) where {
			// The rdtsc choice of the tsc alternative becomes MOVL AX,
			// (R10) (3 bytes, as RDTSC is 2 it takes one padding byte).
			for _, v := range shared {
				vv := m.variant(v)
				for i := range vv.Sites {
					if s := &vv.Sites[i]; s.Kind == "alternative" {
						s.Choices[0].Bytes = []byte{0x41, 0x89, 0x02, 0x66, 0x90}
					}
				}
			}
			c := m.site("host", "alternative").Choices[0]
			return where{"pages", "host", "", c.Offset, "stores 4 bytes to data page vdsoData"}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := &mut{t: t, in: referenceInput(t)}
			w := tc.mutate(m)
			checkFinding(t, m.in, Verify(m.in), w)
		})
	}
	if len(cases) < 40 {
		t.Errorf("%d cases; the corpus is meant to hold at least 40", len(cases))
	}
}

// TestTailCallAllowed: a conditional branch to another entry's start with
// nothing pushed and no page address held is a tail call, and verifies.
func TestTailCallAllowed(t *testing.T) {
	m := &mut{t: t, in: referenceInput(t)}
	ja := m.at(eGettime, op(x86asm.JA))
	m.write(ja.off+2, rel32(ja.end(), m.entryStart(eGettimeTL)), shared...)
	if r := Verify(m.in); !r.OK() {
		for _, f := range r.Findings {
			t.Error(f)
		}
	}
}

// TestAsmPageOperands: the reference's assembly text has no page operand
// outside its page; a LEAQ vdsoData+4096(SB), which the linker resolves
// into the next page's first byte, is refused at its line and instruction.
func TestAsmPageOperands(t *testing.T) {
	pkg, err := Load([]string{"../../vdso"})
	if err != nil {
		t.Fatal(err)
	}
	m := &mut{t: t, in: referenceInput(t)}
	if err := pkg.ReadAsm(m.in); err != nil {
		t.Fatal(err)
	}
	if r := Verify(m.in); !r.OK() {
		t.Fatalf("the reference with its assembly text: %v", r.Err())
	}
	host := m.in.Asm["host"]
	text := string(host.Text)
	line := 1 + strings.Count(text[:strings.Index(text, "·vdsoData+0(SB)")], "\n")
	host.Text = []byte(strings.Replace(text, "·vdsoData+0(SB)", "·vdsoData+4096(SB)", 1))
	m.in.Asm["host"] = host
	lea := m.at(eGettime, op(x86asm.LEA))
	d := binary.LittleEndian.Uint32(m.in.Images["host"].Bytes[lea.off+3:])
	m.write(lea.off+3, binary.LittleEndian.AppendUint32(nil, d+4096), "host")
	r := Verify(m.in)
	checkFinding(t, m.in, r, where{"pages", "host", eGettime, lea.off,
		"zclock_host_amd64.s:" + strconv.Itoa(line) + ":"})
	checkFinding(t, m.in, r, where{"pages", "host", eGettime, lea.off,
		"refers to vdsoData+4096, outside the 4096 bytes declared for data page vdsoData (the linker resolved it into vdsoTimens+0)"})
}

// TestEveryControlTransferClassified: no operation x86asm decodes that
// transfers control or traps is taken for one that falls through.
func TestEveryControlTransferClassified(t *testing.T) {
	transfer := regexp.MustCompile(`^(J|LOOP|CALL|LCALL|LJMP|RET|LRET|IRET|SYS|INT|UD|HLT|XBEGIN|XABORT|ICEBP|ENTER|LEAVE)`)
	n := 0
	for o := x86asm.Op(1); !strings.HasPrefix(o.String(), "Op("); o++ {
		if !transfer.MatchString(o.String()) || o == x86asm.SYSCALL { // SYSCALL returns to the next instruction
			continue
		}
		n++
		if c, _ := classify(&inst{Inst: x86asm.Inst{Op: o, Len: 1}}); c == flowNext {
			t.Errorf("%s is classified as falling through", o)
		}
	}
	if n < 40 {
		t.Errorf("only %d control-transfer operations found", n)
	}
}

// TestDifferenceFiledUnderChangedVariant: a difference outside the sites
// names the variant whose bytes changed (the standalone variant's code for
// the same program line tells which), whichever of the two it is.
func TestDifferenceFiledUnderChangedVariant(t *testing.T) {
	for _, changed := range []string{"host", "timens"} {
		t.Run(changed, func(t *testing.T) {
			m := &mut{t: t, in: referenceInput(t)}
			x := m.at(eGetres, bytesAre(0x31, 0xc0)) // XORL AX, AX
			m.write(x.off, []byte{0x31, 0xd2}, changed)
			checkFinding(t, m.in, Verify(m.in), where{"sites", changed, eGetres, x.off, "differ outside any marker site"})
		})
	}
}
