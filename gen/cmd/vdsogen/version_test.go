package main

import (
	"runtime"
	"runtime/debug"
	"testing"
)

func TestVersionLine(t *testing.T) {
	cases := []struct {
		info *debug.BuildInfo
		want string
	}{
		{&debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: "github.com/vdsogen/vdsogen", Version: "v0.3.1"}}, "vdsogen version v0.3.1 go1.26.8"},
		{&debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: "github.com/vdsogen/vdsogen", Version: "(devel)"}}, "vdsogen version (devel) go1.26.8"},
		{nil, "vdsogen version (unknown) " + runtime.Version()},
	}
	for _, c := range cases {
		if got := versionLine(c.info); got != c.want {
			t.Errorf("versionLine(%+v) = %q, want %q", c.info, got, c.want)
		}
	}
}
