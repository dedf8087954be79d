// Package dsl is the authoring API of vdsogen: clock routines and other
// vDSO code are written in Go and evaluated once into a Program that the
// generator (package gen) expands into one image per variant.
//
// A generator program dot-imports dsl for the declarations and markers and
// dsl/x86 for the instructions, and ends with gen.Main:
//
//	var page = DataPage("vdsoData", 4096)
//
//	func main() {
//		Entry("read_ticks", "func(out *uint64) int32") // C ABI: out in DI
//		MOVQ(page.At(0), RAX)
//		StaticBranch("timens", func() { ADDQ(page.At(8), RAX) })
//		MOVQ(RAX, Mem{Base: RDI})
//		XORL(EAX, EAX)
//		RET()
//		gen.Main()
//	}
//
// # Entries and pages
//
// Entry starts an entry point; the instructions, labels and markers that
// follow, up to the next Entry, are its body. Entries use the C ABI:
// arguments in DI, SI, DX, CX, R8, R9, the result in AX. The signature is
// the Go signature of the stubs that call the entry, resolved in the
// target package: at most six named parameters and at most one result,
// each an integer, bool, uintptr or pointer (a named type of the package
// is fine); no variadic parameters. Every entry ends in RET or JMP: no
// entry may fall off its end.
//
// DataPage declares a page the routines read through RIP-relative
// references (Page.At). Its symbol must be a package-level variable of the
// target package at least as large as declared; every reference must be
// to a declared page and inside its size.
//
// Labels share one namespace across the image; names starting with
// ReservedLabelPrefix belong to the generator. NOP (in dsl/x86) and Bytes
// emit literal bytes, so the program maps 1:1 onto the image.
//
// # Markers
//
// Markers are the only places where variants may differ; everything
// outside them is the same node in every variant, by construction. Each
// takes a key (lower-case identifier) that the variants file sets per
// variant. Markers do not nest, and sit inside an entry.
//
//   - StaticBranch(key, body): a 5-byte site, NOP5 where key is off and a
//     JMP rel32 to the out-of-line body where it is on. The body exists in
//     every variant and must not be empty; the site never crosses an
//     8-byte window, so a running image can be switched by rewriting it.
//   - ThreeLabel(key, apply, tail): the region l_call..l_out..end. Where
//     key is on, apply runs at l_call and falls into tail at l_out; where
//     key is off, tail itself is assembled at l_call and INT3 fills the
//     rest up to l_out, so the off path pays nothing for apply. Three
//     rules follow: apply must not be empty; the tail must be a complete
//     exit ending in RET or JMP and hold no label (it is assembled twice);
//     and the tail's bytes may be no longer than apply's in any variant.
//   - Alternative(key, Alt(name, feature, body)...): N-way replacement of
//     one site, as the kernel's alternatives; at least two choices with
//     distinct names. A variant assembles the choice its key names (the
//     first when the file leaves the key out), NOP-padded to the longest;
//     every choice is also in the image's replacement pool, so a loader
//     applies the last choice whose CPU feature ("" for none, "rdtscp",
//     "lfence_rdtsc") is present. Choices are straight-line,
//     position-independent code: no labels, branches, stack changes or
//     data-page references. Every marker of one key offers the same
//     choices.
//   - StaticCall(key, targets...): a CALL rel32 to one of the named
//     entries, picked by the variant's key and re-targetable at load time
//     or live. Targets are distinct entries with the same signature; no
//     entry may reach itself through static calls (the stack is bounded).
//   - Mark(kind, key, blocks...): a marker of any kind registered with
//     package marker, its blocks built with Part or Alt; the words above
//     are Mark with their kind's blocks. What a kind's blocks mean, how a
//     variant lays it out and how it is verified are its file in package
//     marker (docs/markers.md).
//   - Region(name, body, abort): a restartable region, described like the
//     kernel's rseq critical sections (start, post-commit offset, abort
//     handler out of line after a signature word). It changes no code. The
//     body must not be empty, the abort handler ends in RET or JMP, the
//     stack depth inside is that at the start, markers may sit inside a
//     region, and regions neither nest nor sit inside markers.
//
// The generator checks the rest on the assembled bytes: every entry at
// the same offset in every variant, each site's bytes as the variant
// says, the same stack depth on both sides of every site.
//
// # Mistakes
//
// Mistakes are collected, not fatal: every Error carries the position of
// the call in the user's program that caused it (file:line:col), and
// Program returns all of them at once, sorted.
//
// # Default and explicit builders
//
// Like avo's build package, dsl records into one default Builder through
// package-level functions, for generator programs that dot-import it; the
// same operations are methods on *Builder for code that keeps its state
// explicit (tests, libraries), with Builder.Add taking avo's instruction
// constructors: b.Add(x86.MOVQ(RAX, RBX)).
package dsl
