package gen

import (
	"bytes"
	"strings"

	"github.com/mmcloughlin/avo/ir"
	"github.com/mmcloughlin/avo/printer"

	"github.com/vdsogen/vdsogen/dsl"
	"github.com/vdsogen/vdsogen/layout"
)

// header is the first line of every generated Go and assembly file.
const header = "// " + layout.Generated

// printed is a variant's assembly file and, for each of its lines, the
// generator program position that produced it (for toolchain errors).
type printed struct {
	text  []byte
	lines map[int]dsl.Pos
}

// printAsm prints the image of one variant as a Go assembly file.
func printAsm(symbol string, items []item) (*printed, error) {
	f := ir.NewFile()
	f.Includes = []string{"textflag.h"}
	f.AddSection(function(symbol, items))
	text, err := printer.NewGoAsm(printer.Config{Name: "vdsogen"}).Print(f)
	if err != nil {
		return nil, err
	}
	// avo describes every TEXT by its Go declaration; an image has none
	// (its entries are called through the stubs), so say what it is.
	stub := "// func " + symbol + "()\n"
	desc := "// " + symbol + " is one variant image: entries at fixed offsets, see the layout table.\n"
	text = bytes.Replace(text, []byte(stub), []byte(desc), 1)
	return &printed{text: text, lines: lineMap(text, items)}, nil
}

// lineMap pairs the printed lines after the TEXT directive with the items
// that produced them: the printer writes one line per label, instruction,
// data byte and comment line, in order.
func lineMap(text []byte, items []item) map[int]dsl.Pos {
	var flat []dsl.Pos
	for _, it := range items {
		n := 1
		if it.kind == itemRaw {
			n = len(it.raw)
		}
		for range n {
			flat = append(flat, it.pos)
		}
	}
	m := map[int]dsl.Pos{}
	inText := false
	k := 0
	for i, line := range strings.Split(string(text), "\n") {
		if !inText {
			inText = strings.HasPrefix(line, "TEXT ")
			continue
		}
		if strings.TrimSpace(line) == "" || k >= len(flat) {
			continue
		}
		m[i+1] = flat[k]
		k++
	}
	return m
}
