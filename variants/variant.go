package variants

import "sort"

// Variant is one setting of every marker key.
type Variant struct {
	Name string
	Keys map[string]bool // the value of every switch key (StaticBranch, ThreeLabel)
	// Choices is the value of every choice key: the choice an Alternative
	// or the target a StaticCall takes in this variant. A program's choice
	// keys that the file does not set take their first choice.
	Choices map[string]string
	// Standalone: markers whose key is off are elided entirely; such a
	// variant does not share the common layout and is never switchable.
	Standalone bool
	Pos        Pos            // position of the variant's table header (zero for the built-in set)
	KeyPos     map[string]Pos // position of each key assignment (nil for the built-in set)
	// ValuePos is the position of each choice key's value.
	ValuePos map[string]Pos
}

// Set is the set of variants of one program.
type Set struct {
	File     string    // "" for the built-in set
	Variants []Variant // in file order
	Keys     []string  // every key, switch or choice, sorted
}

// Builtin returns the built-in set, used when a program has no definitions
// file: host (timens = false) and timens (timens = true), both shared.
func Builtin() *Set {
	return &Set{
		Variants: []Variant{
			{Name: "host", Keys: map[string]bool{"timens": false}},
			{Name: "timens", Keys: map[string]bool{"timens": true}},
		},
		Keys: []string{"timens"},
	}
}

// Lookup returns the variant with the given name.
func (s *Set) Lookup(name string) (*Variant, bool) {
	for i := range s.Variants {
		if s.Variants[i].Name == name {
			return &s.Variants[i], true
		}
	}
	return nil, false
}

// Shared returns the variants that are not standalone, in file order. They
// share one layout.
func (s *Set) Shared() []Variant {
	var shared []Variant
	for _, v := range s.Variants {
		if !v.Standalone {
			shared = append(shared, v)
		}
	}
	return shared
}

// CheckUsed reports every key the file sets that no routine uses
// (used[key] false or missing), positioned at the key's first assignment.
// The result is an ErrorList or nil. The built-in set (File "") is not
// checked: there is no file to remove a key from.
func (s *Set) CheckUsed(used map[string]bool) error {
	if s.File == "" {
		return nil
	}
	var errs errorCollector
	keys := append([]string(nil), s.Keys...)
	sort.Strings(keys)
	for _, k := range keys {
		if used[k] {
			continue
		}
		var first *Variant
		for i := range s.Variants {
			v := &s.Variants[i]
			if !v.Sets(k) {
				continue
			}
			if first == nil || v.KeyPos[k].before(first.KeyPos[k]) {
				first = v
			}
		}
		if first == nil {
			continue
		}
		errs.add(first.KeyPos[k], "key %q is set by variant %q but no routine uses it; remove it or add a marker that uses it", k, first.Name)
	}
	return errs.err()
}

// Sets reports whether the variant sets key k, as a switch or a choice.
func (v *Variant) Sets(k string) bool {
	if _, ok := v.Keys[k]; ok {
		return true
	}
	_, ok := v.Choices[k]
	return ok
}

// Choice returns the choice the variant makes for key k, or "" when it
// sets none.
func (v *Variant) Choice(k string) string { return v.Choices[k] }
