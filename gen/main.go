package gen

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"

	"github.com/vdsogen/vdsogen/dsl"
	"github.com/vdsogen/vdsogen/variants"
)

// Main is the entry point of a generator program: it parses the command
// line, takes the program recorded by dsl's package-level helpers, and
// generates, verifies and writes (or, with -check, compares) every output.
// It exits the process: 0 on success, 1 on any error, 2 on bad flags.
func Main() {
	os.Exit(MainArgs(os.Args[1:], dsl.Std(), os.Stdout, os.Stderr))
}

// MainArgs is Main with explicit arguments, program and output streams; it
// returns the exit code.
func MainArgs(args []string, b *dsl.Builder, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("vdsogen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("out", ".", "output `dir`ectory: the Go package the images, stubs and table belong to")
	name := fs.String("name", "", "program `name`: prefixes output files (z<name>_...) and image symbols (default: the package name)")
	pkg := fs.String("pkg", "", "package `name` (default: the package in -out)")
	vfile := fs.String("variants", "", "variant definitions `file` (default: built-in host and timens)")
	stubs := fs.String("stubs", "", "Go stubs `file` name inside -out (default z<name>_stubs_amd64.go)")
	check := fs.Bool("check", false, "compare with the files on disk instead of writing; exit 1 on drift")
	verbose := fs.Bool("v", false, "report what was generated")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: go run asm.go [flags]\n\nGenerates every variant image of the program, verifies it on the bytes\nthe Go toolchain produced, and writes it atomically.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "vdsogen: unexpected arguments %q\n", fs.Args())
		return 2
	}
	fail := func(err error) int {
		fmt.Fprintln(stderr, err)
		return 1
	}
	prog, err := b.Program()
	if err != nil {
		return fail(err)
	}
	cfg := Config{Name: *name, Dir: *out, Pkg: *pkg, StubsFile: *stubs}
	if *vfile != "" {
		if cfg.Variants, err = variants.Load(*vfile); err != nil {
			return fail(err)
		}
	}
	if cfg.Name == "" {
		t, err := loadPackage(cfg.Dir, cfg.Pkg)
		if err != nil {
			return fail(err)
		}
		cfg.Name = t.name
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	o, err := Generate(ctx, prog, cfg)
	if err != nil {
		return fail(err)
	}
	if *check {
		if err := Check(cfg.Dir, cfg.Name, o.Files); err != nil {
			return fail(err)
		}
		return 0
	}
	if err := Write(cfg.Dir, cfg.Name, o.Files); err != nil {
		return fail(err)
	}
	if *verbose {
		fmt.Fprintf(stdout, "vdsogen: %d files for %d variants (%d assemblies)\n", len(o.Files), len(o.Layout.Variants), o.Assemblies)
	}
	return 0
}
