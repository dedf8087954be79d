package loader

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/vdsogen/vdsogen/layout"
	"github.com/vdsogen/vdsogen/marker"
)

// choiceSite reports whether s is a site whose bytes the loader picks:
// its kind has Choices.
func choiceSite(s *layout.Site) bool { return marker.TraitsOf(s.Kind).Choices }

// choiceKeys groups the choice sites of v by key and checks that every
// site of a key declares the same kind and choices.
func choiceKeys(v *layout.Variant) (map[string]*layout.Site, error) {
	keys := map[string]*layout.Site{}
	for i := range v.Sites {
		s := &v.Sites[i]
		if !choiceSite(s) {
			continue
		}
		first, ok := keys[s.Key]
		if !ok {
			if len(s.Choices) == 0 {
				return nil, fmt.Errorf("loader: %s site %s at %#x (%s) declares no choice", s.Kind, s.Key, s.Offset, s.Source)
			}
			keys[s.Key] = s
			continue
		}
		if first.Kind != s.Kind || !slices.Equal(first.ChoiceNames(), s.ChoiceNames()) {
			return nil, fmt.Errorf("loader: sites of key %s disagree: %s %v at %#x, %s %v at %#x",
				s.Key, first.Kind, first.ChoiceNames(), first.Offset, s.Kind, s.ChoiceNames(), s.Offset)
		}
	}
	return keys, nil
}

// pickChoices decides the choice of every choice key of the initial
// variant v: an override from Options.Choices, else for a LoadTime kind
// the last choice whose feature cpu has, else the variant's own choice.
// Overridden keys and LoadTime kinds' keys are pinned: a switch keeps
// their choice (marker.Swap); the others follow the variant.
func (im *Image) pickChoices(v *layout.Variant, cpu CPU) error {
	keys, err := choiceKeys(v)
	if err != nil {
		return err
	}
	im.choices = map[string]string{}
	im.pinned = map[string]bool{}
	for _, key := range slices.Sorted(maps.Keys(im.opts.Choices)) {
		name := im.opts.Choices[key]
		s, ok := keys[key]
		if !ok {
			return fmt.Errorf("loader: Options.Choices: no site with choices has key %q in %s (keys: %s)",
				key, im.tab.Program, listOrNone(slices.Sorted(maps.Keys(keys))))
		}
		c, ok := s.ChoiceNamed(name)
		if !ok {
			return fmt.Errorf("loader: Options.Choices: %s %s has no choice %q (choices: %s)",
				s.Kind, key, name, strings.Join(s.ChoiceNames(), ", "))
		}
		has, err := cpu.Has(c.Feature)
		if err != nil {
			return fmt.Errorf("loader: choice %s of %s %s: %w", name, s.Kind, key, err)
		}
		if !has {
			return fmt.Errorf("loader: Options.Choices: choice %s of %s %s needs CPU feature %s, which the CPU (%v) lacks; set Options.CPU to assert it",
				name, s.Kind, key, c.Feature, cpu)
		}
		im.choices[key], im.pinned[key] = name, true
	}
	for key, s := range keys {
		if im.pinned[key] {
			continue
		}
		if !marker.TraitsOf(s.Kind).LoadTime {
			im.choices[key] = s.Choice
			continue
		}
		name, err := byFeatures(s, cpu)
		if err != nil {
			return err
		}
		im.choices[key], im.pinned[key] = name, true
	}
	return nil
}

// byFeatures returns the last choice of site s, of a LoadTime kind, whose
// feature cpu has (the load-time policy of layout.Site.Choices).
func byFeatures(s *layout.Site, cpu CPU) (string, error) {
	for i := len(s.Choices) - 1; i >= 0; i-- {
		has, err := cpu.Has(s.Choices[i].Feature)
		if err != nil {
			return "", fmt.Errorf("loader: choice %s of %s %s (entry %s at %#x, %s): %w", s.Choices[i].Name, s.Kind, s.Key, s.Entry, s.Offset, s.Source, err)
		}
		if has {
			return s.Choices[i].Name, nil
		}
	}
	return "", fmt.Errorf("loader: no choice of %s %s (entry %s at %#x, %s) runs on this CPU (%v)", s.Kind, s.Key, s.Entry, s.Offset, s.Source, cpu)
}

// listOrNone joins names, or says there are none.
func listOrNone(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

// applyChoices writes the picked choice of every choice site of variant
// into code, that variant's .text.
func (im *Image) applyChoices(code []byte, variant string) error {
	v, _ := im.tab.Variant(variant)
	for i := range v.Sites {
		s := &v.Sites[i]
		if !choiceSite(s) {
			continue
		}
		b, err := siteBytes(s, im.choices[s.Key])
		if err != nil {
			return err
		}
		if b == nil {
			continue // the image's own bytes
		}
		copy(code[s.Offset:], b)
	}
	return nil
}

// siteBytes returns the bytes of site s with choice name applied, or nil
// when the site already holds that choice and carries data references
// (whose linked bytes only the image has).
func siteBytes(s *layout.Site, name string) ([]byte, error) {
	c, ok := s.ChoiceNamed(name)
	if !ok {
		return nil, fmt.Errorf("loader: %s site %s at %#x has no choice %q", s.Kind, s.Key, s.Offset, name)
	}
	if len(c.Bytes) != len(s.Bytes) {
		return nil, fmt.Errorf("loader: choice %s of %s at %#x has %d bytes, the site %d", name, s.Key, s.Offset, len(c.Bytes), len(s.Bytes))
	}
	if len(s.Relocs) > 0 {
		if name == s.Choice {
			return nil, nil
		}
		return nil, fmt.Errorf("loader: %s site %s at %#x (%s) refers to data: the loader cannot relink choice %s", s.Kind, s.Key, s.Offset, s.Source, name)
	}
	return c.Bytes, nil
}

// Choices returns the choice applied to the sites of every choice key of
// the image: key -> choice name (a static call's choices are its target
// entries).
func (im *Image) Choices() map[string]string {
	im.mu.Lock()
	defer im.mu.Unlock()
	return maps.Clone(im.choices)
}

// followChoices records, after a switch to variant to, the choice of every
// key that is not pinned: the target variant's.
func (im *Image) followChoices(to string) {
	v, _ := im.tab.Variant(to)
	for _, s := range v.Sites {
		if choiceSite(&s) && !im.pinned[s.Key] {
			im.choices[s.Key] = s.Choice
		}
	}
}
