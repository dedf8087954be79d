package elfimage

import (
	"debug/elf"
	"encoding/binary"
	"fmt"
	"math"
	"sort"
	"strings"
)

// PageSize is the page size of the data-page placement.
const PageSize = 4096

// Defaults for Image.SOName and Image.Version: the kernel's.
const (
	DefaultSOName  = "linux-vdso.so.1"
	DefaultVersion = "LINUX_2.6"
)

// Note types of the "vdsogen" note.
const (
	NotePages   = 1
	NoteVariant = 2
	noteOwner   = "vdsogen"
	pageNameLen = 32
	pageRecLen  = 16 + pageNameLen
)

// Image is what Write needs to produce one vDSO file.
type Image struct {
	// SOName and Version default to DefaultSOName and DefaultVersion.
	SOName, Version string
	// Program and Variant are recorded in the note (informational).
	Program, Variant string
	// Code is the image's machine code, placed in .text.
	Code []byte
	// Entries become __vdso_<Name> (GLOBAL FUNC) and <Name> (WEAK FUNC).
	Entries []Entry
	// Relocs are the 4-byte PC-relative fields of Code that refer to a data
	// page; Write fills them in. Their current contents are ignored.
	Relocs []Reloc
	// Pages places the data pages below the image (see LayoutPages).
	Pages []Page
	// Markers, if not nil, describe the marker sites and restartable
	// regions of Code, written to the non-allocated section
	// .vdsogen_markers (see the package documentation). They must pass
	// Markers.Validate against the code.
	Markers *Markers
	// Stack, if not nil, is the stack model of the code: for every
	// instruction start control reaches, the bytes pushed below the return
	// address (0 at every entry). Write turns it into unwind tables,
	// .eh_frame and .eh_frame_hdr with PT_GNU_EH_FRAME, loaded with the
	// code (see ehframe.go); CheckUnwind proves the two agree.
	Stack map[int]int
	// Debug, if not nil, adds non-allocated debugging sections: .symtab
	// and DWARF line information (see dwarf.go). They lie outside the
	// PT_LOAD: the loaded bytes are the same with or without them.
	Debug *Debug
}

// Entry is an entry point: Offset and Size in Code.
type Entry struct {
	Name         string
	Offset, Size int
}

// Reloc is a 4-byte PC-relative field at Offset in Code that must hold
// S + Addend - P (R_X86_64_PC32), where S is the address of data page
// Symbol and P the address of the field. For an instruction whose field is
// its last 4 bytes and which addresses Symbol+off, Addend is off-4.
type Reloc struct {
	Offset int
	Symbol string
	Addend int64
}

// Page is a data page below the image: it starts Index pages below the
// load address (at -Index*PageSize) and is Size bytes long.
type Page struct {
	Symbol string
	Index  int
	Size   int
}

// Offset is the page's address relative to the image's load address.
func (p Page) Offset() int64 { return -int64(p.Index) * PageSize }

// LayoutPages stacks data pages of the given sizes directly below the
// image, in order: the first page farthest from the image, the last ending
// at the load address; each takes whole pages.
func LayoutPages(symbols []string, sizes []int) []Page {
	total := 0
	for _, s := range sizes {
		total += pagesFor(s)
	}
	var out []Page
	for i, sym := range symbols {
		out = append(out, Page{Symbol: sym, Index: total, Size: sizes[i]})
		total -= pagesFor(sizes[i])
	}
	return out
}

func pagesFor(size int) int { return max(1, (size+PageSize-1)/PageSize) }

// Section indices of the files Write produces.
const (
	secNull = iota
	secHash
	secGnuHash
	secDynsym
	secDynstr
	secVersym
	secVerdef
	secDynamic
	secNote
	secText
	secEhFrameHdr // only if Image.Stack is set
	secEhFrame    // only if Image.Stack is set
	secMarkers    // only if Image.Markers is set
	secSymtab     // this and the debug sections only if Image.Debug is set
	secStrtab
	secDebugAbbrev
	secDebugInfo
	secDebugLine
	secShstrtab
	numSections
)

var sectionNames = [numSections]string{"", ".hash", ".gnu.hash", ".dynsym", ".dynstr", ".gnu.version", ".gnu.version_d", ".dynamic", ".note.vdsogen", ".text",
	ehFrameHdrSection, ehFrameSection, MarkersSection, symtabSection, strtabSection, debugAbbrevSection, debugInfoSection, debugLineSection, ".shstrtab"}

// presentSections returns the sections a file holds, in file order, and
// each one's index in the file: the optional ones only when img has what
// they describe. The sections up to .text are always present, so they
// keep their indices (symbols refer to .text as secText).
func presentSections(img *Image) (present []int, index [numSections]int) {
	for i := range numSections {
		switch {
		case (i == secEhFrameHdr || i == secEhFrame) && img.Stack == nil,
			i == secMarkers && img.Markers == nil,
			i >= secSymtab && i <= secDebugLine && img.Debug == nil:
			continue
		}
		index[i] = len(present)
		present = append(present, i)
	}
	return present, index
}

const (
	ehdrSize   = 64
	phdrSize   = 56
	shdrSize   = 64
	symSize    = 24
	dynSize    = 16
	textAlign  = 64
	verdefSize = 20
	verdaxSize = 8
)

type dsym struct {
	name  string
	bind  elf.SymBind
	value uint64 // offset in code until placed
	size  uint64
	gnu   uint32
}

// Write produces the ELF file of img. The result depends only on img.
func Write(img Image) ([]byte, error) {
	if img.SOName == "" {
		img.SOName = DefaultSOName
	}
	if img.Version == "" {
		img.Version = DefaultVersion
	}
	if err := validate(&img); err != nil {
		return nil, err
	}
	var markers []byte
	if img.Markers != nil {
		var err error
		if markers, err = encodeMarkers(img.Markers, len(img.Code)); err != nil {
			return nil, err
		}
	}
	present, index := presentSections(&img)
	numPresent := len(present)
	numPhdrs := 3
	if img.Stack != nil {
		numPhdrs++ // PT_GNU_EH_FRAME
	}
	ranges := unwindRanges(img.Entries)

	// Strings and symbols.
	var dynstr strings.Builder
	dynstr.WriteByte(0)
	strOff := map[string]uint32{}
	addStr := func(s string) uint32 {
		if o, ok := strOff[s]; ok {
			return o
		}
		o := uint32(dynstr.Len())
		dynstr.WriteString(s)
		dynstr.WriteByte(0)
		strOff[s] = o
		return o
	}
	addStr(img.SOName)
	addStr(img.Version)
	var syms []dsym
	for _, e := range img.Entries {
		for _, s := range []dsym{{name: "__vdso_" + e.Name, bind: elf.STB_GLOBAL}, {name: e.Name, bind: elf.STB_WEAK}} {
			s.value, s.size, s.gnu = uint64(e.Offset), uint64(e.Size), GNUHash(s.name)
			syms = append(syms, s)
			addStr(s.name)
		}
	}
	nsyms := len(syms) + 1 // with the null symbol
	nbuckets := uint32(max(1, len(syms)/2))
	// DT_GNU_HASH needs the symbols grouped by bucket.
	sort.SliceStable(syms, func(i, j int) bool { return syms[i].gnu%nbuckets < syms[j].gnu%nbuckets })

	const bloomWords, bloomShift = 1, 6
	var (
		off        = ehdrSize + numPhdrs*phdrSize
		secOff     [numSections]int
		secSize    [numSections]int
		secAlign   = [numSections]int{0, 8, 8, 8, 1, 2, 8, 8, 4, textAlign, 4, 8, mkAlign, 8, 1, 1, 1, 1, 1}
		dynEntries = 11
		noteDesc1  = len(img.Pages) * pageRecLen
		noteDesc2  = len(img.Program) + 1 + len(img.Variant) + 1
	)
	secSize[secHash] = (2 + int(nbuckets) + nsyms) * 4
	secSize[secGnuHash] = 16 + bloomWords*8 + int(nbuckets)*4 + len(syms)*4
	secSize[secDynsym] = nsyms * symSize
	secSize[secDynstr] = dynstr.Len()
	secSize[secVersym] = nsyms * 2
	secSize[secVerdef] = 2 * (verdefSize + verdaxSize)
	secSize[secDynamic] = dynEntries * dynSize
	secSize[secNote] = noteSize(noteDesc1) + noteSize(noteDesc2)
	secSize[secText] = len(img.Code)
	secSize[secMarkers] = len(markers)
	if img.Stack != nil {
		secSize[secEhFrameHdr] = ehFrameHdrSize(len(ranges))
		frame, _ := encodeEHFrame(ranges, img.Stack, 0, 0)
		secSize[secEhFrame] = len(frame)
	}
	var debugSecs [numSections][]byte
	if img.Debug != nil {
		// The sizes do not depend on the address of .text, which is not
		// known yet: fill in the contents once it is.
		debugSecs = debugSections(&img, 0, index[secText])
		for i := secSymtab; i <= secDebugLine; i++ {
			secSize[i] = len(debugSecs[i])
		}
	}
	var shstr strings.Builder
	shstr.WriteByte(0)
	var shName [numSections]uint32
	for _, i := range present[1:] {
		shName[i] = uint32(shstr.Len())
		shstr.WriteString(sectionNames[i])
		shstr.WriteByte(0)
	}
	secSize[secShstrtab] = shstr.Len()
	for _, i := range present[1:] {
		off = align(off, secAlign[i])
		secOff[i] = off
		off += secSize[i]
	}
	loadEnd := secOff[secText] + secSize[secText]
	if img.Stack != nil {
		loadEnd = secOff[secEhFrame] + secSize[secEhFrame]
	}
	shoff := align(off, 8)
	total := shoff + numPresent*shdrSize

	b := make([]byte, total)
	le := binary.LittleEndian
	text := uint64(secOff[secText])
	for i := range syms {
		syms[i].value += text
	}

	// ELF header.
	copy(b, elf.ELFMAG)
	b[elf.EI_CLASS] = byte(elf.ELFCLASS64)
	b[elf.EI_DATA] = byte(elf.ELFDATA2LSB)
	b[elf.EI_VERSION] = byte(elf.EV_CURRENT)
	b[elf.EI_OSABI] = byte(elf.ELFOSABI_NONE)
	le.PutUint16(b[16:], uint16(elf.ET_DYN))
	le.PutUint16(b[18:], uint16(elf.EM_X86_64))
	le.PutUint32(b[20:], uint32(elf.EV_CURRENT))
	le.PutUint64(b[24:], 0) // e_entry
	le.PutUint64(b[32:], ehdrSize)
	le.PutUint64(b[40:], uint64(shoff))
	le.PutUint32(b[48:], 0) // e_flags
	le.PutUint16(b[52:], ehdrSize)
	le.PutUint16(b[54:], phdrSize)
	le.PutUint16(b[56:], uint16(numPhdrs))
	le.PutUint16(b[58:], shdrSize)
	le.PutUint16(b[60:], uint16(numPresent))
	le.PutUint16(b[62:], uint16(numPresent-1)) // .shstrtab is last

	// Program headers.
	phdr := func(i int, typ elf.ProgType, flags elf.ProgFlag, o, size, align int) {
		p := b[ehdrSize+i*phdrSize:]
		le.PutUint32(p[0:], uint32(typ))
		le.PutUint32(p[4:], uint32(flags))
		le.PutUint64(p[8:], uint64(o))
		le.PutUint64(p[16:], uint64(o)) // vaddr == offset
		le.PutUint64(p[24:], uint64(o)) // paddr
		le.PutUint64(p[32:], uint64(size))
		le.PutUint64(p[40:], uint64(size))
		le.PutUint64(p[48:], uint64(align))
	}
	phdr(0, elf.PT_LOAD, elf.PF_R|elf.PF_X, 0, loadEnd, PageSize)
	phdr(1, elf.PT_DYNAMIC, elf.PF_R, secOff[secDynamic], secSize[secDynamic], 8)
	phdr(2, elf.PT_NOTE, elf.PF_R, secOff[secNote], secSize[secNote], 4)
	if img.Stack != nil {
		phdr(3, ptGNUEHFrame, elf.PF_R, secOff[secEhFrameHdr], secSize[secEhFrameHdr], 4)
	}

	// .hash (SysV): nbucket, nchain, buckets, chains.
	h := b[secOff[secHash]:]
	le.PutUint32(h[0:], nbuckets)
	le.PutUint32(h[4:], uint32(nsyms))
	buckets := h[8:]
	chains := h[8+4*nbuckets:]
	for i := range syms {
		idx := uint32(i + 1)
		bk := ELFHash(syms[i].name) % nbuckets
		le.PutUint32(chains[4*idx:], le.Uint32(buckets[4*bk:]))
		le.PutUint32(buckets[4*bk:], idx)
	}

	// .gnu.hash: nbuckets, symoffset, bloom size, bloom shift, bloom,
	// buckets, chain.
	g := b[secOff[secGnuHash]:]
	le.PutUint32(g[0:], nbuckets)
	le.PutUint32(g[4:], 1)
	le.PutUint32(g[8:], bloomWords)
	le.PutUint32(g[12:], bloomShift)
	var bloom [bloomWords]uint64
	for _, s := range syms {
		w := (s.gnu / 64) % bloomWords
		bloom[w] |= 1<<(s.gnu%64) | 1<<((s.gnu>>bloomShift)%64)
	}
	for i, w := range bloom {
		le.PutUint64(g[16+8*i:], w)
	}
	gb := g[16+8*bloomWords:]
	gc := gb[4*nbuckets:]
	for i, s := range syms {
		bk := s.gnu % nbuckets
		if le.Uint32(gb[4*bk:]) == 0 {
			le.PutUint32(gb[4*bk:], uint32(i+1))
		}
		v := s.gnu &^ 1
		if i+1 == len(syms) || syms[i+1].gnu%nbuckets != bk {
			v |= 1
		}
		le.PutUint32(gc[4*i:], v)
	}

	// .dynsym, .dynstr, .gnu.version.
	for i, s := range syms {
		p := b[secOff[secDynsym]+(i+1)*symSize:]
		le.PutUint32(p[0:], strOff[s.name])
		p[4] = elf.ST_INFO(s.bind, elf.STT_FUNC)
		p[5] = byte(elf.STV_DEFAULT)
		le.PutUint16(p[6:], secText)
		le.PutUint64(p[8:], s.value)
		le.PutUint64(p[16:], s.size)
		le.PutUint16(b[secOff[secVersym]+2*(i+1):], 2)
	}
	copy(b[secOff[secDynstr]:], dynstr.String())

	// .gnu.version_d: the base definition (index 1, the soname) and the
	// version (index 2).
	vd := b[secOff[secVerdef]:]
	for i, name := range []string{img.SOName, img.Version} {
		p := vd[i*(verdefSize+verdaxSize):]
		le.PutUint16(p[0:], 1) // vd_version
		if i == 0 {
			le.PutUint16(p[2:], 1) // VER_FLG_BASE
		}
		le.PutUint16(p[4:], uint16(i+1))
		le.PutUint16(p[6:], 1) // vd_cnt
		le.PutUint32(p[8:], ELFHash(name))
		le.PutUint32(p[12:], verdefSize)
		if i == 0 {
			le.PutUint32(p[16:], verdefSize+verdaxSize)
		}
		le.PutUint32(p[20:], strOff[name])
	}

	// .dynamic.
	d := b[secOff[secDynamic]:]
	for i, kv := range [][2]uint64{
		{uint64(elf.DT_SONAME), uint64(strOff[img.SOName])},
		{uint64(elf.DT_HASH), uint64(secOff[secHash])},
		{uint64(elf.DT_GNU_HASH), uint64(secOff[secGnuHash])},
		{uint64(elf.DT_STRTAB), uint64(secOff[secDynstr])},
		{uint64(elf.DT_SYMTAB), uint64(secOff[secDynsym])},
		{uint64(elf.DT_STRSZ), uint64(secSize[secDynstr])},
		{uint64(elf.DT_SYMENT), symSize},
		{uint64(elf.DT_VERSYM), uint64(secOff[secVersym])},
		{uint64(elf.DT_VERDEF), uint64(secOff[secVerdef])},
		{uint64(elf.DT_VERDEFNUM), 2},
		{uint64(elf.DT_NULL), 0},
	} {
		le.PutUint64(d[16*i:], kv[0])
		le.PutUint64(d[16*i+8:], kv[1])
	}

	// .note.vdsogen.
	n := b[secOff[secNote]:]
	n = putNote(n, NotePages, noteDesc1, func(desc []byte) {
		for i, p := range img.Pages {
			r := desc[i*pageRecLen:]
			le.PutUint64(r[0:], uint64(p.Offset()))
			le.PutUint64(r[8:], uint64(p.Size))
			copy(r[16:16+pageNameLen], p.Symbol)
		}
	})
	putNote(n, NoteVariant, noteDesc2, func(desc []byte) {
		copy(desc, img.Program)
		copy(desc[len(img.Program)+1:], img.Variant)
	})

	// .text, with the data references resolved.
	t := b[text : text+uint64(len(img.Code))]
	copy(t, img.Code)
	pageAt := map[string]int64{}
	for _, p := range img.Pages {
		pageAt[p.Symbol] = p.Offset()
	}
	for _, r := range img.Relocs {
		v := pageAt[r.Symbol] + r.Addend - int64(text) - int64(r.Offset)
		if v < math.MinInt32 || v > math.MaxInt32 {
			return nil, fmt.Errorf("elfimage: reference at code offset %#x to %s%+d does not fit 32 bits", r.Offset, r.Symbol, r.Addend)
		}
		le.PutUint32(t[r.Offset:], uint32(int32(v)))
	}

	// .vdsogen_markers, checked again on the resolved code (a reference
	// must not have overwritten a region's signature).
	if img.Markers != nil {
		if err := img.Markers.Validate(t); err != nil {
			return nil, fmt.Errorf("elfimage: marker descriptors: %w", err)
		}
		copy(b[secOff[secMarkers]:], markers)
	}

	// Unwind tables and debugging sections, now that .text has its address.
	if img.Stack != nil {
		frame, fdes := encodeEHFrame(ranges, img.Stack, secOff[secText], secOff[secEhFrame])
		copy(b[secOff[secEhFrame]:], frame)
		copy(b[secOff[secEhFrameHdr]:], encodeEHFrameHdr(ranges, fdes, secOff[secText], secOff[secEhFrameHdr], secOff[secEhFrame]))
	}
	if img.Debug != nil {
		debugSecs = debugSections(&img, secOff[secText], index[secText])
		for i := secSymtab; i <= secDebugLine; i++ {
			copy(b[secOff[i]:], debugSecs[i])
		}
	}

	// .shstrtab and the section headers.
	copy(b[secOff[secShstrtab]:], shstr.String())
	type shdrT struct {
		typ        elf.SectionType
		flags      elf.SectionFlag
		link, info uint32
		entsize    int
	}
	hdrs := [numSections]shdrT{
		secHash:        {elf.SHT_HASH, elf.SHF_ALLOC, secDynsym, 0, 4},
		secGnuHash:     {elf.SHT_GNU_HASH, elf.SHF_ALLOC, secDynsym, 0, 0},
		secDynsym:      {elf.SHT_DYNSYM, elf.SHF_ALLOC, secDynstr, 1, symSize},
		secDynstr:      {elf.SHT_STRTAB, elf.SHF_ALLOC, 0, 0, 0},
		secVersym:      {elf.SHT_GNU_VERSYM, elf.SHF_ALLOC, secDynsym, 0, 2},
		secVerdef:      {elf.SHT_GNU_VERDEF, elf.SHF_ALLOC, secDynstr, 2, 0},
		secDynamic:     {elf.SHT_DYNAMIC, elf.SHF_ALLOC, secDynstr, 0, dynSize},
		secNote:        {elf.SHT_NOTE, elf.SHF_ALLOC, 0, 0, 0},
		secText:        {elf.SHT_PROGBITS, elf.SHF_ALLOC | elf.SHF_EXECINSTR, 0, 0, 0},
		secEhFrameHdr:  {elf.SHT_PROGBITS, elf.SHF_ALLOC, 0, 0, 0},
		secEhFrame:     {elf.SHT_PROGBITS, elf.SHF_ALLOC, 0, 0, 0},
		secMarkers:     {elf.SHT_PROGBITS, 0, 0, 0, 0},
		secSymtab:      {elf.SHT_SYMTAB, 0, uint32(index[secStrtab]), uint32(symtabLocals(&img)), symSize},
		secStrtab:      {elf.SHT_STRTAB, 0, 0, 0, 0},
		secDebugAbbrev: {elf.SHT_PROGBITS, 0, 0, 0, 0},
		secDebugInfo:   {elf.SHT_PROGBITS, 0, 0, 0, 0},
		secDebugLine:   {elf.SHT_PROGBITS, 0, 0, 0, 0},
		secShstrtab:    {elf.SHT_STRTAB, 0, 0, 0, 0},
	}
	for fi, i := range present[1:] {
		p := b[shoff+(fi+1)*shdrSize:]
		s := hdrs[i]
		le.PutUint32(p[0:], shName[i])
		le.PutUint32(p[4:], uint32(s.typ))
		le.PutUint64(p[8:], uint64(s.flags))
		if s.flags&elf.SHF_ALLOC != 0 {
			le.PutUint64(p[16:], uint64(secOff[i]))
		}
		le.PutUint64(p[24:], uint64(secOff[i]))
		le.PutUint64(p[32:], uint64(secSize[i]))
		le.PutUint32(p[40:], s.link)
		le.PutUint32(p[44:], s.info)
		le.PutUint64(p[48:], uint64(secAlign[i]))
		le.PutUint64(p[56:], uint64(s.entsize))
	}
	return b, nil
}

func validate(img *Image) error {
	if len(img.Code) == 0 {
		return fmt.Errorf("elfimage: no code")
	}
	if len(img.Entries) == 0 {
		return fmt.Errorf("elfimage: no entries")
	}
	names := map[string]bool{img.SOName: true, img.Version: true}
	for _, s := range []string{img.SOName, img.Version, img.Program, img.Variant} {
		if strings.IndexByte(s, 0) >= 0 {
			return fmt.Errorf("elfimage: %q contains a NUL byte", s)
		}
	}
	for _, e := range img.Entries {
		if e.Name == "" || strings.IndexByte(e.Name, 0) >= 0 || strings.HasPrefix(e.Name, "__vdso_") {
			return fmt.Errorf("elfimage: bad entry name %q", e.Name)
		}
		if names[e.Name] || names["__vdso_"+e.Name] {
			return fmt.Errorf("elfimage: duplicate symbol %q", e.Name)
		}
		names[e.Name], names["__vdso_"+e.Name] = true, true
		if e.Offset < 0 || e.Size < 0 || e.Offset+e.Size > len(img.Code) {
			return fmt.Errorf("elfimage: entry %s [%#x, +%d) is outside the %d-byte code", e.Name, e.Offset, e.Size, len(img.Code))
		}
	}
	pages := map[string]bool{}
	used := make([]string, 0)
	for _, p := range img.Pages {
		if p.Symbol == "" || len(p.Symbol) >= pageNameLen || strings.IndexByte(p.Symbol, 0) >= 0 {
			return fmt.Errorf("elfimage: data page name %q must be 1-%d bytes without NUL", p.Symbol, pageNameLen-1)
		}
		if pages[p.Symbol] {
			return fmt.Errorf("elfimage: data page %s placed twice", p.Symbol)
		}
		pages[p.Symbol] = true
		if p.Index < 1 || p.Size < 0 || p.Size > p.Index*PageSize || p.Index > 1<<20 {
			return fmt.Errorf("elfimage: data page %s: index %d size %d: it must lie below the image (index >= 1, size <= index*%d)", p.Symbol, p.Index, p.Size, PageSize)
		}
		// Pages must not overlap: [Index-pages, Index) in page units.
		for _, q := range img.Pages {
			if q.Symbol != p.Symbol && q.Index >= p.Index && q.Index-pagesFor(q.Size) < p.Index {
				return fmt.Errorf("elfimage: data pages %s and %s overlap", q.Symbol, p.Symbol)
			}
		}
		used = append(used, p.Symbol)
	}
	if img.Markers != nil {
		if err := img.Markers.Validate(img.Code); err != nil {
			return fmt.Errorf("elfimage: marker descriptors: %w", err)
		}
	}
	if img.Stack != nil {
		if err := validateStack(img.Stack, img.Entries, len(img.Code)); err != nil {
			return err
		}
	}
	if img.Debug != nil {
		if err := validateDebug(img.Debug, len(img.Code), names); err != nil {
			return err
		}
	}
	seen := map[int]bool{}
	for _, r := range img.Relocs {
		if !pages[r.Symbol] {
			return fmt.Errorf("elfimage: reference at code offset %#x to %s, which is not a placed data page (pages: %v)", r.Offset, r.Symbol, used)
		}
		if r.Offset < 0 || r.Offset+4 > len(img.Code) {
			return fmt.Errorf("elfimage: reference at code offset %#x is outside the %d-byte code", r.Offset, len(img.Code))
		}
		for o := r.Offset - 3; o <= r.Offset+3; o++ {
			if seen[o] {
				return fmt.Errorf("elfimage: references at code offsets %#x and %#x overlap", o, r.Offset)
			}
		}
		seen[r.Offset] = true
	}
	return nil
}

func align(n, a int) int {
	if a <= 1 {
		return n
	}
	return (n + a - 1) / a * a
}

func noteSize(desc int) int { return 12 + align(len(noteOwner)+1, 4) + align(desc, 4) }

func putNote(b []byte, typ uint32, desc int, fill func([]byte)) []byte {
	le := binary.LittleEndian
	le.PutUint32(b[0:], uint32(len(noteOwner)+1))
	le.PutUint32(b[4:], uint32(desc))
	le.PutUint32(b[8:], typ)
	copy(b[12:], noteOwner)
	d := b[12+align(len(noteOwner)+1, 4):]
	fill(d[:desc])
	return d[align(desc, 4):]
}

// ELFHash is the SysV ELF hash of DT_HASH and of version definitions.
func ELFHash(name string) uint32 {
	var h uint32
	for i := 0; i < len(name); i++ {
		h = h<<4 + uint32(name[i])
		g := h & 0xf0000000
		if g != 0 {
			h ^= g >> 24
		}
		h &^= g
	}
	return h
}

// GNUHash is the hash of DT_GNU_HASH (Bernstein's, h*33 + c).
func GNUHash(name string) uint32 {
	h := uint32(5381)
	for i := 0; i < len(name); i++ {
		h = h*33 + uint32(name[i])
	}
	return h
}

// debugSections returns the contents of the debugging sections for .text
// at address text and file index textIdx.
func debugSections(img *Image, text, textIdx int) [numSections][]byte {
	var out [numSections][]byte
	out[secSymtab], out[secStrtab], _ = encodeSymtab(img.Debug, img.Entries, img.Pages, text, uint16(textIdx))
	out[secDebugAbbrev] = encodeAbbrev()
	out[secDebugInfo] = encodeInfo(img.Debug, img.Entries, text, len(img.Code))
	out[secDebugLine] = encodeLines(img.Debug.Source, text, len(img.Code))
	return out
}

// symtabLocals is .symtab's sh_info: one past the last local symbol.
func symtabLocals(img *Image) int {
	if img.Debug == nil {
		return 0
	}
	return len(img.Debug.Labels) + len(img.Pages) + 1
}
