package verify

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"

	"golang.org/x/arch/x86/x86asm"
)

// ReadAsm reads every variant's assembly file into in.Asm, so that the
// pages rule checks the symbolic page operands as written.
func (pkg *Package) ReadAsm(in *Input) error {
	in.Asm = map[string]AsmFile{}
	for name, path := range pkg.AsmFiles {
		b, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("variant %s: %w", name, err)
		}
		in.Asm[name] = AsmFile{Path: path, Text: b}
	}
	return nil
}

// symOperand is a Go assembler reference to a package symbol:
// ·name(SB), ·name+8(SB), ·name-8(SB).
var symOperand = regexp.MustCompile(`·([\pL_][\pL\pN_]*)(?:([+-])(0[xX][0-9a-fA-F]+|[0-9]+))?\(SB\)`)

// asmPageRefs checks every reference to a declared page in the variants'
// assembly text: its offset must be inside the page's declared size,
// whatever symbol the linker put there. A finding names the assembly line
// and, when the bytes show which instruction it is, the image offset.
func asmPageRefs(p *Pass) {
	sizes := map[string]int{}
	for _, pg := range p.In.Table.Pages {
		sizes[pg.Symbol] = pg.Size
	}
	for _, im := range p.images {
		f, ok := p.In.Asm[im.v.Name]
		if !ok {
			continue
		}
		sc := bufio.NewScanner(bytes.NewReader(f.Text))
		sc.Buffer(nil, 1<<20)
		for line := 1; sc.Scan(); line++ {
			text := sc.Text()
			if i := bytes.Index([]byte(text), []byte("//")); i >= 0 {
				text = text[:i]
			}
			for _, m := range symOperand.FindAllStringSubmatchIndex(text, -1) {
				name := text[m[2]:m[3]]
				size, isPage := sizes[name]
				if !isPage {
					continue // reach judges the bytes
				}
				off := int64(0)
				if m[4] >= 0 {
					n, err := strconv.ParseInt(text[m[6]:m[7]], 0, 64)
					if err != nil {
						n = 1 << 40
					}
					if text[m[4]:m[5]] == "-" {
						n = -n
					}
					off = n
				}
				if off >= 0 && off < int64(size) {
					continue
				}
				pos := fmt.Sprintf("%s:%d:%d", filepath.Base(f.Path), line, m[0]+1)
				at, linked := im.pageRefAt(name, off)
				msg := fmt.Sprintf("%s refers to %s%+d, outside the %d bytes declared for data page %s", pos, name, off, size, name)
				if linked != "" {
					msg += fmt.Sprintf(" (the linker resolved it into %s)", linked)
				}
				if at >= 0 {
					p.errorf(im, at, nil, "%s", msg)
				} else {
					f := Finding{Check: p.rule, Variants: []string{im.v.Name}, Source: pos, Msg: msg}
					p.Report.Findings = append(p.Report.Findings, f)
				}
			}
		}
	}
}

// pageRefAt finds the instruction whose RIP-relative operand is page sym
// plus off, and what the build has at that address; -1 if no instruction
// of the image refers to sym where the address can be told.
func (im *image) pageRefAt(sym string, off int64) (int, string) {
	var base uint64
	found := false
	for i := range im.insts {
		in := &im.insts[i]
		if m, ok := ripMem(in); ok && !in.bad {
			abs := im.addr + uint64(int64(in.end())+int64(int32(m.Disp)))
			if s, o, ok := im.resolve(abs); ok && s == sym {
				base, found = abs-uint64(o), true
				break
			}
		}
	}
	if !found {
		return -1, ""
	}
	target := base + uint64(off)
	linked := ""
	if s, o, ok := im.resolve(target); ok {
		linked = fmt.Sprintf("%s%+d", s, o)
	}
	for i := range im.insts {
		in := &im.insts[i]
		if m, ok := ripMem(in); ok && !in.bad && in.Op != x86asm.Op(0) {
			if im.addr+uint64(int64(in.end())+int64(int32(m.Disp))) == target {
				return in.off, linked
			}
		}
	}
	return -1, linked
}
