package gen

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/airlock-go/airlock/internal/manifest"
)

// SettingsName is the type of the plugin's settings in generated code.
const SettingsName = "Settings"

// AddSettings adds the type of a plugin's settings, as its manifest's
// [config] table declares them, to c: a struct named Settings whose
// decoder refuses a missing required setting, a value of the wrong type
// (3.5 or "3" for an integer) and a setting it does not know. A setting
// with a default is always present (the host fills defaults in), so it is
// a required field; one with neither default nor required = true is
// optional.
func AddSettings(c *Contract, settings map[string]manifest.Setting) error {
	for _, s := range c.Structs {
		if s.Name == SettingsName {
			return fmt.Errorf("type %s: %w: the contract has a type of that name, which the settings' type takes", s.Name, ErrUnsupported)
		}
	}
	st := &Struct{Name: SettingsName, Doc: "The plugin's settings, as its manifest declares them.", Closed: true}
	names := make([]string, 0, len(settings))
	for n := range settings {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		s := settings[n]
		t, err := settingType(s)
		if err != nil {
			return fmt.Errorf("setting %q: %w", n, err)
		}
		doc := oneLine(s.Description)
		if s.Type == manifest.TypeSecret {
			doc = strings.TrimSpace(doc + " (secret: never log it)")
		}
		st.Fields = append(st.Fields, Field{JSON: n, Doc: doc, Type: t, Required: s.Required || s.Default != nil})
	}
	c.Settings = st
	c.Structs = append(c.Structs, st)
	slices.SortFunc(c.Structs, func(a, b *Struct) int { return strings.Compare(a.Name, b.Name) })
	return nil
}

// settingType is the type of a setting's value, with its enum (not for
// a secret: the decoders' messages show an enum's value).
func settingType(s manifest.Setting) (*Type, error) {
	var t *Type
	switch s.Type {
	case manifest.TypeString, manifest.TypeSecret:
		t = &Type{Kind: String}
	case manifest.TypeNumber:
		t = &Type{Kind: Number}
	case manifest.TypeInteger:
		t = &Type{Kind: Integer}
	case manifest.TypeBool:
		return &Type{Kind: Bool}, nil
	case manifest.TypeList:
		return &Type{Kind: Array, Elem: &Type{Kind: String}}, nil
	default:
		return nil, fmt.Errorf("%w: setting type %q", ErrUnsupported, s.Type)
	}
	if s.Type == manifest.TypeSecret {
		return t, nil
	}
	for _, v := range s.Enum {
		switch v := v.(type) {
		case string:
			if t.Kind != String {
				return nil, fmt.Errorf("%w: enum value %q for a %s", ErrUnsupported, v, s.Type)
			}
			t.Enum = append(t.Enum, v)
		case int64, float64, int:
			if t.Kind == String {
				return nil, fmt.Errorf("%w: enum value %v for a string", ErrUnsupported, v)
			}
			b, _ := json.Marshal(v)
			t.Enum = append(t.Enum, json.Number(b))
		default:
			return nil, fmt.Errorf("%w: enum value %v", ErrUnsupported, v)
		}
	}
	return t, nil
}
