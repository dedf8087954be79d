package elfimage

import (
	"fmt"
)

// VersionProblems checks the symbol versions the way glibc's dl_vdso_vsym
// needs them (it looks every vDSO symbol up as name@LINUX_2.6): the
// DT_VERDEF chain is well formed (vd_version 1, each vd_hash the ELF hash
// of its name, indices unique, as many as DT_VERDEFNUM says), it has the base definition (index 1,
// VER_FLG_BASE) and a definition of DefaultVersion, and every exported
// symbol's DT_VERSYM entry is that definition's index, not hidden.
func VersionProblems(file []byte) []Problem {
	r, syms, err := resolveSymbols(file)
	if err != nil {
		return []Problem{{Check: CheckVersions, Msg: err.Error()}}
	}
	return r.versionProblems(syms)
}

func (r *Resolver) versionProblems(syms []dynSym) []Problem {
	var ps []Problem
	bad := func(off int64, sym, format string, args ...any) {
		ps = append(ps, Problem{CheckVersions, off, sym, fmt.Sprintf(format, args...)})
	}
	if !r.hasVersym || !r.hasVerdef {
		bad(0, "", "no DT_VERSYM or no DT_VERDEF: glibc cannot find %s symbols", DefaultVersion)
		return ps
	}
	names := map[uint16]string{}
	var want uint16 // the index of DefaultVersion
	base := false
	def := r.verdef
	count := uint64(0)
	for n := 0; ; n++ {
		count++
		at := r.fileOff(def, 0)
		d := r.at(def, 0, verdefSize)
		if d == nil || n > 1<<10 {
			bad(at, "", "version definition %d is outside the image (or the chain loops)", n)
			return ps
		}
		ver, flags, ndx, cnt := le.Uint16(d), le.Uint16(d[2:]), le.Uint16(d[4:])&0x7fff, le.Uint16(d[6:])
		aux := r.at(def, uint64(le.Uint32(d[12:])), verdaxSize)
		if ver != 1 || cnt == 0 || aux == nil {
			bad(at, "", "version definition %d: vd_version %d, vd_cnt %d, vd_aux %#x: want version 1 and a name inside the image", n, ver, cnt, le.Uint32(d[12:]))
			return ps
		}
		name, ok := r.str(uint64(le.Uint32(aux)))
		switch {
		case !ok:
			bad(r.fileOff(def, uint64(le.Uint32(d[12:]))), "", "version definition %d: its name is outside the string table", n)
		case le.Uint32(d[8:]) != ELFHash(name):
			bad(at+8, "", "version definition %d (%s): vd_hash %#x, the ELF hash of its name is %#x", n, name, le.Uint32(d[8:]), ELFHash(name))
		}
		if _, dup := names[ndx]; dup {
			bad(at+4, "", "version definition %d (%s): index %d is defined twice", n, name, ndx)
		}
		names[ndx] = name
		switch {
		case flags&1 != 0:
			base = true
			if ndx != 1 {
				bad(at+4, "", "the base version definition (%s) has index %d, want 1", name, ndx)
			}
		case name == DefaultVersion:
			want = ndx
		}
		next := le.Uint32(d[16:])
		if next == 0 {
			break
		}
		def += uint64(next)
	}
	if !base {
		bad(r.fileOff(r.verdef, 0), "", "no base version definition (VER_FLG_BASE)")
	}
	if count != r.verdefNum {
		bad(r.fileOff(r.verdef, 0), "", "%d version definitions, DT_VERDEFNUM says %d", count, r.verdefNum)
	}
	if want < 2 {
		bad(r.fileOff(r.verdef, 0), "", "no version definition named %s (with index 2 or more): glibc's dl_vdso_vsym looks every symbol up as name@%s", DefaultVersion, DefaultVersion)
		return ps
	}
	for _, s := range syms {
		if !s.exported() {
			continue
		}
		p := r.at(r.versym, 2*s.index, 2)
		at := r.fileOff(r.versym, 2*s.index)
		if p == nil {
			bad(at, s.name, "the DT_VERSYM entry of symbol %d (%s) is outside the image", s.index, s.name)
			continue
		}
		if v := le.Uint16(p); v != want {
			bad(at, s.name, "symbol %d (%s) has version entry %#x (%s), want %d (%s, not hidden)", s.index, s.name, v, names[v&0x7fff], want, DefaultVersion)
		}
	}
	return ps
}
