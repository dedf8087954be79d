package gen

import (
	"fmt"
	"sort"
	"strings"

	"github.com/vdsogen/vdsogen/internal/elfimage"
	"github.com/vdsogen/vdsogen/layout"
	"github.com/vdsogen/vdsogen/marker"
)

// debugInfo returns what the debugging sections of variant v's image
// describe: the table's source map and a label for every program label,
// marker site, static branch body, three-label exit, region boundary and
// abort handler, and alternative choice in the pool. Label names are
// <entry>.<what> (pool.<entry>.<key>.<choice> in the pool), made unique with a
// numeric suffix.
func debugInfo(v *layout.Variant, m *measured, program string) *elfimage.Debug {
	d := &elfimage.Debug{Source: v.Source, Producer: "vdsogen " + program + " " + v.Name}
	used := map[string]int{}
	add := func(name string, off int) {
		n := used[name]
		used[name]++
		if n > 0 {
			name = fmt.Sprintf("%s.%d", name, n)
		}
		d.Labels = append(d.Labels, elfimage.Label{Name: name, Offset: off})
	}
	entryAt := func(off int) string {
		for _, e := range v.Entries {
			if off >= e.Offset && off < e.Offset+e.Size {
				return e.Name
			}
		}
		return "pool"
	}
	var names []string
	for l := range m.labels {
		if !strings.HasPrefix(l, "vg_") { // the generator's own labels are named below
			names = append(names, l)
		}
	}
	sort.Strings(names)
	for _, l := range names {
		add(entryAt(m.labels[l])+"."+l, m.labels[l])
	}
	for _, s := range v.Sites {
		base := s.Entry + "." + string(s.Kind) + "." + s.Key
		add(base, s.Offset)
		tr := marker.TraitsOf(s.Kind)
		if tr.TargetRole != "" {
			add(base+"."+tr.TargetRole, s.Target)
		}
		if tr.PoolChoices {
			for _, c := range s.Choices {
				add("pool."+s.Entry+"."+s.Key+"."+c.Name, c.Offset)
			}
		}
	}
	for _, r := range v.Regions {
		base := r.Entry + ".region." + r.Name
		add(base, r.Start)
		add(base+".commit", r.Start+r.PostCommit)
		add(base+".abort", r.Abort)
	}
	// Names made unique above may still collide with an entry's symbols or
	// with each other in a contrived program: drop such a label rather than
	// fail the build over a debugging aid.
	taken := map[string]bool{}
	for _, e := range v.Entries {
		taken[e.Name], taken["__vdso_"+e.Name] = true, true
	}
	kept := d.Labels[:0]
	for _, l := range d.Labels {
		if !taken[l.Name] {
			taken[l.Name] = true
			kept = append(kept, l)
		}
	}
	d.Labels = kept
	return d
}
