package elfimage

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"

	"github.com/vdsogen/vdsogen/layout"
	"github.com/vdsogen/vdsogen/marker"
)

// MarkersSection is the name of the non-allocated section that describes
// the marker sites and restartable regions of an image (see the package
// documentation, "Marker descriptors").
const MarkersSection = ".vdsogen_markers"

// Layout of the marker descriptor section. Version 2 adds the relocation
// records (the sites' PC-relative data-page fields); ParseMarkers still
// reads version 1, whose sites have no Relocs.
const (
	markersMagic   = "VGMK"
	MarkersVersion = 2
	mkHeaderSizeV1 = 32
	mkHeaderSize   = 40
	mkRelocSize    = 16
	mkSiteSize     = 56
	mkChoiceSize   = 24
	mkRegionSize   = 40
	mkNoChoice     = 0xffff // site record: the site holds none of its choices
	mkFlagOn       = 1      // site record flags: the key is on
	mkMaxChoices   = mkNoChoice - 1
	mkAlign        = 8
)

// ErrNoMarkers is returned (wrapped) by ReadMarkers for an image without
// a .vdsogen_markers section: one written before the section existed, or
// without descriptors. Such an image is valid.
var ErrNoMarkers = errors.New("no " + MarkersSection + " section")

// Markers describes the marker sites and restartable regions of one image,
// with offsets relative to the start of the code (.text), as in its layout
// table. The bytes of a site's relocated fields (Site.Relocs) are zero in
// Site.Bytes and in every Choice.Bytes, as in the table (their value
// depends on where the image is linked); version 2 records the Relocs.
type Markers struct {
	// Pool is the offset of the replacement pool (layout.Variant.Pool).
	Pool    int
	Sites   []layout.Site
	Regions []layout.Region
}

// Validate checks m against the final code bytes of its image: every site,
// choice and region lies inside the code, sites do not overlap, only
// alternatives and static calls have choices and every choice is as long as
// its site, and every region's abort handler is preceded by
// layout.RegionSignature and lies outside its critical section (as the
// kernel requires of an rseq abort_ip). Write and Check apply it.
func (m *Markers) Validate(code []byte) error {
	if ps := m.problems(code); len(ps) > 0 {
		return errors.New(strings.Join(ps, "; "))
	}
	return nil
}

// problems lists every way m does not fit code (see Validate).
func (m *Markers) problems(code []byte) []string {
	var ps []string
	bad := func(format string, args ...any) { ps = append(ps, fmt.Sprintf(format, args...)) }
	n := len(code)
	if m.Pool < 0 || m.Pool > n {
		bad("pool at %#x is outside the %d-byte code", m.Pool, n)
	}
	for i, s := range m.Sites {
		name := fmt.Sprintf("site %d (%s %s at %#x)", i, s.Kind, s.Key, s.Offset)
		if !s.Kind.Known() {
			bad("%s: unknown kind %q", name, s.Kind)
		}
		if !inside(s.Offset, len(s.Bytes), n) {
			bad("%s: [%#x, +%d) is outside the %d-byte code", name, s.Offset, len(s.Bytes), n)
		}
		if s.Target < 0 || s.Target > n {
			bad("%s: target %#x is outside the %d-byte code", name, s.Target, n)
		}
		ps = append(ps, choiceProblems(name, s, m.Pool, n)...)
		ps = append(ps, relocProblems(name, s)...)
	}
	ps = append(ps, overlaps(m.Sites)...)
	for i, r := range m.Regions {
		ps = append(ps, regionProblems(fmt.Sprintf("region %d (%s)", i, r.Name), r, code)...)
	}
	return ps
}

// inside reports whether [off, off+size) lies inside [0, n).
func inside(off, size, n int) bool { return off >= 0 && size >= 0 && off <= n && size <= n-off }

// choiceProblems checks the choices of site s, named name, in an n-byte
// code whose replacement pool starts at pool.
func choiceProblems(name string, s layout.Site, pool, n int) []string {
	var ps []string
	bad := func(format string, args ...any) { ps = append(ps, fmt.Sprintf(format, args...)) }
	traits := marker.TraitsOf(s.Kind)
	multi := traits.Choices
	if !multi && (len(s.Choices) > 0 || s.Choice != "") {
		bad("%s: a %s site has no choices", name, s.Kind)
	}
	if len(s.Choices) > mkMaxChoices {
		bad("%s: %d choices, at most %d", name, len(s.Choices), mkMaxChoices)
	}
	if s.Choice != "" && choiceIndex(s) == mkNoChoice {
		bad("%s: holds choice %q, which is not one of its choices", name, s.Choice)
	}
	for j, c := range s.Choices {
		if len(c.Bytes) != len(s.Bytes) {
			bad("%s: choice %q has %d bytes, the site %d", name, c.Name, len(c.Bytes), len(s.Bytes))
		}
		if c.Offset < 0 || c.Offset > n {
			bad("%s: choice %d (%q) at %#x is outside the %d-byte code", name, j, c.Name, c.Offset, n)
		} else if traits.PoolChoices && c.Offset < pool {
			bad("%s: choice %d (%q) at %#x is not in the replacement pool at %#x", name, j, c.Name, c.Offset, pool)
		}
	}
	return ps
}

// relocProblems checks the relocated fields of site s, named name: each
// lies inside the site, does not overlap the previous one, holds zero in
// the recorded bytes and has an addend that fits the record.
func relocProblems(name string, s layout.Site) []string {
	var ps []string
	end := 0
	for j, r := range s.Relocs {
		switch {
		case r.Offset < end || !inside(r.Offset, 4, len(s.Bytes)):
			ps = append(ps, fmt.Sprintf("%s: relocated field %d at site byte %d is outside the %d-byte site or overlaps the previous one", name, j, r.Offset, len(s.Bytes)))
			continue
		case r.Addend < math.MinInt32 || r.Addend > math.MaxInt32:
			ps = append(ps, fmt.Sprintf("%s: relocated field %d: addend %d does not fit 32 bits", name, j, r.Addend))
		case r.Symbol == "":
			ps = append(ps, fmt.Sprintf("%s: relocated field %d names no data page", name, j))
		case binary.LittleEndian.Uint32(s.Bytes[r.Offset:]) != 0:
			ps = append(ps, fmt.Sprintf("%s: relocated field %d at site byte %d is % x in the recorded bytes, not zero", name, j, r.Offset, s.Bytes[r.Offset:r.Offset+4]))
		}
		end = r.Offset + 4
	}
	return ps
}

// choiceIndex returns the index of the choice site s holds, or mkNoChoice.
func choiceIndex(s layout.Site) int {
	if s.Choice == "" {
		return mkNoChoice
	}
	for j, c := range s.Choices {
		if c.Name == s.Choice {
			return j
		}
	}
	return mkNoChoice
}

// overlaps reports every pair of sites, neighbours by offset, that overlap.
func overlaps(sites []layout.Site) []string {
	order := make([]int, len(sites))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return sites[order[a]].Offset < sites[order[b]].Offset })
	var ps []string
	for k := 1; k < len(order); k++ {
		a, b := sites[order[k-1]], sites[order[k]]
		if a.Offset+len(a.Bytes) > b.Offset {
			ps = append(ps, fmt.Sprintf("sites %d (%s %s at %#x, %d bytes) and %d (%s %s at %#x) overlap", order[k-1], a.Kind, a.Key, a.Offset, len(a.Bytes), order[k], b.Kind, b.Key, b.Offset))
		}
	}
	return ps
}

// regionProblems checks region r, named name, against code.
func regionProblems(name string, r layout.Region, code []byte) []string {
	var ps []string
	bad := func(format string, args ...any) { ps = append(ps, fmt.Sprintf(format, args...)) }
	n := len(code)
	if !inside(r.Start, r.PostCommit, n) {
		bad("%s: critical section [%#x, +%d) is outside the %d-byte code", name, r.Start, r.PostCommit, n)
	}
	switch {
	case r.Abort < 4 || r.Abort >= n:
		bad("%s: abort handler at %#x is outside the %d-byte code, or has no room for the signature before it", name, r.Abort, n)
	case binary.LittleEndian.Uint32(code[r.Abort-4:]) != layout.RegionSignature:
		bad("%s: the 4 bytes before the abort handler at %#x are % x, not the signature %#08x", name, r.Abort, code[r.Abort-4:r.Abort], layout.RegionSignature)
	}
	if r.Contains(r.Abort) {
		bad("%s: abort handler at %#x is inside the critical section [%#x, +%d)", name, r.Abort, r.Start, r.PostCommit)
	}
	return ps
}

// strtab builds the string and bytes table of the section: each distinct
// string is stored once, in the order first added.
type strtab struct {
	b   []byte
	off map[string]uint32
}

// add stores s (if new) and returns its offset in the table.
func (t *strtab) add(s string) uint32 {
	if o, ok := t.off[s]; ok {
		return o
	}
	o := uint32(len(t.b))
	t.b = append(t.b, s...)
	t.off[s] = o
	return o
}

// ref stores s and encodes its offset and length at p.
func (t *strtab) ref(p []byte, s string) {
	le.PutUint32(p, t.add(s))
	le.PutUint32(p[4:], uint32(len(s)))
}

// encodeMarkers returns the section contents of m for a codeSize-byte
// code. m must have passed Validate.
func encodeMarkers(m *Markers, codeSize int) ([]byte, error) {
	if codeSize > math.MaxUint32 {
		return nil, fmt.Errorf("elfimage: %d bytes of code do not fit the marker descriptors", codeSize)
	}
	nchoices, nrelocs := 0, 0
	for _, s := range m.Sites {
		nchoices += len(s.Choices)
		nrelocs += len(s.Relocs)
	}
	head := make([]byte, mkHeaderSize+len(m.Sites)*mkSiteSize+nchoices*mkChoiceSize+len(m.Regions)*mkRegionSize+nrelocs*mkRelocSize)
	copy(head, markersMagic)
	le.PutUint16(head[4:], MarkersVersion)
	le.PutUint32(head[8:], uint32(codeSize))
	le.PutUint32(head[12:], uint32(m.Pool))
	le.PutUint32(head[16:], uint32(len(m.Sites)))
	le.PutUint32(head[20:], uint32(nchoices))
	le.PutUint32(head[24:], uint32(len(m.Regions)))
	le.PutUint32(head[32:], uint32(nrelocs))
	st := &strtab{off: map[string]uint32{}}
	sp := head[mkHeaderSize:]
	cp := sp[len(m.Sites)*mkSiteSize:]
	rp := cp[nchoices*mkChoiceSize:]
	first := 0
	for _, s := range m.Sites {
		encodeSite(sp, s, first, st)
		sp = sp[mkSiteSize:]
		for _, c := range s.Choices {
			st.ref(cp[0:], c.Name)
			st.ref(cp[8:], c.Feature)
			le.PutUint32(cp[16:], uint32(c.Offset))
			le.PutUint32(cp[20:], st.add(string(c.Bytes)))
			cp = cp[mkChoiceSize:]
		}
		first += len(s.Choices)
	}
	for _, r := range m.Regions {
		st.ref(rp[0:], r.Name)
		st.ref(rp[8:], r.Entry)
		st.ref(rp[16:], r.Source)
		le.PutUint32(rp[24:], uint32(r.Start))
		le.PutUint32(rp[28:], uint32(r.PostCommit))
		le.PutUint32(rp[32:], uint32(r.Abort))
		rp = rp[mkRegionSize:]
	}
	xp := rp // the relocation records follow the regions
	for _, s := range m.Sites {
		for _, r := range s.Relocs {
			le.PutUint32(xp[0:], uint32(r.Offset))
			le.PutUint32(xp[4:], uint32(int32(r.Addend)))
			st.ref(xp[8:], r.Symbol)
			xp = xp[mkRelocSize:]
		}
	}
	if uint64(len(head))+uint64(len(st.b)) > math.MaxUint32 {
		return nil, errors.New("elfimage: the marker descriptors exceed 4 GiB")
	}
	le.PutUint32(head[28:], uint32(len(st.b)))
	return append(head, st.b...), nil
}

// encodeSite writes the record of site s, whose choices start at choice
// record first, to p.
func encodeSite(p []byte, s layout.Site, first int, st *strtab) {
	p[0] = s.Kind.Code()
	if s.On {
		p[1] = mkFlagOn
	}
	le.PutUint16(p[2:], uint16(choiceIndex(s)))
	le.PutUint32(p[4:], uint32(s.Offset))
	le.PutUint32(p[8:], uint32(len(s.Bytes)))
	le.PutUint32(p[12:], uint32(s.Target))
	le.PutUint32(p[16:], uint32(first))
	le.PutUint32(p[20:], uint32(len(s.Choices)))
	st.ref(p[24:], s.Key)
	st.ref(p[32:], s.Entry)
	st.ref(p[40:], s.Source)
	le.PutUint32(p[48:], st.add(string(s.Bytes)))
	le.PutUint32(p[52:], uint32(len(s.Relocs)))
}

// ParseMarkers decodes the contents of a .vdsogen_markers section that
// describes a codeSize-byte code. It checks the header, that the section
// is exactly as long as its counts say, that every string and byte
// reference lies inside the string table, and that every offset lies
// inside the code; it does not look at the code (Markers.Validate does).
// Any input gives a result or an error, never a panic.
func ParseMarkers(sec []byte, codeSize int) (*Markers, error) {
	if len(sec) < mkHeaderSizeV1 {
		return nil, fmt.Errorf("%s: %d bytes, shorter than the %d-byte header", MarkersSection, len(sec), mkHeaderSizeV1)
	}
	if string(sec[:4]) != markersMagic {
		return nil, fmt.Errorf("%s: bad magic %q, want %q", MarkersSection, sec[:4], markersMagic)
	}
	version := le.Uint16(sec[4:])
	if version != 1 && version != MarkersVersion {
		return nil, fmt.Errorf("%s: version %d, this reader knows versions 1 and %d", MarkersSection, version, MarkersVersion)
	}
	headerSize, nrelocs := uint64(mkHeaderSizeV1), uint64(0)
	if version >= 2 {
		if len(sec) < mkHeaderSize {
			return nil, fmt.Errorf("%s: %d bytes, shorter than the %d-byte version %d header", MarkersSection, len(sec), mkHeaderSize, version)
		}
		headerSize, nrelocs = mkHeaderSize, uint64(le.Uint32(sec[32:]))
		if le.Uint32(sec[36:]) != 0 {
			return nil, fmt.Errorf("%s: reserved header bytes are not zero", MarkersSection)
		}
	}
	if le.Uint16(sec[6:]) != 0 {
		return nil, fmt.Errorf("%s: reserved header bytes are not zero", MarkersSection)
	}
	if cs := le.Uint32(sec[8:]); uint64(cs) != uint64(codeSize) {
		return nil, fmt.Errorf("%s: describes %d bytes of code, the image has %d", MarkersSection, cs, codeSize)
	}
	nsites, nchoices, nregions := uint64(le.Uint32(sec[16:])), uint64(le.Uint32(sec[20:])), uint64(le.Uint32(sec[24:]))
	strsz := uint64(le.Uint32(sec[28:]))
	strOff := headerSize + nsites*mkSiteSize + nchoices*mkChoiceSize + nregions*mkRegionSize + nrelocs*mkRelocSize
	if strOff+strsz != uint64(len(sec)) {
		return nil, fmt.Errorf("%s: %d sites, %d choices, %d regions, %d relocated fields and a %d-byte string table need %d bytes, the section has %d", MarkersSection, nsites, nchoices, nregions, nrelocs, strsz, strOff+strsz, len(sec))
	}
	d := &decoder{strs: sec[strOff:], codeSize: uint64(codeSize)}
	m := &Markers{Pool: int(le.Uint32(sec[12:]))}
	if uint64(m.Pool) > d.codeSize {
		return nil, fmt.Errorf("%s: pool at %#x is outside the %d-byte code", MarkersSection, m.Pool, codeSize)
	}
	choices := sec[headerSize+nsites*mkSiteSize:]
	regions := choices[nchoices*mkChoiceSize:]
	relocs := regions[nregions*mkRegionSize:]
	next, nextReloc := uint64(0), uint64(0) // the first choice and relocation record of the next site
	for i := uint64(0); i < nsites; i++ {
		p := sec[headerSize+i*mkSiteSize:]
		s, err := d.site(p, choices, next, nchoices)
		if err != nil {
			return nil, fmt.Errorf("%s: site %d: %w", MarkersSection, i, err)
		}
		if version == 1 && le.Uint32(p[52:]) != 0 {
			return nil, fmt.Errorf("%s: site %d: reserved bits are not zero", MarkersSection, i)
		}
		if version >= 2 {
			n := uint64(le.Uint32(p[52:]))
			if n > nrelocs-nextReloc {
				return nil, fmt.Errorf("%s: site %d: %d relocated fields, only %d records are left", MarkersSection, i, n, nrelocs-nextReloc)
			}
			for j := nextReloc; j < nextReloc+n; j++ {
				x := relocs[j*mkRelocSize:]
				s.Relocs = append(s.Relocs, layout.Reloc{Offset: int(le.Uint32(x[0:])), Addend: int(int32(le.Uint32(x[4:]))), Symbol: d.str(x[8:], "a relocated field's data page")})
				if r := s.Relocs[len(s.Relocs)-1]; !inside(r.Offset, 4, len(s.Bytes)) && d.err == nil {
					d.err = fmt.Errorf("relocated field at site byte %d is outside the %d-byte site", r.Offset, len(s.Bytes))
				}
			}
			if d.err != nil {
				return nil, fmt.Errorf("%s: site %d: %w", MarkersSection, i, d.err)
			}
			nextReloc += n
		}
		next += uint64(len(s.Choices))
		m.Sites = append(m.Sites, s)
	}
	if next != nchoices {
		return nil, fmt.Errorf("%s: the sites have %d choices, the header says %d", MarkersSection, next, nchoices)
	}
	if nextReloc != nrelocs {
		return nil, fmt.Errorf("%s: the sites have %d relocated fields, the header says %d", MarkersSection, nextReloc, nrelocs)
	}
	for i := uint64(0); i < nregions; i++ {
		r, err := d.region(regions[i*mkRegionSize:])
		if err != nil {
			return nil, fmt.Errorf("%s: region %d: %w", MarkersSection, i, err)
		}
		m.Regions = append(m.Regions, r)
	}
	return m, nil
}

// decoder reads records against the string table and the code size.
type decoder struct {
	strs     []byte
	codeSize uint64
	err      error // the first bad reference
}

// bytesAt returns the n bytes at offset off of the string table, or
// records an error.
func (d *decoder) bytesAt(off, n uint32, what string) []byte {
	if uint64(off)+uint64(n) > uint64(len(d.strs)) {
		if d.err == nil {
			d.err = fmt.Errorf("%s [%#x, +%d) is outside the %d-byte string table", what, off, n, len(d.strs))
		}
		return nil
	}
	return d.strs[off : off+n]
}

// str decodes the (offset, length) string reference at p.
func (d *decoder) str(p []byte, what string) string {
	return string(d.bytesAt(le.Uint32(p), le.Uint32(p[4:]), what))
}

// code checks that [off, off+n) lies inside the code.
func (d *decoder) code(off, n uint32, what string) int {
	if uint64(off)+uint64(n) > d.codeSize && d.err == nil {
		d.err = fmt.Errorf("%s [%#x, +%d) is outside the %d-byte code", what, off, n, d.codeSize)
	}
	return int(off)
}

// site decodes the site record p. Its choices must be the choice records
// from index want on (the sites' choices follow each other in site order),
// among the nchoices records at choices.
func (d *decoder) site(p, choices []byte, want, nchoices uint64) (layout.Site, error) {
	kind, ok := layout.KindOfCode(p[0])
	if !ok {
		return layout.Site{}, fmt.Errorf("unknown kind %d", p[0])
	}
	if p[1]&^mkFlagOn != 0 {
		return layout.Site{}, errors.New("reserved bits are not zero")
	}
	n := le.Uint32(p[8:])
	s := layout.Site{
		Kind:   kind,
		On:     p[1]&mkFlagOn != 0,
		Offset: d.code(le.Uint32(p[4:]), n, "the site"),
		Target: d.code(le.Uint32(p[12:]), 0, "the target"),
		Key:    d.str(p[24:], "the key"),
		Entry:  d.str(p[32:], "the entry"),
		Source: d.str(p[40:], "the source"),
		Bytes:  bytes.Clone(d.bytesAt(le.Uint32(p[48:]), n, "the bytes")),
	}
	first, count, held := uint64(le.Uint32(p[16:])), uint64(le.Uint32(p[20:])), uint64(le.Uint16(p[2:]))
	if first != want || first+count > nchoices {
		return layout.Site{}, fmt.Errorf("choices [%d, +%d) are not the next among the %d choice records (want %d on)", first, count, nchoices, want)
	}
	if held != mkNoChoice && held >= count {
		return layout.Site{}, fmt.Errorf("holds choice %d of %d", held, count)
	}
	for j := first; j < first+count; j++ {
		c := choices[j*mkChoiceSize:]
		s.Choices = append(s.Choices, layout.Choice{
			Name:    d.str(c[0:], "a choice name"),
			Feature: d.str(c[8:], "a choice feature"),
			Offset:  d.code(le.Uint32(c[16:]), 0, "a choice"),
			Bytes:   bytes.Clone(d.bytesAt(le.Uint32(c[20:]), n, "a choice's bytes")),
		})
	}
	if held != mkNoChoice {
		s.Choice = s.Choices[held].Name
	}
	return s, d.err
}

// region decodes the region record p.
func (d *decoder) region(p []byte) (layout.Region, error) {
	if le.Uint32(p[36:]) != 0 {
		return layout.Region{}, errors.New("reserved bytes are not zero")
	}
	pc := le.Uint32(p[28:])
	r := layout.Region{
		Name:       d.str(p[0:], "the name"),
		Entry:      d.str(p[8:], "the entry"),
		Source:     d.str(p[16:], "the source"),
		Start:      d.code(le.Uint32(p[24:]), pc, "the critical section"),
		PostCommit: int(pc),
		Abort:      d.code(le.Uint32(p[32:]), 0, "the abort handler"),
	}
	return r, d.err
}

// ReadMarkers reads the .vdsogen_markers section of an image file and
// decodes it (ParseMarkers) against the size of the file's .text. It
// returns an error wrapping ErrNoMarkers if the file has no such section.
// It does not validate the descriptors against the code: Check does.
func ReadMarkers(file []byte) (*Markers, error) {
	f, err := elf.NewFile(bytesReader(file))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sec, code, err := markerBytes(f, file)
	if err != nil {
		return nil, err
	}
	return ParseMarkers(sec, len(code))
}

// markerBytes returns the contents of the marker section of f (whose bytes
// are file) and the code of its .text, both checked to lie in the file.
func markerBytes(f *elf.File, file []byte) (sec, code []byte, err error) {
	ms := f.Section(MarkersSection)
	if ms == nil {
		return nil, nil, fmt.Errorf("elfimage: %w", ErrNoMarkers)
	}
	text := f.Section(".text")
	if text == nil {
		return nil, nil, errors.New("elfimage: no .text section")
	}
	if sec, err = sectionBytes(ms, file); err != nil {
		return nil, nil, err
	}
	if code, err = sectionBytes(text, file); err != nil {
		return nil, nil, err
	}
	return sec, code, nil
}

// sectionBytes returns the file bytes of section s, checked to lie inside
// file.
func sectionBytes(s *elf.Section, file []byte) ([]byte, error) {
	if s.Type == elf.SHT_NOBITS || s.Offset > uint64(len(file)) || s.Size > uint64(len(file))-s.Offset {
		return nil, fmt.Errorf("elfimage: section %s [%#x, +%#x) is not inside the %d-byte file", s.Name, s.Offset, s.Size, len(file))
	}
	return file[s.Offset : s.Offset+s.Size], nil
}
