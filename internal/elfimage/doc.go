// Package elfimage writes, checks and resolves ELF vDSO images: the shared
// objects a kernel (or a loader such as vdso/loader) maps into a process.
//
// Write turns an image's code bytes, entry points, PC-relative data-page
// references and data-page placement into an ELF file; Check rejects what
// the kernel's (arch/x86/entry/vdso/vdso2c) and gVisor's (check_vdso.py)
// build checks reject; CheckSame compares the symbols of several variants;
// Lookup and Resolver find a symbol the way a libc does (parse_vdso.c:
// DT_GNU_HASH or DT_HASH, then the version). The package has no
// dependencies beyond the standard library; it is read back with debug/elf
// in its tests.
//
// # File layout
//
// One read-only, executable PT_LOAD maps the file from offset 0 to the end
// of the code at virtual address 0 (p_memsz == p_filesz: no .bss). The
// section header string table and the section headers follow it in the
// file, outside every segment, as in the kernel's stripped vdso.so:
//
//	offset  what                       section           align
//	0       ELF header                                   -
//	64      program headers            PT_LOAD, PT_DYNAMIC, PT_NOTE
//	        SysV hash table            .hash             8
//	        GNU hash table             .gnu.hash         8
//	        dynamic symbols            .dynsym           8
//	        dynamic strings            .dynstr           1
//	        symbol versions            .gnu.version      2
//	        version definitions        .gnu.version_d    8
//	        dynamic section            .dynamic          8
//	        data-page note             .note.vdsogen     4
//	        code                       .text             64
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
package elfimage
