// Command vdsogen inspects and verifies the images vdsogen generated: it
// assembles a package's generated files with the Go toolchain, decodes the
// linked bytes and checks them against the layout table.
//
// Usage:
//
//	vdsogen <command> [arguments]
//
// The commands are:
//
//	verify    check generated images on the bytes the toolchain produces
//	inspect   print the layout table, or what an ELF image says of itself
//	diff      show the differences between two variants
//	run       run a program with a generated image as its vDSO
//	version   print vdsogen's version
//
// Use "vdsogen help <command>" for more information about a command.
// Generating is done by the generator program itself (see go-generate.md).
package main

import (
	"os"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// commands are the subcommands, one file each, in the order help lists them.
var commands []*command

func init() {
	commands = []*command{cmdVerify, cmdInspect, cmdDiff, cmdRun, cmdVersion}
}
