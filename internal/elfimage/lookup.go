package elfimage

import (
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
)

// Symbol is a resolved symbol: Value is its offset from the load address.
type Symbol struct {
	Name    string
	Version string
	Value   uint64
	Size    uint64
}

// Resolver finds symbols in a vDSO file the way parse_vdso.c (the kernel's
// reference for libc vDSO parsing) does: from the program headers only
// (section headers may be stripped), through DT_GNU_HASH or DT_HASH, then
// the symbol's version through DT_VERSYM and DT_VERDEF. Every read is
// bounds-checked: any file gives a Resolver or an error, never a panic.
type Resolver struct {
	b []byte
	// loadOff is p_offset - p_vaddr of the PT_LOAD: file offset = vaddr + loadOff.
	loadOff int64
	loadLo  uint64 // vaddr range of the PT_LOAD
	loadHi  uint64

	strtab, strsz, symtab uint64
	hash, gnuHash         uint64
	versym, verdef        uint64
	verdefNum             uint64 // DT_VERDEFNUM, 0 if absent
	hasHash, hasGNU       bool
	hasVersym, hasVerdef  bool
}

var le = binary.LittleEndian

// ErrNotFound is returned (wrapped) by Lookup for a missing symbol.
var ErrNotFound = errors.New("symbol not found")

// NewResolver parses the dynamic section of file.
func NewResolver(file []byte) (*Resolver, error) {
	r := &Resolver{b: file}
	if len(file) < ehdrSize || string(file[:4]) != elf.ELFMAG || elf.Class(file[elf.EI_CLASS]) != elf.ELFCLASS64 || elf.Data(file[elf.EI_DATA]) != elf.ELFDATA2LSB {
		return nil, errors.New("not a 64-bit little-endian ELF file")
	}
	phoff, phentsize, phnum := le.Uint64(file[32:]), uint64(le.Uint16(file[54:])), uint64(le.Uint16(file[56:]))
	if phnum == 0 || phentsize < phdrSize || phoff > uint64(len(file)) || phnum*phentsize > uint64(len(file))-phoff {
		return nil, errors.New("bad program header table")
	}
	var dynOff, dynSz uint64
	var haveLoad, haveDyn bool
	for i := uint64(0); i < phnum; i++ {
		p := file[phoff+i*phentsize:]
		switch elf.ProgType(le.Uint32(p)) {
		case elf.PT_LOAD:
			if haveLoad {
				continue // parse_vdso uses the first
			}
			haveLoad = true
			off, vaddr, filesz := le.Uint64(p[8:]), le.Uint64(p[16:]), le.Uint64(p[32:])
			if off > uint64(len(file)) || filesz > uint64(len(file))-off || vaddr > 1<<47 {
				return nil, errors.New("PT_LOAD outside the file")
			}
			r.loadOff = int64(off) - int64(vaddr)
			r.loadLo, r.loadHi = vaddr, vaddr+filesz
		case elf.PT_DYNAMIC:
			haveDyn = true
			dynOff, dynSz = le.Uint64(p[8:]), le.Uint64(p[32:])
		}
	}
	if !haveLoad {
		return nil, errors.New("no PT_LOAD")
	}
	if !haveDyn {
		return nil, errors.New("no PT_DYNAMIC")
	}
	if dynOff > uint64(len(file)) || dynSz > uint64(len(file))-dynOff {
		return nil, errors.New("PT_DYNAMIC outside the file")
	}
	var haveStr, haveSym, haveStrsz bool
	for d := dynOff; d+16 <= dynOff+dynSz; d += 16 {
		tag, val := elf.DynTag(le.Uint64(file[d:])), le.Uint64(file[d+8:])
		switch tag {
		case elf.DT_NULL:
			d = dynOff + dynSz // stop
		case elf.DT_STRTAB:
			r.strtab, haveStr = val, true
		case elf.DT_STRSZ:
			r.strsz, haveStrsz = val, true
		case elf.DT_SYMTAB:
			r.symtab, haveSym = val, true
		case elf.DT_HASH:
			r.hash, r.hasHash = val, true
		case elf.DT_GNU_HASH:
			r.gnuHash, r.hasGNU = val, true
		case elf.DT_VERSYM:
			r.versym, r.hasVersym = val, true
		case elf.DT_VERDEF:
			r.verdef, r.hasVerdef = val, true
		case elf.DT_VERDEFNUM:
			r.verdefNum = val
		}
	}
	if !haveStr || !haveSym {
		return nil, errors.New("no DT_STRTAB or DT_SYMTAB")
	}
	if !haveStrsz {
		r.strsz = r.loadHi - min(r.strtab, r.loadHi)
	}
	if !r.hasHash && !r.hasGNU {
		return nil, errors.New("neither DT_HASH nor DT_GNU_HASH")
	}
	if !r.hasVersym {
		r.hasVerdef = false // as parse_vdso: no versym, no version check
	}
	return r, nil
}

// at returns the n file bytes at virtual address vaddr+off, inside the
// PT_LOAD, or nil.
func (r *Resolver) at(vaddr, off, n uint64) []byte {
	a := vaddr + off
	if a < vaddr || a < r.loadLo || a > r.loadHi || n > r.loadHi-a {
		return nil
	}
	fo := int64(a) + r.loadOff
	if fo < 0 || uint64(fo) > uint64(len(r.b)) || n > uint64(len(r.b))-uint64(fo) {
		return nil
	}
	return r.b[fo : uint64(fo)+n]
}

func (r *Resolver) u32(vaddr, off uint64) (uint32, bool) {
	p := r.at(vaddr, off, 4)
	if p == nil {
		return 0, false
	}
	return le.Uint32(p), true
}

// gnuHeader is the header of DT_GNU_HASH.
type gnuHeader struct{ nbucket, symoff, bloomSize, shift uint32 }

// hashHeader reads the n header words of the hash table tag at addr, if
// the image has it (present); the first word, the number of buckets, must
// not be 0 for anything to be looked up through the table.
func (r *Resolver) hashHeader(tag string, present bool, addr uint64, n int) ([]uint32, error) {
	if !present {
		return nil, errors.New("no " + tag)
	}
	p := r.at(addr, 0, 4*uint64(n))
	if p == nil {
		return nil, fmt.Errorf("%s: the header is outside the image", tag)
	}
	words := make([]uint32, n)
	for i := range words {
		words[i] = le.Uint32(p[4*i:])
	}
	if words[0] == 0 {
		return nil, fmt.Errorf("%s: no buckets", tag)
	}
	return words, nil
}

// gnuHeader reads the header of the image's DT_GNU_HASH.
func (r *Resolver) gnuHeader() (gnuHeader, error) {
	w, err := r.hashHeader("DT_GNU_HASH", r.hasGNU, r.gnuHash, 4)
	if err != nil {
		return gnuHeader{}, err
	}
	return gnuHeader{w[0], w[1], w[2], w[3]}, nil
}

// sysvHeader is the header of DT_HASH.
type sysvHeader struct{ nbucket, nchain uint32 }

// sysvHeader reads the header of the image's DT_HASH.
func (r *Resolver) sysvHeader() (sysvHeader, error) {
	w, err := r.hashHeader("DT_HASH", r.hasHash, r.hash, 2)
	if err != nil {
		return sysvHeader{}, err
	}
	return sysvHeader{w[0], w[1]}, nil
}

// str returns the NUL-terminated string at offset off of DT_STRTAB.
func (r *Resolver) str(off uint64) (string, bool) {
	if off >= r.strsz {
		return "", false
	}
	a := r.strtab + off
	if a < r.strtab || a >= r.loadHi {
		return "", false
	}
	p := r.at(a, 0, min(r.strsz-off, r.loadHi-a))
	if p == nil {
		return "", false
	}
	for i, c := range p {
		if c == 0 {
			return string(p[:i]), true
		}
	}
	return "", false
}

// maxChain bounds every hash-chain walk (a hostile file may loop).
const maxChain = 1 << 16

// Lookup finds a defined GLOBAL or WEAK FUNC symbol of the given version
// (no check if version is "" or the file has no DT_VERSYM), through
// DT_GNU_HASH if present, otherwise DT_HASH.
func (r *Resolver) Lookup(name, version string) (Symbol, error) {
	if r.hasGNU {
		return r.LookupGNU(name, version)
	}
	return r.LookupSysV(name, version)
}

// LookupGNU looks name up through DT_GNU_HASH the way glibc's
// do_lookup_x and musl's gnu_lookup_filtered do: the bloom filter first
// (bloomPasses), then the bucket and its chain.
func (r *Resolver) LookupGNU(name, version string) (Symbol, error) {
	head, err := r.gnuHeader()
	if err != nil {
		return Symbol{}, err
	}
	g, nbucket, symoff := r.gnuHash, head.nbucket, head.symoff
	buckets := uint64(16) + 8*uint64(head.bloomSize)
	h1 := GNUHash(name)
	pass, err := r.bloomPasses(h1)
	if err != nil {
		return Symbol{}, err
	}
	if !pass {
		return Symbol{}, fmt.Errorf("%s: %w (the bloom filter rejects it)", name, ErrNotFound)
	}
	i, ok := r.u32(g, buckets+4*uint64(h1%nbucket))
	if !ok {
		return Symbol{}, errors.New("DT_GNU_HASH bucket outside the image")
	}
	if i == 0 {
		return Symbol{}, fmt.Errorf("%s: %w", name, ErrNotFound)
	}
	if i < symoff {
		return Symbol{}, errors.New("DT_GNU_HASH bucket below symoffset")
	}
	chain := buckets + 4*uint64(nbucket)
	for n := 0; n < maxChain; n, i = n+1, i+1 {
		h2, ok := r.u32(g, chain+4*uint64(i-symoff))
		if !ok {
			return Symbol{}, errors.New("DT_GNU_HASH chain outside the image")
		}
		if h1|1 == h2|1 {
			if s, ok, err := r.check(uint64(i), name, version); err != nil || ok {
				return s, err
			}
		}
		if h2&1 != 0 {
			break
		}
	}
	return Symbol{}, fmt.Errorf("%s: %w", name, ErrNotFound)
}

// LookupSysV looks name up through DT_HASH.
func (r *Resolver) LookupSysV(name, version string) (Symbol, error) {
	head, err := r.sysvHeader()
	if err != nil {
		return Symbol{}, err
	}
	h, nbucket, nchain := r.hash, head.nbucket, head.nchain
	i, ok := r.u32(h, 8+4*uint64(ELFHash(name)%nbucket))
	for n := 0; ok && i != 0 && n < maxChain; n++ {
		if i >= nchain {
			return Symbol{}, errors.New("DT_HASH chain beyond nchain")
		}
		if s, ok, err := r.check(uint64(i), name, version); err != nil || ok {
			return s, err
		}
		i, ok = r.u32(h, 8+4*uint64(nbucket)+4*uint64(i))
	}
	if !ok {
		return Symbol{}, errors.New("DT_HASH outside the image")
	}
	return Symbol{}, fmt.Errorf("%s: %w", name, ErrNotFound)
}

// check is parse_vdso's vdso_sym check of symbol i.
func (r *Resolver) check(i uint64, name, version string) (Symbol, bool, error) {
	p := r.at(r.symtab, i*symSize, symSize)
	if p == nil {
		return Symbol{}, false, errors.New("symbol outside the image")
	}
	info := p[4]
	if elf.ST_TYPE(info) != elf.STT_FUNC {
		return Symbol{}, false, nil
	}
	if b := elf.ST_BIND(info); b != elf.STB_GLOBAL && b != elf.STB_WEAK {
		return Symbol{}, false, nil
	}
	if elf.SectionIndex(le.Uint16(p[6:])) == elf.SHN_UNDEF {
		return Symbol{}, false, nil
	}
	if s, ok := r.str(uint64(le.Uint32(p))); !ok || s != name {
		return Symbol{}, false, nil
	}
	if version != "" && r.hasVerdef {
		ok, err := r.matchVersion(i, version)
		if err != nil || !ok {
			return Symbol{}, false, err
		}
	}
	return Symbol{Name: name, Version: version, Value: le.Uint64(p[8:]), Size: le.Uint64(p[16:])}, true, nil
}

// matchVersion is parse_vdso's vdso_match_version.
func (r *Resolver) matchVersion(i uint64, version string) (bool, error) {
	p := r.at(r.versym, 2*i, 2)
	if p == nil {
		return false, errors.New("DT_VERSYM entry outside the image")
	}
	ver := le.Uint16(p) & 0x7fff
	def := r.verdef
	for n := 0; ; n++ {
		d := r.at(def, 0, verdefSize)
		if d == nil || n >= maxChain {
			return false, errors.New("DT_VERDEF outside the image")
		}
		if le.Uint16(d[2:])&1 == 0 && le.Uint16(d[4:])&0x7fff == ver {
			aux := r.at(def, uint64(le.Uint32(d[12:])), verdaxSize)
			if aux == nil {
				return false, errors.New("Verdaux outside the image")
			}
			s, ok := r.str(uint64(le.Uint32(aux)))
			return ok && le.Uint32(d[8:]) == ELFHash(version) && s == version, nil
		}
		next := le.Uint32(d[16:])
		if next == 0 {
			return false, nil
		}
		def += uint64(next)
	}
}

// Lookup resolves name@version in file (see Resolver.Lookup).
func Lookup(file []byte, name, version string) (Symbol, error) {
	r, err := NewResolver(file)
	if err != nil {
		return Symbol{}, err
	}
	return r.Lookup(name, version)
}

// Pages returns the data-page placement recorded in the file's vdsogen
// note (see the package documentation), and the program and variant names.
func Pages(file []byte) (pages []Page, program, variant string, err error) {
	f, err := elf.NewFile(bytesReader(file))
	if err != nil {
		return nil, "", "", err
	}
	defer f.Close()
	var found bool
	for _, p := range f.Progs {
		if p.Type != elf.PT_NOTE {
			continue
		}
		if p.Off > uint64(len(file)) || p.Filesz > uint64(len(file))-p.Off {
			return nil, "", "", errors.New("PT_NOTE outside the file")
		}
		n := file[p.Off : p.Off+p.Filesz]
		for len(n) >= 12 {
			namesz, descsz, typ := uint64(le.Uint32(n)), uint64(le.Uint32(n[4:])), le.Uint32(n[8:])
			no := 12 + uint64(align(int(min(namesz, 1<<20)), 4))
			de := no + uint64(align(int(min(descsz, 1<<30)), 4))
			if namesz > 1<<20 || descsz > 1<<30 || de > uint64(len(n)) {
				return nil, "", "", errors.New("truncated note")
			}
			owner, desc := string(n[12:12+namesz]), n[no:no+descsz]
			n = n[de:]
			if owner != noteOwner+"\x00" {
				continue
			}
			switch typ {
			case NotePages:
				found = true
				if len(desc)%pageRecLen != 0 {
					return nil, "", "", errors.New("bad data-page note")
				}
				for ; len(desc) > 0; desc = desc[pageRecLen:] {
					off, size := int64(le.Uint64(desc)), le.Uint64(desc[8:])
					name := desc[16:pageRecLen]
					for i, c := range name {
						if c == 0 {
							name = name[:i]
							break
						}
					}
					if off >= 0 || off%PageSize != 0 || off < -(1<<20)*PageSize || size > uint64(-off) {
						return nil, "", "", fmt.Errorf("data page %s at %d, %d bytes: not below the image", name, off, size)
					}
					pages = append(pages, Page{Symbol: string(name), Index: int(-off / PageSize), Size: int(size)})
				}
			case NoteVariant:
				var parts []string
				for s := string(desc); len(s) > 0; {
					i := 0
					for i < len(s) && s[i] != 0 {
						i++
					}
					parts = append(parts, s[:i])
					s = s[min(i+1, len(s)):]
				}
				if len(parts) >= 2 {
					program, variant = parts[0], parts[1]
				}
			}
		}
	}
	if !found {
		return nil, "", "", errors.New("no vdsogen data-page note")
	}
	return pages, program, variant, nil
}

// Section returns the file offset and size of the named section, checked
// to lie inside the file.
func Section(file []byte, name string) (off, size int, err error) {
	f, err := elf.NewFile(bytesReader(file))
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	s := f.Section(name)
	if s == nil {
		return 0, 0, fmt.Errorf("no section %s", name)
	}
	if s.Type == elf.SHT_NOBITS || s.Offset > uint64(len(file)) || s.Size > uint64(len(file))-s.Offset {
		return 0, 0, fmt.Errorf("section %s is not inside the file", name)
	}
	return int(s.Offset), int(s.Size), nil
}
