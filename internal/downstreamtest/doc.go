// Package downstreamtest proves from the outside that a downstream module
// can adopt vdsogen with go generate. It holds only tests:
//
//   - TestDownstream copies the example module testdata/downstream
//     (example.com/ticks: a tick counter in three variants with a static
//     branch and a three-label region) to a temporary directory, points its
//     replace directive at this module, runs go generate ./... and go test
//     ./... in it, checks the layout, and checks that the golden check
//     reports an edited variants file as drift.
//   - TestGoGenerateDoc runs every shell command of go-generate.md, in
//     order, against a fresh module that gets vdsogen with go get from a
//     file proxy holding this module's tree, and checks the outputs the
//     document shows.
//   - TestScripts runs the generator's command-line transcripts in
//     testdata/script (testscript): first generation, regeneration without
//     rewriting, -check on a clean and a drifted tree, a bad variants file,
//     and (once gen/cmd/vdsogen exists) vdsogen inspect and diff.
//
// The tests need the Go toolchain and git, reuse GOCACHE and GOMODCACHE,
// and are skipped with -short. After a change to the generator's output,
// refresh the committed example with
//
//	go test ./internal/downstreamtest -run TestDownstream -update
package downstreamtest
