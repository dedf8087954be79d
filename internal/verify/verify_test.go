package verify

import (
	"bytes"
	"context"
	"encoding/binary"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/arch/x86/x86asm"

	"github.com/vdsogen/vdsogen/layout"
)

// The reference vDSO's variants, assembled once.
var reference struct {
	once sync.Once
	in   *Input
	err  error
	took time.Duration
}

func referenceInput(t *testing.T) *Input {
	t.Helper()
	reference.once.Do(func() {
		pkg, err := Load([]string{"../../vdso"})
		if err != nil {
			reference.err = err
			return
		}
		start := time.Now()
		reference.in, reference.err = pkg.Assemble(context.Background())
		reference.took = time.Since(start)
	})
	if reference.err != nil {
		t.Fatal(reference.err)
	}
	return clone(reference.in)
}

// clone deep-copies an input so that a case can corrupt it.
func clone(in *Input) *Input {
	t := *in.Table
	t.Pages = slices.Clone(t.Pages)
	t.Variants = slices.Clone(t.Variants)
	for i := range t.Variants {
		v := &t.Variants[i]
		v.Entries = slices.Clone(v.Entries)
		v.Sites = slices.Clone(v.Sites)
		for j := range v.Sites {
			v.Sites[j].Bytes = bytes.Clone(v.Sites[j].Bytes)
			v.Sites[j].Relocs = slices.Clone(v.Sites[j].Relocs)
			v.Sites[j].Choices = slices.Clone(v.Sites[j].Choices)
			for k := range v.Sites[j].Choices {
				v.Sites[j].Choices[k].Bytes = bytes.Clone(v.Sites[j].Choices[k].Bytes)
			}
		}
		v.Regions = slices.Clone(v.Regions)
	}
	out := &Input{Table: &t, Images: map[string]Image{}, Resolve: in.Resolve, MaxStack: in.MaxStack}
	for name, img := range in.Images {
		out.Images[name] = Image{Addr: img.Addr, Bytes: bytes.Clone(img.Bytes)}
	}
	return out
}

func TestReferenceVerifies(t *testing.T) {
	in := referenceInput(t)
	start := time.Now()
	r := Verify(in)
	t.Logf("assembling %d variants: %v; verifying: %v", len(in.Table.Variants), reference.took, time.Since(start))
	for _, f := range r.Findings {
		t.Errorf("%s", f)
	}
	for _, v := range in.Table.Variants {
		for _, e := range v.Entries {
			if _, ok := r.MaxStack(v.Name, e.Name); !ok {
				t.Errorf("no stack depth for %s/%s", v.Name, e.Name)
			}
		}
	}
	// host and timens share a layout, but a three-label region is not one
	// atomic instruction; the standalone variant switches with nothing.
	for _, p := range r.Pairs {
		if p.Switchable {
			t.Errorf("pair %s/%s is switchable", p.A, p.B)
		}
		if p.A == "host" && p.B == "timens" && (len(p.Why) != 1 || !strings.Contains(p.Why[0], "three_label timens")) {
			t.Errorf("host/timens: %q, want only the three-label region", p.Why)
		}
	}
}

// where is what a case expects the verifier to report.
type where struct {
	check, variant, entry string
	offset                int
	msg                   string
}

// mut is a reference input being corrupted; its helpers find places by
// decoding, so the cases survive changes to the routines.
type mut struct {
	t  *testing.T
	in *Input
}

func (m *mut) variant(name string) *layout.Variant {
	v, ok := m.in.Table.Variant(name)
	if !ok {
		m.t.Fatalf("no variant %s", name)
	}
	return v
}

func (m *mut) image(name string) *image {
	return decodeImage(m.variant(name), m.in.Images[name], m.in.Resolve)
}

// site returns the first site of the given kind in variant name.
func (m *mut) site(name string, kind layout.Kind) *layout.Site {
	v := m.variant(name)
	for i := range v.Sites {
		if v.Sites[i].Kind == kind {
			return &v.Sites[i]
		}
	}
	m.t.Fatalf("variant %s has no %s site", name, kind)
	return nil
}

// find returns the first instruction of variant name that pred accepts.
func (m *mut) find(name string, pred func(im *image, in *inst) bool) inst {
	im := m.image(name)
	for _, in := range im.insts {
		if !in.bad && pred(im, &in) {
			return in
		}
	}
	m.t.Fatalf("variant %s: no instruction found", name)
	return inst{}
}

// siteHolds overwrites variant's site of kind with b, in that variant
// only, and returns where the sites rule must report it, with msg.
func (m *mut) siteHolds(variant string, kind layout.Kind, b []byte, msg string) where {
	s := m.site(variant, kind)
	m.write(s.Offset, b, variant)
	return where{"sites", variant, s.Entry, s.Offset, msg}
}

// write puts b at off in the given variants, and keeps the table's record
// of any site it touches in step (as if the generator had placed it).
func (m *mut) write(off int, b []byte, variants ...string) {
	for _, name := range variants {
		copy(m.in.Images[name].Bytes[off:], b)
		v := m.variant(name)
		for i := range v.Sites {
			s := &v.Sites[i]
			if off < s.Offset+len(s.Bytes) && off+len(b) > s.Offset {
				s.Bytes = bytes.Clone(m.in.Images[name].Bytes[s.Offset : s.Offset+len(s.Bytes)])
				s.Relocs = nil
			}
		}
	}
}

func entryOf(m *mut, off int) string { return m.image("host").entryName(off) }

func repeat(b byte, n int) []byte { return bytes.Repeat([]byte{b}, n) }

// TestMutations corrupts the reference vDSO one way per case and checks
// that the named check reports it at the right variant, entry and offset.
func TestMutations(t *testing.T) {
	shared := []string{"host", "timens"}
	cases := []struct {
		name   string
		mutate func(m *mut) where
	}{
		{"entry shifted by one byte", func(m *mut) where {
			e := &m.variant("timens").Entries[1]
			e.Offset++
			e.Size--
			return where{"entries", "timens", e.Name, e.Offset, "in variant timens but entry " + e.Name + " is at"}
		}},
		{"image size", func(m *mut) where {
			m.variant("timens").Size++
			return where{"entries", "timens", "", 0, "the table says"}
		}},
		{"filler between entries", func(m *mut) where {
			// The first entry with filler before it.
			es := m.variant("host").Entries
			i := 1
			for i < len(es)-1 && es[i].Offset == es[i-1].Offset+es[i-1].Size {
				i++
			}
			e := es[i]
			if e.Offset == es[i-1].Offset+es[i-1].Size {
				m.t.Fatal("no entry of the reference has filler before it")
			}
			m.write(e.Offset-1, []byte{0x90}, shared...)
			return where{"entries", "host", "", e.Offset - 1, "filler before the entry is not INT3"}
		}},
		{"byte outside a site", func(m *mut) where {
			// The immediate of the first instruction of the first entry
			// (which need not start at offset 0: filler may precede it).
			e := m.variant("timens").Entries[0]
			m.in.Images["timens"].Bytes[e.Offset+2] ^= 0x01
			return where{"sites", "timens", e.Name, e.Offset, "differ outside any marker site"}
		}},
		{"site instruction boundary", func(m *mut) where {
			// The instruction before the static-branch site becomes NOPs
			// ending in a NOP4 that runs 3 bytes into the site.
			s := m.site("host", layout.StaticBranch)
			prev := m.image("host").covering(s.Offset - 1)
			fill := append(repeat(0x90, s.Offset-1-prev.off), 0x0f, 0x1f, 0x40, 0x00)
			m.write(prev.off, fill, shared...)
			return where{"sites", "host", s.Entry, s.Offset, "does not start on an instruction boundary"}
		}},
		{"off static branch is not NOP5", func(m *mut) where {
			return m.siteHolds("host", layout.StaticBranch, []byte{0x0f, 0x1f, 0x44, 0x00, 0x01}, "is off but its site is not NOP5")
		}},
		{"on static branch misses its body", func(m *mut) where {
			s := m.site("timens", layout.StaticBranch)
			rel := binary.LittleEndian.Uint32(m.in.Images["timens"].Bytes[s.Offset+1:])
			m.write(s.Offset+1, binary.LittleEndian.AppendUint32(nil, rel+1), "timens")
			return where{"sites", "timens", s.Entry, s.Offset, "not to its body"}
		}},
		{"tail does not fit", func(m *mut) where {
			// NOPs, then a MOV whose ModRM byte is the first byte after l_out.
			s := m.site("host", layout.ThreeLabel)
			end := s.Offset + len(s.Bytes)
			m.write(s.Offset, append(repeat(0x90, len(s.Bytes)-1), 0x89), "host")
			return where{"sites", "host", s.Entry, end - 1, "tail does not fit"}
		}},
		{"tail without INT3 filler", func(m *mut) where {
			s := m.site("host", layout.ThreeLabel)
			end := s.Offset + len(s.Bytes)
			m.write(end-1, []byte{0x90}, "host")
			return where{"sites", "host", s.Entry, end - 1, "is not INT3 filler"}
		}},
		{"push in one variant only", func(m *mut) where {
			// The apply region's first instruction becomes PUSH AX and NOPs:
			// timens reaches l_out 8 bytes deeper than host.
			s := m.site("timens", layout.ThreeLabel)
			first := m.image("timens").instAt(s.Offset)
			m.write(s.Offset, append([]byte{0x50}, repeat(0x90, first.Len-1)...), "timens")
			return where{"stack", "timens", s.Entry, s.Offset + len(s.Bytes), "stack depth leaving the three_label timens site is 8 bytes in variant timens but 0 in variant host"}
		}},
		{"return with the stack unbalanced", func(m *mut) where {
			// The first NOP-able place: an instruction of entry 0 replaced,
			// in every shared variant, by PUSH and NOPs, so the RET is off.
			in := m.find("host", func(im *image, in *inst) bool { return in.Op == x86asm.SYSCALL })
			m.write(in.off, []byte{0x50, 0x90}, shared...)
			ret := m.find("host", func(im *image, r *inst) bool { return r.off > in.off && r.Op == x86asm.RET })
			return where{"stack", "host", entryOf(m, in.off), ret.off, "returns with 8 bytes still on the stack"}
		}},
		{"jump outside the image", func(m *mut) where {
			in := m.find("host", func(im *image, in *inst) bool {
				_, ok := relTarget(in)
				return ok && in.PCRel == 4 && in.Op != x86asm.JMP && in.off+in.Len == in.off+in.PCRelOff+4
			})
			m.write(in.off+in.PCRelOff, binary.LittleEndian.AppendUint32(nil, 0x10000), shared...)
			return where{"reach", "host", entryOf(m, in.off), in.off, "outside the"}
		}},
		{"indirect call", func(m *mut) where {
			in := m.find("host", func(im *image, in *inst) bool { return in.Op == x86asm.SYSCALL })
			m.write(in.off, []byte{0xff, 0xd0}, shared...) // CALL AX
			return where{"reach", "host", entryOf(m, in.off), in.off, "indirect CALL"}
		}},
		{"undeclared data page", func(m *mut) where {
			m.in.Table.Pages = slices.DeleteFunc(m.in.Table.Pages, func(p layout.Page) bool { return p.Symbol == "vdsoTimens" })
			in := m.find("host", func(im *image, in *inst) bool {
				r, ok := im.ref(in)
				return ok && strings.HasPrefix(r, "vdsoTimens")
			})
			return where{"reach", "host", entryOf(m, in.off), in.off, "vdsoTimens+0, which is not a declared data page"}
		}},
		{"alternative holds no declared choice", func(m *mut) where {
			// RDTSCP and a NOP2, the rdtscp choice, where the table says
			// the site holds lfence_rdtsc.
			return m.siteHolds("host", layout.Alternative, []byte{0x0f, 0x01, 0xf9, 0x66, 0x90}, "not its choice lfence_rdtsc")
		}},
		{"alternative choice differs in the pool", func(m *mut) where {
			s := m.site("host", layout.Alternative)
			c := s.Choices[1] // rdtscp: 0f 01 f9 becomes 0f 01 f8 (SWAPGS)
			m.write(c.Offset+2, []byte{0xf8}, shared...)
			return where{"sites", "host", "", c.Offset, "choice rdtscp in the pool is"}
		}},
		{"alternative choice changes the stack", func(m *mut) where {
			// The table and the pool agree that the rdtsc choice is now
			// PUSH AX; POP AX: the depth differs inside the choice.
			s := m.site("host", layout.Alternative)
			c := s.Choices[0]
			for _, v := range shared {
				for i := range m.variant(v).Sites {
					if ss := &m.variant(v).Sites[i]; ss.Kind == layout.Alternative {
						ss.Choices[0].Bytes = []byte{0x50, 0x58, 0x0f, 0x1f, 0x00}
					}
				}
			}
			m.write(c.Offset, []byte{0x50, 0x58}, shared...)
			return where{"sites", "host", "", c.Offset, "choice rdtsc changes the stack (PUSH RAX)"}
		}},
		{"alternative padded with something else", func(m *mut) where {
			s := m.site("host", layout.Alternative)
			for _, v := range shared {
				for i := range m.variant(v).Sites {
					if ss := &m.variant(v).Sites[i]; ss.Kind == layout.Alternative {
						ss.Choices[0].Bytes = []byte{0x0f, 0x31, 0xcc, 0xcc, 0xcc}
					}
				}
			}
			return where{"sites", "host", "", s.Choices[0].Offset + 1, "padded with INT 0x3, not NOPs"}
		}},
		{"bytes between the last entry and the pool", func(m *mut) where {
			// The pool moves one byte later: its first byte now sits
			// between the last entry and the pool, and is not INT3.
			for _, v := range shared {
				m.variant(v).Pool++
			}
			v := m.variant("host")
			last := v.Entries[len(v.Entries)-1]
			return where{"entries", "host", "", last.Offset + last.Size, "before the replacement pool, are not INT3 filler"}
		}},
		{"region signature missing", func(m *mut) where {
			r := m.variant("host").Regions[0]
			m.write(r.Abort-1, []byte{0x00}, shared...)
			return where{"regions", "host", r.Entry, r.Abort, "not preceded by the signature"}
		}},
		{"region abort inside its critical section", func(m *mut) where {
			for _, v := range shared {
				rr := &m.variant(v).Regions[0]
				rr.Abort = rr.Start
			}
			r := m.variant("host").Regions[0]
			return where{"regions", "host", r.Entry, r.Abort, "is inside the critical section"}
		}},
		{"region stack depth changes inside", func(m *mut) where {
			// The region's first instruction (MOVL seq, R9) becomes PUSH AX
			// and NOPs: the depth inside the region is 8, at its start 0.
			r := m.variant("host").Regions[0]
			first := m.image("host").instAt(r.Start)
			m.write(r.Start, append([]byte{0x50}, repeat(0x90, first.Len-1)...), shared...)
			return where{"regions", "host", r.Entry, r.Start + 1, "the stack depth is 8 bytes here but 0 at the region's start"}
		}},
		{"bytes that do not decode", func(m *mut) where {
			in := m.find("host", func(im *image, in *inst) bool { return in.Op == x86asm.SYSCALL })
			m.write(in.off, []byte{0x06, 0x90}, shared...) // PUSH ES: invalid in 64-bit mode
			return where{"entries", "host", entryOf(m, in.off), in.off, "do not decode"}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := &mut{t: t, in: referenceInput(t)}
			w := tc.mutate(m)
			r := Verify(m.in)
			var got []string
			for _, f := range r.Findings {
				got = append(got, f.String())
				if f.Check == w.check && len(f.Variants) > 0 && f.Variants[0] == w.variant && f.Entry == w.entry && f.Offset == w.offset && strings.Contains(f.Msg, w.msg) {
					if f.Source == "" && f.Variants != nil && f.Entry != "" {
						t.Errorf("finding has no source line: %s", f)
					}
					t.Logf("caught: %s", f)
					return
				}
			}
			t.Errorf("want a %s finding for variant %s, entry %q, offset %#x, %q; got:\n\t%s", w.check, w.variant, w.entry, w.offset, w.msg, strings.Join(got, "\n\t"))
		})
	}
}

// TestSwap: with the three-label region made the same in host and timens,
// the pair differs only in a static branch: one atomic instruction.
func TestSwap(t *testing.T) {
	m := &mut{t: t, in: referenceInput(t)}
	s := *m.site("timens", layout.ThreeLabel)
	region := bytes.Clone(m.in.Images["timens"].Bytes[s.Offset : s.Offset+len(s.Bytes)])
	// The copy sits at another address: its data references move with it.
	shift := int32(m.in.Images["timens"].Addr - m.in.Images["host"].Addr)
	for _, r := range s.Relocs {
		disp := int32(binary.LittleEndian.Uint32(region[r.Offset:]))
		binary.LittleEndian.PutUint32(region[r.Offset:], uint32(disp+shift))
	}
	m.write(s.Offset, region, "host")
	r := Verify(m.in)
	for _, p := range r.Pairs {
		if p.A == "host" && p.B == "timens" {
			if !p.Switchable {
				t.Errorf("host/timens not switchable: %q", p.Why)
			}
			return
		}
	}
	t.Error("no host/timens pair in the report")
}
