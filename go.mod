module github.com/vdsogen/vdsogen

// The lowest Go the module builds with: golang.org/x/tools, arch, mod, sys
// and sync (below) require go 1.26.0, and nothing here needs a later release.
go 1.26.0

require (
	github.com/dave/jennifer v1.7.1 // writes the generated Go files (stubs, layout tables)
	github.com/mmcloughlin/avo v0.6.0 // the DSL base: instruction constructors, IR, Go assembly printer
	github.com/pelletier/go-toml/v2 v2.4.3 // variants files: TOML with positions for every error
	github.com/rogpeppe/go-internal v1.16.0 // testscript: CLI and go generate transcripts in tests
	golang.org/x/arch v0.32.0 // x86asm: decodes the bytes the toolchain produced
	golang.org/x/mod v0.42.0 // module zips for the local proxy of the downstream tests
	golang.org/x/sys v0.49.0 // ptrace, memfd, membarrier, clocks for the reference vDSO and its tests
	golang.org/x/tools v0.52.0 // go/packages: the target package and its types (needs a current x/tools for Go 1.26)
)

require golang.org/x/sync v0.24.0 // indirect
