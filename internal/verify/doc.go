// Package verify checks generated vDSO images on the bytes the Go toolchain
// produced, never on the generator's intentions.
//
// The input is a layout table (what the generator says it laid out), each
// variant's image bytes and link address as read back from a harness build,
// and a resolver from addresses to the build's data symbols. Every image is
// decoded with golang.org/x/arch/x86/x86asm, linearly from each entry start,
// and the rules run in order, one file each; a rule that needs another's
// result takes it as an argument (flow's graphs, stack's depths):
//
//	entries  every entry has the same offset and size in every shared
//	         variant, decodes, and the filler between entries is INT3
//	sites    variants differ only inside declared marker sites; every site
//	         starts and ends on an instruction boundary; each site holds what
//	         its marker declares (NOP5, JMP rel32 to the body, the
//	         three-label tail followed by INT3, an alternative's choice
//	         padded with NOPs and matching its copy in the replacement pool,
//	         with no branch, stack change or RIP operand in any choice, or
//	         CALL rel32 to a static call's declared target entry)
//	flow     the control-flow graph of every entry, from its start and its
//	         regions' abort handlers, over every edge (fall-through, JMP,
//	         both edges of Jcc, JCXZ/JRCXZ and LOOP*, CALL rel32 to an entry
//	         start, which returns, a tail JMP or Jcc to another entry's
//	         start, a region's restart): no path reaches a trap (INT3, UD0,
//	         UD1 (a region's signature), UD2, HLT, INT n, bytes that do not
//	         decode, a LOCK prefix on anything but a read-modify-write of
//	         memory), an instruction it refuses (privileged or port I/O,
//	         segment, control and debug registers, far or interrupt
//	         returns, SYSENTER/SYSRET, transactions, ENTER/LEAVE, STD,
//	         POPF (it may set DF, TF or AC), x87 and MMX instructions and
//	         loads of MXCSR or saved FPU state (the caller owns that
//	         state), RET imm16, a branch with an
//	         operand-size prefix (AMD truncates RIP to 16 bits, Intel
//	         ignores it), a CALL that is not to an entry's start) or the
//	         end of its entry
//	stack    along every edge of the graphs the depth is the same on every
//	         path to an instruction, zero at RET and at every tail call,
//	         never below the return address, changed only by PUSH, POP,
//	         CALL, RET or ADD/SUB/LEA of a constant to SP (any other write
//	         of SP is refused), never stored to above what the entry pushed
//	         or below SP (there is no red zone; POP's destination counts
//	         from SP after the pop, FXSAVE's as 512 bytes, a store the
//	         verifier cannot size such as XSAVE is refused), bounded, and equal at every site boundary in
//	         every shared variant (a difference is filed under the variant
//	         most others disagree with); the maximum of every entry is
//	         reported
//	regions  every restartable region lies in its entry on instruction
//	         boundaries; its abort handler is outside the critical section,
//	         right after the signature (a UD1 no control falls into), and
//	         entered by no branch, only by a restart; the stack depth is
//	         constant inside it (stack follows the handler from the depth
//	         at the region's start)
//	reach    no reference leaves the image except to a declared data page,
//	         every branch lands on an instruction inside the image, no
//	         branch is indirect, no memory operand is relative to a
//	         segment (a string instruction's default DS:(SI) and ES:(DI)
//	         are flat, and so are the CS, DS, ES and SS prefixes the CPU
//	         ignores; an override such as FS: is refused), none uses
//	         32-bit addressing (an address-size prefix: EIP-relative is not
//	         RIP-relative, and every pointer is truncated), and no bit test
//	         of memory takes a register bit offset (it reaches offset/8
//	         bytes past its operand); every alternative's choice, as the
//	         loader applies it, is checked for the same and for what flow
//	         refuses
//	pages    an abstract interpretation of every entry's graph tracks which
//	         registers hold a page's address plus a bounded offset and
//	         which hold bounded numbers (constants, values compared with a
//	         constant before a conditional branch, masks, shifts): no store
//	         or read-modify-write reaches a data page (they are read-only),
//	         every access through a page address, RIP-relative or through
//	         registers with any displacement and index, lies inside the
//	         page's declared size for its full width, no access goes
//	         through a register whose page offset is lost, no string
//	         instruction (MOVS, STOS, LODS, CMPS, SCAS, repeated or not)
//	         addresses a page through SI or DI, no store goes through a
//	         register that may hold an address computed from SP (a copy
//	         of SP: the stack rule bounds only stores written as n(SP)),
//	         every other store goes through a pointer the caller passed
//	         (DI, SI, DX, CX, R8 or R9 as the entry received it where the
//	         entry's signature has no integer or bool parameter, copied,
//	         exchanged or offset by a number; never loaded from memory,
//	         truncated, a constant or a sum of two pointers; the offset
//	         into the caller's buffer is not bounded, the C ABI leaves its
//	         size to the caller), an access through a page address the
//	         verifier cannot size (XSAVE) is refused, and no CALL or tail
//	         call passes a page or stack address, nor anything but a
//	         caller's pointer in an argument register the callee stores
//	         through (provenance.go);
//	         every alternative's choices are interpreted; with the
//	         assembly text (Input.Asm), every page operand as written lies
//	         inside its page
//	swap     for each pair of variants, whether it can be switched live
//	         (reported, never a failure)
//	stubs    the table's promises to the stubs hold (unique variant,
//	         image, entry and stub names; every entry's signature recorded,
//	         resolvable, C-ABI-callable and equal in every variant); the
//	         stub files define exactly one stub per entry and variant and
//	         one address function per image, each declared in Go with the
//	         entry's signature; and each stub's linked bytes are exactly:
//	         the frame the assembler gives a NOSPLIT $0 function, every
//	         argument loaded from its ABI0 slot into its C ABI register
//	         (DI, SI, DX, CX, R8, R9; widened to 32 bits with its sign), a
//	         direct CALL of its own variant's image at the entry's offset,
//	         the result stored at its width into its slot, and RET
//
// Every finding names its check, the variant(s), the entry, the offset, the
// decoded instruction on each side and the generator program position (from
// the table's source map, file:line; the generator gives the exact call,
// file:line:col), in one format:
//
//	asm.go:244: sites: variants timens, host, entry clock_gettime, offset 0xaf: variants timens and host differ outside any marker site [timens: MOVL $0x3b9aca01, CX; host: MOVL $0x3b9aca00, CX]
//
// The generator (gen.Generate) runs Verify on its final harness build
// before it writes anything (that build holds no stubs yet, so the stubs
// rule checks only the table there); the vdsogen command (gen/cmd/vdsogen)
// runs it on generated files found on disk, read back with Load and
// Assemble, which links the stubs with the images and type-checks the
// package for their Go declarations. A stub finding cites the stub file's
// line (zclock_stubs_amd64.s:33, zclock_stubs_amd64.go:12:6): the stubs
// are generated whole from the table, so the line shows what is wrong and
// regenerating is the fix.
//
// ELF images (internal/elfimage) are verified too. ReadELF reads one and
// FromELF turns images into an Input (fromelf.go); the elf-* rules have a
// file each: CompareELF (elfcompare.go) checks an image against its
// assembled variant (elf-text:
// .text is the verified bytes, modulo data-page fields and load-time
// choices; elf-symbols, elf-markers, elf-pages: the table's entries,
// descriptors and pages); CheckELF (elfcheck.go) runs the checks that need
// only the file (elf-hash, elf-versions, elf-pages, elf-symbols, the
// relocated fields of the descriptors); every rule above runs on images
// without their Go table (VerifyImages), which then proves the image's
// unwind tables equal to the stack rule's depths (elf-unwind,
// elfunwind.go).
package verify
