package elfimage

import (
	"debug/elf"
	"errors"
	"fmt"
	"sort"
)

// Names of the whole-image checks (HashProblems, VersionProblems,
// PageProblems, SymbolProblems).
const (
	CheckHash     = "elf-hash"
	CheckVersions = "elf-versions"
	CheckPages    = "elf-pages"
	CheckSymbols  = "elf-symbols"
)

// Problem is one thing a whole-image check found wrong, at the file offset
// of the record at fault.
type Problem struct {
	Check string
	// Offset is the file offset of the record (symbol, hash word, version
	// entry, note record) that is wrong.
	Offset int64
	// Symbol is the dynamic symbol concerned, if any.
	Symbol string
	Msg    string
}

func (p Problem) String() string {
	return fmt.Sprintf("%s: file offset %#x: %s", p.Check, p.Offset, p.Msg)
}

// bloomPasses is the bloom filter test of DT_GNU_HASH for hash h, as glibc
// (do_lookup_x) and musl (gnu_lookup_filtered) do it on a 64-bit target:
// word (h/64) & (size-1) must have bits h%64 and (h>>shift)%64 set. Both
// libcs mask the word index, so the size must be a power of two.
func (r *Resolver) bloomPasses(h uint32) (bool, error) {
	size, ok1 := r.u32(r.gnuHash, 8)
	shift, ok2 := r.u32(r.gnuHash, 12)
	if !ok1 || !ok2 {
		return false, errors.New("bad DT_GNU_HASH header")
	}
	if size == 0 || size&(size-1) != 0 {
		return false, fmt.Errorf("DT_GNU_HASH bloom size %d is not a power of two", size)
	}
	if shift >= 32 {
		return false, fmt.Errorf("DT_GNU_HASH bloom shift %d is not below 32", shift)
	}
	p := r.at(r.gnuHash, 16+8*(uint64(h/64)&uint64(size-1)), 8)
	if p == nil {
		return false, errors.New("DT_GNU_HASH bloom filter outside the image")
	}
	w := le.Uint64(p)
	return (w>>(h%64))&(w>>((h>>shift)%64))&1 != 0, nil
}

// fileOff is the file offset of virtual address vaddr+off.
func (r *Resolver) fileOff(vaddr, off uint64) int64 { return int64(vaddr+off) + r.loadOff }

// dynSym is one record of the dynamic symbol table.
type dynSym struct {
	index       uint64
	name        string
	info, other byte
	shndx       uint16
	value, size uint64
	off         int64 // file offset of the record
	gnuH, sysvH uint32
	valid       bool // the name could be read
}

func (s dynSym) exported() bool {
	b := elf.ST_BIND(s.info)
	return s.index > 0 && s.valid && s.name != "" && elf.SectionIndex(s.shndx) != elf.SHN_UNDEF &&
		elf.ST_TYPE(s.info) == elf.STT_FUNC && (b == elf.STB_GLOBAL || b == elf.STB_WEAK)
}

// dynSyms reads the n records of DT_SYMTAB.
func (r *Resolver) dynSyms(n uint64) ([]dynSym, error) {
	var out []dynSym
	for i := uint64(0); i < n; i++ {
		p := r.at(r.symtab, i*symSize, symSize)
		if p == nil {
			return nil, fmt.Errorf("dynamic symbol %d is outside the image", i)
		}
		s := dynSym{index: i, info: p[4], other: p[5], shndx: le.Uint16(p[6:]), value: le.Uint64(p[8:]), size: le.Uint64(p[16:]), off: r.fileOff(r.symtab, i*symSize)}
		s.name, s.valid = r.str(uint64(le.Uint32(p)))
		s.gnuH, s.sysvH = GNUHash(s.name), ELFHash(s.name)
		out = append(out, s)
	}
	return out, nil
}

// resolveSymbols reads file's dynamic symbols for the whole-image checks.
func resolveSymbols(file []byte) (*Resolver, []dynSym, error) {
	r, err := NewResolver(file)
	if err != nil {
		return nil, nil, err
	}
	n, err := symbolCount(file)
	if err != nil {
		return nil, nil, err
	}
	syms, err := r.dynSyms(n)
	if err != nil {
		return nil, nil, err
	}
	return r, syms, nil
}

// maxSymbols bounds the symbol table the whole-image checks accept (a vDSO
// has a few dozen), which bounds their work on a hostile file.
const maxSymbols = 4096

// symbolCount is the number of dynamic symbols: the size of .dynsym from
// the section headers (which a hash table cannot corrupt).
func symbolCount(file []byte) (uint64, error) {
	f, err := elf.NewFile(bytesReader(file))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	s := f.Section(".dynsym")
	if s == nil {
		return 0, errors.New("no .dynsym section")
	}
	if s.Size%symSize != 0 || s.Size > maxSymbols*symSize {
		return 0, fmt.Errorf(".dynsym is %d bytes, not a whole number of %d-byte symbols, at most %d", s.Size, symSize, maxSymbols)
	}
	return s.Size / symSize, nil
}

// HashProblems checks both hash tables against the dynamic symbols, as a
// whole and through lookups:
//
//   - DT_GNU_HASH: every exported symbol (a defined GLOBAL or WEAK FUNC)
//     lies at or after symoffset; each bucket holds the first symbol of
//     its hash class; each chain word holds its symbol's hash, with the
//     end bit exactly where the class ends; the bloom filter (a power-of-
//     two number of 64-bit words, shift below 32) has both bits of every
//     exported symbol.
//   - DT_HASH: nchain is the number of symbols; the chain from each bucket
//     visits exactly the symbols of its class.
//   - Lookups: glibc's and parse_vdso's lookups through each table find
//     every exported symbol, with its version, value and size; they reject
//     absent names (probes): for each exported name, one with the same GNU
//     hash and one with the same SysV hash, names that pass the bloom
//     filter, and a name in every occupied bucket of each table.
//
// Lookups run only through a table that looked sound as a whole (what is
// wrong with the others is reported where it is).
func HashProblems(file []byte) []Problem {
	r, syms, err := resolveSymbols(file)
	if err != nil {
		return []Problem{{Check: CheckHash, Msg: err.Error()}}
	}
	type lookupTable struct {
		name   string
		lookup func(name, version string) (Symbol, error)
	}
	var ps []Problem
	var sound []lookupTable // the tables the lookups run through
	for _, t := range []struct {
		lookupTable
		present bool
		header  uint64 // its address
		check   func([]dynSym) (found []Problem, err error)
	}{
		{lookupTable{"DT_GNU_HASH", r.LookupGNU}, r.hasGNU, r.gnuHash, withHeader(r.gnuHeader, r.gnuProblems)},
		{lookupTable{"DT_HASH", r.LookupSysV}, r.hasHash, r.hash, withHeader(r.sysvHeader, r.sysvProblems)},
	} {
		if !t.present {
			ps = append(ps, Problem{Check: CheckHash, Msg: "no " + t.name})
			continue
		}
		found, err := t.check(syms)
		if err != nil { // the header: the structure was not looked at
			found = []Problem{{Check: CheckHash, Offset: r.fileOff(t.header, 0), Msg: err.Error()}}
		}
		if len(found) == 0 {
			sound = append(sound, t.lookupTable)
		}
		ps = append(ps, found...)
	}
	version := ""
	if len(r.versionProblems(syms)) == 0 {
		version = DefaultVersion
	}
	for _, s := range syms {
		if !s.exported() {
			continue
		}
		for _, t := range sound {
			got, err := t.lookup(s.name, version)
			switch {
			case err != nil:
				ps = append(ps, Problem{CheckHash, s.off, s.name, fmt.Sprintf("a lookup of %s@%s through %s fails: %v", s.name, version, t.name, err)})
			case got.Value != s.value || got.Size != s.size:
				ps = append(ps, Problem{CheckHash, s.off, s.name, fmt.Sprintf("a lookup of %s through %s finds value %#x size %d, the symbol is %#x size %d", s.name, t.name, got.Value, got.Size, s.value, s.size)})
			}
		}
	}
	for _, name := range r.probes(syms) {
		for _, t := range sound {
			got, err := t.lookup(name, "")
			switch {
			case err == nil:
				ps = append(ps, Problem{CheckHash, r.fileOff(r.symtab, 0), name, fmt.Sprintf("a lookup of the absent name %q through %s finds a symbol at %#x", name, t.name, got.Value)})
			case !errors.Is(err, ErrNotFound):
				ps = append(ps, Problem{CheckHash, r.fileOff(r.symtab, 0), name, fmt.Sprintf("a lookup of the absent name %q through %s fails: %v", name, t.name, err)})
			}
		}
	}
	return ps
}

// withHeader is a structure check of a hash table that first reads the
// table's header (or fails with the header's error).
func withHeader[H any](header func() (H, error), check func(H, []dynSym) []Problem) func([]dynSym) ([]Problem, error) {
	return func(syms []dynSym) ([]Problem, error) {
		head, err := header()
		if err != nil {
			return nil, err
		}
		return check(head, syms), nil
	}
}

// gnuProblems checks the structure of DT_GNU_HASH, whose header is head,
// against syms.
func (r *Resolver) gnuProblems(head gnuHeader, syms []dynSym) []Problem {
	g := r.gnuHash
	hdr := r.fileOff(g, 0)
	nbucket, symoff, bloomSize, shift := head.nbucket, head.symoff, head.bloomSize, head.shift
	var ps []Problem
	bad := func(off int64, sym, format string, args ...any) {
		ps = append(ps, Problem{CheckHash, off, sym, "DT_GNU_HASH: " + fmt.Sprintf(format, args...)})
	}
	if symoff == 0 || uint64(symoff) > uint64(len(syms)) {
		bad(hdr, "", "%d buckets, symoffset %d for %d symbols", nbucket, symoff, len(syms))
		return ps
	}
	if bloomSize == 0 || bloomSize&(bloomSize-1) != 0 || shift >= 32 {
		bad(hdr+8, "", "bloom size %d (want a power of two) and shift %d (want below 32): glibc and musl mask the word index", bloomSize, shift)
		return ps
	}
	buckets := uint64(16) + 8*uint64(bloomSize)
	chain := buckets + 4*uint64(nbucket)
	if r.at(g, 0, chain+4*uint64(uint64(len(syms))-uint64(symoff))) == nil {
		bad(hdr, "", "the table (%d bloom words, %d buckets, %d chain words) runs outside the image", bloomSize, nbucket, uint64(len(syms))-uint64(symoff))
		return ps
	}
	// Bloom: both bits of every exported symbol.
	for _, s := range syms {
		if !s.exported() {
			continue
		}
		w := uint64(s.gnuH/64) & uint64(bloomSize-1)
		word := le.Uint64(r.at(g, 16+8*w, 8))
		b1, b2 := s.gnuH%64, (s.gnuH>>shift)%64
		if word>>b1&1 == 0 || word>>b2&1 == 0 {
			bad(r.fileOff(g, 16+8*w), s.name, "bloom word %d is %#016x: it lacks bit %d or %d of %s (hash %#08x), so every lookup of it fails", w, word, b1, b2, s.name, s.gnuH)
		}
		if s.index < uint64(symoff) {
			bad(s.off, s.name, "exported symbol %d (%s) is below symoffset %d: the table cannot find it", s.index, s.name, symoff)
		}
	}
	// Buckets: the first symbol of each class.
	first := make([]uint32, nbucket)
	for _, s := range syms[symoff:] {
		if b := s.gnuH % nbucket; first[b] == 0 {
			first[b] = uint32(s.index)
		}
	}
	for b := range nbucket {
		if got, _ := r.u32(g, buckets+4*uint64(b)); got != first[b] {
			bad(r.fileOff(g, buckets+4*uint64(b)), "", "bucket %d holds %d, the first symbol of its hash class is %d", b, got, first[b])
		}
	}
	// Chain: the hashes, the end bit where the class ends.
	for _, s := range syms[symoff:] {
		at := chain + 4*(s.index-uint64(symoff))
		word, _ := r.u32(g, at)
		last := s.index+1 == uint64(len(syms)) || syms[s.index+1].gnuH%nbucket != s.gnuH%nbucket
		switch {
		case word|1 != s.gnuH|1:
			bad(r.fileOff(g, at), s.name, "chain word of symbol %d (%s) is %#08x, its hash %#08x", s.index, s.name, word, s.gnuH)
		case (word&1 != 0) != last:
			bad(r.fileOff(g, at), s.name, "chain word of symbol %d (%s) has the end bit %d, want %d", s.index, s.name, word&1, map[bool]int{true: 1}[last])
		}
	}
	// Every class must be contiguous, or its end bit hides the rest.
	seen := map[uint32]uint64{}
	for _, s := range syms[symoff:] {
		b := s.gnuH % nbucket
		if prev, ok := seen[b]; ok && prev+1 != s.index {
			bad(s.off, s.name, "symbol %d (%s) is in bucket %d, but the class was interrupted after symbol %d", s.index, s.name, b, prev)
		}
		seen[b] = s.index
	}
	return ps
}

// sysvProblems checks the structure of DT_HASH, whose header is head,
// against syms.
func (r *Resolver) sysvProblems(head sysvHeader, syms []dynSym) []Problem {
	h := r.hash
	hdr := r.fileOff(h, 0)
	nbucket, nchain := head.nbucket, head.nchain
	var ps []Problem
	bad := func(off int64, sym, format string, args ...any) {
		ps = append(ps, Problem{CheckHash, off, sym, "DT_HASH: " + fmt.Sprintf(format, args...)})
	}
	if uint64(nchain) != uint64(len(syms)) {
		bad(hdr, "", "nchain %d: want nchain = the %d symbols", nchain, len(syms))
		return ps
	}
	if r.at(h, 0, 8+4*uint64(nbucket)+4*uint64(nchain)) == nil {
		bad(hdr, "", "the table (%d buckets, %d chain words) runs outside the image", nbucket, nchain)
		return ps
	}
	chains := 8 + 4*uint64(nbucket)
	class := map[uint32]map[uint64]bool{} // bucket -> its symbols
	for _, s := range syms[1:] {
		b := s.sysvH % nbucket
		if class[b] == nil {
			class[b] = map[uint64]bool{}
		}
		class[b][s.index] = true
	}
	for b := range nbucket {
		link := 8 + 4*uint64(b) // the word that holds the next index
		want := class[b]
		if want == nil {
			want = map[uint64]bool{}
		}
		visited := 0
		for n := 0; ; n++ {
			i, _ := r.u32(h, link)
			if i == 0 {
				break
			}
			if uint64(i) >= uint64(len(syms)) || !want[uint64(i)] || n > len(syms) {
				what := "beyond the symbol table"
				if uint64(i) < uint64(len(syms)) {
					what = fmt.Sprintf("%s, whose hash is in bucket %d (or it was visited already)", syms[i].name, syms[i].sysvH%nbucket)
				}
				bad(r.fileOff(h, link), "", "the chain of bucket %d links to symbol %d, %s", b, i, what)
				break
			}
			delete(want, uint64(i))
			visited++
			link = chains + 4*uint64(i)
		}
		if len(want) > 0 {
			var missing []uint64
			for i := range want {
				missing = append(missing, i)
			}
			sort.Slice(missing, func(a, b int) bool { return missing[a] < missing[b] })
			bad(r.fileOff(h, link), syms[missing[0]].name, "the chain of bucket %d ends after %d symbols without symbol %d (%s)", b, visited, missing[0], syms[missing[0]].name)
		}
	}
	return ps
}

// probes are absent names that exercise the lookups: for every exported
// name, a name with the same GNU hash and one with the same SysV hash
// (both differ only in the last two bytes), names that pass the bloom
// filter, and for every occupied bucket of either table a name that lands
// in it.
func (r *Resolver) probes(syms []dynSym) []string {
	present := map[string]bool{}
	for _, s := range syms {
		present[s.name] = true
	}
	var out []string
	add := func(name string) {
		if !present[name] {
			present[name] = true
			out = append(out, name)
		}
	}
	for _, s := range syms {
		if !s.exported() || len(s.name) < 2 {
			continue
		}
		if t, ok := twin(s.name, 33, GNUHash); ok {
			add(t)
		}
		if t, ok := twin(s.name, 16, ELFHash); ok {
			add(t)
		}
		add(s.name + "_")
	}
	add("")
	// Bloom false positives: up to 4 names the filter lets through; and
	// for every bucket of either table that holds a symbol, a name that
	// lands in it (a lookup must walk the chain and reject it there).
	found := 0
	gnuBuckets, _ := r.u32(r.gnuHash, 0)
	sysvBuckets, _ := r.u32(r.hash, 0)
	wantGNU, wantSysV := map[uint32]bool{}, map[uint32]bool{}
	for _, s := range syms {
		if s.exported() && gnuBuckets > 0 && r.hasGNU {
			wantGNU[s.gnuH%gnuBuckets] = true
		}
		if s.exported() && sysvBuckets > 0 && r.hasHash {
			wantSysV[s.sysvH%sysvBuckets] = true
		}
	}
	for i := 0; i < 4096 && (found < 4 || len(wantGNU) > 0 || len(wantSysV) > 0); i++ {
		name := fmt.Sprintf("__vdso_probe%d", i)
		g, h := GNUHash(name), ELFHash(name)
		if pass, err := r.bloomPasses(g); r.hasGNU && err == nil && pass && found < 4 {
			add(name)
			found++
		}
		if gnuBuckets > 0 && wantGNU[g%gnuBuckets] {
			delete(wantGNU, g%gnuBuckets)
			add(name)
		}
		if sysvBuckets > 0 && wantSysV[h%sysvBuckets] {
			delete(wantSysV, h%sysvBuckets)
			add(name)
		}
	}
	return out
}

// twin returns a name other than name with the same hash, for a hash of
// the form h = h*mul + c on its last two bytes: raising the last-but-one
// byte by 1 and lowering the last by mul keeps h (or the other way round).
func twin(name string, mul int, hash func(string) uint32) (string, bool) {
	n := len(name)
	for _, d := range []int{1, -1} {
		a, b := int(name[n-2])+d, int(name[n-1])-d*mul
		if a < 1 || a > 255 || b < 1 || b > 255 {
			continue
		}
		t := name[:n-2] + string([]byte{byte(a), byte(b)})
		if hash(t) == hash(name) {
			return t, true
		}
	}
	return "", false
}
