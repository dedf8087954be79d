package verify

import (
	"strings"

	"golang.org/x/arch/x86/x86asm"
)

// x86asm.GoSyntax keeps Intel's spelling of the condition codes (JA,
// CMOVA, SETE) and of sign and zero extension (MOVSX), where the Go
// assembler, and so the generated .s files, write JHI, CMOVQHI, SETEQ and
// MOVBLSX. goSyntax is GoSyntax with those mnemonics in the Go assembler's
// spelling, so that every disassembly vdsogen prints reads like the source.
func goSyntax(in x86asm.Inst, pc uint64, symname x86asm.SymLookup) string {
	return goMnemonic(in, x86asm.GoSyntax(in, pc, symname))
}

// sizeLetter is the Go assembler's operand-size letter for a width in bits.
var sizeLetter = map[int]string{8: "B", 16: "W", 32: "L", 64: "Q"}

// srcBits is the width of in's source operand (its second argument) of a
// sign or zero extension: the memory access or the register's size.
func srcBits(in x86asm.Inst) int {
	if _, ok := in.Args[1].(x86asm.Mem); ok {
		return in.MemBytes * 8
	}
	// The source register of an extension is at most 32 bits wide.
	if r, ok := in.Args[1].(x86asm.Reg); ok && width(r) <= 32 {
		return width(r)
	}
	return 0
}

// goCond is the Go assembler's name of each Intel condition-code suffix.
var goCond = map[string]string{
	"A": "HI", "AE": "CC", "B": "CS", "BE": "LS", "E": "EQ", "NE": "NE",
	"G": "GT", "GE": "GE", "L": "LT", "LE": "LE", "O": "OS", "NO": "OC",
	"P": "PS", "NP": "PC", "S": "MI", "NS": "PL",
}

// goMnemonic respells s's conditional mnemonic (Jcc, CMOVcc, SETcc) as the
// Go assembler does; anything else is returned as is.
func goMnemonic(in x86asm.Inst, s string) string {
	op, rest, hasArgs := strings.Cut(s, " ")
	var spelled string
	switch {
	case op == "MOVSX" || op == "MOVZX" || op == "MOVSXD":
		from, to := sizeLetter[srcBits(in)], sizeLetter[in.DataSize]
		if from != "" && to != "" {
			spelled = "MOV" + from + to + op[3:5]
		}
	case strings.HasPrefix(op, "CMOV"):
		size := map[int]string{16: "W", 32: "L", 64: "Q"}[in.DataSize]
		if c, ok := goCond[op[4:]]; ok && size != "" {
			spelled = "CMOV" + size + c
		}
	case strings.HasPrefix(op, "SET"):
		if c, ok := goCond[op[3:]]; ok {
			spelled = "SET" + c
		}
	case strings.HasPrefix(op, "J"):
		if c, ok := goCond[op[1:]]; ok {
			spelled = "J" + c
		}
	}
	if spelled == "" {
		return s
	}
	if !hasArgs {
		return spelled
	}
	return spelled + " " + rest
}
