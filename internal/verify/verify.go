package verify

import (
	"fmt"
	"iter"
	"strings"

	"github.com/vdsogen/vdsogen/internal/harness"
	"github.com/vdsogen/vdsogen/layout"
)

// Input is what the verifier checks.
type Input struct {
	Table *layout.Table
	// Images holds each variant's linked bytes and address, by variant name.
	Images map[string]Image
	// Resolve maps an absolute address of the build to the symbol holding
	// it and the offset inside it, as harness.Result.Resolve does.
	Resolve func(addr uint64) (sym string, off int64, ok bool)
	// MaxStack bounds the stack depth of every entry, in bytes; 0 means
	// DefaultMaxStack.
	MaxStack int
	// Asm optionally holds, by variant name, the Go assembly each image
	// was built from (Package.ReadAsm fills it). The bytes cannot tell
	// page+4096(SB) from the symbol the linker put after the page; the
	// text can, and the pages rule checks every page operand in it.
	Asm map[string]AsmFile
	// Stubs are the Go stubs that call the entries, for the stubs rule;
	// nil (the generator's layout builds, which have none yet) leaves only
	// the table's side of that rule.
	Stubs *StubFiles
	// GoTable is the Go layout table beside the JSON one (Load finds it),
	// for the table rule; nil in the generator, which writes both.
	GoTable *GoTable
}

// AsmFile is one variant's assembly text and its path (for positions).
type AsmFile struct {
	Path string
	Text []byte
}

// Image is one variant image as linked.
type Image struct {
	Addr  uint64
	Bytes []byte
}

// DefaultMaxStack is the stack bound when Input.MaxStack is 0. Entries run
// on the goroutine stack behind a NOSPLIT stub; Go's whole NOSPLIT budget is
// 800 bytes, so an image should stay far below it.
const DefaultMaxStack = 256

// FromHarness is the Input for the images of t in a harness build.
func FromHarness(t *layout.Table, res *harness.Result) (*Input, error) {
	in := &Input{Table: t, Images: map[string]Image{}, Resolve: res.Resolve}
	for _, v := range t.Variants {
		img, ok := res.Images[v.Symbol]
		if !ok {
			return nil, fmt.Errorf("variant %s: the build has no image %s", v.Name, v.Symbol)
		}
		in.Images[v.Name] = Image{Addr: img.Addr, Bytes: img.Bytes}
	}
	return in, nil
}

// Finding is one rule violation.
type Finding struct {
	// Check is the rule's name.
	Check string `json:"check"`
	// Variants are the variants involved, the one the offset is in first.
	Variants []string `json:"variants"`
	Entry    string   `json:"entry,omitempty"`
	Offset   int      `json:"offset"`
	// Inst is the decoded instruction at Offset in each of Variants (an
	// empty string where there is none).
	Inst []string `json:"inst,omitempty"`
	// Source is the program line that produced the bytes at Offset in
	// Variants[0] as the table cites it, e.g. "asm.go:39" (the generator
	// refines it to the exact call, "asm.go:39:2"); for the stubs rule, the
	// line of the stub file at fault, e.g. "zclock_stubs_amd64.s:33".
	Source string `json:"source,omitempty"`
	Msg    string `json:"msg"`
}

// String formats f as
//
//	source: check: variant(s) v[, w], entry e, offset 0x..: msg [v: inst; w: inst]
//
// source, the program position (file:line:col) that produced the bytes,
// leads as in a compiler's message; a finding about the table has none.
func (f Finding) String() string {
	var b strings.Builder
	if f.Source != "" {
		b.WriteString(f.Source + ": ")
	}
	b.WriteString(f.Check + ": ")
	switch len(f.Variants) {
	case 0:
	case 1:
		b.WriteString("variant " + f.Variants[0] + ", ")
	default:
		b.WriteString("variants " + strings.Join(f.Variants, ", ") + ", ")
	}
	if f.Entry != "" {
		b.WriteString("entry " + f.Entry + ", ")
	}
	fmt.Fprintf(&b, "offset %#x: %s", f.Offset, f.Msg)
	if len(f.Inst) > 0 {
		var parts []string
		for i, in := range f.Inst {
			if in == "" {
				in = "-"
			}
			if i < len(f.Variants) {
				parts = append(parts, f.Variants[i]+": "+in)
			} else {
				parts = append(parts, in)
			}
		}
		b.WriteString(" [" + strings.Join(parts, "; ") + "]")
	}
	return b.String()
}

// EntryStack is the maximum stack depth of one entry in one variant, in
// bytes below the return address the caller pushed.
type EntryStack struct {
	Variant string `json:"variant"`
	Entry   string `json:"entry"`
	Max     int    `json:"max"`
}

// Pair says whether two variants can be switched live, while threads run in
// the image, by rewriting the differing bytes in place.
type Pair struct {
	A          string   `json:"a"`
	B          string   `json:"b"`
	Switchable bool     `json:"switchable"`
	Why        []string `json:"why,omitempty"`
}

// Report is the verifier's result.
type Report struct {
	Findings []Finding    `json:"findings"`
	Stack    []EntryStack `json:"stack"`
	Pairs    []Pair       `json:"pairs"`
}

// OK reports whether no rule found anything.
func (r *Report) OK() bool { return len(r.Findings) == 0 }

// MaxStack returns the maximum stack depth of entry in variant, and false
// if it was not computed.
func (r *Report) MaxStack(variant, entry string) (int, bool) {
	for _, s := range r.Stack {
		if s.Variant == variant && s.Entry == entry {
			return s.Max, true
		}
	}
	return 0, false
}

// Error is a failed verification: every finding.
type Error struct{ Findings []Finding }

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("verification failed on the assembled bytes:")
	for _, f := range e.Findings {
		b.WriteString("\n\t" + f.String())
	}
	return b.String()
}

// Err returns the report's findings as an *Error, or nil.
func (r *Report) Err() error {
	if r.OK() {
		return nil
	}
	return &Error{Findings: r.Findings}
}

// results are what a rule proves for the rules after it; each rule takes
// what it needs as an argument.
type results struct {
	flow  *flowResult
	stack *stackResult
}

// rule is one named check.
type rule struct {
	name string
	run  func(*Pass, *results)
}

// rules are the checks Verify runs, in order: flow builds the graphs the
// stack, regions and pages rules follow; regions needs stack's depths.
var rules = []rule{
	{"entries", func(p *Pass, _ *results) { entries(p) }},
	{"sites", func(p *Pass, _ *results) { sites(p) }},
	{"flow", func(p *Pass, r *results) { r.flow = flow(p) }},
	{"stack", func(p *Pass, r *results) { r.stack = stack(p, r.flow) }},
	{"regions", func(p *Pass, r *results) { regions(p, r.flow, r.stack) }},
	{"reach", func(p *Pass, _ *results) { reach(p) }},
	{"pages", func(p *Pass, r *results) { pages(p, r.flow) }},
	{"swap", func(p *Pass, _ *results) { swap(p) }},
	{"stubs", func(p *Pass, _ *results) { stubs(p) }},
	{CheckTable, func(p *Pass, _ *results) { goTable(p) }},
}

// Pass is the state the rules share: the decoded images and the report.
type Pass struct {
	In     *Input
	Report *Report
	// images are the decoded variants in table order; shared are the
	// non-standalone ones.
	images []*image
	shared []*image
	rule   string
}

// Verify decodes every image and runs every rule.
func Verify(in *Input) *Report {
	p := newPass(in)
	var r results
	for _, ru := range rules {
		p.rule = ru.name
		ru.run(p, &r)
	}
	return p.Report
}

func newPass(in *Input) *Pass {
	p := &Pass{In: in, Report: &Report{Findings: []Finding{}, Stack: []EntryStack{}, Pairs: []Pair{}}}
	for i := range in.Table.Variants {
		v := &in.Table.Variants[i]
		im := decodeImage(v, in.Images[v.Name], in.Resolve)
		p.images = append(p.images, im)
		if !v.Standalone {
			p.shared = append(p.shared, im)
		}
	}
	return p
}

// errorf records a finding of the running rule at offset off of im; other
// lists further variants whose instruction at off is shown too.
func (p *Pass) errorf(im *image, off int, other []*image, format string, args ...any) {
	f := Finding{Check: p.rule, Offset: off, Msg: fmt.Sprintf(format, args...)}
	if im != nil {
		f.Variants = []string{im.v.Name}
		f.Entry = im.entryName(off)
		f.Source = im.v.SourceAt(off)
		if len(other) > 0 || im.instAt(off) != nil {
			f.Inst = []string{im.render(off)}
		}
		for _, o := range other {
			f.Variants = append(f.Variants, o.v.Name)
			f.Inst = append(f.Inst, o.render(off))
		}
	}
	p.Report.Findings = append(p.Report.Findings, f)
}

// againstFirst yields every shared variant after the first together with
// the first: the reference the rules compare the others with.
func (p *Pass) againstFirst() iter.Seq2[*image, *image] {
	return func(yield func(im, ref *image) bool) {
		for i := 1; i < len(p.shared); i++ {
			if !yield(p.shared[i], p.shared[0]) {
				return
			}
		}
	}
}

// countsDiffer reports a table error if variant im has n records (what)
// where the reference variant ref has m.
func (p *Pass) countsDiffer(im, ref *image, what string, n, m int) bool {
	if n == m {
		return false
	}
	p.tableErrorf([]string{im.v.Name, ref.v.Name}, "", 0, "variant %s has %d %s, variant %s %d", im.v.Name, n, what, ref.v.Name, m)
	return true
}

// tableErrorf records a finding about the table itself.
func (p *Pass) tableErrorf(variants []string, entry string, off int, format string, args ...any) {
	p.Report.Findings = append(p.Report.Findings, Finding{Check: p.rule, Variants: variants, Entry: entry, Offset: off, Msg: fmt.Sprintf(format, args...)})
}
