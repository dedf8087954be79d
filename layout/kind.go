package layout

import (
	"fmt"
	"maps"
	"slices"
	"sync"
)

// Kind is the kind of a marker site. Its value is the kind's name, as the
// layout table, the CLI's output and the JSON table spell it; Code is its
// number in the ELF descriptor section and Word the DSL function that
// declares it. This file is the only place that spells them.
type Kind string

// The marker kinds.
const (
	// StaticBranch is a 5-byte site, NOP5 where the key is off and JMP
	// rel32 to an out-of-line body where it is on.
	StaticBranch Kind = "static_branch"
	// ThreeLabel is a region that runs apply and falls into a tail where
	// the key is on and holds the tail, padded with INT3, where it is off.
	ThreeLabel Kind = "three_label"
	// Alternative is an N-way replacement of one site: the site holds one
	// choice, padded with multi-byte NOPs to the longest. Every choice's
	// bytes are in the image's replacement pool, after the last entry, so
	// that a loader can apply another choice at load time.
	Alternative Kind = "alternative"
	// StaticCall is a CALL rel32 whose target is one of a declared set of
	// entries, chosen per variant or at load time.
	StaticCall Kind = "static_call"
)

// kindInfo is what identifies a kind besides its name.
type kindInfo struct {
	code uint8
	word string
}

var kinds = struct {
	sync.RWMutex
	info   map[Kind]kindInfo
	byCode map[uint8]Kind
}{info: map[Kind]kindInfo{}, byCode: map[uint8]Kind{}}

func init() {
	RegisterKind(StaticBranch, 1, "StaticBranch")
	RegisterKind(ThreeLabel, 2, "ThreeLabel")
	RegisterKind(Alternative, 3, "Alternative")
	RegisterKind(StaticCall, 4, "StaticCall")
}

// RegisterKind declares a marker kind: its name, its code in the ELF
// descriptor section (never 0, unique) and its DSL word. It panics on a
// name or code that is already taken: kinds are registered once, at
// initialization. It returns k, so that a kind defined outside this
// package can be declared and registered in one statement.
func RegisterKind(k Kind, code uint8, word string) Kind {
	kinds.Lock()
	defer kinds.Unlock()
	if _, dup := kinds.info[k]; dup || k == "" {
		panic(fmt.Sprintf("layout: marker kind %q registered twice or empty", k))
	}
	if other, dup := kinds.byCode[code]; dup || code == 0 {
		panic(fmt.Sprintf("layout: marker kind %q: code %d is zero or taken by %q", k, code, other))
	}
	kinds.info[k] = kindInfo{code: code, word: word}
	kinds.byCode[code] = k
	return k
}

func (k Kind) info() (kindInfo, bool) {
	kinds.RLock()
	defer kinds.RUnlock()
	i, ok := kinds.info[k]
	return i, ok
}

// Known reports whether k is a registered kind.
func (k Kind) Known() bool {
	_, ok := k.info()
	return ok
}

// Code is k's number in the ELF descriptor section, 0 for an unknown kind.
func (k Kind) Code() uint8 {
	i, _ := k.info()
	return i.code
}

// Word is the name of the DSL function that declares a k marker
// ("StaticBranch"), or the kind's name for an unknown kind.
func (k Kind) Word() string {
	if i, ok := k.info(); ok {
		return i.word
	}
	return string(k)
}

// Kinds lists the registered kinds in the order of their codes.
func Kinds() []Kind {
	kinds.RLock()
	defer kinds.RUnlock()
	codes := slices.Sorted(maps.Keys(kinds.byCode))
	out := make([]Kind, len(codes))
	for i, c := range codes {
		out[i] = kinds.byCode[c]
	}
	return out
}

// KindOfCode returns the kind whose descriptor code is code.
func KindOfCode(code uint8) (Kind, bool) {
	kinds.RLock()
	defer kinds.RUnlock()
	k, ok := kinds.byCode[code]
	return k, ok
}
