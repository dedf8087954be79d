// Package elfimage writes, checks and resolves ELF vDSO images: the shared
// objects a kernel (or a loader such as vdso/loader) maps into a process.
//
// Write turns an image's code bytes, entry points, PC-relative data-page
// references and data-page placement into an ELF file; Check rejects what
// the kernel's (arch/x86/entry/vdso/vdso2c) and gVisor's (check_vdso.py)
// build checks reject; CheckSame compares the symbols of several variants;
// Lookup and Resolver find a symbol the way a libc does (DT_GNU_HASH with
// its bloom filter first, as glibc's do_lookup_x and musl do, or DT_HASH as
// parse_vdso.c does, then the version).
//
// The whole-image checks report each problem at the file offset of the
// record at fault, under a check name: HashProblems (elf-hash: both hash
// tables as a whole, every symbol found through each, absent names and
// hash collisions rejected), VersionProblems (elf-versions: LINUX_2.6 as
// glibc's dl_vdso_vsym needs it), PageProblems (elf-pages: the note's data
// pages) and SymbolProblems (elf-symbols: every entry's __vdso_ symbol and
// weak alias). internal/verify runs them, compares .text with the
// assembled variants and runs its rules on the image (vdsogen verify).
// A test cross-checks the lookup against glibc's dlvsym.
//
// The package has no dependencies beyond the standard library and the
// layout types; it is read back with debug/elf in its tests.
//
// # File layout
//
// One read-only, executable PT_LOAD maps the file from offset 0 to the end
// of the code, or of the unwind tables when there are any, at virtual
// address 0 (p_memsz == p_filesz: no .bss). The marker descriptors and
// debugging sections (if any), the section header string table and the
// section headers follow it in the file, outside every segment, as the
// non-allocated sections of the kernel's vdso.so do:
//
//	offset  what                       section           align
//	0       ELF header                                   -
//	64      program headers            PT_LOAD, PT_DYNAMIC, PT_NOTE[, PT_GNU_EH_FRAME]
//	        SysV hash table            .hash             8
//	        GNU hash table             .gnu.hash         8
//	        dynamic symbols            .dynsym           8
//	        dynamic strings            .dynstr           1
//	        symbol versions            .gnu.version      2
//	        version definitions        .gnu.version_d    8
//	        dynamic section            .dynamic          8
//	        data-page note             .note.vdsogen     4
//	        code                       .text             64
//	        unwind search table        .eh_frame_hdr     4  (optional: Image.Stack)
//	        unwind tables              .eh_frame         8  (optional: Image.Stack)
//	        marker descriptors         .vdsogen_markers  8  (not loaded, optional)
//	        symbol table               .symtab           8  (not loaded, optional: Image.Debug)
//	        its strings                .strtab           1  (not loaded, optional)
//	        DWARF abbreviations        .debug_abbrev     1  (not loaded, optional)
//	        DWARF compile unit         .debug_info       1  (not loaded, optional)
//	        DWARF line table           .debug_line       1  (not loaded, optional)
//	        section names              .shstrtab         1  (not loaded)
//	        section headers                              8  (not loaded)
//
// .dynamic is not writable (no loader relocates a vDSO) and there are no
// relocation sections: every PC-relative data reference of the code is
// resolved by Write. The code keeps the alignment it was measured with
// (entries 32-byte aligned in Go's text stay aligned).
//
// # Symbols and versions
//
// .dynsym holds the null symbol, then for every entry e two FUNC symbols
// with the entry's value and size: __vdso_<e> (GLOBAL) and <e> (WEAK), both
// of version LINUX_2.6 (version index 2; index 1 is the base definition,
// named after the soname linux-vdso.so.1), as in the kernel's vDSO. The
// symbols are ordered by GNU hash bucket, which DT_GNU_HASH requires; both
// hash tables index the same table. Entry values depend only on the entry's
// offset in the code and on the symbol names, so variants with the same
// layout have equal symbol values (CheckSame).
//
// # Unwind tables and debugging information
//
// Given the stack model of the code (Image.Stack: the depth below the
// return address at every instruction control reaches, as the verifier
// proves it), Write emits .eh_frame with one CIE (CFA = RSP+8, return
// address at CFA-8) and one FDE per entry whose only instructions are
// DW_CFA_advance_loc and DW_CFA_def_cfa_offset(8+depth) wherever the depth
// changes in address order, and .eh_frame_hdr (version 1, search table
// encoded datarel sdata4) with PT_GNU_EH_FRAME: what libgcc, libunwind,
// gdb and perf look up. Rule "eh-frame" checks the tables' structure;
// CheckUnwind proves every row equal to a stack model. ReadUnwind decodes
// them.
//
// Given Image.Debug, Write adds .symtab (labels and data pages as local
// symbols, then the entries as in .dynsym) and DWARF 4: a compile unit
// with a subprogram per entry, and a line table with one row at the start
// of every source span (file names relative, as the spans give them).
// These sections are not loaded, so the mapped bytes do not change.
//
// # Data pages
//
// Like the kernel, which maps its vvar pages right below the vDSO text, the
// data pages sit at negative page-aligned offsets from the image's load
// address B: a page with Index i starts at B - i*PageSize. LayoutPages
// stacks pages in declaration order, the first farthest from the image, the
// last ending at B: for the reference vDSO (vdsoData, vdsoTimens; one page
// each) vdsoData is at B-2*4096 and vdsoTimens at B-4096. A loader maps the
// pages there and the image at B; the code reaches them with RIP-relative
// operands whose displacements Write computed.
//
// The placement is recorded in the file, so that a loader needs nothing
// else: the note .note.vdsogen (PT_NOTE), owner "vdsogen", holds
//
//	type 1 (NotePages): per page, 48 bytes: int64 offset from B (negative),
//	       uint64 size, [32]byte NUL-padded symbol name
//	type 2 (NoteVariant): "program\x00variant\x00"
//
// Pages reads it back.
//
// # Marker descriptors
//
// The section .vdsogen_markers (SHT_PROGBITS, no flags: in no segment, not
// mapped) describes every marker site and restartable region of the code,
// as the variant's layout table does, so that a tool without the Go table
// (a loader applying alternatives, a debugger restarting a region) can read
// them from the file. It is optional: Write emits it when Image.Markers is
// set, and an image without it is valid. ReadMarkers reads it; Check
// validates it (rule "markers"). Every offset below that names a place in
// the code (site, target, pool, choice, region) is relative to the start
// of .text, as in the layout table; every other offset is relative to the
// start of the section. Integers are little-endian; a string or byte
// string is a reference (uint32 offset, uint32 length) into the string
// table that ends the section (strings are not NUL-terminated; equal ones
// are stored once). Version 2 (version 1 lacks the relocation records, its
// header is 32 bytes and its site records' last word is 0; ReadMarkers
// reads both):
//
//	header, 40 bytes:
//	  0   [4]byte  magic "VGMK"
//	  4   uint16   version (2)
//	  6   uint16   reserved, 0
//	  8   uint32   code size: the size of .text the records describe
//	  12  uint32   pool: offset of the replacement pool (layout.Variant.Pool)
//	  16  uint32   number of site records
//	  20  uint32   number of choice records
//	  24  uint32   number of region records
//	  28  uint32   size of the string table
//	  32  uint32   number of relocation records
//	  36  uint32   reserved, 0
//	site records, 56 bytes each, in layout-table order:
//	  0   uint8    kind: layout.Kind.Code (the codes are assigned in
//	               layout/kind.go)
//	  1   uint8    flags: bit 0 set if the site's key is on; others 0
//	  2   uint16   choice: index, among the site's choices, of the one the
//	               site holds; 0xffff for none
//	  4   uint32   offset of the site
//	  8   uint32   length of the site, in bytes
//	  12  uint32   target (layout.Site.Target)
//	  16  uint32   index of the site's first choice record
//	  20  uint32   number of choices
//	  24  ref      key
//	  32  ref      entry the site is in
//	  40  ref      source (generator program line, "asm.go:63")
//	  48  uint32   offset of the site's bytes in the string table (the
//	               length is the site's)
//	  52  uint32   number of the site's relocation records
//	choice records, 24 bytes each: the choices of site 0, then those of
//	site 1, ... (a site's first choice index is the sum of the counts
//	before it):
//	  0   ref      name (alternative) or target entry (static call)
//	  8   ref      CPU feature the choice needs, "" for none
//	  16  uint32   offset of the choice's instructions in the pool
//	               (alternative) or of the target entry (static call)
//	  20  uint32   offset of the site's bytes with the choice applied, in
//	               the string table (the length is the site's)
//	region records, 40 bytes each:
//	  0   ref      name
//	  8   ref      entry
//	  16  ref      source
//	  24  uint32   start of the critical section
//	  28  uint32   post_commit_offset: the critical section's length
//	  32  uint32   abort handler, preceded in the code by the 4 bytes of
//	               layout.RegionSignature
//	  36  uint32   reserved, 0
//	relocation records, 16 bytes each: those of site 0, then those of
//	site 1, ... (layout.Site.Relocs, in order):
//	  0   uint32   offset of the 4-byte PC-relative field in the site
//	  4   int32    addend: the field refers to the data page's byte at it
//	  8   ref      data page symbol
//	string table: the bytes every ref and byte offset points into
//
// The section is exactly as long as the header says. Site and choice bytes
// are those of the layout table: the 4-byte PC-relative data-page fields
// inside a site (layout.Site.Relocs) are zero, while .text holds them
// resolved. A reader rejects another magic or version.
package elfimage
