package elfimage

import (
	"bytes"
	"debug/elf"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/vdsogen/vdsogen/layout"
)

// markerImage is a small image with a site of every kind and a
// restartable region:
//
//	0x00 clock_gettime (32 bytes)
//	  0x00 static_branch timens, off: NOP5; its body is at 0x1d
//	  0x05 alternative tsc: holds "rdtsc" (RDTSC; NOP3), 3 choices
//	  0x0a static_call clock: CALL helper_a, 2 targets
//	  0x0f three_label timens, off: 4 NOPs, l_out at 0x13
//	  0x13 region seq: critical section [0x13, +4), RET
//	  0x18 layout.RegionSignature, then the abort handler at 0x1c: RET
//	  0x1d the static branch's body: NOP; RET
//	0x40 helper_a (3 bytes)
//	0x60 helper_b (6 bytes)
//	0x66 the replacement pool: RDTSC, LFENCE; RDTSC, RDTSCP
func markerImage() Image {
	code := []byte{
		0x0f, 0x1f, 0x44, 0x00, 0x00, // NOP5
		0x0f, 0x31, 0x0f, 0x1f, 0x00, // RDTSC; NOP3
		0xe8, 0x31, 0x00, 0x00, 0x00, // CALL helper_a
		0x90, 0x90, 0x90, 0x90, // NOPs
		0x48, 0x89, 0xc0, 0x90, // critical section
		0xc3,                   // RET
		0x56, 0x53, 0x47, 0x53, // signature
		0xc3,       // abort: RET
		0x90, 0xc3, // body
	}
	code = pad(code, 0x40)
	code = append(code, 0x31, 0xc0, 0xc3) // helper_a: XORL AX, AX; RET
	code = pad(code, 0x60)
	code = append(code, 0xb8, 0x01, 0x00, 0x00, 0x00, 0xc3) // helper_b: MOVL $1, AX; RET
	pool := len(code)
	code = append(code, 0x0f, 0x31, 0x0f, 0xae, 0xe8, 0x0f, 0x31, 0x0f, 0x01, 0xf9)
	return Image{
		Program: "clock", Variant: "host", Code: code,
		Entries: []Entry{{"clock_gettime", 0, 32}, {"helper_a", 0x40, 3}, {"helper_b", 0x60, 6}},
		Markers: &Markers{
			Pool: pool,
			Sites: []layout.Site{
				{Kind: layout.StaticBranch, Key: "timens", Entry: "clock_gettime", Offset: 0, Bytes: code[0:5:5], Target: 0x1d, Source: "asm.go:10"},
				{Kind: layout.Alternative, Key: "tsc", Entry: "clock_gettime", Offset: 5, Bytes: code[5:10:10], Source: "asm.go:11",
					Choice: "rdtsc", Choices: []layout.Choice{
						{Name: "rdtsc", Bytes: []byte{0x0f, 0x31, 0x0f, 0x1f, 0x00}, Offset: pool},
						{Name: "lfence", Feature: layout.FeatureLFENCERDTSC, Bytes: []byte{0x0f, 0xae, 0xe8, 0x0f, 0x31}, Offset: pool + 2},
						{Name: "rdtscp", Feature: layout.FeatureRDTSCP, Bytes: []byte{0x0f, 0x01, 0xf9, 0x66, 0x90}, Offset: pool + 7},
					}},
				{Kind: layout.StaticCall, Key: "clock", Entry: "clock_gettime", Offset: 10, Bytes: code[10:15:15], On: true, Source: "asm.go:12",
					Choice: "helper_a", Choices: []layout.Choice{
						{Name: "helper_a", Bytes: []byte{0xe8, 0x31, 0x00, 0x00, 0x00}, Offset: 0x40},
						{Name: "helper_b", Bytes: []byte{0xe8, 0x51, 0x00, 0x00, 0x00}, Offset: 0x60},
					}},
				{Kind: layout.ThreeLabel, Key: "timens", Entry: "clock_gettime", Offset: 15, Bytes: code[15:19:19], Target: 19, Source: "asm.go:13"},
			},
			Regions: []layout.Region{{Name: "seq", Entry: "clock_gettime", Start: 19, PostCommit: 4, Abort: 28, Source: "asm.go:14"}},
		},
	}
}

// pad fills code with INT3 up to n bytes.
func pad(code []byte, n int) []byte {
	for len(code) < n {
		code = append(code, 0xcc)
	}
	return code
}

// cloneMarkers returns a deep copy of m, so that a test may edit it.
func cloneMarkers(m *Markers) *Markers {
	c := &Markers{Pool: m.Pool, Regions: append([]layout.Region(nil), m.Regions...)}
	for _, s := range m.Sites {
		s.Bytes = bytes.Clone(s.Bytes)
		s.Choices = append([]layout.Choice(nil), s.Choices...)
		c.Sites = append(c.Sites, s)
	}
	return c
}

// TestMarkersRoundTrip: the descriptors of every kind go into a
// non-allocated section outside the PT_LOAD that debug/elf finds by name,
// and come back from ReadMarkers as they went in.
func TestMarkersRoundTrip(t *testing.T) {
	img := markerImage()
	b := mustWrite(t, img)
	if b2 := mustWrite(t, markerImage()); !bytes.Equal(b, b2) {
		t.Fatal("Write is not deterministic")
	}
	if err := Check(b); err != nil {
		t.Fatal(err)
	}
	f, err := elf.NewFile(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range f.Sections {
		names = append(names, s.Name)
	}
	want := []string{"", ".hash", ".gnu.hash", ".dynsym", ".dynstr", ".gnu.version", ".gnu.version_d", ".dynamic", ".note.vdsogen", ".text", ".vdsogen_markers", ".shstrtab"}
	if !reflect.DeepEqual(names, want) {
		t.Errorf("sections %q, want %q", names, want)
	}
	s := f.Section(MarkersSection)
	if s == nil {
		t.Fatal("no " + MarkersSection)
	}
	if s.Type != elf.SHT_PROGBITS || s.Flags&elf.SHF_ALLOC != 0 || s.Flags != 0 || s.Addr != 0 || s.Addralign != mkAlign {
		t.Errorf("%s: %+v", s.Name, s.SectionHeader)
	}
	load := f.Progs[0]
	if load.Type != elf.PT_LOAD || s.Offset < load.Off+load.Filesz {
		t.Errorf("%s at %#x is inside the PT_LOAD [%#x, +%#x)", s.Name, s.Offset, load.Off, load.Filesz)
	}
	for _, p := range f.Progs {
		if s.Offset < p.Off+p.Filesz && p.Off < s.Offset+s.Size {
			t.Errorf("%s [%#x, +%#x) overlaps segment %v", s.Name, s.Offset, s.Size, p.Type)
		}
	}
	got, err := ReadMarkers(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, img.Markers) {
		t.Errorf("ReadMarkers:\n got %+v\nwant %+v", got, img.Markers)
	}
	data, _ := s.Data()
	if string(data[:4]) != "VGMK" || le.Uint16(data[4:]) != MarkersVersion || le.Uint32(data[16:]) != 4 || le.Uint32(data[20:]) != 5 || le.Uint32(data[24:]) != 1 {
		t.Errorf("header % x", data[:mkHeaderSize])
	}

	// An image without descriptors has no section, and is valid.
	plain := testImage()
	pb := mustWrite(t, plain)
	if _, err := ReadMarkers(pb); !errors.Is(err, ErrNoMarkers) {
		t.Errorf("no markers: %v", err)
	}
	if pf, _ := elf.NewFile(bytes.NewReader(pb)); pf.Section(MarkersSection) != nil || len(pf.Sections) != numSections-1-2-5 { // no markers, unwind or debug sections
		t.Errorf("plain image has %d sections", len(pf.Sections))
	}
}

// TestMarkersEmpty: an image whose table has no sites and no regions still
// records that, and reads back as empty.
func TestMarkersEmpty(t *testing.T) {
	img := testImage()
	img.Markers = &Markers{Pool: len(img.Code)}
	b := mustWrite(t, img)
	if err := Check(b); err != nil {
		t.Fatal(err)
	}
	m, err := ReadMarkers(b)
	if err != nil || !reflect.DeepEqual(m, img.Markers) {
		t.Fatalf("got %+v %v", m, err)
	}
}

// TestMarkersReloc: a site's relocated field is zero in the descriptors
// and resolved in .text.
func TestMarkersReloc(t *testing.T) {
	img := testImage()
	e := img.Entries[0]
	site := bytes.Clone(img.Code[e.Offset : e.Offset+7]) // the LEAQ
	copy(site[3:], []byte{0, 0, 0, 0})
	img.Markers = &Markers{Pool: len(img.Code), Sites: []layout.Site{{Kind: layout.StaticBranch, Key: "k", Entry: e.Name, Offset: e.Offset, Bytes: site}}}
	b := mustWrite(t, img)
	m, err := ReadMarkers(b)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(m.Sites[0].Bytes, site) {
		t.Errorf("site bytes % x, want % x", m.Sites[0].Bytes, site)
	}
	f, _ := elf.NewFile(bytes.NewReader(b))
	code, _ := f.Section(".text").Data()
	if bytes.Equal(code[e.Offset+3:e.Offset+7], []byte{0, 0, 0, 0}) {
		t.Error(".text holds an unresolved field")
	}
}

// TestMarkersWriteErrors: Write refuses descriptors that do not fit the
// code.
func TestMarkersWriteErrors(t *testing.T) {
	for name, c := range map[string]struct {
		mut  func(m *Markers)
		want string
	}{
		"site outside":      {func(m *Markers) { m.Sites[1].Offset = 1 << 20 }, "outside the"},
		"negative offset":   {func(m *Markers) { m.Sites[0].Offset = -1 }, "outside the"},
		"overlap":           {func(m *Markers) { m.Sites[1].Offset = 3 }, "overlap"},
		"short choice":      {func(m *Markers) { m.Sites[1].Choices[2].Bytes = []byte{0x0f, 0x01, 0xf9} }, "has 3 bytes"},
		"unknown choice":    {func(m *Markers) { m.Sites[2].Choice = "helper_c" }, "not one of its choices"},
		"choice not pooled": {func(m *Markers) { m.Sites[1].Choices[0].Offset = 0 }, "not in the replacement pool"},
		"branch choices":    {func(m *Markers) { m.Sites[0].Choices = m.Sites[1].Choices }, "has no choices"},
		"unknown kind":      {func(m *Markers) { m.Sites[3].Kind = "jump_label" }, "unknown kind"},
		"no signature":      {func(m *Markers) { m.Regions[0].Abort = 29 }, "not the signature"},
		"abort at start":    {func(m *Markers) { m.Regions[0].Abort = 2 }, "no room for the signature"},
		"abort inside":      {func(m *Markers) { m.Regions[0].Start, m.Regions[0].PostCommit = 20, 10 }, "inside the critical section"},
		"region outside":    {func(m *Markers) { m.Regions[0].PostCommit = 1 << 20 }, "outside the"},
		"pool outside":      {func(m *Markers) { m.Pool = -4 }, "pool"},
	} {
		img := markerImage()
		img.Markers = cloneMarkers(img.Markers)
		c.mut(img.Markers)
		_, err := Write(img)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want an error with %q", name, err, c.want)
		}
	}
	// A reference resolved over a region's signature breaks it.
	img := markerImage()
	img.Pages = LayoutPages([]string{"vdsoData"}, []int{64})
	img.Relocs = []Reloc{{Offset: 24, Symbol: "vdsoData"}}
	if _, err := Write(img); err == nil || !strings.Contains(err.Error(), "not the signature") {
		t.Errorf("reference over the signature: %v", err)
	}
}

// markerField returns the file bytes of the marker section of b and of
// its .text.
func markerField(t *testing.T, f *elf.File, b []byte) (sec, code []byte) {
	t.Helper()
	s, c := f.Section(MarkersSection), f.Section(".text")
	return b[s.Offset : s.Offset+s.Size], b[c.Offset : c.Offset+c.Size]
}

// markerMutations break rule "markers" of the marker image, each in its own
// way; want is part of the violation.
var markerMutations = []messageMutation{
	{"site 1: the site [0x70, +5) is outside the 112-byte code", func(t *testing.T, f *elf.File, b []byte) {
		sec, _ := markerField(t, f, b)
		le.PutUint32(sec[mkHeaderSize+mkSiteSize+4:], 0x70) // site 1's offset
	}},
	{"overlap", func(t *testing.T, f *elf.File, b []byte) {
		sec, _ := markerField(t, f, b)
		le.PutUint32(sec[mkHeaderSize+mkSiteSize+4:], 2)
	}},
	{"not the signature", func(t *testing.T, f *elf.File, b []byte) {
		_, code := markerField(t, f, b)
		code[27] = 0x90 // the signature's last byte
	}},
	{"not the signature", func(t *testing.T, f *elf.File, b []byte) {
		sec, _ := markerField(t, f, b)
		r := sec[mkHeaderSize+4*mkSiteSize+5*mkChoiceSize:]
		le.PutUint32(r[32:], 29) // the region's abort
	}},
	{"the section has", func(t *testing.T, f *elf.File, b []byte) {
		le.PutUint64(shdr(f, b, MarkersSection)[32:], f.Section(MarkersSection).Size-1) // truncated
	}},
	{"shorter than the 32-byte header", func(t *testing.T, f *elf.File, b []byte) {
		le.PutUint64(shdr(f, b, MarkersSection)[32:], 20)
	}},
	{"bad magic", func(t *testing.T, f *elf.File, b []byte) {
		sec, _ := markerField(t, f, b)
		sec[0] = 'X'
	}},
	{"version 3", func(t *testing.T, f *elf.File, b []byte) {
		sec, _ := markerField(t, f, b)
		le.PutUint16(sec[4:], 3)
	}},
	{"site 0: 1 relocated fields, only 0 records are left", func(t *testing.T, f *elf.File, b []byte) {
		sec, _ := markerField(t, f, b)
		le.PutUint32(sec[mkHeaderSize+52:], 1) // site 0 claims a relocation record the header does not count
	}},
	{"describes 122 bytes of code", func(t *testing.T, f *elf.File, b []byte) {
		sec, _ := markerField(t, f, b)
		le.PutUint32(sec[8:], 122)
	}},
	{"outside the", func(t *testing.T, f *elf.File, b []byte) {
		sec, _ := markerField(t, f, b)
		le.PutUint32(sec[mkHeaderSize+24:], 1<<30) // site 0's key
	}},
	{"not the next among", func(t *testing.T, f *elf.File, b []byte) {
		sec, _ := markerField(t, f, b)
		le.PutUint32(sec[mkHeaderSize+2*mkSiteSize+16:], 0) // site 2 shares site 1's choices
	}},
	{"holds choice 7 of 3", func(t *testing.T, f *elf.File, b []byte) {
		sec, _ := markerField(t, f, b)
		le.PutUint16(sec[mkHeaderSize+mkSiteSize+2:], 7)
	}},
	{"unknown kind 9", func(t *testing.T, f *elf.File, b []byte) {
		sec, _ := markerField(t, f, b)
		sec[mkHeaderSize] = 9
	}},
	{"want SHT_PROGBITS without flags", func(t *testing.T, f *elf.File, b []byte) {
		setShdrFlags(f, b, MarkersSection, elf.SHF_WRITE)
	}},
	{"is not inside the", func(t *testing.T, f *elf.File, b []byte) {
		le.PutUint64(shdr(f, b, MarkersSection)[24:], uint64(len(b))) // offset past the end
	}},
}

// TestCheckRejectsMarkers: Check finds each broken descriptor.
func TestCheckRejectsMarkers(t *testing.T) {
	checkRejectsEach(t, "markers", mustWrite(t, markerImage()), markerMutations)
}

// TestParseMarkersTruncated: every prefix of a good section is rejected.
func TestParseMarkersTruncated(t *testing.T) {
	img := markerImage()
	sec, err := encodeMarkers(img.Markers, len(img.Code))
	if err != nil {
		t.Fatal(err)
	}
	for n := 0; n < len(sec); n++ {
		if _, err := ParseMarkers(sec[:n], len(img.Code)); err == nil {
			t.Fatalf("%d of %d bytes: no error", n, len(sec))
		}
	}
	if _, err := ParseMarkers(append(bytes.Clone(sec), 0), len(img.Code)); err == nil {
		t.Error("a trailing byte: no error")
	}
}

// FuzzReadMarkers: ParseMarkers returns on any input, and what it accepts
// encodes again to a section that decodes to the same descriptors. The
// seed corpus is in testdata/fuzz/FuzzReadMarkers; the first 4 bytes of
// an input give the code size.
func FuzzReadMarkers(f *testing.F) {
	img := markerImage()
	sec, err := encodeMarkers(img.Markers, len(img.Code))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(append(le.AppendUint32(nil, uint32(len(img.Code))), sec...))
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) < 4 {
			return
		}
		codeSize := int(le.Uint32(b))
		m, err := ParseMarkers(b[4:], codeSize)
		if err != nil {
			return
		}
		again, err := encodeMarkers(m, codeSize)
		if err != nil {
			t.Fatalf("accepted but not encodable: %v", err)
		}
		m2, err := ParseMarkers(again, codeSize)
		if err != nil || !reflect.DeepEqual(m, m2) {
			t.Fatalf("round trip: %+v %v, want %+v", m2, err, m)
		}
	})
}
