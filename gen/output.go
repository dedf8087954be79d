package gen

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/vdsogen/vdsogen/layout"
)

// stale lists generated files in dir from an earlier run of program name
// that this run no longer produces (e.g. a removed variant).
func stale(dir, name string, files map[string][]byte) ([]string, error) {
	matches, err := filepath.Glob(layout.Files(name).All(dir))
	if err != nil {
		return nil, err
	}
	var out []string
	for _, path := range matches {
		base := filepath.Base(path)
		if _, ok := files[base]; ok {
			continue
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		if bytes.HasPrefix(b, []byte(header)) || isGeneratedELF(b) || layout.IsGeneratedJSON(b) {
			out = append(out, base)
		}
	}
	sort.Strings(out)
	return out, nil
}

// Drift is the difference between what a run generates and what is on disk.
type Drift struct {
	Changed, Missing, Stale []string
	// First holds, for each changed file, its first differing line.
	First map[string]string
}

func (d *Drift) empty() bool { return len(d.Changed)+len(d.Missing)+len(d.Stale) == 0 }

func (d *Drift) Error() string {
	var b strings.Builder
	b.WriteString("generated files are out of date; run go generate:")
	for _, f := range d.Missing {
		fmt.Fprintf(&b, "\n\t%s: missing", f)
	}
	for _, f := range d.Changed {
		fmt.Fprintf(&b, "\n\t%s: differs, %s", f, d.First[f])
	}
	for _, f := range d.Stale {
		fmt.Fprintf(&b, "\n\t%s: no longer generated", f)
	}
	return b.String()
}

// Check compares files with dir and reports any drift as a *Drift error.
func Check(dir, name string, files map[string][]byte) error {
	d := &Drift{First: map[string]string{}}
	for _, f := range sortedNames(files) {
		have, err := os.ReadFile(filepath.Join(dir, f))
		switch {
		case os.IsNotExist(err):
			d.Missing = append(d.Missing, f)
		case err != nil:
			return err
		case !bytes.Equal(have, files[f]):
			d.Changed = append(d.Changed, f)
			d.First[f] = firstDiff(have, files[f])
		}
	}
	var err error
	if d.Stale, err = stale(dir, name, files); err != nil {
		return err
	}
	if d.empty() {
		return nil
	}
	return d
}

func firstDiff(have, want []byte) string {
	h, w := strings.Split(string(have), "\n"), strings.Split(string(want), "\n")
	for i := 0; i < len(h) || i < len(w); i++ {
		var a, b string
		if i < len(h) {
			a = h[i]
		}
		if i < len(w) {
			b = w[i]
		}
		if a != b {
			return fmt.Sprintf("line %d: have %q, want %q", i+1, strings.TrimSpace(a), strings.TrimSpace(b))
		}
	}
	return "line endings differ"
}

// Write replaces the files in dir: each is first written in full to a
// temporary file beside it, and only when all of them are written are they
// renamed into place, with every replaced file kept until all renames and
// removals succeeded so that a failure midway restores the directory (see
// commit). Files whose contents are unchanged are not touched (their
// modification times stay), and stale generated files are removed.
func Write(dir, name string, files map[string][]byte) error {
	return writeRemoving(dir, name, files, nil)
}

// writeRemoving is Write that also removes the files named in remove (base
// names in dir), in the same transaction.
func writeRemoving(dir, name string, files map[string][]byte, remove []string) (err error) {
	info, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("output directory: %w", err)
	}
	if !info.IsDir() {
		return fmt.Errorf("output directory %s is not a directory", dir)
	}
	var todo []move // temporary files written so far
	defer func() {
		if err != nil {
			for _, p := range todo {
				os.Remove(p.tmp)
			}
		}
	}()
	for _, f := range sortedNames(files) {
		dst := filepath.Join(dir, f)
		if fi, err := os.Stat(dst); err == nil && !fi.Mode().IsRegular() {
			// Checked first (reading a named pipe would block) and before
			// any rename: a failed rename would leave the files renamed
			// before it replaced.
			return fmt.Errorf("%s is a %s, not a file: remove it so that the generated file can take its place", dst, kindOf(fi.Mode()))
		}
		if have, err := os.ReadFile(dst); err == nil && bytes.Equal(have, files[f]) {
			continue
		}
		if fi, err := os.Stat(dst); err == nil && fi.Mode().Perm()&0o200 == 0 {
			return fmt.Errorf("%s is read-only: make it writable or remove it", dst)
		}
		tmp, err := os.CreateTemp(dir, "."+f+".tmp*")
		if err != nil {
			return fmt.Errorf("writing %s: %w", dst, err)
		}
		todo = append(todo, move{tmp.Name(), dst})
		_, werr := tmp.Write(files[f])
		cerr := tmp.Close()
		if werr != nil || cerr != nil {
			return fmt.Errorf("writing %s: %w", dst, errors.Join(werr, cerr))
		}
		if err := os.Chmod(tmp.Name(), 0o644); err != nil {
			return fmt.Errorf("writing %s: %w", dst, err)
		}
	}
	old, err := stale(dir, name, files)
	if err != nil {
		return err
	}
	old = append(old, remove...)
	return commit(dir, todo, old)
}

// move is one file to put in place: tmp renamed to dst.
type move struct{ tmp, dst string }

// renameFile is os.Rename; tests replace it to make a rename fail midway.
var renameFile = os.Rename

// commit puts every file in place and removes the stale ones as one
// transaction as far as the file system allows: each file it replaces or
// removes is first kept as a hard link beside it, and if any step fails,
// every file done so far is put back (the replaced contents restored, the
// new files removed, the stale files returned), so the directory is as it
// was. The backups are removed once everything succeeded.
func commit(dir string, moves []move, stale []string) (err error) {
	type undo struct{ dst, backup string } // backup "" means dst did not exist
	var done []undo
	var backups []string
	defer func() {
		for _, m := range moves {
			os.Remove(m.tmp) // the ones not renamed; no-op for the others
		}
		if err != nil {
			for i := len(done) - 1; i >= 0; i-- {
				u := done[i]
				if u.backup == "" {
					os.Remove(u.dst)
				} else {
					os.Rename(u.backup, u.dst)
				}
			}
		}
		for _, b := range backups {
			os.Remove(b) // after a rollback only those not renamed back
		}
	}()
	backup := func(dst string) (string, error) {
		if _, err := os.Lstat(dst); os.IsNotExist(err) {
			return "", nil
		}
		b, err := os.CreateTemp(dir, "."+filepath.Base(dst)+".bak*")
		if err != nil {
			return "", err
		}
		b.Close()
		if err := os.Remove(b.Name()); err != nil {
			return "", err
		}
		if err := os.Link(dst, b.Name()); err != nil {
			return "", err
		}
		backups = append(backups, b.Name())
		return b.Name(), nil
	}
	for _, m := range moves {
		b, err := backup(m.dst)
		if err != nil {
			return fmt.Errorf("keeping a copy of %s: %w", m.dst, err)
		}
		if err := renameFile(m.tmp, m.dst); err != nil {
			return fmt.Errorf("replacing %s: %w (every output was restored)", m.dst, err)
		}
		done = append(done, undo{m.dst, b})
	}
	for _, f := range stale {
		dst := filepath.Join(dir, f)
		b, err := backup(dst)
		if err != nil {
			return fmt.Errorf("keeping a copy of stale %s: %w", f, err)
		}
		if err := os.Remove(dst); err != nil {
			return fmt.Errorf("removing stale %s: %w (every output was restored)", f, err)
		}
		done = append(done, undo{dst, b})
	}
	return nil
}

// kindOf names what a non-regular file is.
func kindOf(m os.FileMode) string {
	switch {
	case m.IsDir():
		return "directory"
	case m&os.ModeNamedPipe != 0:
		return "named pipe"
	case m&os.ModeSocket != 0:
		return "socket"
	case m&os.ModeDevice != 0:
		return "device"
	}
	return "special file"
}

func sortedNames(files map[string][]byte) []string {
	names := make([]string, 0, len(files))
	for f := range files {
		names = append(names, f)
	}
	sort.Strings(names)
	return names
}
