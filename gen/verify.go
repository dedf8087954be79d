package gen

import (
	"sort"

	"github.com/vdsogen/vdsogen/dsl"
	"github.com/vdsogen/vdsogen/internal/harness"
	"github.com/vdsogen/vdsogen/internal/verify"
	"github.com/vdsogen/vdsogen/layout"
)

// verifyBytes runs every rule of internal/verify on the bytes of the final
// harness build, described by the table the outputs will carry, and on the
// assembly text about to be written (asm, by variant: the bytes cannot tell
// page+4096(SB) from the symbol the linker put after the page): the checks
// see exactly what a later `vdsogen verify` of the written files sees. A
// failure is a *verify.Error listing every finding. The table cites
// program lines (file:line); for the terminal, a finding cites the exact
// position of the call that produced its bytes (file:line:col), which the
// generator still holds (ms).
func verifyBytes(t *layout.Table, res *harness.Result, ms map[string]*measured, asm map[string]verify.AsmFile) (*verify.Report, error) {
	in, err := verify.FromHarness(t, res)
	if err != nil {
		return nil, err
	}
	in.Asm = asm
	r := verify.Verify(in)
	for i := range r.Findings {
		f := &r.Findings[i]
		if f.Source == "" || len(f.Variants) == 0 || ms[f.Variants[0]] == nil {
			continue
		}
		if pos, ok := ms[f.Variants[0]].posAt(f.Offset); ok {
			f.Source = pos.String()
		}
	}
	return r, r.Err()
}

// posAt is the program position of the item whose bytes start last at or
// before off: the one layout.Variant.SourceAt names.
func (m *measured) posAt(off int) (dsl.Pos, bool) {
	i := sort.Search(len(m.placed), func(i int) bool { return m.placed[i].off > off }) - 1
	if i < 0 || m.placed[i].it.pos.File == "" {
		return dsl.Pos{}, false
	}
	return m.placed[i].it.pos, true
}
