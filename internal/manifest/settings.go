package manifest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

// Setting types.
const (
	TypeString = "string"
	TypeNumber = "number"
	// TypeInteger is a whole number: 3 is one, 3.5 is refused, and SDKs
	// decode it into an integer type.
	TypeInteger = "integer"
	TypeBool    = "bool"
	TypeSecret  = "secret" // a string never logged nor shown
	TypeList    = "list"   // a list of strings
)

// Setting describes one configuration value a plugin takes.
type Setting struct {
	Type        string   `toml:"type"`
	Default     any      `toml:"default"`
	Description string   `toml:"description"`
	Required    bool     `toml:"required"`
	Enum        []any    `toml:"enum"`
	Min         *float64 `toml:"min"`
	Max         *float64 `toml:"max"`
	Pattern     string   `toml:"pattern"`
}

// numeric reports whether the setting holds a number.
func (s Setting) numeric() bool { return s.Type == TypeNumber || s.Type == TypeInteger }

// Secret reports whether the setting's value must never be logged.
func (s Setting) Secret() bool { return s.Type == TypeSecret }

var settingNameRE = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)

func (s Setting) validate(key, name string) []Problem {
	var probs []Problem
	add := func(k, format string, args ...any) {
		probs = append(probs, Problem{Key: key + k, Message: fmt.Sprintf(format, args...)})
	}
	if !settingNameRE.MatchString(name) {
		add("", "setting names use lower-case letters, digits and '_'")
	}
	switch s.Type {
	case TypeString, TypeNumber, TypeInteger, TypeBool, TypeSecret, TypeList:
	case "":
		add(".type", "missing (string, number, integer, bool, secret or list)")
		return probs
	default:
		add(".type", "%q: must be string, number, integer, bool, secret or list", s.Type)
		return probs
	}
	if s.Pattern != "" {
		if _, err := regexp.Compile(s.Pattern); err != nil {
			add(".pattern", "not a regular expression: %v", err)
		}
	}
	if (s.Min != nil || s.Max != nil) && !s.numeric() {
		add(".min", "min and max apply to numbers and integers only")
	}
	if s.Required && s.Default != nil {
		add(".required", "a required setting cannot have a default")
	}
	if s.Type == TypeSecret && s.Default != nil {
		add(".default", "a secret cannot have a default: it would be in the manifest for all to read")
	}
	if s.Default != nil && len(probs) == 0 {
		if err := s.check(s.Default); err != "" {
			add(".default", "%s", err)
		}
	}
	return probs
}

// check validates one value against the setting alone; it returns a message
// or "".
func (s Setting) check(v any) string {
	sch, err := compileSchema(map[string]Setting{"v": s})
	if err != nil {
		return err.Error()
	}
	inst, err := jsonInstance(map[string]any{"v": v})
	if err != nil {
		return err.Error()
	}
	if err := sch.Validate(inst); err != nil {
		return strings.Join(leafMessages(err), "; ")
	}
	return ""
}

// schemaFor turns settings into a JSON Schema (draft 2020-12) for the
// object of all values.
func schemaFor(settings map[string]Setting) map[string]any {
	props := map[string]any{}
	var required []any
	for name, s := range settings {
		p := map[string]any{}
		switch s.Type {
		case TypeString, TypeSecret:
			p["type"] = "string"
		case TypeNumber:
			p["type"] = "number"
		case TypeInteger:
			p["type"] = "integer"
		case TypeBool:
			p["type"] = "boolean"
		case TypeList:
			p["type"] = "array"
			p["items"] = map[string]any{"type": "string"}
		}
		if s.Pattern != "" {
			if s.Type == TypeList {
				p["items"].(map[string]any)["pattern"] = s.Pattern
			} else {
				p["pattern"] = s.Pattern
			}
		}
		if len(s.Enum) > 0 {
			p["enum"] = s.Enum
		}
		if s.Min != nil {
			p["minimum"] = *s.Min
		}
		if s.Max != nil {
			p["maximum"] = *s.Max
		}
		props[name] = p
		if s.Required {
			required = append(required, name)
		}
	}
	sch := map[string]any{
		"$schema":              "https://json-schema.org/draft/2020-12/schema",
		"type":                 "object",
		"properties":           props,
		"additionalProperties": false,
	}
	if len(required) > 0 {
		sch["required"] = required
	}
	return sch
}

func compileSchema(settings map[string]Setting) (*jsonschema.Schema, error) {
	doc, err := jsonInstance(schemaFor(settings))
	if err != nil {
		return nil, err
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("airlock:settings.json", doc); err != nil {
		return nil, fmt.Errorf("settings schema: %w", err)
	}
	return c.Compile("airlock:settings.json")
}

// jsonInstance converts decoded TOML (int64, time values, nested maps) to
// the JSON data model the validator expects.
func jsonInstance(v any) (any, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return jsonschema.UnmarshalJSON(bytes.NewReader(data))
}

// leafMessages flattens a validation error to one message per failing value.
func leafMessages(err error) []string {
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return []string{err.Error()}
	}
	var out []string
	var walk func(e *jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		if len(e.Causes) == 0 {
			out = append(out, e.ErrorKind.LocalizedString(message.NewPrinter(language.English)))
			return
		}
		for _, c := range e.Causes {
			walk(c)
		}
	}
	walk(ve)
	return out
}

// SettingError is an operator's configuration value the manifest's schema
// rejects.
type SettingError struct {
	Setting string // empty for a problem with the whole object
	Message string
}

func (e *SettingError) Error() string {
	if e.Setting == "" {
		return e.Message
	}
	return fmt.Sprintf("setting %q: %s", e.Setting, e.Message)
}

// ResolveConfig validates the operator's values against the manifest's
// settings and fills in defaults. The result is what the plugin receives.
// Errors never include a secret's value (threat: secrets leaking into logs).
func (m *Manifest) ResolveConfig(values map[string]any) (map[string]any, error) {
	var errs []error
	out := make(map[string]any, len(m.Config))
	for k, v := range values {
		if _, ok := m.Config[k]; !ok {
			errs = append(errs, &SettingError{Setting: k, Message: fmt.Sprintf("unknown setting (the plugin takes: %s)", strings.Join(m.settingNames(), ", "))})
			continue
		}
		out[k] = v
	}
	for name, s := range m.Config {
		if _, ok := out[name]; !ok && s.Default != nil {
			out[name] = s.Default
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	sch, err := compileSchema(m.Config)
	if err != nil {
		return nil, err
	}
	inst, err := jsonInstance(out)
	if err != nil {
		return nil, err
	}
	if err := sch.Validate(inst); err != nil {
		return nil, m.settingErrors(err)
	}
	// Return plain JSON values (float64 numbers, []any lists), as every
	// tier's plugin will see them.
	data, err := json.Marshal(out)
	if err != nil {
		return nil, err
	}
	var normalized map[string]any
	if err := json.Unmarshal(data, &normalized); err != nil {
		return nil, err
	}
	return normalized, nil
}

func (m *Manifest) settingNames() []string {
	names := make([]string, 0, len(m.Config))
	for n := range m.Config {
		names = append(names, n)
	}
	slices.Sort(names)
	if len(names) == 0 {
		return []string{"none"}
	}
	return names
}

// settingErrors maps validator errors to the settings they concern.
func (m *Manifest) settingErrors(err error) error {
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return err
	}
	var errs []error
	var walk func(e *jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		if len(e.Causes) > 0 {
			for _, c := range e.Causes {
				walk(c)
			}
			return
		}
		setting := ""
		if len(e.InstanceLocation) > 0 {
			setting = e.InstanceLocation[0]
		}
		msg := e.ErrorKind.LocalizedString(message.NewPrinter(language.English))
		if m.Config[setting].Secret() {
			msg = "invalid value (secret, not shown)"
		}
		if setting == "" && strings.Contains(msg, "missing propert") {
			msg = strings.Replace(msg, "missing properties", "missing required settings", 1)
			msg = strings.Replace(msg, "missing property", "missing required setting", 1)
		}
		errs = append(errs, &SettingError{Setting: setting, Message: msg})
	}
	walk(ve)
	return errors.Join(errs...)
}
