package variants

import (
	"bytes"
	"errors"
	"io"
	"os"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/pelletier/go-toml/v2"
	"github.com/pelletier/go-toml/v2/unstable"
)

// maxFileSize is the largest definitions file accepted, in bytes.
const maxFileSize = 1 << 20

// standaloneAttr is the reserved attribute that makes a variant standalone.
const standaloneAttr = "standalone"

// Load reads the definitions file at path and parses it. I/O errors are
// returned wrapped (they name the path); problems in the file as an
// ErrorList.
func Load(path string) (*Set, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err // an *fs.PathError: the caller names the flag or file
	}
	defer f.Close()
	// Read one byte more than the limit so that Parse reports the size.
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, err
	}
	return Parse(path, data)
}

// Parse parses the contents of a definitions file; filename is used in
// positions. On failure the error is an ErrorList and the Set is nil.
func Parse(filename string, data []byte) (*Set, error) {
	p := &parser{file: filename}
	p.parse(data)
	if err := p.errs.err(); err != nil {
		return nil, err
	}
	return p.set(), nil
}

// variantState is a variant being parsed.
type variantState struct {
	Variant
	fromHeader    bool // defined by a [variant.NAME] header, not by dotted keys
	standalonePos Pos  // where standalone is set, if it is
}

type keyRef struct {
	variant string
	pos     Pos
	choice  bool // a choice (string) key, not a switch
}

type parser struct {
	file  string
	src   []byte // the document, without a byte order mark
	lines []int  // offset in src of the start of every line
	errs  errorCollector

	variants []*variantState
	byName   map[string]*variantState
	keyFirst map[string]keyRef // the first assignment of each key
}

func (p *parser) parse(data []byte) {
	p.byName = map[string]*variantState{}
	p.keyFirst = map[string]keyRef{}
	start := Pos{File: p.file, Line: 1, Col: 1}
	if len(data) > maxFileSize {
		p.errs.add(start, "file is larger than 1 MiB (%d bytes); a variants file defines a few variants", maxFileSize)
		return
	}
	// An editor's byte order mark is not part of the text: drop it so that
	// the first character is at column 1.
	p.src = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	p.lines = []int{0}
	for i, c := range p.src {
		if c == '\n' {
			p.lines = append(p.lines, i+1)
		}
	}
	if !p.checkText() {
		return
	}

	var tp unstable.Parser
	tp.Reset(p.src)
	var cur *variantState // the table that key-values belong to
	inTable := false      // a table header has been seen
	for tp.NextExpression() {
		e := tp.Expression()
		switch e.Kind {
		case unstable.Table, unstable.ArrayTable:
			inTable = true
			cur = p.header(e)
		case unstable.KeyValue:
			switch {
			case inTable && cur != nil:
				p.keyValue(cur, e, keyParts(e)[0])
			case inTable:
				// In a table already reported as wrong.
			default:
				p.topKeyValue(e)
			}
		}
	}
	if err := tp.Error(); err != nil {
		p.syntaxError(err)
		return
	}
	p.crossCheck()
	if len(p.errs.list) == 0 {
		// The AST parser leaves some checks of TOML validity to the
		// decoder. Everything accepted above is plain TOML, so this
		// should never fail; it guards against accepting a document
		// other TOML tools reject.
		var doc map[string]any
		if err := toml.Unmarshal(p.src, &doc); err != nil {
			var de *toml.DecodeError
			pos := start
			msg := err.Error()
			if errors.As(err, &de) {
				pos.Line, pos.Col = de.Position()
				msg = strings.TrimPrefix(de.Error(), "toml: ")
			}
			p.errs.add(pos, "invalid TOML: %s", msg)
		}
	}
}

// checkText reports the first byte that is not UTF-8 text: the TOML parser
// does not check every part of the document.
func (p *parser) checkText() bool {
	for i := 0; i < len(p.src); {
		c := p.src[i]
		if c == 0 {
			p.errs.add(p.pos(i), "NUL byte; a variants file must be UTF-8 text")
			return false
		}
		if c < utf8.RuneSelf {
			i++
			continue
		}
		r, n := utf8.DecodeRune(p.src[i:])
		if r == utf8.RuneError && n == 1 {
			p.errs.add(p.pos(i), "invalid UTF-8 (byte 0x%02x); a variants file must be UTF-8 text", c)
			return false
		}
		i += n
	}
	return true
}

// pos converts an offset in src to a position.
func (p *parser) pos(off int) Pos {
	off = max(0, min(off, len(p.src)))
	line := sort.Search(len(p.lines), func(i int) bool { return p.lines[i] > off }) // >= 1
	return Pos{File: p.file, Line: line, Col: off - p.lines[line-1] + 1}
}

// offset returns the offset in src of b, a subslice of src.
func (p *parser) offset(b []byte) int {
	return cap(p.src) - cap(b)
}

func (p *parser) syntaxError(err error) {
	pos := Pos{File: p.file, Line: 1, Col: 1}
	msg := err.Error()
	var pe *unstable.ParserError
	if errors.As(err, &pe) {
		pos = p.pos(p.offset(pe.Highlight))
		msg = pe.Message
	}
	p.errs.add(pos, "TOML syntax error: %s", msg)
}

// keyPart is one part of a possibly dotted key.
type keyPart struct {
	name string
	off  int // offset of its first byte (a quote for a quoted key)
	end  int // offset just past it
}

func keyParts(e *unstable.Node) []keyPart {
	var parts []keyPart
	it := e.Key()
	for it.Next() {
		k := it.Node()
		off := int(k.Raw.Offset)
		parts = append(parts, keyPart{name: string(k.Data), off: off, end: off + int(k.Raw.Length)})
	}
	return parts
}

func joinKey(parts []keyPart) string {
	names := make([]string, len(parts))
	for i, k := range parts {
		names[i] = k.name
	}
	return strings.Join(names, ".")
}

// validName reports whether s matches ^[a-z][a-z0-9_]*$.
func validName(s string) bool {
	if s == "" || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

const nameRule = "use a lower-case letter followed by lower-case letters, digits or underscores (^[a-z][a-z0-9_]*$), as it becomes part of Go symbol and file names"

// header handles a table header and returns the variant that the following
// key-values belong to, nil if the table is wrong.
func (p *parser) header(e *unstable.Node) *variantState {
	parts := keyParts(e)
	// The header starts at its '[' (or "[[").
	off := parts[0].off
	for off > 0 && (p.src[off-1] == ' ' || p.src[off-1] == '\t') {
		off--
	}
	for n := 0; off > 0 && p.src[off-1] == '[' && n < 2; n++ {
		off--
	}
	pos := p.pos(off)
	if e.Kind == unstable.ArrayTable {
		p.errs.add(pos, "unexpected array of tables %q: only [variant.NAME] tables are allowed", joinKey(parts))
		return nil
	}
	if len(parts) != 2 || parts[0].name != "variant" {
		p.errs.add(pos, "unexpected table %q: only [variant.NAME] tables are allowed", joinKey(parts))
		return nil
	}
	name := parts[1]
	if v := p.byName[name.name]; v != nil {
		p.errs.add(pos, "variant %q is already defined at %s; put all its keys in one [variant.%s] table", name.name, v.Pos, name.name)
		return nil
	}
	if !validName(name.name) {
		p.errs.add(p.pos(name.off), "variant name %q is not valid: %s", name.name, nameRule)
	}
	return p.newVariant(name.name, pos, true)
}

func (p *parser) newVariant(name string, pos Pos, fromHeader bool) *variantState {
	v := &variantState{
		Variant: Variant{
			Name:     name,
			Keys:     map[string]bool{},
			Choices:  map[string]string{},
			Pos:      pos,
			KeyPos:   map[string]Pos{},
			ValuePos: map[string]Pos{},
		},
		fromHeader: fromHeader,
	}
	p.variants = append(p.variants, v)
	p.byName[name] = v
	return v
}

// topKeyValue handles a key-value before the first table header: only the
// dotted form variant.NAME.KEY = value is allowed there.
func (p *parser) topKeyValue(e *unstable.Node) {
	parts := keyParts(e)
	if len(parts) != 3 || parts[0].name != "variant" {
		p.errs.add(p.pos(parts[0].off), "unexpected key %q: only [variant.NAME] tables are allowed", joinKey(parts))
		return
	}
	name := parts[1]
	v := p.byName[name.name]
	if v == nil {
		if !validName(name.name) {
			p.errs.add(p.pos(name.off), "variant name %q is not valid: %s", name.name, nameRule)
		}
		v = p.newVariant(name.name, p.pos(parts[0].off), false)
	}
	p.keyValue(v, e, parts[2])
}

// keyValue handles the assignment of key (the last part of e's key) in v.
func (p *parser) keyValue(v *variantState, e *unstable.Node, key keyPart) {
	if parts := keyParts(e); v.fromHeader && len(parts) > 1 {
		p.errs.add(p.pos(parts[0].off), "dotted key %q in [variant.%s]: keys are plain names", joinKey(parts), v.Name)
		return
	}
	pos := p.pos(key.off)
	// The value follows the key, blanks, '=' and blanks.
	voff := key.end
	for voff < len(p.src) && strings.IndexByte(" \t=", p.src[voff]) >= 0 {
		voff++
	}
	val := e.Value()
	isChoice := val.Kind == unstable.String
	if val.Kind != unstable.Bool && (!isChoice || key.name == standaloneAttr) {
		text := p.src[voff : e.Raw.Offset+e.Raw.Length]
		if key.name == standaloneAttr {
			p.errs.add(p.pos(voff), "key %q must be true or false, got %s", key.name, describe(val.Kind, text))
		} else {
			p.errs.add(p.pos(voff), "key %q must be true or false (a switch) or a string (an Alternative or StaticCall choice), got %s", key.name, describe(val.Kind, text))
		}
		// Go on: the key is set, though wrongly.
	}
	b := string(val.Data) == "true"

	if key.name == standaloneAttr {
		if v.standalonePos.Line > 0 {
			p.errs.add(pos, "%q is set twice in variant %q (first at %s); remove one", key.name, v.Name, v.standalonePos)
			return
		}
		v.Standalone = b
		v.standalonePos = pos
		return
	}
	if !validName(key.name) {
		// Not recorded: it would make every other variant miss it.
		p.errs.add(pos, "key name %q is not valid: %s", key.name, nameRule)
		return
	}
	if first, ok := v.KeyPos[key.name]; ok {
		p.errs.add(pos, "key %q is set twice in variant %q (first at %s); remove one", key.name, v.Name, first)
		return
	}
	if first, ok := p.keyFirst[key.name]; ok && first.choice != isChoice && (isChoice || val.Kind == unstable.Bool) {
		p.errs.add(p.pos(voff), "key %q is %s here but %s in variant %q (at %s); a key is a switch or a choice in every variant",
			key.name, kindOfKey(isChoice), kindOfKey(first.choice), first.variant, first.pos)
		// Go on: recorded, the key is not reported missing as well.
	}
	if isChoice {
		choice := string(val.Data)
		if choice == "true" || choice == "false" {
			p.errs.add(p.pos(voff), "key %q is set to the string %q; write %s without quotes for a switch", key.name, choice, choice)
			return
		}
		if !validName(choice) {
			p.errs.add(p.pos(voff), "choice %q of key %q is not valid: %s", choice, key.name, nameRule)
		}
		v.Choices[key.name] = choice
		v.ValuePos[key.name] = p.pos(voff)
	} else {
		v.Keys[key.name] = b
	}
	v.KeyPos[key.name] = pos
	if _, ok := p.keyFirst[key.name]; !ok {
		p.keyFirst[key.name] = keyRef{variant: v.Name, pos: pos, choice: isChoice}
	}
}

// describe names a value that is not a boolean, for an error message.
func describe(kind unstable.Kind, text []byte) string {
	var what string
	switch kind {
	case unstable.String:
		what = "a string"
	case unstable.Integer:
		what = "an integer"
	case unstable.Float:
		what = "a float"
	case unstable.LocalDate, unstable.LocalTime, unstable.LocalDateTime, unstable.DateTime:
		what = "a date or time"
	case unstable.Array:
		what = "an array"
	case unstable.InlineTable:
		what = "an inline table"
	default:
		what = "a value"
	}
	const maxText = 30
	s := string(text)
	cut := false
	if i := strings.IndexAny(s, "\r\n"); i >= 0 {
		s, cut = s[:i], true
	}
	if len(s) > maxText {
		i := maxText
		for i > 0 && !utf8.RuneStart(s[i]) {
			i--
		}
		s, cut = s[:i], true
	}
	s = strings.TrimRight(s, " \t")
	if cut {
		s += "..."
	}
	return what + " (" + s + ")"
}

// crossCheck applies the rules that involve more than one variant.
func (p *parser) crossCheck() {
	start := Pos{File: p.file, Line: 1, Col: 1}
	if len(p.variants) == 0 {
		if len(p.errs.list) == 0 { // else some table was rejected
			p.errs.add(start, "no variants defined; add a [variant.NAME] table")
		}
		return
	}
	shared := 0
	for _, v := range p.variants {
		if !v.Standalone {
			shared++
		}
	}
	if shared == 0 {
		p.errs.add(p.variants[0].Pos, "every variant is standalone; at least one variant must share the common layout (remove standalone = true from one)")
	}

	keys := p.keys()
	complete := make([]bool, len(p.variants))
	for i, v := range p.variants {
		if len(v.Keys)+len(v.Choices) == len(keys) {
			complete[i] = true
			continue
		}
		for _, k := range keys {
			if p.errs.full() {
				p.errs.truncated = true
				return
			}
			if !v.Sets(k) {
				first := p.keyFirst[k]
				p.errs.add(v.Pos, "variant %q does not set key %q (set by variant %q at %s); every variant must set every key", v.Name, k, first.variant, first.pos)
			}
		}
	}

	// Shared variants must differ; compare complete ones by signature.
	seen := map[string]*variantState{}
	var sig strings.Builder
	for i, v := range p.variants {
		if v.Standalone || !complete[i] {
			continue
		}
		sig.Reset()
		for _, k := range keys {
			switch c, ok := v.Choices[k]; {
			case ok:
				sig.WriteString(c + ",")
			case v.Keys[k]:
				sig.WriteString("1,")
			default:
				sig.WriteString("0,")
			}
		}
		if first := seen[sig.String()]; first != nil {
			p.errs.add(v.Pos, "variant %q has the same settings as %q (at %s); remove one or change a key", v.Name, first.Name, first.Pos)
			continue
		}
		seen[sig.String()] = v
	}
}

// keys returns every key set by some variant, sorted.
func (p *parser) keys() []string {
	keys := make([]string, 0, len(p.keyFirst))
	for k := range p.keyFirst {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func (p *parser) set() *Set {
	s := &Set{File: p.file, Keys: p.keys()}
	for _, v := range p.variants {
		vv := v.Variant
		if len(vv.Choices) == 0 { // a file without choice keys reads as before they existed
			vv.Choices, vv.ValuePos = nil, nil
		}
		s.Variants = append(s.Variants, vv)
	}
	return s
}

func kindOfKey(choice bool) string {
	if choice {
		return "a choice (string)"
	}
	return "a switch (boolean)"
}
