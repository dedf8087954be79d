package marker

import (
	"bytes"
	"fmt"

	"golang.org/x/arch/x86/x86asm"

	"github.com/vdsogen/vdsogen/layout"
)

// SwapSide is one variant's side of a site in a live switch: the site as
// that variant's layout table describes it, the bytes its image holds
// there, and the address they run at (the image's address plus
// Site.Offset; only its remainder modulo PatchWindow matters).
type SwapSide struct {
	Site layout.Site
	Held []byte
	Addr uint64
}

// SwapStep is what a live switch does at one site.
type SwapStep uint8

const (
	// SwapSame: both variants hold the same instructions there; nothing
	// is written.
	SwapSame SwapStep = iota
	// SwapKeep: the site keeps the choice a loader applied to it (a
	// LoadTime kind's, or a pinned key's). Both variants declare the same
	// choices, so that choice is valid in either, whatever each variant's
	// image holds there; nothing is written.
	SwapKeep
	// SwapPatch: the site is one whole instruction of an Atomic kind, on
	// both sides, inside one PatchWindow; the switch writes the target's
	// bytes while threads run.
	SwapPatch
	// SwapUnsafe: the site differs and is not one atomic instruction; a
	// thread inside it could run part of each variant. The switch is
	// refused (a loader may leave it as loaded if its entry never runs).
	SwapUnsafe
	// SwapMismatch: the two variants do not describe the same site (kind,
	// key, entry, offset, length or declared choices differ, or an image
	// does not hold it). The switch is refused.
	SwapMismatch
)

// Refused reports whether the step refuses the switch.
func (s SwapStep) Refused() bool { return s >= SwapUnsafe }

// SwapDecision is the swap rule's answer for one site.
type SwapDecision struct {
	Step SwapStep
	// Why says why a refused step refuses, without naming the site (the
	// caller does, in its own terms).
	Why string
}

// Swap is the swap rule, the one policy by which the verifier
// (internal/verify, which says which pairs are switchable) and the
// loader (vdso/loader, which switches) decide a site of a live switch
// from variant from to variant to. differ says whether the two images'
// instructions at the site differ (each caller compares them in its own
// terms: the loader byte for byte, the verifier counting a data reference
// by what it refers to). pinned says a loader applied a choice of its own
// to the site's key (an override); the verifier, which judges the images
// as generated, passes false.
//
// The rule, from the kind's Traits:
//
//  1. Both sides must describe the same site and hold it whole
//     (SwapMismatch otherwise); a kind with Choices must declare the same
//     choices, name, feature and bytes, on both sides.
//  2. A LoadTime kind's site, or a pinned site of a kind with Choices,
//     keeps its applied choice (SwapKeep): by 1 it is a valid choice of
//     both variants, so whatever the variants' images hold there (a
//     variants file may pick different choices) the switch neither
//     rewrites nor undoes it.
//  3. Otherwise a site whose instructions are the same is left alone
//     (SwapSame), and one that differs is rewritten live (SwapPatch) only
//     if its kind is Atomic, it is one whole instruction on both sides and
//     it lies inside one PatchWindow at both addresses; anything else is
//     SwapUnsafe.
func Swap(from, to SwapSide, differ, pinned bool) SwapDecision {
	f, t := from.Site, to.Site
	if f.Kind != t.Kind || f.Key != t.Key || f.Entry != t.Entry || f.Offset != t.Offset || len(f.Bytes) != len(t.Bytes) {
		return SwapDecision{SwapMismatch, fmt.Sprintf("the variants describe different sites there (%s %s of entry %s, %d bytes at %#x; %s %s of entry %s, %d bytes at %#x)",
			f.Kind, f.Key, f.Entry, len(f.Bytes), f.Offset, t.Kind, t.Key, t.Entry, len(t.Bytes), t.Offset)}
	}
	if len(from.Held) != len(f.Bytes) || len(to.Held) != len(t.Bytes) {
		return SwapDecision{SwapMismatch, fmt.Sprintf("an image does not hold the %d-byte site", len(f.Bytes))}
	}
	u, known := For(f.Kind)
	var traits Traits
	if known {
		traits = u.Traits()
	}
	if traits.Choices && !SameChoices(f.Choices, t.Choices) {
		return SwapDecision{SwapMismatch, "the two variants declare different choices (names, features or bytes)"}
	}
	if traits.LoadTime || pinned && traits.Choices {
		return SwapDecision{Step: SwapKeep}
	}
	if !differ {
		return SwapDecision{Step: SwapSame}
	}
	n := len(f.Bytes)
	switch {
	case !known:
		return SwapDecision{SwapUnsafe, fmt.Sprintf("kind %s is not registered (marker.Register): nothing says its sites can be rewritten live", f.Kind)}
	case !OneInstruction(from.Held) || !OneInstruction(to.Held):
		if !traits.Atomic {
			return SwapDecision{SwapUnsafe, fmt.Sprintf("a %d-byte region of several instructions, not one atomic instruction", n)}
		}
		return SwapDecision{SwapUnsafe, "not one whole instruction on both sides"}
	case !traits.Atomic:
		return SwapDecision{SwapUnsafe, fmt.Sprintf("kind %s is not atomic (Traits.Atomic): its sites may not be rewritten while threads run", f.Kind)}
	case CrossesWindow(from.Addr, n) || CrossesWindow(to.Addr, n):
		return SwapDecision{SwapUnsafe, fmt.Sprintf("crosses an %d-byte window", PatchWindow)}
	}
	return SwapDecision{Step: SwapPatch}
}

// OneInstruction reports whether b is exactly one valid x86-64
// instruction.
func OneInstruction(b []byte) bool {
	in, err := x86asm.Decode(b, 64)
	return err == nil && in.Op != 0 && in.Len == len(b)
}

// SameChoices reports whether two sides of a site declare the same
// choices: names, features and bytes, in order. (Where a choice lies,
// Choice.Offset, follows from the shared layout.)
func SameChoices(a, b []layout.Choice) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Name != b[i].Name || a[i].Feature != b[i].Feature || !bytes.Equal(a[i].Bytes, b[i].Bytes) {
			return false
		}
	}
	return true
}
