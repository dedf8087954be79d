package variants

import (
	"fmt"
	"sort"
	"strings"
)

// Pos is a position in a user's file.
type Pos struct {
	File      string
	Line, Col int // 1-based; Col counts bytes
}

// String gives "file:line:col". Parts that are unknown are left out: a
// position without a file is "line:col", one without a line is "file", and
// the zero Pos is "-".
func (p Pos) String() string {
	switch {
	case p.Line > 0 && p.File != "":
		return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Col)
	case p.Line > 0:
		return fmt.Sprintf("%d:%d", p.Line, p.Col)
	case p.File != "":
		return p.File
	}
	return "-"
}

func (p Pos) before(q Pos) bool {
	if p.File != q.File {
		return p.File < q.File
	}
	if p.Line != q.Line {
		return p.Line < q.Line
	}
	return p.Col < q.Col
}

// Error is one positioned problem.
type Error struct {
	Pos Pos
	Msg string
}

// Error returns "file:line:col: message".
func (e *Error) Error() string {
	return e.Pos.String() + ": " + e.Msg
}

// ErrorList collects all problems of one run, sorted by position. An empty
// list is never returned as an error.
type ErrorList []*Error

// Error returns the errors, one a line.
func (l ErrorList) Error() string {
	lines := make([]string, len(l))
	for i, e := range l {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// maxErrors bounds the number of errors of one run: a hostile or badly
// broken file could otherwise produce a quadratic number of them.
const maxErrors = 50

// errorCollector gathers errors up to maxErrors.
type errorCollector struct {
	list      ErrorList
	truncated bool
}

func (c *errorCollector) full() bool { return len(c.list) >= maxErrors }

func (c *errorCollector) add(pos Pos, format string, args ...any) {
	if c.full() {
		c.truncated = true
		return
	}
	c.list = append(c.list, &Error{Pos: pos, Msg: fmt.Sprintf(format, args...)})
}

// err returns the sorted list, or nil when it is empty.
func (c *errorCollector) err() error {
	if len(c.list) == 0 {
		return nil
	}
	l := c.list
	sort.SliceStable(l, func(i, j int) bool { return l[i].Pos.before(l[j].Pos) })
	if c.truncated {
		l = append(l, &Error{Pos: l[len(l)-1].Pos, Msg: fmt.Sprintf("too many errors (more than %d); fix these first", maxErrors)})
	}
	return l
}
