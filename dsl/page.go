package dsl

import (
	"github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"
)

// Page is a data page: a Go global of the target package that routines
// read through RIP-relative references. In an ELF image it becomes a page
// mapped at a fixed negative offset from the code.
type Page struct {
	// Symbol is the Go name of the global, e.g. "vdsoData".
	Symbol string
	// Size is the number of bytes routines may address; the generator
	// checks that the Go global is at least this large.
	Size int
	Pos  Pos
}

// DataPage declares a data page backed by the Go global symbol of at least
// size bytes in the target package.
func (b *Builder) DataPage(symbol string, size int) *Page { return b.dataPage(here(1), symbol, size) }

// DataPage declares a data page in the default program.
func DataPage(symbol string, size int) *Page { return std().dataPage(here(1), symbol, size) }

func (b *Builder) dataPage(p Pos, symbol string, size int) *Page {
	pg := &Page{Symbol: symbol, Size: size, Pos: p}
	if !namePattern.MatchString(symbol) {
		b.errorf(p, "data page symbol %q is not a Go identifier", symbol)
		return pg
	}
	if size <= 0 {
		b.errorf(p, "data page %q: size must be positive, got %d", symbol, size)
	}
	for _, q := range b.prog.Pages {
		if q.Symbol == symbol {
			b.errorf(p, "data page %q declared twice (first at %s)", symbol, q.Pos)
			return pg
		}
	}
	b.prog.Pages = append(b.prog.Pages, pg)
	return pg
}

// At is the memory operand for the byte at offset off of the page.
func (pg *Page) At(off int) operand.Mem {
	return operand.Mem{Symbol: pg.sym(), Base: reg.StaticBase, Disp: off}
}

func (pg *Page) sym() operand.Symbol { return operand.Symbol{Name: "·" + pg.Symbol} }
