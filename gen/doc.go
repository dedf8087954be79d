// Package gen is vdsogen's pipeline as a library: it turns a program
// recorded with package dsl into one Go assembly image per variant, with
// every entry point at the same offset in every variant, proves that on
// the bytes the Go toolchain produced, and only then writes the files.
//
// A generator program ends with gen.Main, which runs the pipeline on the
// program recorded by dsl's package-level functions:
//
//  1. Check the program against the variants: every marker key is set in
//     every variant (or defaults), every data page is a global of the
//     target package, and entry signatures use its types.
//  2. Expand the program once per variant: markers become that variant's
//     bytes (NOP5 or JMP, apply or tail, the chosen alternative, the
//     call target); everything else is the same node in every variant.
//  3. Print each variant as Go assembly (with avo's printer).
//  4. Measure: build all variants at once with the real Go toolchain in a
//     throwaway package, read the bytes back with debug/elf and decode them
//     with x86asm, mapping every label, site and entry to its offset.
//  5. Pad: insert NOPs so that every entry starts at the same offset in
//     every variant, then print and measure again, until nothing moves
//     (padding can change jump encodings; at most 8 builds).
//  6. Verify the final bytes with every rule of the verifier (entries,
//     sites, stack depth, regions, reachability, swap safety); a finding
//     stops the run.
//  7. Write the outputs atomically: one z<name>_<variant>_amd64.s per
//     variant, the Go stubs and the layout table (and, with -elf, the ELF
//     images); with -check, compare them with the files on disk instead.
//
// Generate runs steps 1 to 6 and returns the files; Write and Check do
// step 7. Every mistake names a position in the user's program
// (file:line:col) or a variant, entry and offset, and leaves the files on
// disk untouched.
//
// gen.Main's flags (the same for MainArgs):
//
//	-out dir         the Go package the outputs belong to (default ".")
//	-name name       prefix of output files and image symbols (default: the package name)
//	-pkg name        the package name, checked against the package in -out
//	-variants file   the variant definitions (default: built-in host and timens)
//	-stubs file      the Go stubs file inside -out (default z<name>_stubs_amd64.go)
//	-elf             also write each shared variant as an ELF vDSO image z<name>_<variant>.so
//	-check           compare with the files on disk instead of writing; exit 1 on drift
//	-v               report what was generated
//
// Main exits 0 on success, 1 on any error and 2 on bad flags.
package gen
