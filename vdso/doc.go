// Package vdso is the reference vDSO built with vdsogen: clock routines
// written with the DSL in asm.go, generated in host and timens variants
// (plus a marker-free build used to measure what the markers cost), a
// seqlock data page (internal/vvar) kept by a Go timekeeper, and Go stubs
// that call each entry of each variant.
//
// The generated files are z*: zclock_<variant>_amd64.s (one image per
// variant), zclock_stubs_amd64.{s,go} and zclock_layout_amd64.go.
package vdso
