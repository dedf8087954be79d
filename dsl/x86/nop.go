package x86

import "github.com/vdsogen/vdsogen/dsl"

// NOP emits a one-byte 0x90. (Go's assembler treats the NOP mnemonic as a
// pseudo-instruction that emits nothing, which would break the 1:1 mapping
// from program to bytes; avo's NOP constructor is therefore not offered.)
func NOP() { dsl.Std().Bytes(0x90) }
