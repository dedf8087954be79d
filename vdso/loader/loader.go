// Package loader maps vdsogen's ELF vDSO images (gen.Main -elf) into the
// process, resolves their entries the way a libc resolves the kernel's vDSO,
// calls them from Go, applies the load-time choices of the marker sites
// that carry choices, and switches a loaded image live between variants.
//
// The loader never names a marker kind: what it does at a site follows
// from the kind's marker.Traits (Choices, LoadTime, Atomic), and whether a
// switch may touch a site is marker.Swap, the rule the verifier's
// "live switch" verdict uses too.
//
// # Mapping
//
// Everything lives in one memfd, laid out as
//
//	[data pages: n*4096][code slot 0: L][code slot 1: L]
//
// with n the number of pages the image's note places below it and L its
// file size rounded up to pages. Load reserves n*4096+L bytes of address
// space and maps into it, with MAP_FIXED:
//
//	base - n*4096  the data pages, read-only (the routines' view)
//	base           the active code slot, read and execute (the ELF file
//	               from offset 0, as the kernel maps its vDSO)
//
// plus one read-write alias of the whole memfd elsewhere: Page returns the
// writable alias of a data page (what a timekeeper writes), and Switch
// writes the next code through it. Nothing is ever mapped writable and
// executable at once. The page placement is the one recorded in the image
// (its page note), so the routines' RIP-relative references land on the
// pages: the kernel's layout, vvar pages right below the vDSO text.
//
// # Symbols
//
// Entry resolves "__vdso_<entry>" with version LINUX_2.6 on the mapped
// bytes, through DT_GNU_HASH (as the kernel's parse_vdso.c does), and
// returns base + st_value. CallIP and CallPP call an entry with the C ABI:
// a 16-byte aligned stack inside their own frame, which gives the entry
// CallFrame bytes (vdsogen's verifier bounds each routine's depth).
//
// # Load-time choices
//
// Before the code is first mapped executable, Load writes into it, through
// the read-write alias, the choice of every site whose kind has Choices
// (layout.Choice.Bytes: the whole site with that choice applied), by key:
//
//   - a LoadTime kind's site (an alternative) gets the last choice whose
//     feature the CPU has (layout.Site.Choices). The CPU is read with
//     CPUID (DetectCPU): the vendor string, the family of leaf 1, and
//     RDTSCP (0x80000001 EDX bit 27); LFENCE orders RDTSC on every Intel
//     CPU and on AMD from family 0x17. No runnable choice is an error.
//   - any other choice site (a static call) keeps the image's choice.
//   - Options.Choices overrides either, per key (key -> choice name; a
//     static call's choices are its target entries); an unknown key or
//     name is an error listing the valid ones, and so is an overriding
//     choice whose feature the CPU lacks (Options.CPU may assert a feature
//     CPUID hides).
//
// A site that carries data references (layout.Site.Relocs) can only keep
// the image's choice (the loader does not relink): Load fails if the
// policy or an override picks another. Image.Choices reports the applied
// choice of every key.
//
// A key the loader chose itself (a LoadTime kind's, or an overridden one)
// is pinned: a switch keeps its applied choice, which is the CPU's or the
// caller's, not the variant's. The two variants' images may even hold
// different choices there (a variants file picking different ones)
// without making the switch unsafe or undoing the choice, provided both
// declare the same choices, names, features and bytes: then the pinned
// bytes are a valid choice of either variant. Any other choice key
// follows the variant: a switch rewrites its sites to the target
// variant's choice, which, like every live rewrite, needs a kind that is
// Atomic (for a static call: one 5-byte CALL rel32 replaced by another at
// the same place, to an entry present in every variant).
//
// # Live switching: protocol
//
// Switch(to) moves the loaded image from its variant to another while
// other goroutines keep calling it:
//
//  1. Under the image's mutex (one switch at a time), compare the two
//     variants' code: every differing byte must lie inside a marker site of
//     the layout table, and marker.Swap decides each site from its kind's
//     traits. A pinned choice site is kept; a differing site is rewritten
//     only if its kind is Atomic and it is one whole instruction on both
//     sides inside one 8-byte window (a static branch: NOP5 or JMP rel32,
//     at the same place, to a body that is present and identical in every
//     variant). A differing site of any other kind (a three-label region:
//     an instruction sequence replaced by another of different instruction
//     boundaries) in an entry that runs, sites the two variants describe
//     differently, a standalone variant or a difference outside any site
//     is refused with an error naming the site (kind, key, entry, offset,
//     source), and nothing changes.
//  2. Build the new code as a copy of the active slot (load-time choices
//     included) with the target variant's bytes written into every site
//     the rule rewrites (the sites of an entry that is not exported too,
//     when they are safe): all sites of one switch form one batch.
//  3. Write the batch into the spare slot through the read-write alias (the
//     spare slot is mapped nowhere executable), then mmap it with MAP_FIXED
//     over the active code range: the kernel replaces the mapping under the
//     mmap lock and shoots down every CPU's TLB entries for it (an IPI,
//     whose return is serializing; a CPU not running the process serializes
//     on its next switch to it). A thread that faults on the range meanwhile
//     waits for the lock and then runs the new page. Then, if the kernel
//     supports it, membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED_SYNC_CORE)
//     serializes every CPU running a thread of the process once more.
//  4. The old slot becomes the spare.
//
// A thread inside a routine during the switch finishes it consistently with
// one variant: before a rewritten site it executes the new instruction,
// after it the old one has already taken effect, and everything the
// instruction may reach (a static branch's body, a static call's target)
// is the same in both. Calls therefore return what one of the two variants
// returns, never a mixture that neither could.
//
// A site of a kind that is not Atomic (a three-label region) is never
// rewritten live, so an image whose variants differ in one cannot be
// switched as a whole. Load's Options.Entries restricts an image to the
// entries a caller needs: the reference vDSO's host and timens differ in
// a static branch in clock_gettime and in a three-label region in
// clock_gettime_tl, so an image loaded without clock_gettime_tl switches
// between them (the region stays as loaded, and Entry refuses to resolve
// the entry), while one loaded with every entry refuses the switch. An
// entry a loaded entry reaches runs as well: it is never left out of a
// switch.
//
// Loaded with every entry and without Options.Choices, Switch accepts
// exactly the pairs vdsogen's verifier reports live-switchable: both
// decide every site by marker.Swap. Options.Entries and overrides only
// take sites out of a switch: an overridden key is pinned, and a site
// without choices in an entry that is neither loaded nor reached from a
// loaded one (by a direct branch or call, or a choice of a site whose
// kind Calls) stays as loaded. A choice site that follows the variant is
// refused there too: Choices reports one choice per key.
package loader

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/vdsogen/vdsogen/internal/elfimage"
	"github.com/vdsogen/vdsogen/layout"
	"github.com/vdsogen/vdsogen/marker"
)

const pageSize = elfimage.PageSize

// Options tune Load.
type Options struct {
	// Entries are the entries the loaded image exports (Entry resolves only
	// these, and Switch considers only their sites and those of the
	// entries they reach). Empty means every entry of the layout table.
	Entries []string
	// Version is the symbol version Entry resolves; empty means LINUX_2.6.
	Version string
	// Choices overrides, per key of the sites whose kind has choices, the
	// choice Load applies to every site of that key: key -> choice name (a
	// static call's choices are its target entries). An overridden key is
	// pinned: Switch keeps it. A key or name the layout table does not
	// declare is an error that lists the valid ones.
	Choices map[string]string
	// CPU is the processor whose features pick the LoadTime kinds' choices;
	// nil means the running one (DetectCPU). An overriding choice whose
	// feature CPU lacks is refused: set CPU to claim a feature that CPUID
	// does not report (a hypervisor may hide one it does not trap).
	CPU *CPU
}

// Image is a loaded vDSO image.
type Image struct {
	mu      sync.Mutex
	tab     *layout.Table
	files   map[string][]byte
	texts   map[string]text
	opts    Options
	exports map[string]bool
	variant string
	// choices is the choice applied to the sites of each choice key;
	// pinned keys (LoadTime kinds', overridden ones) keep theirs across
	// Switch, the others follow the variant.
	choices map[string]string
	pinned  map[string]bool

	fd       int
	rw       []byte         // read-write alias of the whole memfd
	region   unsafe.Pointer // reserved range: data pages, then the code
	regionSz uintptr
	dataSz   int // n*4096
	codeSz   int // L
	slot     int // active code slot, 0 or 1
	pages    map[string]elfimage.Page
	entries  map[string]uintptr
	syncCore bool
	closed   bool
}

// text is a variant's .text: its file offset (== vaddr) and bytes.
type text struct {
	off  int
	code []byte
}

// LoadFile loads the image file at path, e.g. vdso/zclock_host.so, from
// the file alone: its variant, entries, data pages and marker sites are
// what the file records (elfimage.DescribeImages). It cannot switch: it
// knows one variant.
func LoadFile(path string, opts Options) (*Image, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("loader: %w", err)
	}
	_, v, _, err := elfimage.DescribeVariant(b)
	if err != nil {
		return nil, fmt.Errorf("loader: %s: %w", path, err)
	}
	return Load(map[string][]byte{v.Name: b}, nil, v.Name, opts)
}

// Load maps files[initial] (files maps variant names to their ELF images,
// e.g. the z<name>_<variant>.so files) and resolves its entries. Every
// image must pass elfimage.Check and define the same symbols
// (elfimage.CheckSame). tab is the program's layout table; nil takes it
// from the images themselves (elfimage.DescribeImages: the variants,
// entries and marker sites their .vdsogen_markers sections describe).
func Load(files map[string][]byte, tab *layout.Table, initial string, opts Options) (*Image, error) {
	if tab == nil {
		t, err := elfimage.DescribeImages(files)
		if err != nil {
			return nil, fmt.Errorf("loader: %w", err)
		}
		tab = t
	}
	if opts.Version == "" {
		opts.Version = elfimage.DefaultVersion
	}
	v, ok := tab.Variant(initial)
	if !ok {
		return nil, fmt.Errorf("loader: no variant %q in the layout table of %s", initial, tab.Program)
	}
	if v.Standalone {
		return nil, fmt.Errorf("loader: variant %s is standalone: it has no ELF image", initial)
	}
	if _, ok := files[initial]; !ok {
		return nil, fmt.Errorf("loader: no image for variant %s", initial)
	}
	if err := elfimage.CheckSame(files); err != nil {
		return nil, fmt.Errorf("loader: %w", err)
	}
	im := &Image{tab: tab, files: files, texts: map[string]text{}, opts: opts, exports: map[string]bool{}, variant: initial, fd: -1, entries: map[string]uintptr{}, pages: map[string]elfimage.Page{}}
	for name, f := range files {
		lv, ok := tab.Variant(name)
		if !ok || lv.Standalone {
			return nil, fmt.Errorf("loader: image %s is not a shared variant of the layout table", name)
		}
		t, err := textOf(f)
		if err != nil {
			return nil, fmt.Errorf("loader: image %s: %w", name, err)
		}
		if err := sameDescriptors(f, lv); err != nil {
			return nil, fmt.Errorf("loader: image %s: %w", name, err)
		}
		if len(t.code) != lv.Size {
			return nil, fmt.Errorf("loader: image %s has %d bytes of code, the layout table says %d", name, len(t.code), lv.Size)
		}
		im.texts[name] = t
	}
	for _, e := range v.Entries {
		im.exports[e.Name] = len(opts.Entries) == 0
	}
	for _, e := range opts.Entries {
		if _, ok := im.exports[e]; !ok {
			return nil, fmt.Errorf("loader: no entry %q in %s", e, tab.Program)
		}
		im.exports[e] = true
	}
	cpu := opts.CPU
	if cpu == nil {
		c := DetectCPU()
		cpu = &c
	}
	if err := im.pickChoices(v, *cpu); err != nil {
		return nil, err
	}
	if err := im.mapImage(files[initial]); err != nil {
		im.Close()
		return nil, err
	}
	return im, nil
}

func textOf(file []byte) (text, error) {
	off, size, err := elfimage.Section(file, ".text")
	if err != nil {
		return text{}, err
	}
	return text{off: off, code: file[off : off+size]}, nil
}

func (im *Image) mapImage(file []byte) error {
	pages, _, _, err := elfimage.Pages(file)
	if err != nil {
		return fmt.Errorf("loader: %w", err)
	}
	n := 0
	for _, p := range pages {
		n = max(n, p.Index)
		im.pages[p.Symbol] = p
	}
	im.dataSz = n * pageSize
	im.codeSz = (len(file) + pageSize - 1) / pageSize * pageSize
	total := im.dataSz + 2*im.codeSz

	fd, err := unix.MemfdCreate("vdso-"+im.tab.Program, unix.MFD_CLOEXEC)
	if err != nil {
		return fmt.Errorf("loader: memfd_create: %w", err)
	}
	im.fd = fd
	if err := unix.Ftruncate(fd, int64(total)); err != nil {
		return fmt.Errorf("loader: ftruncate: %w", err)
	}
	if im.rw, err = unix.Mmap(fd, 0, total, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED); err != nil {
		return fmt.Errorf("loader: mapping the read-write alias: %w", err)
	}
	copy(im.rw[im.slotOff(0):], file)
	// The choices go into the slot before it is mapped executable: no
	// thread can run the image's own bytes first.
	t := im.texts[im.variant]
	if err := im.applyChoices(im.rw[im.slotOff(0)+t.off:][:len(t.code)], im.variant); err != nil {
		return err
	}

	im.regionSz = uintptr(im.dataSz + im.codeSz)
	if im.region, err = unix.MmapPtr(-1, 0, nil, im.regionSz, unix.PROT_NONE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS); err != nil {
		return fmt.Errorf("loader: reserving address space: %w", err)
	}
	if im.dataSz > 0 {
		if _, err := unix.MmapPtr(fd, 0, im.region, uintptr(im.dataSz), unix.PROT_READ, unix.MAP_SHARED|unix.MAP_FIXED); err != nil {
			return fmt.Errorf("loader: mapping the data pages: %w", err)
		}
	}
	if err := im.mapSlot(0); err != nil {
		return err
	}
	// Register for SYNC_CORE membarriers; kernels without them rely on the
	// remap's TLB shootdown alone.
	im.syncCore = membarrier(memberRegisterSyncCore) == nil

	r, err := elfimage.NewResolver(unsafe.Slice((*byte)(im.base()), im.codeSz))
	if err != nil {
		return fmt.Errorf("loader: %w", err)
	}
	for e, ok := range im.exports {
		if !ok {
			continue
		}
		s, err := r.Lookup("__vdso_"+e, im.opts.Version)
		if err != nil {
			return fmt.Errorf("loader: resolving __vdso_%s@%s: %w", e, im.opts.Version, err)
		}
		im.entries[e] = uintptr(im.base()) + uintptr(s.Value)
	}
	return nil
}

func (im *Image) base() unsafe.Pointer { return unsafe.Add(im.region, im.dataSz) }

func (im *Image) slotOff(slot int) int { return im.dataSz + slot*im.codeSz }

// mapSlot maps code slot s read-execute at the image's base.
func (im *Image) mapSlot(s int) error {
	if _, err := unix.MmapPtr(im.fd, int64(im.slotOff(s)), im.base(), uintptr(im.codeSz), unix.PROT_READ|unix.PROT_EXEC, unix.MAP_SHARED|unix.MAP_FIXED); err != nil {
		return fmt.Errorf("loader: mapping code slot %d: %w", s, err)
	}
	im.slot = s
	return nil
}

// Close unmaps the image. No call may be running or start afterwards.
func (im *Image) Close() error {
	im.mu.Lock()
	defer im.mu.Unlock()
	if im.closed {
		return nil
	}
	im.closed = true
	var errs []error
	if im.region != nil {
		errs = append(errs, unix.MunmapPtr(im.region, im.regionSz))
	}
	if im.rw != nil {
		errs = append(errs, unix.Munmap(im.rw))
	}
	if im.fd >= 0 {
		errs = append(errs, unix.Close(im.fd))
	}
	return errors.Join(errs...)
}

// Base returns the load address of the image (its ELF header).
func (im *Image) Base() uintptr { return uintptr(im.base()) }

// Memfd describes the memfd an image lives in, for a process that maps the
// image somewhere else (vdso/launch maps it into a traced program): the
// data pages are [0, DataSize) of the file, mapped at base-DataSize, and
// the active code slot is [CodeOffset, CodeOffset+CodeSize), mapped
// read-execute at base. FD belongs to the Image (close-on-exec, closed by
// Close). A Switch moves the code to the other slot.
type Memfd struct {
	FD         int
	DataSize   int
	CodeOffset int64
	CodeSize   int
}

// Memfd returns where the image's pages lie in its memfd.
func (im *Image) Memfd() Memfd {
	im.mu.Lock()
	defer im.mu.Unlock()
	return Memfd{FD: im.fd, DataSize: im.dataSz, CodeOffset: int64(im.slotOff(im.slot)), CodeSize: im.codeSz}
}

// Mapped returns the image as mapped at Base (read-only: writing to it
// faults). It is the ELF file, so a libc-style symbol lookup works on it.
func (im *Image) Mapped() []byte { return unsafe.Slice((*byte)(im.base()), im.codeSz) }

// Variant returns the variant the image currently runs.
func (im *Image) Variant() string {
	im.mu.Lock()
	defer im.mu.Unlock()
	return im.variant
}

// Entry returns the address of an exported entry, resolved as
// __vdso_<name>@<version> through the mapped image's hash table.
func (im *Image) Entry(name string) (uintptr, error) {
	a, ok := im.entries[name]
	if !ok {
		if _, known := im.exports[name]; known {
			return 0, fmt.Errorf("loader: entry %s was not loaded (Options.Entries)", name)
		}
		return 0, fmt.Errorf("loader: no entry %s", name)
	}
	return a, nil
}

// Page returns the writable alias of data page sym: writes through it are
// what the routines read at their negative offset.
func (im *Image) Page(sym string) (unsafe.Pointer, error) {
	p, ok := im.pages[sym]
	if !ok {
		return nil, fmt.Errorf("loader: no data page %s", sym)
	}
	off := im.dataSz - p.Index*pageSize
	return unsafe.Pointer(&im.rw[off]), nil
}

// SwapSafe reports whether Switch could move the image from variant from
// to variant to, and if not, why.
func (im *Image) SwapSafe(from, to string) error {
	_, err := im.plan(from, to)
	return err
}

type patch struct {
	off  int // in .text
	code []byte
}

// plan lists the site patches that move the exported entries from one
// variant to another.
func (im *Image) plan(from, to string) ([]patch, error) {
	fv, ok1 := im.tab.Variant(from)
	tv, ok2 := im.tab.Variant(to)
	if !ok1 || !ok2 {
		return nil, fmt.Errorf("loader: unknown variant %q or %q", from, to)
	}
	if fv.Standalone || tv.Standalone {
		return nil, fmt.Errorf("loader: %s -> %s: a standalone variant has its own layout and is never switchable", from, to)
	}
	ft, ok1 := im.texts[from]
	tt, ok2 := im.texts[to]
	if !ok1 || !ok2 {
		return nil, fmt.Errorf("loader: no image for %s or %s", from, to)
	}
	if ft.off != tt.off || len(ft.code) != len(tt.code) {
		return nil, fmt.Errorf("loader: %s -> %s: the images' code differs in place or size", from, to)
	}
	covered := make([]bool, len(ft.code))
	var run map[string]string // the running entries, found when a site needs them
	var out []patch
	// The sites pair up in table order, as the verifier pairs them; the
	// swap rule refuses a pair that describes different sites.
	if len(fv.Sites) != len(tv.Sites) {
		return nil, fmt.Errorf("loader: %s -> %s: the variants have %d and %d marker sites: their layouts differ", from, to, len(fv.Sites), len(tv.Sites))
	}
	for k, s := range tv.Sites {
		fs := &fv.Sites[k]
		end := s.Offset + len(s.Bytes)
		if s.Offset < 0 || end > len(tt.code) {
			return nil, fmt.Errorf("loader: %s -> %s: entry %s has a %s site (key %s) at offset %#x (%s) that lies outside the %d-byte code",
				from, to, s.Entry, s.Kind, s.Key, s.Offset, s.Source, len(tt.code))
		}
		for i := s.Offset; i < end; i++ {
			covered[i] = true
		}
		held, want := ft.code[s.Offset:end], tt.code[s.Offset:end]
		addr := uint64(tt.off + s.Offset) // the mapping is page-aligned: the address modulo any window
		d := marker.Swap(
			marker.SwapSide{Site: *fs, Held: held, Addr: addr},
			marker.SwapSide{Site: s, Held: want, Addr: addr},
			!bytes.Equal(held, want), im.pinned[s.Key])
		switch d.Step {
		case marker.SwapMismatch:
			return nil, fmt.Errorf("loader: %s -> %s: entry %s has a %s site (key %s) at offset %#x (%s): %s", from, to, s.Entry, s.Kind, s.Key, s.Offset, s.Source, d.Why)
		case marker.SwapUnsafe:
			if choiceSite(&s) {
				// Its key's choice follows the variant (Image.Choices), so
				// it is refused even where its entry is not loaded.
				return nil, fmt.Errorf("loader: %s -> %s is not swap-safe: entry %s has a %s site (key %s) at offset %#x (%s) whose choice follows the variant (%s in %s, %s in %s): %s; set Options.Choices[%q] to keep one choice across switches",
					from, to, s.Entry, s.Kind, s.Key, s.Offset, s.Source, fs.Choice, from, s.Choice, to, d.Why, s.Key)
			}
			if run == nil {
				run = im.running(fv, tv, ft.code, tt.code)
			}
			via, runs := run[s.Entry]
			if !runs {
				continue // neither exported nor reached from an exported entry: left as loaded, never run
			}
			root, reached := s.Entry, ""
			for ; via != ""; via = run[via] {
				root = via
			}
			if root != s.Entry {
				reached = fmt.Sprintf(" (loaded entry %s reaches it)", root)
			}
			return nil, fmt.Errorf("loader: %s -> %s is not swap-safe: entry %s%s has a %s site (key %s) at offset %#x (%s) that differs between the variants: %s; a thread inside it could run a mixture; load the image without entry %s (Options.Entries) to switch the others",
				from, to, s.Entry, reached, s.Kind, s.Key, s.Offset, s.Source, d.Why, root)
		case marker.SwapPatch:
			out = append(out, patch{off: s.Offset, code: want})
		}
	}
	for i := range ft.code {
		if ft.code[i] != tt.code[i] && !covered[i] {
			return nil, fmt.Errorf("loader: %s -> %s: the code differs at offset %#x, outside every marker site", from, to, i)
		}
	}
	return out, nil
}

// Switch moves the image to variant to, following the protocol in the
// package documentation; goroutines may keep calling its entries. It
// refuses pairs that are not swap-safe for the exported entries.
func (im *Image) Switch(to string) error {
	im.mu.Lock()
	defer im.mu.Unlock()
	if im.closed {
		return errors.New("loader: image closed")
	}
	if to == im.variant {
		return nil
	}
	patches, err := im.plan(im.variant, to)
	if err != nil {
		return err
	}
	t := im.texts[to]
	cur := im.rw[im.slotOff(im.slot):][:im.codeSz]
	spare := 1 - im.slot
	next := im.rw[im.slotOff(spare):][:im.codeSz]
	copy(next, cur)
	for _, p := range patches {
		copy(next[t.off+p.off:], p.code)
	}
	if err := im.mapSlot(spare); err != nil {
		return err
	}
	im.followChoices(to)
	if im.syncCore {
		if err := membarrier(memberSyncCore); err != nil {
			return fmt.Errorf("loader: membarrier: %w", err)
		}
	}
	im.variant = to
	return nil
}

// Variants lists the variants the image can be switched to from its
// current one (SwapSafe), sorted.
func (im *Image) Variants() []string {
	im.mu.Lock()
	cur := im.variant
	im.mu.Unlock()
	var out []string
	for v := range im.texts {
		if v == cur || im.SwapSafe(cur, v) == nil {
			out = append(out, v)
		}
	}
	slices.Sort(out)
	return out
}

const (
	memberSyncCore         = 1 << 5 // MEMBARRIER_CMD_PRIVATE_EXPEDITED_SYNC_CORE
	memberRegisterSyncCore = 1 << 6 // MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_SYNC_CORE
)

func membarrier(cmd int) error {
	if _, _, e := unix.Syscall(unix.SYS_MEMBARRIER, uintptr(cmd), 0, 0); e != 0 {
		return e
	}
	return nil
}

// CallFrame is the stack a function called by CallIP or CallPP may use, in
// bytes. The call runs inside the caller's frame, aligned as the C ABI
// requires (SP+8 a multiple of 16 at the callee's first instruction), so
// the goroutine stack always has this room; vdsogen's verifier bounds each
// entry's depth (vdsogen verify prints it), far below this.
const CallFrame = callFrame - 24

// callFrame is the frame of CallIP and CallPP (CFRAME in call_amd64.s).
const callFrame = 512

// CallIP calls the C function at fn with an integer and a pointer argument
// (DI, SI) and returns AX. The function may use CallFrame bytes of stack.
//
//go:noescape
func CallIP(fn uintptr, a uintptr, p unsafe.Pointer) uintptr

// CallPP calls the C function at fn with two pointer arguments (DI, SI) and
// returns AX. The function may use CallFrame bytes of stack.
//
//go:noescape
func CallPP(fn uintptr, p, q unsafe.Pointer) uintptr

// callSP returns the SP that a function called as CallIP calls it sees at
// its first instruction, and the SP of the frame that called it.
func callSP() (callee, frame uintptr)

// sameDescriptors checks that an image's own marker descriptors (its
// .vdsogen_markers section, if it has one) describe the sites the layout
// table gives for its variant: a table from another build would make the
// loader patch the wrong bytes.
func sameDescriptors(file []byte, v *layout.Variant) error {
	m, err := elfimage.ReadMarkers(file)
	if errors.Is(err, elfimage.ErrNoMarkers) {
		return nil
	}
	if err != nil {
		return err
	}
	if len(m.Sites) != len(v.Sites) {
		return fmt.Errorf("its %s section describes %d sites, the layout table %d", elfimage.MarkersSection, len(m.Sites), len(v.Sites))
	}
	for i, s := range m.Sites {
		if !sameSite(s, v.Sites[i]) {
			t := v.Sites[i]
			return fmt.Errorf("site %d is %s %s at %#x in its %s section, %s %s at %#x in the layout table, or their bytes or choices differ",
				i, s.Kind, s.Key, s.Offset, elfimage.MarkersSection, t.Kind, t.Key, t.Offset)
		}
	}
	return nil
}

// sameSite compares what the descriptor section records of a site.
func sameSite(a, b layout.Site) bool {
	if a.Kind != b.Kind || a.Key != b.Key || a.Entry != b.Entry || a.On != b.On || a.Offset != b.Offset ||
		a.Target != b.Target || a.Choice != b.Choice || !bytes.Equal(a.Bytes, b.Bytes) || len(a.Choices) != len(b.Choices) {
		return false
	}
	for i, c := range a.Choices {
		d := b.Choices[i]
		if c.Name != d.Name || c.Feature != d.Feature || c.Offset != d.Offset || !bytes.Equal(c.Bytes, d.Bytes) {
			return false
		}
	}
	return true
}
