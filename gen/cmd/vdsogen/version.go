package main

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

var cmdVersion = &command{
	name:      "version",
	usageLine: "vdsogen version",
	short:     "print vdsogen's version",
	long: `Version prints the version of the vdsogen module the command was built
from (as go install records it; "(devel)" for a build inside the module's
own checkout) and the Go version that built it.`,
	run: runVersion,
}

func runVersion(c *cmdEnv, args []string) int {
	if len(args) != 0 {
		return c.usage("no arguments expected, have %d", len(args))
	}
	info, _ := debug.ReadBuildInfo()
	fmt.Fprintln(c.stdout, versionLine(info))
	return 0
}

// versionLine is "vdsogen version V GOVERSION": V is the module version of
// the build, or "(unknown)" in a binary built without module information.
func versionLine(info *debug.BuildInfo) string {
	v, goVersion := "(unknown)", runtime.Version()
	if info != nil {
		if info.Main.Version != "" {
			v = info.Main.Version
		}
		if info.GoVersion != "" {
			goVersion = info.GoVersion
		}
	}
	return fmt.Sprintf("vdsogen version %s %s", v, goVersion)
}
