package gen

import (
	"github.com/vdsogen/vdsogen/dsl"
	"github.com/vdsogen/vdsogen/internal/harness"
	"github.com/vdsogen/vdsogen/internal/verify"
	"github.com/vdsogen/vdsogen/layout"
	"github.com/vdsogen/vdsogen/marker"
)

// verifyBytes runs every rule of internal/verify on the bytes of the final
// harness build, described by the table the outputs will carry: the checks
// see exactly what a later `vdsogen verify` of the written files sees. A
// failure is a *verify.Error listing every finding.
func verifyBytes(t *layout.Table, res *harness.Result) (*verify.Report, error) {
	in, err := verify.FromHarness(t, res)
	if err != nil {
		return nil, err
	}
	r := verify.Verify(in)
	return r, r.Err()
}

// siteRange is a range where variants may differ.
type siteRange struct {
	start, end int
	marker     dsl.Marker
}

// sitesOf lists the marker sites of a measured variant in program order.
func sitesOf(prog *dsl.Program, m *measured, standalone bool) []siteRange {
	var out []siteRange
	for _, mk := range prog.Markers {
		switch n := mk.(type) {
		case *dsl.StaticBranchNode:
			s, ok := m.labels[siteLabel(n.ID)]
			if ok {
				out = append(out, siteRange{s, s + len(marker.NOP5), n})
			}
		case *dsl.ThreeLabelNode:
			s, ok := m.labels[callLabel(n.ID)]
			if ok {
				out = append(out, siteRange{s, m.labels[outLabel(n.ID)], n})
			}
		case *dsl.AlternativeNode:
			s, ok := m.labels[altLabel(n.ID)]
			if ok {
				out = append(out, siteRange{s, m.labels[altEndLabel(n.ID)], n})
			}
		case *dsl.StaticCallNode:
			s, ok := m.labels[callSiteLabel(n.ID)]
			if ok && !standalone {
				out = append(out, siteRange{s, s + len(marker.NOP5), n})
			}
		}
	}
	return out
}
