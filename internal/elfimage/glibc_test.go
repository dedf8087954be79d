package elfimage

import (
	"debug/elf"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// dlvsymC asks glibc itself: it dlopens an image and prints, for every
// name, where dlvsym(name, "LINUX_2.6") finds it relative to the load
// address, or "-". glibc's lookup goes through DT_GNU_HASH (bloom filter
// first) and checks the version as dl_vdso_vsym does.
const dlvsymC = `#define _GNU_SOURCE
#include <dlfcn.h>
#include <link.h>
#include <stdio.h>
int main(int argc, char **argv) {
	void *h = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
	if (!h) { printf("dlopen: %s\n", dlerror()); return 2; }
	struct link_map *lm;
	if (dlinfo(h, RTLD_DI_LINKMAP, &lm) != 0) { printf("dlinfo: %s\n", dlerror()); return 2; }
	for (int i = 2; i < argc; i++) {
		void *p = dlvsym(h, argv[i], "LINUX_2.6");
		if (p) printf("%lx\n", (unsigned long)p - lm->l_addr);
		else printf("-\n");
	}
	return 0;
}
`

// glibcLookup builds the dlvsym helper once per test.
func glibcLookup(t *testing.T) func(file []byte, names []string) map[string]int64 {
	t.Helper()
	cc, err := exec.LookPath("cc")
	if err != nil {
		t.Skip("no C compiler: the cross-check against glibc needs cc")
	}
	dir := t.TempDir()
	src, bin := filepath.Join(dir, "dlvsym.c"), filepath.Join(dir, "dlvsym")
	if err := os.WriteFile(src, []byte(dlvsymC), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(cc, "-o", bin, src).CombinedOutput(); err != nil {
		t.Skipf("cc cannot build the helper: %v\n%s", err, out)
	}
	n := 0
	return func(file []byte, names []string) map[string]int64 {
		t.Helper()
		n++
		path := filepath.Join(dir, "img"+strconv.Itoa(n)+".so")
		if err := os.WriteFile(path, file, 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(bin, append([]string{path}, names...)...).Output()
		if err != nil {
			t.Fatalf("dlvsym helper: %v\n%s", err, out)
		}
		lines := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
		if len(lines) != len(names) {
			t.Fatalf("dlvsym helper printed %d lines for %d names:\n%s", len(lines), len(names), out)
		}
		found := map[string]int64{}
		for i, l := range lines {
			if l == "-" {
				continue
			}
			v, err := strconv.ParseInt(l, 16, 64)
			if err != nil {
				t.Fatalf("dlvsym helper: %q", l)
			}
			found[names[i]] = v
		}
		return found
	}
}

// A namedMutation is a mutation with a name for the test logs; "none"
// leaves the image as it is.
type namedMutation struct {
	name string
	mut  mutation
}

// hashMutations corrupt the lookup structures of an image, each as
// glibc would suffer it.
var hashMutations = []namedMutation{
	{"none", func(t *testing.T, f *elf.File, b []byte) {}},
	{"bloom zeroed", func(t *testing.T, f *elf.File, b []byte) {
		g := f.Section(".gnu.hash").Offset
		clear(b[g+16 : g+24])
	}},
	{"bloom bit cleared", func(t *testing.T, f *elf.File, b []byte) {
		g := f.Section(".gnu.hash").Offset
		w := le.Uint64(b[g+16:])
		le.PutUint64(b[g+16:], w&(w-1)) // the lowest set bit
	}},
	{"GNU bucket emptied", func(t *testing.T, f *elf.File, b []byte) {
		g := f.Section(".gnu.hash").Offset
		le.PutUint32(b[g+16+8*uint64(le.Uint32(b[g+8:])):], 0)
	}},
	{"GNU chain word flipped", func(t *testing.T, f *elf.File, b []byte) {
		g := f.Section(".gnu.hash").Offset
		nb := uint64(le.Uint32(b[g:]))
		b[g+16+8*uint64(le.Uint32(b[g+8:]))+4*nb] ^= 2
	}},
	{"versym set to the base", func(t *testing.T, f *elf.File, b []byte) {
		le.PutUint16(b[f.Section(".gnu.version").Offset+2:], 1)
	}},
	{"verdef hash changed", func(t *testing.T, f *elf.File, b []byte) {
		b[f.Section(".gnu.version_d").Offset+verdefSize+verdaxSize+8] ^= 1
	}},
}

// hideGNUHash retags DT_GNU_HASH as DT_CHECKSUM (a tag glibc records and
// ignores), so that glibc looks symbols up through DT_HASH.
func hideGNUHash(t *testing.T, f *elf.File, b []byte) {
	d := f.Section(".dynamic").Offset
	for i := d; ; i += dynSize {
		switch elf.DynTag(le.Uint64(b[i:])) {
		case elf.DT_GNU_HASH:
			le.PutUint64(b[i:], uint64(elf.DT_CHECKSUM))
			return
		case elf.DT_NULL:
			t.Fatal("no DT_GNU_HASH")
		}
	}
}

// sysvMutations corrupt DT_HASH; glibc reads it once DT_GNU_HASH is gone.
var sysvMutations = []namedMutation{
	{"none", func(t *testing.T, f *elf.File, b []byte) {}},
	{"bucket emptied", func(t *testing.T, f *elf.File, b []byte) {
		h := f.Section(".hash").Offset
		for k := uint64(0); k < uint64(le.Uint32(b[h:])); k++ {
			if le.Uint32(b[h+8+4*k:]) != 0 {
				le.PutUint32(b[h+8+4*k:], 0)
				return
			}
		}
	}},
	{"chain cut", func(t *testing.T, f *elf.File, b []byte) {
		h := f.Section(".hash").Offset
		chains := h + 8 + 4*uint64(le.Uint32(b[h:]))
		for i := uint64(1); i < uint64(le.Uint32(b[h+4:])); i++ {
			if le.Uint32(b[chains+4*i:]) != 0 {
				le.PutUint32(b[chains+4*i:], 0)
				return
			}
		}
	}},
	{"bucket to another class", func(t *testing.T, f *elf.File, b []byte) {
		h := f.Section(".hash").Offset
		nb := uint64(le.Uint32(b[h:]))
		var first []uint32
		for k := uint64(0); k < nb; k++ {
			if v := le.Uint32(b[h+8+4*k:]); v != 0 {
				first = append(first, v)
			}
		}
		if len(first) < 2 {
			t.Skip("fewer than two occupied buckets")
		}
		for k := uint64(0); k < nb; k++ {
			if le.Uint32(b[h+8+4*k:]) == first[0] {
				le.PutUint32(b[h+8+4*k:], first[1])
				return
			}
		}
	}},
}

// lookupsAgree looks each of names up in image b through lookup (called
// how in the logs) and through glibc's dlvsym, and requires both to find
// the same symbol at the same value, or both nothing. It reports whether
// glibc missed a name that exported says the image exports.
func lookupsAgree(t *testing.T, label string, dlvsym func(file []byte, names []string) map[string]int64, b []byte, names []string, exported map[string]bool, how string, lookup func(name, version string) (Symbol, error)) (missed bool) {
	t.Helper()
	glibc := dlvsym(b, names)
	for _, n := range names {
		want, wok := glibc[n]
		got, err := lookup(n, DefaultVersion)
		switch gok := err == nil; {
		case err != nil && !errors.Is(err, ErrNotFound):
			t.Errorf("%s: %s(%q): %v; glibc: %v", label, how, n, err, wok)
		case gok != wok || (gok && int64(got.Value) != want):
			t.Errorf("%s: %q: %s finds it %v at %#x, glibc %v at %#x", label, n, how, gok, got.Value, wok, want)
		}
		missed = missed || (exported[n] && !wok)
	}
	return missed
}

// TestGlibcAgrees cross-checks LookupGNU against glibc's dlvsym on the
// reference images and the test images, clean and with each hash
// mutation: for every symbol name and every probe (absent names sharing a
// hash, a bucket or bloom bits with present ones) both find the same
// symbol at the same value, or both find nothing. Wherever glibc misses
// an exported symbol, HashProblems or VersionProblems reports it.
func TestGlibcAgrees(t *testing.T) {
	dlvsym := glibcLookup(t)
	images := map[string][]byte{"test": mustWrite(t, testImage()), "markers": mustWrite(t, markerImage())}
	for _, v := range []string{"host", "timens"} {
		b, err := os.ReadFile("../../vdso/zclock_" + v + ".so")
		if err != nil {
			t.Fatal(err)
		}
		images[v] = b
	}
	for name, good := range images {
		for _, m := range hashMutations {
			b := mutated(t, good, m.mut)
			r, err := NewResolver(b)
			if err != nil {
				t.Fatal(err)
			}
			n, _ := symbolCount(b)
			syms, err := r.dynSyms(n)
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			exported := map[string]bool{}
			for _, s := range syms[1:] {
				names = append(names, s.name)
				exported[s.name] = s.exported()
			}
			probes := r.probes(syms)
			if len(probes) < len(names) {
				t.Fatalf("%s, %s: only %d probes", name, m.name, len(probes))
			}
			names = append(names, probes...)
			missed := lookupsAgree(t, name+", "+m.name, dlvsym, b, names, exported, "LookupGNU", r.LookupGNU)
			if m.name == "none" && missed {
				t.Errorf("%s: glibc misses a symbol of the clean image", name)
			}
			if missed && len(HashProblems(b))+len(VersionProblems(b)) == 0 {
				t.Errorf("%s, %s: glibc misses a symbol, but no whole-image check reports it", name, m.name)
			}
			if !missed && m.name != "none" {
				t.Logf("%s, %s: glibc still finds every symbol", name, m.name)
			}
		}
	}
}

// TestGlibcAgreesSysV is TestGlibcAgrees for DT_HASH: with DT_GNU_HASH
// hidden, glibc's dlvsym and LookupSysV find the same symbols, on the
// clean table and on corrupted ones; where glibc misses an exported
// symbol, HashProblems reports it.
func TestGlibcAgreesSysV(t *testing.T) {
	dlvsym := glibcLookup(t)
	good, err := os.ReadFile("../../vdso/zclock_timens.so")
	if err != nil {
		t.Fatal(err)
	}
	for _, img := range [][]byte{good, mustWrite(t, testImage())} {
		for _, m := range sysvMutations {
			b := mutated(t, img, hideGNUHash, m.mut)
			r, err := NewResolver(b)
			if err != nil {
				t.Fatal(err)
			}
			n, _ := symbolCount(b)
			syms, _ := r.dynSyms(n)
			var names []string
			exported := map[string]bool{}
			for _, s := range syms[1:] {
				names = append(names, s.name)
				exported[s.name] = true
			}
			names = append(names, r.probes(syms)...)
			missed := lookupsAgree(t, m.name, dlvsym, b, names, exported, "LookupSysV", r.LookupSysV)
			if (m.name == "none") == missed {
				t.Errorf("%s: glibc misses a symbol: %v", m.name, missed)
			}
			// DT_GNU_HASH is gone, which HashProblems reports anyway: a
			// problem of DT_HASH itself must be among them.
			if missed && !slices.ContainsFunc(HashProblems(b), func(p Problem) bool { return strings.HasPrefix(p.Msg, "DT_HASH:") }) {
				t.Errorf("%s: glibc misses a symbol, but HashProblems reports nothing of DT_HASH: %v", m.name, HashProblems(b))
			}
		}
	}
}
