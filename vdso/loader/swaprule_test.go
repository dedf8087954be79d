package loader

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/vdsogen/vdsogen/internal/elfimage"
	"github.com/vdsogen/vdsogen/internal/verify"
	"github.com/vdsogen/vdsogen/layout"
	"github.com/vdsogen/vdsogen/marker"
)

// Toy kinds, one per class of traits the swap rule tells apart; their
// generator halves are never called (the tables are crafted).
type toyUnit struct {
	kind   layout.Kind
	traits marker.Traits
}

func (u toyUnit) Kind() layout.Kind                                { return u.kind }
func (u toyUnit) Traits() marker.Traits                            { return u.traits }
func (toyUnit) Declare(marker.Declaration)                         {}
func (toyUnit) Expand(marker.Emitter, marker.Decl, marker.Variant) {}
func (toyUnit) Plan(marker.Planner, marker.Decl)                   {}
func (toyUnit) Check(marker.Image, layout.Site, marker.Reporter)   {}
func (toyUnit) Locate(marker.Measured, marker.Decl, marker.Variant) (marker.Span, bool) {
	return marker.Span{}, false
}

var (
	// toyFollow has choices that follow the variant, and is not atomic: a
	// switch must never rewrite it live.
	toyFollow = layout.RegisterKind("toy_follow", 220, "ToyFollow")
	// toyLoadTime has choices made once at load time; not atomic either.
	toyLoadTime = layout.RegisterKind("toy_load_time", 221, "ToyLoadTime")
	// toyAtomic is atomic without choices, like a static branch.
	toyAtomic = layout.RegisterKind("toy_atomic", 222, "ToyAtomic")
	// toyPlain has no trait at all.
	toyPlain = layout.RegisterKind("toy_plain", 223, "ToyPlain")
	// toyNoUnit is a layout kind without a marker unit: nothing says what
	// its sites are.
	toyNoUnit = layout.RegisterKind("toy_no_unit", 224, "ToyNoUnit")
)

func init() {
	marker.Register(toyUnit{toyFollow, marker.Traits{Choices: true}})
	marker.Register(toyUnit{toyLoadTime, marker.Traits{Choices: true, LoadTime: true}})
	marker.Register(toyUnit{toyAtomic, marker.Traits{Atomic: true}})
	marker.Register(toyUnit{toyPlain, marker.Traits{}})
}

// The swap program: entry f holds one site at offset `at` (NOPs before
// it, RET after it); entries g and h, the static calls' targets, return 1
// and 2.
const (
	swapSize      = 48
	swapG, swapH  = 32, 40
	alignedAt     = 8 // a 5-byte site inside one 8-byte window
	crossingAt    = 6 // a 5-byte site across a window boundary
	swapOtherByte = 20
)

var (
	movl1  = []byte{0xb8, 1, 0, 0, 0}
	movl2  = []byte{0xb8, 2, 0, 0, 0}
	incNop = []byte{0xff, 0xc0, 0x0f, 0x1f, 0x00} // INCL AX; NOP3: two instructions
	decNop = []byte{0xff, 0xc8, 0x0f, 0x1f, 0x00}
)

// callFrom is CALL rel32 at site offset at to target.
func callFrom(at, target int) []byte { return marker.Rel32(marker.OpCALLRel32, int32(target-(at+5))) }

func swapCode(at int, site []byte) []byte {
	c := bytes.Repeat([]byte{0x90}, at)
	c = append(c, site...)
	c = append(c, 0xc3)
	for len(c) < swapG {
		c = append(c, 0xcc)
	}
	c = append(c, movl1...)
	c = append(c, 0xc3, 0xcc, 0xcc) // 38..40
	c = append(c, movl2...)
	c = append(c, 0xc3, 0xcc, 0xcc)
	return c
}

// swapCase is one site configuration of two variants, a and b.
type swapCase struct {
	name string
	kind layout.Kind
	at   int
	// a and b are the bytes each variant holds at the site; for a kind
	// with choices, the choices ca and cb of choices.
	a, b    []byte
	choices []layout.Choice
	ca, cb  int
	// bTable edits variant b's description of the site; bChoices replaces
	// its choices.
	bTable   func(s *layout.Site)
	bChoices []layout.Choice
	// outside makes the images differ outside the site as well.
	outside bool
	// extra adds a second site, a 1-byte NOP at 0, to both variants (b
	// lists it after the main site if reorder, only b if onlyB).
	extra, reorder, onlyB bool
	want                  bool
	// why is what the verifier's reason and the loader's error both say
	// of a refused pair.
	why string
}

func swapCases() []swapCase {
	followChoices := []layout.Choice{{Name: "one", Bytes: movl1}, {Name: "two", Bytes: movl2}}
	loadChoices := []layout.Choice{{Name: "inc", Bytes: incNop}, {Name: "dec", Bytes: decNop}}
	altChoices := []layout.Choice{{Name: "one", Bytes: movl1}, {Name: "two", Feature: layout.FeatureRDTSCP, Bytes: movl2}}
	calls := func(at int) []layout.Choice {
		return []layout.Choice{{Name: "g", Bytes: callFrom(at, swapG), Offset: swapG}, {Name: "h", Bytes: callFrom(at, swapH), Offset: swapH}}
	}
	notAtomic := "not atomic (Traits.Atomic)"
	return []swapCase{
		// Sites without choices: rewritten live only when atomic, whole and
		// inside one window.
		{name: "static branch", kind: layout.StaticBranch, at: alignedAt, a: nop5, b: jmpBody, want: true},
		{name: "static branch across a window", kind: layout.StaticBranch, at: crossingAt, a: nop5, b: jmpBody, why: "crosses an 8-byte window"},
		{name: "static branch equal", kind: layout.StaticBranch, at: crossingAt, a: nop5, b: nop5, want: true},
		{name: "atomic kind, one instruction", kind: toyAtomic, at: alignedAt, a: movl1, b: movl2, want: true},
		{name: "atomic kind, two instructions", kind: toyAtomic, at: alignedAt, a: incNop, b: movl2, why: "not one whole instruction on both sides"},
		{name: "atomic kind, bad bytes", kind: toyAtomic, at: alignedAt, a: movl1, b: []byte{0x0f, 0x0b, 0x0f, 0x0b, 0x0f}, why: "not one whole instruction"},
		{name: "three-label region", kind: layout.ThreeLabel, at: alignedAt, a: incNop, b: decNop, why: "region of several instructions, not one atomic instruction"},
		{name: "three-label region equal", kind: layout.ThreeLabel, at: alignedAt, a: incNop, b: incNop, want: true},
		{name: "kind without traits, one instruction", kind: toyPlain, at: alignedAt, a: movl1, b: movl2, why: "kind toy_plain is " + notAtomic},
		{name: "kind without traits, equal", kind: toyPlain, at: alignedAt, a: movl1, b: movl1, want: true},
		{name: "kind without a unit", kind: toyNoUnit, at: alignedAt, a: movl1, b: movl2, why: "kind toy_no_unit is not registered"},

		// Choices that follow the variant: as above.
		{name: "static call", kind: layout.StaticCall, at: alignedAt, choices: calls(alignedAt), ca: 0, cb: 1, want: true},
		{name: "static call across a window", kind: layout.StaticCall, at: crossingAt, choices: calls(crossingAt), ca: 0, cb: 1, why: "crosses an 8-byte window"},
		{name: "follow kind, not atomic", kind: toyFollow, at: alignedAt, choices: followChoices, ca: 0, cb: 1, why: "kind toy_follow is " + notAtomic},
		{name: "follow kind, same choice", kind: toyFollow, at: alignedAt, choices: followChoices, ca: 1, cb: 1, want: true},

		// Load-time choices: kept, whatever each image holds, if both
		// variants declare the same choices.
		{name: "alternative, different choices held", kind: layout.Alternative, at: crossingAt, choices: altChoices, ca: 0, cb: 1, want: true},
		{name: "load-time kind, several instructions held differently", kind: toyLoadTime, at: crossingAt, choices: loadChoices, ca: 0, cb: 1, want: true},
		{name: "alternative, choice bytes differ", kind: layout.Alternative, at: alignedAt, choices: altChoices, ca: 0, cb: 0,
			bChoices: []layout.Choice{altChoices[0], {Name: "two", Feature: layout.FeatureRDTSCP, Bytes: movl1}}, why: "declare different choices"},
		{name: "alternative, choice feature differs", kind: layout.Alternative, at: alignedAt, choices: altChoices, ca: 0, cb: 1,
			bChoices: []layout.Choice{altChoices[0], {Name: "two", Bytes: movl2}}, why: "declare different choices"},
		{name: "load-time kind, a choice missing", kind: toyLoadTime, at: alignedAt, choices: loadChoices, ca: 0, cb: 0,
			bChoices: loadChoices[:1], why: "declare different choices"},
		{name: "static call, targets renamed", kind: layout.StaticCall, at: alignedAt, choices: calls(alignedAt), ca: 0, cb: 1,
			bChoices: []layout.Choice{{Name: "h", Bytes: callFrom(alignedAt, swapG), Offset: swapG}, {Name: "g", Bytes: callFrom(alignedAt, swapH), Offset: swapH}},
			why:      "declare different choices"},

		// Sites the variants describe differently, and code outside sites.
		{name: "other entry", kind: layout.StaticBranch, at: alignedAt, a: nop5, b: jmpBody, bTable: func(s *layout.Site) { s.Entry = "g" }, why: "describe different sites"},
		{name: "difference outside the site", kind: layout.StaticBranch, at: alignedAt, a: nop5, b: nop5, outside: true, why: "outside"},
		{name: "alternative kept, difference outside", kind: layout.Alternative, at: alignedAt, choices: altChoices, ca: 0, cb: 1, outside: true, why: "outside"},
		{name: "two sites", kind: layout.StaticBranch, at: alignedAt, a: nop5, b: jmpBody, extra: true, want: true},
		{name: "two sites in another order", kind: layout.StaticBranch, at: alignedAt, a: nop5, b: nop5, extra: true, reorder: true, why: "describe different sites"},
		{name: "a site only one variant declares", kind: layout.StaticBranch, at: alignedAt, a: nop5, b: nop5, extra: true, onlyB: true, why: "layouts"},
	}
}

// oneSite reports whether a refusal of c is about its one site (not about
// the layouts, or code outside it), so that it names the site.
func (c swapCase) oneSite() bool { return !c.outside && c.bTable == nil && !c.extra }

// build returns the layout table and ELF images of case c.
func (c swapCase) build(t *testing.T) (*layout.Table, map[string][]byte) {
	t.Helper()
	tab := &layout.Table{Program: "swap"}
	files := map[string][]byte{}
	entries := []layout.Entry{{Name: "f", Offset: 0, Size: c.at + 6}, {Name: "g", Offset: swapG, Size: 6}, {Name: "h", Offset: swapH, Size: 6}}
	var elfEntries []elfimage.Entry
	for _, e := range entries {
		elfEntries = append(elfEntries, elfimage.Entry{Name: e.Name, Offset: e.Offset, Size: e.Size})
	}
	for i, name := range []string{"a", "b"} {
		held := [][]byte{c.a, c.b}[i]
		s := layout.Site{Kind: c.kind, Key: "k", Entry: "f", Offset: c.at, Source: "swap.go:1"}
		if c.choices != nil {
			pick := []int{c.ca, c.cb}[i]
			s.Choices = c.choices
			if i == 1 && c.bChoices != nil {
				s.Choices = c.bChoices
			}
			s.Choice = c.choices[pick].Name
			held = c.choices[pick].Bytes
			s.Target = c.choices[pick].Offset
		}
		s.Bytes = held
		if i == 1 && c.bTable != nil {
			c.bTable(&s)
		}
		code := swapCode(c.at, held)
		if i == 1 && c.outside {
			code[swapOtherByte] = 0xc3 // INT3 filler -> RET
		}
		sites := []layout.Site{s}
		if c.extra && (i == 1 || !c.onlyB) {
			x := layout.Site{Kind: toyAtomic, Key: "x", Entry: "f", Offset: 0, Bytes: []byte{0x90}, Source: "swap.go:2"}
			sites = []layout.Site{x, s}
			if i == 1 && c.reorder {
				sites = []layout.Site{s, x}
			}
		}
		tab.Variants = append(tab.Variants, layout.Variant{
			Name: name, Symbol: "swap_" + name, Size: swapSize, Pool: swapSize, Keys: map[string]bool{},
			Entries: entries, Sites: sites,
		})
		f, err := elfimage.Write(elfimage.Image{Program: "swap", Variant: name, Code: code, Entries: elfEntries})
		if err != nil {
			t.Fatal(err)
		}
		files[name] = f
	}
	return tab, files
}

// verifierSays runs the verifier on the images of c and returns its
// verdict on the pair a, b.
func verifierSays(t *testing.T, tab *layout.Table, files map[string][]byte) verify.Pair {
	t.Helper()
	in := &verify.Input{Table: tab, Images: map[string]verify.Image{}}
	for name, f := range files {
		tx, err := textOf(f)
		if err != nil {
			t.Fatal(err)
		}
		in.Images[name] = verify.Image{Addr: uint64(tx.off), Bytes: tx.code}
	}
	for _, p := range verify.Verify(in).Pairs {
		if p.A == "a" && p.B == "b" {
			return p
		}
	}
	t.Fatal("the verifier reports no pair a, b")
	return verify.Pair{}
}

// TestSwapRuleAgreement runs every class of site configuration through
// the verifier's live-switch verdict and the loader's switch planning, in
// both directions: they accept and refuse the same pairs, for the same
// reason, and the loader's switch rewrites exactly the atomic sites.
func TestSwapRuleAgreement(t *testing.T) {
	for _, c := range swapCases() {
		t.Run(c.name, func(t *testing.T) {
			tab, files := c.build(t)
			pair := verifierSays(t, tab, files)
			why := strings.Join(pair.Why, "; ")
			if pair.Switchable != c.want || !c.want && !strings.Contains(why, c.why) {
				t.Errorf("verifier: switchable %v (%s), want %v (%q)", pair.Switchable, why, c.want, c.why)
			}
			if !c.want && c.oneSite() && !strings.Contains(why, string(c.kind)+" k at ") {
				t.Errorf("verifier: the reason %q does not name the %s site", why, c.kind)
			}
			for _, dir := range [][2]string{{"a", "b"}, {"b", "a"}} {
				im, err := Load(files, tab, dir[0], Options{CPU: &everyFeat})
				if err != nil {
					t.Fatalf("load %s: %v", dir[0], err)
				}
				defer im.Close()
				err = im.SwapSafe(dir[0], dir[1])
				if (err == nil) != c.want || err != nil && !strings.Contains(err.Error(), c.why) {
					t.Errorf("loader %s -> %s: %v, want swap-safe %v (%q)", dir[0], dir[1], err, c.want, c.why)
				}
				if err != nil && c.oneSite() {
					for _, w := range []string{string(c.kind), "key k", "entry f", fmt.Sprintf("offset %#x", c.at), "swap.go:1"} {
						if !strings.Contains(err.Error(), w) {
							t.Errorf("loader %s -> %s: error %q does not say %q", dir[0], dir[1], err, w)
						}
					}
				}
				if err == nil {
					checkSwitch(t, im, c, dir[1])
				}
			}
		})
	}
}

// checkSwitch switches im to variant to and checks the site: a kept
// choice is untouched, anything else holds the target's bytes.
func checkSwitch(t *testing.T, im *Image, c swapCase, to string) {
	t.Helper()
	toff := im.texts[to].off
	before := bytes.Clone(im.Mapped()[toff+c.at:][:5])
	if err := im.Switch(to); err != nil {
		t.Fatalf("switch to %s: %v", to, err)
	}
	got := im.Mapped()[toff+c.at:][:5]
	want := im.texts[to].code[c.at:][:5]
	if tr := marker.TraitsOf(c.kind); tr.LoadTime {
		want = before
	}
	if !bytes.Equal(got, want) {
		t.Errorf("after the switch to %s the site holds % x, want % x", to, got, want)
	}
	if fn, err := im.Entry("f"); err == nil && (c.kind == layout.StaticCall || c.kind == toyAtomic && bytes.Equal(want, movl2)) {
		if v := CallIP(fn, 0, nil); v != 1 && v != 2 {
			t.Errorf("f() = %d after the switch", v)
		}
	}
}

// TestSwapRuleEveryKind: the swap rule decides every registered kind,
// the built-in ones and this file's, from its traits alone: a differing
// one-instruction site inside one window is rewritten exactly when the
// kind is Atomic and has no load-time choices, kept when the kind's
// choices are LoadTime (or the key is pinned), and refused otherwise.
func TestSwapRuleEveryKind(t *testing.T) {
	choices := []layout.Choice{{Name: "one", Bytes: movl1}, {Name: "two", Bytes: movl2}}
	for _, k := range layout.Kinds() {
		tr := marker.TraitsOf(k)
		_, unit := marker.For(k)
		for _, pinned := range []bool{false, true} {
			a := layout.Site{Kind: k, Key: "k", Entry: "f", Offset: 8, Bytes: movl1, Choice: "one"}
			b := a
			b.Bytes, b.Choice = movl2, "two"
			if tr.Choices {
				a.Choices, b.Choices = choices, choices
			}
			d := marker.Swap(marker.SwapSide{Site: a, Held: movl1, Addr: 8}, marker.SwapSide{Site: b, Held: movl2, Addr: 8}, true, pinned)
			want := marker.SwapUnsafe
			switch {
			case tr.LoadTime || pinned && tr.Choices:
				want = marker.SwapKeep
			case tr.Atomic && unit:
				want = marker.SwapPatch
			}
			if d.Step != want {
				t.Errorf("%s (pinned %v, traits %+v): step %d (%s), want %d", k, pinned, tr, d.Step, d.Why, want)
			}
			if d.Step.Refused() && d.Why == "" {
				t.Errorf("%s: refused without a reason", k)
			}
			// The same site, not differing: never refused.
			if d := marker.Swap(marker.SwapSide{Site: a, Held: movl1, Addr: 8}, marker.SwapSide{Site: a, Held: movl1, Addr: 8}, false, pinned); d.Step.Refused() {
				t.Errorf("%s: an equal site is refused: %s", k, d.Why)
			}
		}
	}
}

// TestSwitchRefusesNonAtomicChoice: a choice site that follows the
// variant but whose kind is not Atomic makes Switch refuse, naming the
// site, and leaves the image as it was; pinning its key (Options.Choices)
// keeps one choice across switches, which is safe; leaving its entry out
// of Options.Entries does not excuse it (its key's choice would be
// reported wrong).
func TestSwitchRefusesNonAtomicChoice(t *testing.T) {
	var c swapCase
	for _, x := range swapCases() {
		if x.kind == toyFollow && !x.want {
			c = x
		}
	}
	tab, files := c.build(t)
	for _, entries := range [][]string{nil, {"g"}} {
		im, err := Load(files, tab, "a", Options{CPU: &everyFeat, Entries: entries})
		if err != nil {
			t.Fatal(err)
		}
		defer im.Close()
		before := slices.Clone(im.Mapped())
		err = im.Switch("b")
		for _, w := range []string{"not swap-safe", "entry f", "toy_follow", "key k", "offset 0x8", "swap.go:1", "one in a, two in b", "not atomic", `Options.Choices["k"]`} {
			if err == nil || !strings.Contains(err.Error(), w) {
				t.Errorf("entries %v: Switch(b) = %v, want an error saying %q", entries, err, w)
			}
		}
		if im.Variant() != "a" || !bytes.Equal(im.Mapped(), before) || im.Choices()["k"] != "one" {
			t.Errorf("entries %v: a refused switch changed the image", entries)
		}
	}
	im, err := Load(files, tab, "a", Options{CPU: &everyFeat, Choices: map[string]string{"k": "two"}})
	if err != nil {
		t.Fatal(err)
	}
	defer im.Close()
	for _, v := range []string{"b", "a", "b"} {
		if err := im.Switch(v); err != nil {
			t.Fatalf("pinned: Switch(%s): %v", v, err)
		}
		toff := im.texts[v].off
		if got := im.Mapped()[toff+c.at:][:5]; !bytes.Equal(got, movl2) || im.Choices()["k"] != "two" {
			t.Errorf("pinned, after the switch to %s: site % x, choices %v", v, got, im.Choices())
		}
	}
}

// TestSwitchReachedEntries: an entry left out of Options.Entries still
// runs if a loaded entry reaches it, by a direct CALL or through a choice
// of a site whose kind Calls (a static call that may be re-targeted to
// it), so a site there that cannot be rewritten live refuses the switch;
// only an entry nothing loaded reaches is left as loaded.
func TestSwitchReachedEntries(t *testing.T) {
	const g, h, size = 32, 48, 56
	for _, how := range []string{"call", "static call choice"} {
		t.Run(how, func(t *testing.T) {
			tab := &layout.Table{Program: "reach"}
			files := map[string][]byte{}
			entries := []layout.Entry{{Name: "f", Offset: 0, Size: 6}, {Name: "g", Offset: g, Size: 14}, {Name: "h", Offset: h, Size: 6}}
			var elfEntries []elfimage.Entry
			for _, e := range entries {
				elfEntries = append(elfEntries, elfimage.Entry{Name: e.Name, Offset: e.Offset, Size: e.Size})
			}
			for i, name := range []string{"a", "b"} {
				held := [][]byte{movl1, movl2}[i]
				sites := []layout.Site{{Kind: toyPlain, Key: "k", Entry: "g", Offset: g + 8, Bytes: held, Source: "reach.go:2"}}
				call := callFrom(0, g)
				if how != "call" {
					// f calls h, and may be re-targeted to g.
					call = callFrom(0, h)
					sites = append([]layout.Site{{Kind: layout.StaticCall, Key: "s", Entry: "f", Offset: 0, Bytes: call, Source: "reach.go:1",
						Choice: "h", Target: h, Choices: []layout.Choice{{Name: "g", Bytes: callFrom(0, g), Offset: g}, {Name: "h", Bytes: call, Offset: h}}}}, sites...)
				}
				code := append(slices.Clone(call), 0xc3)
				for len(code) < g+8 {
					code = append(code, map[bool]byte{true: 0x90, false: 0xcc}[len(code) >= g])
				}
				code = append(code, held...)
				code = append(code, 0xc3, 0xcc, 0xcc)
				code = append(code, movl1...)
				code = append(code, 0xc3, 0xcc, 0xcc)
				tab.Variants = append(tab.Variants, layout.Variant{Name: name, Symbol: "reach_" + name, Size: size, Pool: size, Keys: map[string]bool{}, Entries: entries, Sites: sites})
				f, err := elfimage.Write(elfimage.Image{Program: "reach", Variant: name, Code: code, Entries: elfEntries})
				if err != nil {
					t.Fatal(err)
				}
				files[name] = f
			}
			im, err := Load(files, tab, "a", Options{CPU: &everyFeat, Entries: []string{"f"}})
			if err != nil {
				t.Fatal(err)
			}
			defer im.Close()
			err = im.Switch("b")
			for _, w := range []string{"not swap-safe", "entry g (loaded entry f reaches it)", "toy_plain", "key k", "offset 0x28", "reach.go:2", "without entry f"} {
				if err == nil || !strings.Contains(err.Error(), w) {
					t.Errorf("loaded f: Switch(b) = %v, want an error saying %q", err, w)
				}
			}
			im2, err := Load(files, tab, "a", Options{CPU: &everyFeat, Entries: []string{"h"}})
			if err != nil {
				t.Fatal(err)
			}
			defer im2.Close()
			if err := im2.Switch("b"); err != nil {
				t.Errorf("loaded h, which reaches nothing: Switch(b) = %v", err)
			}
			if got := call(t, im2, "h"); got != 1 {
				t.Errorf("h() = %d", got)
			}
		})
	}
}
