// Package harness measures generated Go assembly by building it with the real
// Go toolchain and reading the linked bytes back.
//
// [Build] writes a throwaway module into a fresh temporary directory: the
// caller's assembly files, a main.go that declares one package-level byte
// array per data symbol, and keep_amd64.s, whose keep function takes the
// address of every image and every data array so that the linker's dead-code
// elimination keeps all of them. It runs `go build` there (GOOS=linux,
// GOARCH=amd64, CGO_ENABLED=0, no network), opens the binary with debug/elf,
// returns each image's address and exact bytes together with every text and
// data symbol of package main, and removes the temporary directory, also when
// the build fails or the context is cancelled. [Interruptible] is the
// context the commands build under: SIGINT, SIGTERM and SIGHUP cancel it.
//
// With a warm build cache a Build of a small image takes about 0.2-0.3 s; the
// very first Build with an empty (or differently configured) cache rebuilds
// the runtime and takes several seconds.
//
// When the toolchain rejects the input, Build returns a [*BuildError] that
// carries the toolchain's output with the temporary directory removed from
// file names, so messages read like
//
//	zclock_host_amd64.s:12: unrecognized instruction "FOO"
package harness
