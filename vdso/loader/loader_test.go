package loader

import (
	"encoding/binary"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/vdsogen/vdsogen/internal/elfimage"
	"github.com/vdsogen/vdsogen/layout"
)

// A synthetic program with a variant "off" and a variant "on" of key k:
//
//	get (0):  MOVQ page+0(RIP), AX; NOP; <static branch site: NOP5 | JMP body>; RET
//	          body: ADDQ $1000, AX; JMP back to the RET
//	tl (32):  MOVQ page+8(RIP), AX; <three-label site: INCQ AX | DECQ AX>; RET
//	alt (48): <alternative site a: MOVL $1 | $2 | $3, AX>; RET
//	sc (64):  <static-call site s: CALL get | CALL alt>; RET
//
// The alternative's choices are one (no feature), two (rdtscp) and three
// (lfence_rdtsc); off holds one and calls get, on holds two and calls alt,
// so that the images differ in both choice sites.
var (
	nop5    = []byte{0x0f, 0x1f, 0x44, 0x00, 0x00}
	jmpBody = []byte{0xe9, 0x01, 0x00, 0x00, 0x00}
	incq    = []byte{0x48, 0xff, 0xc0}
	decq    = []byte{0x48, 0xff, 0xc8}
	movl    = map[string][]byte{
		"one":   {0xb8, 1, 0, 0, 0},
		"two":   {0xb8, 2, 0, 0, 0},
		"three": {0xb8, 3, 0, 0, 0},
	}
	callAt = map[string][]byte{
		"get": {0xe8, 0xbb, 0xff, 0xff, 0xff}, // CALL 0 from 69: rel -69
		"alt": {0xe8, 0xeb, 0xff, 0xff, 0xff}, // CALL 48 from 69: rel -21
	}
)

const (
	synthSize             = 70
	altOff, scOff         = 48, 64
	synthAlt, synthTarget = "one", "get" // the off variant's choices
)

func synthChoices(on bool) (alt, target string) {
	if on {
		return "two", "alt"
	}
	return synthAlt, synthTarget
}

func synthCode(on bool) []byte {
	site, tl := nop5, incq
	if on {
		site, tl = jmpBody, decq
	}
	alt, target := synthChoices(on)
	var c []byte
	pad := func(n int) {
		for len(c) < n {
			c = append(c, 0xcc)
		}
	}
	c = append(c, 0x48, 0x8b, 0x05, 0, 0, 0, 0) // 0: MOVQ page(RIP), AX
	c = append(c, 0x90)                         // 7: NOP, so that the site fits one 8-byte window
	c = append(c, site...)                      // 8
	c = append(c, 0xc3)                         // 13: RET
	c = append(c, 0x48, 0x05, 0xe8, 0x03, 0, 0) // 14: ADDQ $1000, AX
	c = append(c, 0xe9, 0xf4, 0xff, 0xff, 0xff) // 20: JMP 13
	pad(32)
	c = append(c, 0x48, 0x8b, 0x05, 0, 0, 0, 0) // 32: MOVQ page+8(RIP), AX
	c = append(c, tl...)                        // 39
	c = append(c, 0xc3)                         // 42
	pad(altOff)
	c = append(c, movl[alt]...) // 48
	c = append(c, 0xc3)         // 53
	pad(scOff)
	c = append(c, callAt[target]...) // 64
	c = append(c, 0xc3)              // 69
	return c
}

var synthEntries = []layout.Entry{{Name: "get", Offset: 0, Size: 25}, {Name: "tl", Offset: 32, Size: 11}, {Name: "alt", Offset: altOff, Size: 6}, {Name: "sc", Offset: scOff, Size: 6}}

func synthTable() *layout.Table {
	t := &layout.Table{Program: "synth", Pages: []layout.Page{{Symbol: "page", Size: 4096}}}
	altChoices := []layout.Choice{
		{Name: "one", Bytes: movl["one"]},
		{Name: "two", Feature: layout.FeatureRDTSCP, Bytes: movl["two"]},
		{Name: "three", Feature: layout.FeatureLFENCERDTSC, Bytes: movl["three"]},
	}
	callChoices := []layout.Choice{
		{Name: "get", Bytes: callAt["get"], Offset: 0},
		{Name: "alt", Bytes: callAt["alt"], Offset: altOff},
	}
	for _, on := range []bool{false, true} {
		name, site, tl := "off", nop5, incq
		if on {
			name, site, tl = "on", jmpBody, decq
		}
		alt, target := synthChoices(on)
		t.Variants = append(t.Variants, layout.Variant{
			Name: name, Symbol: "synth_" + name, Size: synthSize, Pool: synthSize, Keys: map[string]bool{"k": on},
			Entries: synthEntries,
			Sites: []layout.Site{
				{Kind: layout.StaticBranch, Key: "k", Entry: "get", On: on, Offset: 8, Bytes: site, Target: 14, Source: "synth.go:1"},
				{Kind: layout.ThreeLabel, Key: "k", Entry: "tl", On: on, Offset: 39, Bytes: tl, Target: 42, Source: "synth.go:2"},
				{Kind: layout.Alternative, Key: "a", Entry: "alt", Offset: altOff, Bytes: movl[alt], Source: "synth.go:3", Choice: alt, Choices: altChoices},
				{Kind: layout.StaticCall, Key: "s", Entry: "sc", Offset: scOff, Bytes: callAt[target], Source: "synth.go:4", Choice: target, Choices: callChoices},
			},
		})
	}
	t.Variants = append(t.Variants, layout.Variant{Name: "alone", Standalone: true})
	return t
}

func synthFiles(t testing.TB) map[string][]byte {
	files := map[string][]byte{}
	var entries []elfimage.Entry
	for _, e := range synthEntries {
		entries = append(entries, elfimage.Entry{Name: e.Name, Offset: e.Offset, Size: e.Size})
	}
	for _, v := range []string{"off", "on"} {
		b, err := elfimage.Write(elfimage.Image{
			Program: "synth", Variant: v, Code: synthCode(v == "on"),
			Entries: entries,
			Relocs:  []elfimage.Reloc{{Offset: 3, Symbol: "page", Addend: -4}, {Offset: 35, Symbol: "page", Addend: 8 - 4}},
			Pages:   elfimage.LayoutPages([]string{"page"}, []int{4096}),
		})
		if err != nil {
			t.Fatal(err)
		}
		files[v] = b
	}
	return files
}

func mustLoad(t testing.TB, initial string, opts Options) *Image {
	t.Helper()
	im, err := Load(synthFiles(t), synthTable(), initial, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { im.Close() })
	page, err := im.Page("page")
	if err != nil {
		t.Fatal(err)
	}
	p := unsafe.Slice((*byte)(page), 16)
	binary.LittleEndian.PutUint64(p, 42)
	binary.LittleEndian.PutUint64(p[8:], 7)
	return im
}

func call(t testing.TB, im *Image, entry string) uintptr {
	t.Helper()
	fn, err := im.Entry(entry)
	if err != nil {
		t.Fatal(err)
	}
	return CallIP(fn, 0, nil)
}

func TestLoadAndCall(t *testing.T) {
	for _, tc := range []struct {
		variant string
		get, tl uintptr
	}{{"off", 42, 8}, {"on", 1042, 6}} {
		im := mustLoad(t, tc.variant, Options{})
		if got := call(t, im, "get"); got != tc.get {
			t.Errorf("%s: get = %d, want %d", tc.variant, got, tc.get)
		}
		if got := call(t, im, "tl"); got != tc.tl {
			t.Errorf("%s: tl = %d, want %d", tc.variant, got, tc.tl)
		}
		// The data pages sit right below the image, read-only there.
		fn, _ := im.Entry("get")
		if fn <= im.Base() || fn-im.Base() > 4096 {
			t.Errorf("entry at %#x, base %#x", fn, im.Base())
		}
	}
	im := mustLoad(t, "off", Options{})
	if _, err := im.Entry("nope"); err == nil {
		t.Error("Entry(nope) resolved")
	}
	if _, err := im.Page("nope"); err == nil {
		t.Error("Page(nope) found")
	}
}

func TestLoadErrors(t *testing.T) {
	files, tab := synthFiles(t), synthTable()
	if _, err := Load(files, tab, "alone", Options{}); err == nil || !strings.Contains(err.Error(), "standalone") {
		t.Errorf("standalone: %v", err)
	}
	if _, err := Load(files, tab, "nope", Options{}); err == nil {
		t.Error("unknown variant loaded")
	}
	if _, err := Load(files, tab, "off", Options{Entries: []string{"nope"}}); err == nil {
		t.Error("unknown entry loaded")
	}
	bad := map[string][]byte{"off": files["off"], "on": append([]byte(nil), files["on"][:100]...)}
	if _, err := Load(bad, tab, "off", Options{}); err == nil {
		t.Error("a broken image loaded")
	}
}

func TestSwitchRefusesThreeLabel(t *testing.T) {
	im := mustLoad(t, "off", Options{})
	err := im.Switch("on")
	if err == nil || !strings.Contains(err.Error(), "not swap-safe") || !strings.Contains(err.Error(), "three_label") || !strings.Contains(err.Error(), "synth.go:2") {
		t.Fatalf("Switch(on) = %v, want a not-swap-safe error naming the three-label site", err)
	}
	t.Log(err)
	if im.Variant() != "off" || call(t, im, "get") != 42 || call(t, im, "tl") != 8 {
		t.Error("a refused switch changed the image")
	}
	if err := im.Switch("alone"); err == nil || !strings.Contains(err.Error(), "standalone") {
		t.Errorf("Switch(alone) = %v", err)
	}
	if err := im.Switch("nope"); err == nil {
		t.Error("Switch(nope) worked")
	}
}

func TestSwitchExportedEntries(t *testing.T) {
	im := mustLoad(t, "off", Options{Entries: []string{"get"}})
	if _, err := im.Entry("tl"); err == nil || !strings.Contains(err.Error(), "not loaded") {
		t.Errorf("Entry(tl) = %v", err)
	}
	if got := im.Variants(); len(got) != 2 {
		t.Errorf("Variants() = %v", got)
	}
	for i, want := range []struct {
		v   string
		get uintptr
	}{{"on", 1042}, {"off", 42}, {"on", 1042}, {"on", 1042}} {
		if err := im.Switch(want.v); err != nil {
			t.Fatalf("switch %d to %s: %v", i, want.v, err)
		}
		if got := call(t, im, "get"); got != want.get || im.Variant() != want.v {
			t.Errorf("after switch %d to %s: get = %d (variant %s)", i, want.v, got, im.Variant())
		}
	}
}

// TestSwitchTorture: a reader per CPU calls get in a loop while the image
// is switched thousands of times; every value is one variant's.
func TestSwitchTorture(t *testing.T) {
	im := mustLoad(t, "off", Options{Entries: []string{"get"}})
	fn, _ := im.Entry("get")
	switches := 4000
	if testing.Short() {
		switches = 400
	}
	var calls, bad atomic.Int64
	seen := make([][2]int64, runtime.GOMAXPROCS(0))
	el := switchWhileReading(t, im, switches, len(seen), func(r int) {
		switch v := CallIP(fn, 0, nil); v {
		case 42:
			seen[r][0]++
		case 1042:
			seen[r][1]++
		default:
			bad.Add(1)
		}
		calls.Add(1)
	})
	if bad.Load() != 0 {
		t.Errorf("%d calls returned a value neither variant gives", bad.Load())
	}
	t.Logf("%d switches in %v (%v each), %d calls, per reader [off on]: %v", switches, el, el/time.Duration(switches), calls.Load(), seen)
}

// switchWhileReading switches im between "on" and "off" switches times
// while readers goroutines each call read (with their index) in a loop,
// and returns how long the switches took. The readers have stopped when
// it returns, whatever ends the test (t.Fatal included), so before the
// image is unmapped.
func switchWhileReading(t *testing.T, im *Image, switches, readers int, read func(reader int)) time.Duration {
	t.Helper()
	var stop atomic.Bool
	var wg sync.WaitGroup
	defer func() { stop.Store(true); wg.Wait() }()
	for r := range readers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				read(r)
			}
		}()
	}
	start := time.Now()
	for i := range switches {
		if err := im.Switch([]string{"on", "off"}[i%2]); err != nil {
			t.Fatal(err)
		}
	}
	return time.Since(start)
}

// TestCallAlignment: whatever the Go stack depth (Go keeps SP only 8-byte
// aligned), the callee of CallIP/CallPP starts with SP+8 a multiple of 16,
// as the C ABI requires, and runs inside the caller's frame, with at least
// CallFrame bytes below it.
func TestCallAlignment(t *testing.T) {
	goMod := map[uintptr]bool{}
	var walk func(depth int)
	walk = func(depth int) {
		callee, frame := callSP()
		goMod[frame%16] = true
		if (callee+8)%16 != 0 {
			t.Errorf("depth %d: callee SP %#x: SP+8 is not 16-byte aligned", depth, callee)
		}
		if callee-8 < frame+CallFrame || callee > frame+callFrame {
			t.Errorf("depth %d: callee SP %#x leaves less than %d bytes above the frame's bottom %#x, or is above the frame", depth, callee, CallFrame, frame)
		}
		if depth < 8 {
			var odd [1]uint64 // shifts the next frame by 8 bytes
			_ = odd
			walk(depth + 1)
		}
	}
	walk(0)
	if len(goMod) != 2 {
		t.Errorf("the Go SP took only the values %v mod 16: the test did not try both alignments", goMod)
	}
}
