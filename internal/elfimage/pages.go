package elfimage

import (
	"debug/elf"
	"fmt"
	"strings"
)

// PageProblems checks the data-page placement of the vdsogen note: there
// is exactly one NotePages note; every page has a name (unique, NUL-
// terminated), starts at a negative, page-aligned offset from the load
// address, ends at or below it, and overlaps no other page (each takes
// whole pages, at least one). Offsets point at the page's record.
func PageProblems(file []byte) []Problem {
	_, _, _, ps := ReadNote(file)
	return ps
}

// ReadNote reads the vdsogen note as Pages does, but leniently, for a
// verifier: it returns the pages whose records are sound and the program
// and variant names, and reports every unsound record as a Problem
// (PageProblems) instead of failing.
func ReadNote(file []byte) (pages []Page, program, variant string, ps []Problem) {
	f, err := elf.NewFile(bytesReader(file))
	if err != nil {
		return nil, "", "", []Problem{{Check: CheckPages, Msg: err.Error()}}
	}
	defer f.Close()
	bad := func(off int64, format string, args ...any) {
		ps = append(ps, Problem{Check: CheckPages, Offset: off, Msg: fmt.Sprintf(format, args...)})
	}
	type rec struct {
		name      string
		off       int64 // from the load address
		size      uint64
		at        int64 // file offset of the record
		pageCount int64
	}
	var recs []rec
	notes := 0
	for _, p := range f.Progs {
		if p.Type != elf.PT_NOTE {
			continue
		}
		if p.Off > uint64(len(file)) || p.Filesz > uint64(len(file))-p.Off {
			bad(0, "PT_NOTE [%#x, +%#x) is outside the file", p.Off, p.Filesz)
			continue
		}
		base := int64(p.Off)
		n := file[p.Off : p.Off+p.Filesz]
		for len(n) >= 12 {
			namesz, descsz, typ := uint64(le.Uint32(n)), uint64(le.Uint32(n[4:])), le.Uint32(n[8:])
			if namesz > 1<<20 || descsz > 1<<30 {
				bad(base, "a note with a %d-byte name and a %d-byte descriptor", namesz, descsz)
				break
			}
			no := 12 + uint64(align(int(namesz), 4))
			de := no + uint64(align(int(descsz), 4))
			if de > uint64(len(n)) {
				bad(base, "the note runs past the end of its segment")
				break
			}
			owner, desc, descAt := string(n[12:12+namesz]), n[no:no+descsz], base+int64(no)
			n, base = n[de:], base+int64(de)
			if owner != noteOwner+"\x00" {
				continue
			}
			if typ == NoteVariant {
				parts := strings.Split(string(desc), "\x00")
				if len(parts) >= 2 {
					program, variant = parts[0], parts[1]
				}
			}
			if typ != NotePages {
				continue
			}
			notes++
			if len(desc)%pageRecLen != 0 {
				bad(descAt, "the data-page note is %d bytes, not a whole number of %d-byte records", len(desc), pageRecLen)
				continue
			}
			for i := 0; i < len(desc); i += pageRecLen {
				d := desc[i : i+pageRecLen]
				name, _, terminated := strings.Cut(string(d[16:]), "\x00")
				r := rec{name: name, off: int64(le.Uint64(d)), size: le.Uint64(d[8:]), at: descAt + int64(i)}
				switch {
				case name == "" || !terminated:
					bad(r.at, "data page %d has no NUL-terminated name", i/pageRecLen)
					continue
				case r.off >= 0 || r.off < -(1<<20)*PageSize:
					bad(r.at, "data page %s is at %d: it must lie below the image (negative offset)", name, r.off)
					continue
				case r.off%PageSize != 0:
					bad(r.at, "data page %s is at %d, not a multiple of the %d-byte page", name, r.off, PageSize)
					continue
				case r.size > uint64(-r.off):
					bad(r.at, "data page %s at %d is %d bytes: it runs into the image", name, r.off, r.size)
					continue
				}
				r.pageCount = int64(pagesFor(int(r.size)))
				for _, q := range recs {
					switch {
					case q.name == r.name:
						bad(r.at, "data page %s is placed twice (at %d and %d)", name, q.off, r.off)
					case r.off < q.off+q.pageCount*PageSize && q.off < r.off+r.pageCount*PageSize:
						bad(r.at, "data page %s [%d, %d) overlaps data page %s [%d, %d)", name, r.off, r.off+r.pageCount*PageSize, q.name, q.off, q.off+q.pageCount*PageSize)
					}
				}
				recs = append(recs, r)
				pages = append(pages, Page{Symbol: r.name, Index: int(-r.off / PageSize), Size: int(r.size)})
			}
		}
	}
	if notes != 1 {
		bad(0, "%d vdsogen data-page notes, want exactly 1", notes)
	}
	return pages, program, variant, ps
}
