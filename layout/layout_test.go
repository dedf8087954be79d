package layout

import (
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestKindsRoundTrip: every built-in kind has a distinct nonzero code that
// maps back to it, and a DSL word; an unknown kind has none.
func TestKindsRoundTrip(t *testing.T) {
	seen := map[uint8]Kind{}
	for _, k := range []Kind{StaticBranch, ThreeLabel, Alternative, StaticCall} {
		c := k.Code()
		if c == 0 || seen[c] != "" {
			t.Errorf("%s: code %d (taken by %q)", k, c, seen[c])
		}
		seen[c] = k
		if back, ok := KindOfCode(c); !ok || back != k {
			t.Errorf("KindOfCode(%d) = %q, %v; want %q", c, back, ok, k)
		}
		if !k.Known() || k.Word() == string(k) {
			t.Errorf("%s: known %v, word %q", k, k.Known(), k.Word())
		}
	}
	if k := Kind("nope"); k.Known() || k.Code() != 0 {
		t.Errorf("unknown kind: known %v code %d", k.Known(), k.Code())
	}
	if _, ok := KindOfCode(0); ok {
		t.Error("code 0 names a kind")
	}
}

// TestRegisterKindRefusesDuplicates: a name or a code is registered once.
func TestRegisterKindRefusesDuplicates(t *testing.T) {
	for _, tc := range []struct {
		kind Kind
		code uint8
	}{{StaticBranch, 200}, {"fresh_kind", StaticBranch.Code()}, {"zero_kind", 0}, {"", 201}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("RegisterKind(%q, %d) did not panic", tc.kind, tc.code)
				}
			}()
			RegisterKind(tc.kind, tc.code, "X")
		}()
	}
}

// TestTableJSONRoundTrip: a table survives EncodeJSON/DecodeJSON, the
// encoding is stable, and foreign or damaged input is refused.
func TestTableJSONRoundTrip(t *testing.T) {
	tab := &Table{Program: "p", Pages: []Page{{Symbol: "d", Size: 4096}}, Variants: []Variant{{
		Name: "a", Symbol: "p_a", Size: 64, Keys: map[string]bool{"k": true, "b": false}, Pool: 60,
		Entries: []Entry{{Name: "f", Offset: 0, Size: 60}},
		Sites: []Site{{Kind: Alternative, Key: "k", Entry: "f", Offset: 3, Bytes: []byte{1, 2}, Choice: "x",
			Choices: []Choice{{Name: "x", Bytes: []byte{1, 2}, Offset: 60}, {Name: "y", Feature: FeatureRDTSCP, Bytes: []byte{3, 4}, Offset: 62}},
			Relocs:  []Reloc{{Offset: 0, Symbol: "d", Addend: -4}}, Source: "asm.go:3"}},
		Regions: []Region{{Name: "r", Entry: "f", Start: 1, PostCommit: 2, Abort: 40, Source: "asm.go:9"}},
		Source:  []Span{{Offset: 0, Source: "asm.go:1"}},
	}}}
	b, err := tab.EncodeJSON()
	if err != nil {
		t.Fatal(err)
	}
	again, _ := tab.EncodeJSON()
	if string(b) != string(again) {
		t.Fatal("EncodeJSON is not deterministic")
	}
	got, err := DecodeJSON(b)
	if err != nil || !reflect.DeepEqual(got, tab) {
		t.Fatalf("round trip: %v\n%+v\n%+v", err, got, tab)
	}
	for name, bad := range map[string]string{
		"unknown field": strings.Replace(string(b), `"Program"`, `"Programme"`, 1),
		"no mark":       strings.Replace(string(b), Generated, "hand-written", 1),
		"unknown kind":  strings.Replace(string(b), `"alternative"`, `"teleport"`, 1),
		"trailing data": string(b) + "{}",
		"truncated":     string(b[:len(b)/2]),
	} {
		if _, err := DecodeJSON([]byte(bad)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// TestFileNames: the names the generator writes, and their recognition.
func TestFileNames(t *testing.T) {
	f := Files("clock")
	for got, want := range map[string]string{
		f.Asm("host"): "zclock_host_amd64.s", f.ELF("host"): "zclock_host.so", f.Table(): "zclock_layout_amd64.go",
		f.TableJSON(): "zclock_layout.json", f.Stubs(): "zclock_stubs_amd64.go", StubsAsm(f.Stubs()): "zclock_stubs_amd64.s", f.TableVar(): "clockLayout",
	} {
		if got != want {
			t.Errorf("%s, want %s", got, want)
		}
	}
	for _, path := range []string{"d/zclock_layout_amd64.go", "d/zclock_layout.json"} {
		if p, js, ok := TableFileOf(path); !ok || p != "clock" || js != "d/zclock_layout.json" {
			t.Errorf("TableFileOf(%s) = %q %q %v", path, p, js, ok)
		}
	}
	for _, path := range []string{"z_layout.json", "clock_layout.json", "zclock_host_amd64.s"} {
		if _, _, ok := TableFileOf(path); ok {
			t.Errorf("TableFileOf(%s) recognised a table", path)
		}
	}
	if !IsAsm("x/zclock_host_amd64.s") || IsAsm("x/clock_amd64.s") {
		t.Error("IsAsm")
	}
	// Every name the program writes is its own and names its program;
	// another program's (even one whose name extends it) is not.
	for _, name := range []string{f.Asm("host"), f.ELF("timens"), f.Table(), f.TableJSON(), f.Stubs(), StubsAsm(f.Stubs())} {
		if !f.Owns(name) || Files("clo").Owns(name) || Files("clock2").Owns(name) || !MayBeGenerated(name) {
			t.Errorf("ownership of %s", name)
		}
		if !regexp.MustCompile(`^`+AsmNameRE+`$`).MatchString(name) != (name != f.Asm("host") && name != StubsAsm(f.Stubs())) {
			t.Errorf("AsmNameRE on %s", name)
		}
	}
	for _, name := range []string{f.Table(), f.TableJSON(), f.Stubs(), StubsAsm(f.Stubs())} {
		if p, ok := ProgramOf(name); !ok || p != f {
			t.Errorf("ProgramOf(%s) = %q %v", name, p, ok)
		}
	}
	for _, name := range []string{f.Asm("host"), f.ELF("host"), "z_stubs_amd64.go", "clock_stubs_amd64.go", "stubs.go"} {
		if p, ok := ProgramOf(name); ok {
			t.Errorf("ProgramOf(%s) = %q from a name that does not say", name, p)
		}
	}
	for name, want := range map[string]string{f.ELF("host"): "host", f.ELF("time_ns"): "time_ns", "zclock_.so": "", "zclock_host.s": "",
		"zclock2_host.so": "", "xclock_host.so": "", f.Asm("host"): ""} {
		if v, ok := f.VariantOfELF(name); v != want || ok != (want != "") {
			t.Errorf("VariantOfELF(%s) = %q %v, want %q", name, v, ok, want)
		}
	}
}

// TestKinds: the registry lists the built-in kinds by code, each with its
// word, and a code names its kind back.
func TestKinds(t *testing.T) {
	want := []Kind{StaticBranch, ThreeLabel, Alternative, StaticCall}
	if got := Kinds(); !slices.Equal(got, want) {
		t.Fatalf("Kinds() = %q, want %q", got, want)
	}
	for i, k := range want {
		if k.Code() != uint8(i+1) || !k.Known() {
			t.Errorf("%s: code %d, known %v", k, k.Code(), k.Known())
		}
		if back, ok := KindOfCode(k.Code()); !ok || back != k {
			t.Errorf("code %d names %q", k.Code(), back)
		}
	}
	if Kind("nope").Known() || Kind("nope").Code() != 0 || Kind("nope").Word() != "nope" {
		t.Error("an unregistered kind looks registered")
	}
}
