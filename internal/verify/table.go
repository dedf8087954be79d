package verify

import (
	"bytes"
	"fmt"
	"go/parser"
	"go/token"
	"path/filepath"

	"github.com/vdsogen/vdsogen/internal/gotable"
	"github.com/vdsogen/vdsogen/layout"
)

// GoTable is the Go layout table a package links (z<name>_layout_amd64.go),
// as found beside the JSON table the tools read.
type GoTable struct {
	Path string
	// Text is the file's content; nil if the file is missing.
	Text []byte
}

// CheckTable is the check that the Go layout table a program links is the
// Go form of the JSON table the verifier read (goTable).
const CheckTable = "table"

// goTable proves that the Go table the package compiles (the one its
// stubs, loader and tests use) says exactly what the JSON table says: the
// generator writes both from one value, so the Go file must be the bytes
// gotable.Render gives for the JSON table, in the file's own package.
// Anything else (a hand edit, a stale file) would verify one table and run
// with another.
func goTable(p *Pass) {
	g := p.In.GoTable
	if g == nil {
		return // the generator's own builds: it writes both from one value
	}
	name := filepath.Base(g.Path)
	if g.Text == nil {
		p.Report.Findings = append(p.Report.Findings, Finding{Check: CheckTable, Source: name,
			Msg: fmt.Sprintf("%s is missing: the program links no layout table (regenerate)", name)})
		return
	}
	f, err := parser.ParseFile(token.NewFileSet(), name, g.Text, parser.PackageClauseOnly)
	if err != nil {
		p.Report.Findings = append(p.Report.Findings, Finding{Check: CheckTable, Source: name, Msg: fmt.Sprintf("not a Go file: %v", err)})
		return
	}
	want, err := gotable.Render(f.Name.Name, layout.Files(p.In.Table.Program).TableVar(), p.In.Table)
	if err != nil {
		p.Report.Findings = append(p.Report.Findings, Finding{Check: CheckTable, Source: name, Msg: err.Error()})
		return
	}
	if bytes.Equal(want, g.Text) {
		return
	}
	line, have, exp := firstDiff(g.Text, want)
	p.Report.Findings = append(p.Report.Findings, Finding{Check: CheckTable, Source: fmt.Sprintf("%s:%d", name, line),
		Msg: fmt.Sprintf("the Go table is not the JSON table %s: the file has %q where the JSON table gives %q (regenerate with go generate)",
			layout.Files(p.In.Table.Program).TableJSON(), have, exp)})
}

// firstDiff returns the first line (1-based) at which a and b differ, and
// that line of each.
func firstDiff(a, b []byte) (int, string, string) {
	la, lb := bytes.Split(a, []byte("\n")), bytes.Split(b, []byte("\n"))
	for i := 0; i < max(len(la), len(lb)); i++ {
		var x, y []byte
		if i < len(la) {
			x = la[i]
		}
		if i < len(lb) {
			y = lb[i]
		}
		if !bytes.Equal(x, y) {
			return i + 1, string(bytes.TrimSpace(x)), string(bytes.TrimSpace(y))
		}
	}
	return 0, "", ""
}
