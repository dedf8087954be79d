// Package verify checks generated vDSO images on the bytes the Go toolchain
// produced, never on the generator's intentions.
//
// The input is a layout table (what the generator says it laid out), each
// variant's image bytes and link address as read back from a harness build,
// and a resolver from addresses to the build's data symbols. Every image is
// decoded with golang.org/x/arch/x86/x86asm, linearly from each entry start,
// and the rules run in order, as a list in the manner of avo's pass list:
//
//	entries  every entry has the same offset and size in every shared variant,
//	         decodes, and the filler between entries is INT3
//	sites    variants differ only inside declared marker sites; every site
//	         starts and ends on an instruction boundary; each site holds what
//	         its marker declares (NOP5, JMP rel32 to the body, the
//	         three-label tail followed by INT3, an alternative's choice
//	         padded with NOPs and matching its copy in the replacement pool,
//	         with no branch, stack change or RIP operand in any choice, or
//	         CALL rel32 to a static call's declared target entry)
//	stack    following control flow, the stack depth is consistent, zero at
//	         RET, equal at every site boundary in every variant, and bounded;
//	         the maximum depth of every entry is reported
//	regions  every restartable region lies in its entry on instruction
//	         boundaries; its abort handler is outside the critical section,
//	         right after the signature (a UD1 no control flow falls into);
//	         the stack depth is constant inside it (stack follows the abort
//	         handler from the depth at the region's start)
//	reach    no reference leaves the image except to a declared data page,
//	         every branch lands on an instruction inside the image, and no
//	         branch is indirect
//	swap     for each pair of variants, whether it can be switched live
//	         (reported, never a failure)
//
// Every finding names its check, the variant(s), the entry, the offset, the
// decoded instruction on each side and the generator program position (from
// the table's source map, file:line; the generator gives the exact call,
// file:line:col), in one format:
//
//	asm.go:244: sites: variants timens, host, entry clock_gettime, offset 0xaf: variants timens and host differ outside any marker site [timens: MOVL $0x3b9aca01, CX; host: MOVL $0x3b9aca00, CX]
//
// The generator (gen.Generate) runs Verify on its final harness build
// before it writes anything; the vdsogen command (gen/cmd/vdsogen) runs it
// on generated files found on disk, read back with Load and Assemble.
package verify
