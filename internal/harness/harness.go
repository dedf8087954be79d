package harness

import (
	"bytes"
	"context"
	"debug/elf"
	"debug/gosym"
	"errors"
	"fmt"
	"go/build"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"
)

// Input is what Build assembles.
type Input struct {
	// AsmFiles maps a file name (e.g. "zclock_host_amd64.s") to its contents.
	// TEXT symbols are in package main, e.g.
	// `TEXT ·clock_host(SB), NOSPLIT|NOFRAME, $0`.
	AsmFiles map[string][]byte
	// Images are the TEXT symbol names (no middle dot, e.g. "clock_host") to
	// keep alive and read back.
	Images []string
	// Data declares package-level Go byte arrays for data references:
	// name -> size in bytes.
	Data map[string]int
}

// Image is one image symbol as linked.
type Image struct {
	Name  string
	Addr  uint64 // virtual address in the linked binary
	Bytes []byte // exactly the symbol's st_size bytes
}

// Symbol is a text or data symbol of package main. Name has neither the
// "main." prefix nor an ".abi0" suffix.
type Symbol struct {
	Name       string
	Addr, Size uint64
}

// Result is what Build measured.
type Result struct {
	Images map[string]Image
	// Symbols holds every data and text symbol of package main, sorted by
	// Addr (then Name): the images, the Data arrays, any other symbol of
	// AsmFiles the linker kept, and the harness's own "main" and "keep".
	Symbols []Symbol
	// lines is the build's PC-to-line table (.gopclntab), or nil.
	lines *gosym.Table
}

// Line returns the source line that produced the instruction at addr: the
// base name of the file (e.g. "zclock_stubs_amd64.s") and the line, as the
// toolchain recorded them in the binary's line table. An instruction the
// assembler inserted (a frame prologue) has the line of its TEXT or RET.
func (r *Result) Line(addr uint64) (file string, line int, ok bool) {
	if r == nil || r.lines == nil {
		return "", 0, false
	}
	f, l, fn := r.lines.PCToLine(addr)
	if fn == nil || f == "" {
		return "", 0, false
	}
	return filepath.Base(f), l, true
}

// Resolve maps an absolute address to the package-main symbol containing it
// (Addr <= addr < Addr+Size; addr == Addr is also accepted for a zero-size
// symbol) and the offset inside it. A symbol with a size is preferred over a
// zero-size symbol at the same address.
func (r *Result) Resolve(addr uint64) (sym string, off int64, ok bool) {
	if r == nil {
		return "", 0, false
	}
	zero := -1
	for i, s := range r.Symbols {
		if s.Addr > addr {
			break // sorted by Addr
		}
		if addr-s.Addr < s.Size {
			return s.Name, int64(addr - s.Addr), true
		}
		if s.Size == 0 && s.Addr == addr && zero < 0 {
			zero = i
		}
	}
	if zero >= 0 {
		return r.Symbols[zero].Name, 0, true
	}
	return "", 0, false
}

// BuildError is returned when the toolchain fails. Output is the toolchain's
// own output with the temporary directory prefix removed, so lines read like
// "zclock_host_amd64.s:12: unrecognized instruction ...".
type BuildError struct {
	Output string
}

func (e *BuildError) Error() string {
	return "harness: go build failed:\n" + strings.TrimRight(e.Output, "\n")
}

const (
	modulePath = "vdsogenharness"
	keepFile   = "keep_amd64.s"
	binName    = "harness.bin"
)

// reserved are names the harness itself declares in package main (or that
// Go does not allow as a package-level variable).
var reserved = map[string]bool{"keep": true, "main": true, "init": true, "_": true}

// validate checks in before anything is written.
func validate(in Input) error {
	for name := range in.AsmFiles {
		switch {
		case name == "":
			return errors.New("harness: empty assembly file name")
		case strings.ContainsAny(name, `/\`) || name != filepath.Base(name):
			return fmt.Errorf("harness: assembly file name %q must not contain a path separator", name)
		case !strings.HasSuffix(name, ".s") || len(name) == len(".s"):
			return fmt.Errorf("harness: assembly file name %q must end in .s", name)
		case name[0] == '.' || name[0] == '_':
			return fmt.Errorf("harness: assembly file name %q must not start with %q (go build ignores such files)", name, name[0])
		case strings.ContainsRune(name, 0):
			return fmt.Errorf("harness: assembly file name %q contains a NUL byte", name)
		case name == keepFile:
			return fmt.Errorf("harness: assembly file name %q is used by the harness itself", name)
		}
	}
	seen := map[string]string{}
	for _, name := range in.Images {
		if err := checkName("image", name); err != nil {
			return err
		}
		if seen[name] != "" {
			return fmt.Errorf("harness: image %q is listed twice", name)
		}
		seen[name] = "image"
	}
	for name, size := range in.Data {
		if err := checkName("data", name); err != nil {
			return err
		}
		if seen[name] != "" {
			return fmt.Errorf("harness: data %q has the same name as an image", name)
		}
		if size < 0 {
			return fmt.Errorf("harness: data %q has negative size %d", name, size)
		}
	}
	return nil
}

func checkName(kind, name string) error {
	if !token.IsIdentifier(name) {
		return fmt.Errorf("harness: %s name %q is not a Go identifier", kind, name)
	}
	if reserved[name] {
		return fmt.Errorf("harness: %s name %q collides with a name the harness declares in package main", kind, name)
	}
	return nil
}

// sources returns the harness's own files: go.mod, main.go and keep_amd64.s.
// Their contents are deterministic so that identical inputs hit the build
// cache.
func sources(in Input) map[string][]byte {
	data := make([]string, 0, len(in.Data))
	for name := range in.Data {
		data = append(data, name)
	}
	sort.Strings(data)

	var mainGo bytes.Buffer
	mainGo.WriteString("// Code generated by vdsogen's harness. DO NOT EDIT.\n\npackage main\n\n")
	for _, name := range data {
		fmt.Fprintf(&mainGo, "var %s [%d]byte\n", name, in.Data[name])
	}
	if len(data) > 0 {
		mainGo.WriteString("\n")
	}
	mainGo.WriteString("func keep()\n\nfunc main() { keep() }\n")

	var keep bytes.Buffer
	keep.WriteString("// Code generated by vdsogen's harness. DO NOT EDIT.\n\n#include \"textflag.h\"\n\n")
	keep.WriteString("TEXT ·keep(SB), NOSPLIT|NOFRAME, $0-0\n")
	for _, name := range in.Images {
		fmt.Fprintf(&keep, "\tLEAQ ·%s(SB), AX\n", name)
	}
	for _, name := range data {
		fmt.Fprintf(&keep, "\tLEAQ ·%s(SB), AX\n", name)
	}
	keep.WriteString("\tRET\n")

	return map[string][]byte{
		"go.mod":  []byte("module " + modulePath + "\n\ngo 1.22\n"),
		"main.go": mainGo.Bytes(),
		keepFile:  keep.Bytes(),
	}
}

// goCommand finds the go command: on $PATH, else in $GOROOT/bin.
func goCommand() (string, error) {
	if p, err := exec.LookPath("go"); err == nil {
		return p, nil
	}
	root := os.Getenv("GOROOT")
	if root == "" {
		root = build.Default.GOROOT
	}
	if root != "" {
		p := filepath.Join(root, "bin", "go")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", errors.New("harness: no go command found on $PATH or in $GOROOT/bin")
}

// Build writes a temporary module with in's files, runs `go build` there,
// reads the binary with debug/elf, and removes the temporary directory in
// every case (also when ctx is cancelled). A toolchain failure is returned as
// a *BuildError.
func Build(ctx context.Context, in Input) (res *Result, err error) {
	if err := validate(in); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("harness: %w", err)
	}
	goCmd, err := goCommand()
	if err != nil {
		return nil, err
	}

	root, err := os.MkdirTemp("", "vdsogen-harness-")
	if err != nil {
		return nil, fmt.Errorf("harness: %w", err)
	}
	defer func() {
		if rerr := removeAll(root); rerr != nil && err == nil {
			res, err = nil, fmt.Errorf("harness: removing temporary directory: %w", rerr)
		}
	}()
	// root/mod is the module, root/work is GOTMPDIR (the go command's own
	// $WORK, so that nothing is left in $TMPDIR when it is killed), and the
	// binary is root/harness.bin.
	modDir := filepath.Join(root, "mod")
	workDir := filepath.Join(root, "work")
	for _, d := range []string{modDir, workDir} {
		if err := os.Mkdir(d, 0o755); err != nil {
			return nil, fmt.Errorf("harness: %w", err)
		}
	}
	files := sources(in)
	for name, content := range in.AsmFiles {
		files[name] = content
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(modDir, name), content, 0o644); err != nil {
			return nil, fmt.Errorf("harness: %w", err)
		}
	}
	if err := checkIncluded(modDir, in.AsmFiles); err != nil {
		return nil, err
	}

	bin := filepath.Join(root, binName)
	// -trimpath keeps the directory out of the cache keys (identical inputs
	// hit the cache although every Build uses a new directory); -w skips
	// DWARF, which nothing here reads (the symbol table stays).
	cmd := exec.CommandContext(ctx, goCmd, "build", "-trimpath", "-buildvcs=false", "-ldflags=-w", "-o", bin, ".")
	cmd.Dir = modDir
	cmd.Env = append(os.Environ(),
		"GOOS=linux", "GOARCH=amd64", "CGO_ENABLED=0", "GOWORK=off",
		"GOFLAGS=-mod=mod", "GO111MODULE=on", "GOTMPDIR="+workDir,
		"PWD="+modDir,
	)
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	cmd.WaitDelay = 10 * time.Second
	setProcessGroup(cmd)
	runErr := cmd.Run()
	if runErr != nil {
		if cerr := ctx.Err(); cerr != nil {
			waitProcessGroup(cmd)
			return nil, fmt.Errorf("harness: go build: %w", cerr)
		}
		var exitErr *exec.ExitError
		if !errors.As(runErr, &exitErr) {
			return nil, fmt.Errorf("harness: running %s: %w", goCmd, runErr)
		}
		text := cleanOutput(out.String(), root, modDir)
		if strings.TrimSpace(text) == "" {
			text = "go build: " + runErr.Error() + "\n"
		}
		return nil, &BuildError{Output: text}
	}
	return readBinary(bin, in.Images)
}

// checkIncluded reports an assembly file that go build would silently skip
// because of its name or build constraints.
func checkIncluded(dir string, files map[string][]byte) error {
	bc := build.Default
	bc.GOOS, bc.GOARCH, bc.CgoEnabled = "linux", "amd64", false
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		ok, err := bc.MatchFile(dir, name)
		if err != nil {
			return fmt.Errorf("harness: %s: %w", name, err)
		}
		if !ok {
			return fmt.Errorf("harness: %s: go build would ignore this file for linux/amd64 (file name suffix or build constraint)", name)
		}
	}
	return nil
}

// removeAll removes dir, retrying briefly: after a cancelled build a dying
// tool may still hold or create a file for a moment.
func removeAll(dir string) error {
	var err error
	for i := range 20 {
		if err = os.RemoveAll(dir); err == nil {
			return nil
		}
		time.Sleep(time.Duration(i+1) * 5 * time.Millisecond)
	}
	return err
}

var relDot = regexp.MustCompile(`(?m)(^|[\s(])\./`)

// cleanOutput removes the temporary directory from the toolchain's output.
func cleanOutput(s, root, modDir string) string {
	for _, dir := range []string{modDir, root} {
		forms := []string{dir}
		if real, err := filepath.EvalSymlinks(dir); err == nil && real != dir {
			forms = append(forms, real)
		}
		for _, f := range forms {
			s = strings.ReplaceAll(s, f+string(filepath.Separator), "")
			s = strings.ReplaceAll(s, f, ".")
		}
	}
	return relDot.ReplaceAllString(s, "$1")
}

// readBinary reads the package-main symbols and the images' bytes.
func readBinary(path string, images []string) (*Result, error) {
	f, err := elf.Open(path)
	if err != nil {
		return nil, fmt.Errorf("harness: reading the built binary: %w", err)
	}
	defer f.Close()
	if f.Machine != elf.EM_X86_64 {
		return nil, fmt.Errorf("harness: built binary is for %v, want EM_X86_64", f.Machine)
	}
	syms, err := f.Symbols()
	if err != nil {
		return nil, fmt.Errorf("harness: reading the built binary's symbol table: %w", err)
	}

	res := &Result{Images: make(map[string]Image, len(images)), lines: lineTable(f)}
	type found struct {
		sym  elf.Symbol
		abi0 bool
	}
	byName := map[string]found{}
	for _, s := range syms {
		typ := elf.ST_TYPE(s.Info)
		if typ != elf.STT_FUNC && typ != elf.STT_OBJECT {
			continue
		}
		name, ok := strings.CutPrefix(s.Name, "main.")
		if !ok || name == "" {
			continue
		}
		name, abi0 := strings.CutSuffix(name, ".abi0")
		res.Symbols = append(res.Symbols, Symbol{Name: name, Addr: s.Value, Size: s.Size})
		// For an assembly function with a Go declaration, the ABI0 body
		// is the assembly; "main.name" is then the ABIInternal wrapper.
		if prev, dup := byName[name]; !dup || (abi0 && !prev.abi0) {
			byName[name] = found{s, abi0}
		}
	}
	sort.SliceStable(res.Symbols, func(i, j int) bool {
		a, b := res.Symbols[i], res.Symbols[j]
		if a.Addr != b.Addr {
			return a.Addr < b.Addr
		}
		return a.Name < b.Name
	})

	for _, name := range images {
		fs, ok := byName[name]
		if !ok {
			return nil, fmt.Errorf("harness: image %q: no symbol main.%s or main.%s.abi0 in the built binary", name, name, name)
		}
		b, err := symbolBytes(f, fs.sym)
		if err != nil {
			return nil, fmt.Errorf("harness: image %q: %w", name, err)
		}
		res.Images[name] = Image{Name: name, Addr: fs.sym.Value, Bytes: b}
	}
	return res, nil
}

// lineTable reads the binary's PC-to-line table, or returns nil if it has
// none (Line then reports nothing).
func lineTable(f *elf.File) *gosym.Table {
	pcln, text := f.Section(".gopclntab"), f.Section(".text")
	if pcln == nil || text == nil {
		return nil
	}
	data, err := pcln.Data()
	if err != nil {
		return nil
	}
	t, err := gosym.NewTable(nil, gosym.NewLineTable(data, text.Addr))
	if err != nil {
		return nil
	}
	return t
}

// symbolBytes reads a symbol's st_size bytes from the section containing it.
func symbolBytes(f *elf.File, s elf.Symbol) ([]byte, error) {
	for _, sec := range f.Sections {
		if sec.Flags&elf.SHF_ALLOC == 0 || s.Value < sec.Addr || s.Value-sec.Addr >= sec.Size {
			continue
		}
		if s.Size > sec.Size-(s.Value-sec.Addr) {
			return nil, fmt.Errorf("symbol %s [%#x, +%d) runs past the end of section %s", s.Name, s.Value, s.Size, sec.Name)
		}
		if sec.Type == elf.SHT_NOBITS {
			return nil, fmt.Errorf("symbol %s is in section %s, which has no bytes in the file", s.Name, sec.Name)
		}
		b := make([]byte, s.Size)
		if _, err := sec.ReadAt(b, int64(s.Value-sec.Addr)); err != nil {
			return nil, fmt.Errorf("reading %s from section %s: %w", s.Name, sec.Name, err)
		}
		return b, nil
	}
	return nil, fmt.Errorf("symbol %s at %#x is in no section", s.Name, s.Value)
}
