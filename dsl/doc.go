// Package dsl is the authoring API of vdsogen: clock routines and other
// vDSO code are written in Go, on top of avo's instruction constructors,
// and evaluated once into a Program that the generator (package gen)
// expands into one image per variant.
//
// A program declares data pages (Go globals the routines read through
// RIP-relative references), entry points (C ABI: arguments in DI, SI, DX,
// CX, R8, R9, result in AX) and, inside entries, ordinary instructions,
// labels and variant markers:
//
//   - StaticBranch(key, body): a 5-byte site that is a NOP in variants where
//     key is off and a JMP rel32 to the out-of-line body where it is on. The
//     body exists in every variant, so every variant has the same layout and
//     a running image can be switched by rewriting the 5 bytes.
//   - ThreeLabel(key, apply, tail): the region l_call..l_out..end. Where key
//     is on, apply runs at l_call and falls into tail at l_out. Where key is
//     off, tail itself is assembled at l_call and the rest of the region up
//     to l_out is INT3, so the off path pays nothing for apply.
//   - Alternative(key, Alt(name, feature, body)...): N-way replacement of
//     one site, as the kernel's alternatives. A variant assembles the choice
//     its key names in the variants file (tsc = "rdtscp"; the first choice
//     when the file leaves the key out), padded with multi-byte NOPs to the
//     longest; every choice is also assembled once in the image's
//     replacement pool, after the last entry, so that a loader can apply at
//     load time the last choice whose CPU feature is present. Choices are
//     straight-line, position-independent code: no labels, branches, stack
//     changes or data-page references.
//   - StaticCall(key, targets...): a CALL rel32 to one of the named entries
//     (same signature, no recursion), picked by the variant's key and
//     re-targetable at load time or live (the site sits in one 8-byte
//     window); there is no indirect branch anywhere.
//   - Region(name, body, abort): a restartable region, described like the
//     kernel's rseq critical sections: start, post-commit offset and an
//     abort handler placed out of line after a signature word. It changes
//     no code; it tells a debugger or signal handler that a PC is inside the
//     critical section and where to restart it. Markers may sit inside a
//     region; regions do not nest and do not sit inside markers.
//
// The program is evaluated once and markers are kept symbolically, so code
// outside markers is identical in every variant by construction.
//
// Like avo's build package, dsl offers package-level helpers (MOVQ, Entry,
// StaticBranch, ...) over one default Builder, for generator programs that
// dot-import it, and the same operations as methods on *Builder for code
// that keeps its state explicit (tests, libraries).
//
// Mistakes are collected, not fatal: every Error carries the position of
// the call in the user's program that caused it, and Program returns all of
// them at once.
package dsl
