package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/vdsogen/vdsogen/internal/harness"
	"github.com/vdsogen/vdsogen/internal/verify"
)

// A command is one subcommand, documented in the go command's manner.
type command struct {
	name      string
	usageLine string
	short     string
	long      string
	run       func(c *cmdEnv, args []string) int
	flags     func(fs *flag.FlagSet)
}

// cmdEnv is what a running command writes to.
type cmdEnv struct {
	cmd            *command
	stdout, stderr io.Writer
	fs             *flag.FlagSet
	json           *bool
}

// run is the command line: it returns the exit code.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		printMainUsage(stderr)
		return 2
	}
	name, args := args[0], args[1:]
	switch name {
	case "help":
		return help(args, stdout, stderr)
	case "-h", "-help", "--help":
		// As the go command: asking with a flag is a usage error.
		printMainUsage(stderr)
		return 2
	}
	for _, c := range commands {
		if c.name != name {
			continue
		}
		fs := flag.NewFlagSet(c.name, flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		env := &cmdEnv{cmd: c, stdout: stdout, stderr: stderr, fs: fs, json: fs.Bool("json", false, "")}
		if c.flags != nil {
			c.flags(fs)
		}
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				// As "go build -h": the usage line on stderr, exit 2.
				fmt.Fprintf(stderr, "usage: %s\nRun 'vdsogen help %s' for details.\n", c.usageLine, c.name)
				return 2
			}
			return env.usage("%v", err)
		}
		return c.run(env, fs.Args())
	}
	fmt.Fprintf(stderr, "vdsogen %s: unknown command\nRun 'vdsogen help' for usage.\n", name)
	return 2
}

// usage reports a usage error the way the go command does.
func (c *cmdEnv) usage(format string, args ...any) int {
	fmt.Fprintf(c.stderr, "vdsogen %s: %s\nusage: %s\nRun 'vdsogen help %s' for details.\n", c.cmd.name, fmt.Sprintf(format, args...), c.cmd.usageLine, c.cmd.name)
	return 2
}

// fail reports an error that is not the user's command line.
func (c *cmdEnv) fail(err error) int {
	var be *harness.BuildError
	if errors.As(err, &be) {
		fmt.Fprintf(c.stderr, "vdsogen %s: the Go toolchain rejected the generated assembly:\n%s\n", c.cmd.name, strings.TrimRight(be.Output, "\n"))
		return 1
	}
	fmt.Fprintf(c.stderr, "vdsogen %s: %v\n", c.cmd.name, err)
	return 1
}

// load finds, assembles and verifies the program named by paths.
func (c *cmdEnv) load(paths []string) (*verify.Package, *verify.Input, *verify.Report, error) {
	if len(paths) == 0 {
		paths = []string{"."}
	}
	pkg, err := verify.Load(paths)
	if err != nil {
		return nil, nil, nil, err
	}
	ctx, stop := harness.Interruptible()
	defer stop()
	in, err := pkg.Assemble(ctx)
	if err != nil {
		return nil, nil, nil, err
	}
	// The page operands as written: the bytes cannot tell page+4096(SB)
	// from the symbol the linker put after the page.
	if err := pkg.ReadAsm(in); err != nil {
		return nil, nil, nil, err
	}
	return pkg, in, verify.Verify(in), nil
}

// imagesOrPackage is the run of a command whose arguments name either ELF
// images (.so files), handed to images, or a generated program's package,
// which it loads, assembles and verifies before handing it to program.
func imagesOrPackage(images func(c *cmdEnv, files []string) int, program func(c *cmdEnv, pkg *verify.Package, in *verify.Input, r *verify.Report) int) func(*cmdEnv, []string) int {
	return func(c *cmdEnv, args []string) int {
		elfArgs, err := isELFArgs(args)
		if err != nil {
			return c.usage("%v", err)
		}
		if elfArgs {
			return images(c, args)
		}
		pkg, in, r, err := c.load(args)
		if err != nil {
			return c.fail(err)
		}
		return program(c, pkg, in, r)
	}
}

// where names the file a finding is about: a stub file for the stubs
// rule, else its first variant's assembly, or the layout table.
func where(pkg *verify.Package, f verify.Finding) string {
	if p, ok := pkg.StubsFileOf(f); ok {
		return p
	}
	if len(f.Variants) > 0 {
		if p, ok := pkg.AsmFiles[f.Variants[0]]; ok {
			return p
		}
	}
	return pkg.LayoutFile
}

func printFindings(w io.Writer, pkg *verify.Package, r *verify.Report) {
	for _, f := range r.Findings {
		fmt.Fprintf(w, "%s: %s\n", where(pkg, f), f)
	}
}

func printPairs(w io.Writer, r *verify.Report) {
	for _, p := range r.Pairs {
		if p.Switchable {
			fmt.Fprintf(w, "live switch %s <-> %s: yes\n", p.A, p.B)
			continue
		}
		fmt.Fprintf(w, "live switch %s <-> %s: no: %s\n", p.A, p.B, strings.Join(p.Why, "; "))
	}
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
