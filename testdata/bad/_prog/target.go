// Package target is where the corpus cases write their outputs.
package target

var page [64]byte
