package gen

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/vdsogen/vdsogen/dsl"
	"github.com/vdsogen/vdsogen/internal/harness"
	"github.com/vdsogen/vdsogen/variants"
)

// A program that links gen hands what dsl's helpers record to Main; dsl
// stops a program that uses them without linking gen (a forgotten Main).
func init() { dsl.RegisterDriver("gen.Main") }

// Main is the entry point of a generator program: it parses the command
// line, takes the program recorded by dsl's package-level helpers, and
// generates, verifies and writes (or, with -check, compares) every output.
// It exits the process: 0 on success, 1 on any error, 2 on bad flags.
func Main() {
	dsl.Std().MarkEnd() // "no entry" and the like point at this call
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
	elfOut := fs.Bool("elf", false, "also write each shared variant as an ELF vDSO image z<name>_<variant>.so")
	check := fs.Bool("check", false, "compare with the files on disk instead of writing; exit 1 on drift")
	verbose := fs.Bool("v", false, "report what was generated")
	var replaces []string
	fs.Func("replaces", "this program replaces the program `name`d so before (an earlier -name): remove that program's generated files in -out with the write (repeatable)", func(s string) error {
		if !validProgramName(s) {
			return fmt.Errorf("%q is not a program name", s)
		}
		replaces = append(replaces, s)
		return nil
	})
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
	// From here on SIGINT, SIGTERM or SIGHUP cancels the run: no output is
	// half-written.
	ctx, stop := harness.Interruptible()
	defer stop()
	fail := func(err error) int {
		if ctx.Err() != nil {
			err = errors.New("vdsogen: interrupted; no file was written")
		}
		fmt.Fprintln(stderr, err)
		return 1
	}
	if info, err := os.Stat(*out); err != nil || !info.IsDir() {
		what := "does not exist"
		if err == nil {
			what = "is not a directory"
		} else if !os.IsNotExist(err) {
			what = "cannot be read (" + err.Error() + ")"
		}
		return fail(fmt.Errorf("-out %s: the output directory %s; -out must name the package directory the outputs belong to", *out, what))
	}
	prog, err := b.Program()
	if err != nil {
		return fail(err)
	}
	if err := checkProgramExcluded(prog); err != nil {
		return fail(err)
	}
	cfg := Config{Name: *name, Dir: *out, Pkg: *pkg, StubsFile: *stubs, ELF: *elfOut}
	if *vfile != "" {
		if cfg.Variants, err = variants.Load(*vfile); err != nil {
			// A fault of a flag's value is reported as "-flag value: ...",
			// as -out's are; the file's contents are positioned instead.
			var pe *os.PathError
			if errors.As(err, &pe) {
				err = fmt.Errorf("-variants %s: cannot read the variants file: %w", *vfile, pe.Err)
			}
			return fail(err)
		}
	}
	if cfg.Name == "" {
		t, err := loadPackage(ctx, cfg.Dir, cfg.Pkg)
		if err != nil {
			return fail(err)
		}
		cfg.Name = t.name
	}
	o, err := Generate(ctx, prog, cfg)
	if err != nil {
		return fail(err)
	}
	replaced, err := replacedFiles(cfg.Dir, cfg.Name, o.Files, replaces)
	if err != nil {
		return fail(err)
	}
	skip := map[string]bool{}
	for _, f := range replaced {
		skip[f] = true
	}
	if cs, err := conflicts(cfg.Dir, cfg.Name, o.Files, skip); err != nil {
		return fail(err)
	} else if len(cs) > 0 {
		return fail(conflictError(*out, cs))
	}
	if *check {
		err := Check(cfg.Dir, cfg.Name, o.Files)
		if len(replaced) > 0 {
			// The replaced program's files are drift like any stale output.
			d, ok := err.(*Drift)
			if err == nil {
				d, ok = &Drift{First: map[string]string{}}, true
			}
			if ok {
				d.Stale = append(d.Stale, replaced...)
				err = d
			}
		}
		if err != nil {
			return fail(err)
		}
		return 0
	}
	if err := writeRemoving(cfg.Dir, cfg.Name, o.Files, replaced); err != nil {
		return fail(err)
	}
	if *verbose {
		fmt.Fprintf(stdout, "vdsogen: %d files for %d variants (%d assemblies)\n", len(o.Files), len(o.Layout.Variants), o.Assemblies)
	}
	return 0
}
