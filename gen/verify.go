package gen

import (
	"bytes"
	"fmt"

	"github.com/vdsogen/vdsogen/dsl"
	"github.com/vdsogen/vdsogen/variants"
)

// A rule is one named check on the measured images; each reports every
// violation it finds.
type rule struct {
	name  string
	check func(*verifyState) []string
}

type verifyState struct {
	prog   *dsl.Program
	shared []variants.Variant
	ms     map[string]*measured
}

// rules are the checks the generator runs on the real bytes before it
// writes anything.
var rules = []rule{
	{"entries", checkEntries},
	{"sites", checkSites},
	{"outside-sites", checkOutsideSites},
}

// VerifyError lists every rule violation found.
type VerifyError struct{ Problems []string }

func (e *VerifyError) Error() string {
	var b bytes.Buffer
	b.WriteString("verification failed on the assembled bytes:")
	for _, p := range e.Problems {
		b.WriteString("\n\t")
		b.WriteString(p)
	}
	return b.String()
}

func verify(prog *dsl.Program, set *variants.Set, ms map[string]*measured) error {
	st := &verifyState{prog: prog, shared: set.Shared(), ms: ms}
	var problems []string
	for _, r := range rules {
		for _, p := range r.check(st) {
			problems = append(problems, r.name+": "+p)
		}
	}
	if len(problems) > 0 {
		return &VerifyError{Problems: problems}
	}
	return nil
}

// checkEntries: every entry has the same offset and size in every shared
// variant.
func checkEntries(st *verifyState) []string {
	var out []string
	ref := st.shared[0]
	for _, e := range st.prog.Entries {
		r := st.ms[ref.Name]
		off, size := r.labels[entryLabel(e.Name)], r.labels[entryEndLabel(e.Name)]-r.labels[entryLabel(e.Name)]
		for _, v := range st.shared[1:] {
			m := st.ms[v.Name]
			o, s := m.labels[entryLabel(e.Name)], m.labels[entryEndLabel(e.Name)]-m.labels[entryLabel(e.Name)]
			if o != off || s != size {
				out = append(out, fmt.Sprintf("%s: entry %s is at %#x (%d bytes) in variant %s but at %#x (%d bytes) in variant %s",
					e.Pos, e.Name, off, size, ref.Name, o, s, v.Name))
			}
		}
	}
	return out
}

// site is a range where variants may differ.
type siteRange struct {
	start, end int
	marker     dsl.Marker
}

func sitesOf(prog *dsl.Program, m *measured) []siteRange {
	var out []siteRange
	for _, mk := range prog.Markers {
		switch n := mk.(type) {
		case *dsl.StaticBranchNode:
			s, ok := m.labels[siteLabel(n.ID)]
			if ok {
				out = append(out, siteRange{s, s + len(nop5), n})
			}
		case *dsl.ThreeLabelNode:
			s, ok := m.labels[callLabel(n.ID)]
			if ok {
				out = append(out, siteRange{s, m.labels[outLabel(n.ID)], n})
			}
		}
	}
	return out
}

// checkSites: each site holds what its marker declares in each variant.
func checkSites(st *verifyState) []string {
	var out []string
	for _, v := range st.shared {
		m := st.ms[v.Name]
		for _, s := range sitesOf(st.prog, m) {
			got := m.image[s.start:s.end]
			switch n := s.marker.(type) {
			case *dsl.StaticBranchNode:
				if s.start%patchWindow+len(nop5) > patchWindow {
					out = append(out, fmt.Sprintf("%s: variant %s: static branch site at %#x crosses an %d-byte window", n.Pos, v.Name, s.start, patchWindow))
				}
				want := nop5
				if v.Keys[n.Key] {
					want = jmpRel32(int32(m.labels[bodyLabel(n.ID)] - s.end))
				}
				if !bytes.Equal(got, want) {
					out = append(out, fmt.Sprintf("%s: variant %s: static branch %s site at %#x holds % x, want % x", n.Pos, v.Name, n.Key, s.start, got, want))
				}
				if p := m.at(s.start); p == nil || p.off != s.start || p.len != len(nop5) {
					out = append(out, fmt.Sprintf("%s: variant %s: static branch site at %#x is not one whole instruction", n.Pos, v.Name, s.start))
				}
			case *dsl.ThreeLabelNode:
				if v.Keys[n.Key] {
					continue
				}
				// Off: the tail, then nothing but INT3 up to l_out.
				tailLen := m.labels[endLabel(n.ID)] - m.labels[outLabel(n.ID)]
				if tailLen > len(got) {
					out = append(out, fmt.Sprintf("%s: variant %s: three-label tail (%d bytes) does not fit its %d-byte region", n.Pos, v.Name, tailLen, len(got)))
					continue
				}
				for i, b := range got[tailLen:] {
					if b != opINT3 {
						out = append(out, fmt.Sprintf("%s: variant %s: three-label filler at %#x is %#02x, want INT3", n.Pos, v.Name, s.start+tailLen+i, b))
						break
					}
				}
			}
		}
	}
	return out
}

// checkOutsideSites: outside sites, every shared variant has the same
// bytes as the first, except PC-relative fields that resolve to the same
// data symbol and offset (the images sit at different addresses).
func checkOutsideSites(st *verifyState) []string {
	var out []string
	ref := st.ms[st.shared[0].Name]
	inSite := make([]bool, len(ref.image))
	for _, s := range sitesOf(st.prog, ref) {
		for i := s.start; i < s.end && i < len(inSite); i++ {
			inSite[i] = true
		}
	}
	for _, v := range st.shared[1:] {
		m := st.ms[v.Name]
		if len(m.image) != len(ref.image) {
			out = append(out, fmt.Sprintf("variant %s is %d bytes, variant %s %d", st.shared[0].Name, len(ref.image), v.Name, len(m.image)))
			continue
		}
		for i := 0; i < len(ref.image); i++ {
			if inSite[i] || ref.image[i] == m.image[i] {
				continue
			}
			a, b := ref.at(i), m.at(i)
			if a != nil && b != nil && a.off == b.off && samePCRel(a, b, i) {
				i = a.off + a.len - 1
				continue
			}
			out = append(out, describeDiff(st.shared[0].Name, v.Name, i, a, b))
			if a != nil {
				i = a.off + a.len - 1
			}
		}
	}
	return out
}

// samePCRel reports whether offset i lies in the PC-relative field of two
// instructions that otherwise match and refer to the same data.
func samePCRel(a, b *placed, i int) bool {
	if a.dec.PCRel == 0 || a.ref == nil || b.ref == nil || *a.ref != *b.ref {
		return false
	}
	f := a.off + a.dec.PCRelOff
	return i >= f && i < f+a.dec.PCRel
}

func describeDiff(va, vb string, off int, a, b *placed) string {
	pos := "-"
	if a != nil {
		pos = a.it.pos.String()
	}
	return fmt.Sprintf("%s: variants %s and %s differ at %#x outside any marker site: %s vs %s", pos, va, vb, off, show(a), show(b))
}

func show(p *placed) string {
	if p == nil {
		return "(nothing)"
	}
	if p.dec.Len > 0 {
		return p.dec.String()
	}
	return fmt.Sprintf("bytes % x", p.it.raw)
}
