package airlock

import (
	"bytes"
	"cmp"
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

// schemaDialect is the JSON Schema draft of every schema Airlock generates.
const schemaDialect = "https://json-schema.org/draft/2020-12/schema"

// typeSchema is the JSON Schema of one Go type as encoding/json encodes
// and decodes it, compiled for validation. One is shared by every user of
// the type, concurrently.
type typeSchema struct {
	typ reflect.Type
	doc json.RawMessage // the schema document; "true" for any value
	any bool            // accepts every JSON value: check does nothing

	// Compiled at the first check, not when declared: compiling (and
	// checking against the metaschema) costs about a millisecond, which
	// every program importing a package of hooks would pay at start.
	once       sync.Once
	compiled   *jsonschema.Schema
	compileErr error
}

type schemaKey struct {
	typ reflect.Type
	// nullable: the top-level struct also accepts null when none of its
	// fields is required (a host function's input: "no input").
	nullable bool
}

// schemas caches every typeSchema by type: generating one costs tens of
// microseconds and compiling it about a millisecond, and the standard host
// functions are declared again by every New.
var schemas sync.Map // schemaKey → *typeSchema

// schemaOf returns the schema of t.
func schemaOf(t reflect.Type, nullable bool) (*typeSchema, error) {
	key := schemaKey{t, nullable}
	if s, ok := schemas.Load(key); ok {
		return s.(*typeSchema), nil
	}
	doc, err := generateSchema(t, nullable)
	if err != nil {
		return nil, err
	}
	raw, err := json.Marshal(doc)
	if err != nil {
		return nil, err
	}
	s := &typeSchema{typ: t, doc: raw, any: doc == true}
	got, _ := schemas.LoadOrStore(key, s)
	return got.(*typeSchema), nil
}

// compile compiles the schema, once.
func (s *typeSchema) compile() (*jsonschema.Schema, error) {
	s.once.Do(func() {
		inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(s.doc))
		if err == nil {
			s.compiled, err = compileSchema(inst)
		}
		if err != nil {
			s.compileErr = fmt.Errorf("the schema of %v does not compile: %v", s.typ, err)
		}
	})
	return s.compiled, s.compileErr
}

func compileSchema(doc any) (*jsonschema.Schema, error) {
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	const url = "airlock:type.json"
	if err := c.AddResource(url, doc); err != nil {
		return nil, err
	}
	return c.Compile(url)
}

// mustSchema is schemaOf for types written in the host's own code
// (NewHook, NewFunc), which panic on a type JSON cannot carry.
func mustSchema(t reflect.Type, nullable bool, what string) *typeSchema {
	s, err := schemaOf(t, nullable)
	if err != nil {
		panic(fmt.Sprintf("airlock: %s: type %v: %v", what, t, err))
	}
	return s
}

// check validates the JSON value raw against the schema. It returns nil,
// or an error listing the problems, each with its JSON path. A nil schema
// accepts anything.
func (s *typeSchema) check(raw json.RawMessage) error {
	if s == nil || s.any {
		return nil
	}
	compiled, err := s.compile()
	if err != nil {
		return err // a bug of the generator's: TestGenerateSchema compiles every kind of schema
	}
	if len(raw) == 0 {
		raw = json.RawMessage("null")
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return fmt.Errorf("not valid JSON: %v", err)
	}
	if err := compiled.Validate(inst); err != nil {
		return valueProblems(err)
	}
	return nil
}

// Bounds of a validation error. Threat: a plugin's value quoted into the
// host's errors and logs (a pattern mismatch quotes the value) must not
// make them huge.
const (
	maxProblems       = 10
	maxProblemMessage = 160
)

// valueProblems turns the validator's error into one line per failing
// value: "/items/2/price: got string, want number; /name: missing".
func valueProblems(err error) error {
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return err
	}
	p := message.NewPrinter(language.English)
	var probs []string
	add := func(loc []string, extra, msg string) {
		path := jsonPointer(loc)
		if extra != "" {
			path += "/" + escapePointer(extra)
		}
		if path == "" {
			path = "(root)"
		}
		msg, _ = cutUTF8(strings.ToValidUTF8(msg, "?"), maxProblemMessage)
		probs = append(probs, path+": "+msg)
	}
	var walk func(e *jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		if len(e.Causes) > 0 {
			for _, c := range e.Causes {
				walk(c)
			}
			return
		}
		switch k := e.ErrorKind.(type) {
		case *kind.Required:
			for _, m := range k.Missing {
				add(e.InstanceLocation, m, "missing")
			}
		case *kind.AdditionalProperties:
			for _, name := range k.Properties {
				add(e.InstanceLocation, name, "unknown field")
			}
		case *kind.Type:
			// The null branch of a nullable struct (anyOf [struct, null])
			// says nothing useful about a value that is not null.
			if len(k.Want) == 1 && k.Want[0] == "null" {
				return
			}
			add(e.InstanceLocation, "", fmt.Sprintf("got %s, want %s", k.Got, strings.Join(k.Want, " or ")))
		default:
			add(e.InstanceLocation, "", e.ErrorKind.LocalizedString(p))
		}
	}
	walk(ve)
	slices.Sort(probs)
	probs = slices.Compact(probs)
	if len(probs) == 0 {
		probs = []string{"(root): " + ve.ErrorKind.LocalizedString(p)}
	}
	if n := len(probs); n > maxProblems {
		probs = append(probs[:maxProblems], fmt.Sprintf("and %d more", n-maxProblems))
	}
	return errors.New(strings.Join(probs, "; "))
}

func jsonPointer(loc []string) string {
	var b strings.Builder
	for _, s := range loc {
		b.WriteByte('/')
		b.WriteString(escapePointer(s))
	}
	return b.String()
}

func escapePointer(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}

// The schema generator. It follows encoding/json, so that a value the host
// encodes always fits its own schema and a value that fits decodes without
// losing anything:
//   - a struct is an object with additionalProperties false; its fields
//     are named as encoding/json names them (the json tag, else the Go
//     name) and are required unless tagged omitempty or omitzero;
//     embedded structs' fields are promoted with encoding/json's rules;
//   - slices, maps and pointers may also be null (a nil one encodes so);
//     []byte is a base64 string; arrays have exactly their length;
//   - a type with its own MarshalJSON or UnmarshalJSON (json.RawMessage,
//     for one) and an interface accept any value; time.Time is a
//     date-time string, json.Number a number, and other
//     encoding.TextMarshaler types strings;
//   - channels, functions and complex numbers cannot be carried at all.

type object = map[string]any

var (
	jsonMarshaler   = reflect.TypeFor[json.Marshaler]()
	jsonUnmarshaler = reflect.TypeFor[json.Unmarshaler]()
	textMarshaler   = reflect.TypeFor[encoding.TextMarshaler]()
	textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()
	timeType        = reflect.TypeFor[time.Time]()
	numberType      = reflect.TypeFor[json.Number]()
)

type schemaGen struct {
	defs  object
	refs  map[reflect.Type]string // named structs: their $ref
	names map[string]reflect.Type // $defs keys in use
}

// generateSchema returns the schema document of t: true for any value, or
// an object with "$schema". A named struct is described at the top level
// (with its name as "title"); other named structs it uses are in "$defs".
func generateSchema(t reflect.Type, nullable bool) (any, error) {
	g := &schemaGen{defs: object{}, refs: map[reflect.Type]string{}, names: map[string]reflect.Type{}}
	var root any
	var err error
	if plainStruct(t) {
		if t.Name() != "" {
			g.refs[t] = "#"
		}
		var s object
		s, err = g.structSchema(t)
		if err == nil {
			if t.Name() != "" && unicode.IsUpper([]rune(t.Name())[0]) {
				s["title"] = t.Name()
			}
			if nullable && s["required"] == nil {
				s["type"] = []any{"object", "null"}
			}
			root = s
		}
	} else {
		root, err = g.schema(t)
	}
	if err != nil {
		return nil, err
	}
	s, ok := root.(object)
	if !ok {
		return root, nil // true: any value
	}
	s["$schema"] = schemaDialect
	if len(g.defs) > 0 {
		s["$defs"] = g.defs
	}
	return s, nil
}

// plainStruct reports whether t is a struct encoded field by field.
func plainStruct(t reflect.Type) bool {
	return t.Kind() == reflect.Struct && !customJSON(t) && !textual(t)
}

// customJSON reports whether t encodes or decodes itself, so that its
// schema cannot be known from its fields.
func customJSON(t reflect.Type) bool {
	p := reflect.PointerTo(t)
	return t.Implements(jsonMarshaler) || p.Implements(jsonMarshaler) || p.Implements(jsonUnmarshaler)
}

func textual(t reflect.Type) bool {
	p := reflect.PointerTo(t)
	return t.Implements(textMarshaler) || p.Implements(textMarshaler) || p.Implements(textUnmarshaler)
}

func (g *schemaGen) schema(t reflect.Type) (any, error) {
	switch {
	case t == timeType:
		return object{"type": "string", "format": "date-time"}, nil
	case t == numberType:
		return object{"type": "number"}, nil
	case customJSON(t), t.Kind() == reflect.Interface:
		return true, nil
	case textual(t) && t.Kind() != reflect.Pointer:
		return object{"type": "string"}, nil
	}
	switch t.Kind() {
	case reflect.Bool:
		return object{"type": "boolean"}, nil
	case reflect.Int, reflect.Int64:
		return object{"type": "integer"}, nil
	case reflect.Int8, reflect.Int16, reflect.Int32:
		bits := t.Bits()
		return object{"type": "integer", "minimum": -(int64(1) << (bits - 1)), "maximum": int64(1)<<(bits-1) - 1}, nil
	case reflect.Uint8, reflect.Uint16, reflect.Uint32:
		return object{"type": "integer", "minimum": 0, "maximum": uint64(1)<<t.Bits() - 1}, nil
	case reflect.Uint, reflect.Uint64, reflect.Uintptr:
		return object{"type": "integer", "minimum": 0}, nil
	case reflect.Float32, reflect.Float64:
		return object{"type": "number"}, nil
	case reflect.String:
		return object{"type": "string"}, nil
	case reflect.Pointer:
		s, err := g.schema(t.Elem())
		if err != nil {
			return nil, err
		}
		return nullable(s), nil
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 && !customJSON(t.Elem()) && !textual(t.Elem()) {
			return nullable(object{"type": "string", "contentEncoding": "base64"}), nil
		}
		items, err := g.schema(t.Elem())
		if err != nil {
			return nil, err
		}
		return nullable(object{"type": "array", "items": items}), nil
	case reflect.Array:
		items, err := g.schema(t.Elem())
		if err != nil {
			return nil, err
		}
		return object{"type": "array", "items": items, "minItems": t.Len(), "maxItems": t.Len()}, nil
	case reflect.Map:
		values, err := g.schema(t.Elem())
		if err != nil {
			return nil, err
		}
		s := object{"type": "object", "additionalProperties": values}
		switch k := t.Key(); {
		case k.Kind() == reflect.String, textual(k):
		case k.Kind() >= reflect.Int && k.Kind() <= reflect.Int64:
			s["propertyNames"] = object{"pattern": `^-?[0-9]+$`}
		case k.Kind() >= reflect.Uint && k.Kind() <= reflect.Uintptr:
			s["propertyNames"] = object{"pattern": `^[0-9]+$`}
		default:
			return nil, fmt.Errorf("map key type %v cannot be a JSON object's key", k)
		}
		return nullable(s), nil
	case reflect.Struct:
		if t.Name() == "" {
			return g.structSchema(t)
		}
		if ref, ok := g.refs[t]; ok {
			return object{"$ref": ref}, nil
		}
		key := g.defName(t)
		ref := "#/$defs/" + key
		g.refs[t] = ref
		s, err := g.structSchema(t)
		if err != nil {
			return nil, err
		}
		g.defs[key] = s
		return object{"$ref": ref}, nil
	}
	return nil, fmt.Errorf("%v cannot be carried in JSON", t)
}

var defNameUnsafe = regexp.MustCompile(`[^A-Za-z0-9_.-]+`)

// defName returns the $defs key of a named struct: its name, or its
// package's name and its name when another type has the name already.
func (g *schemaGen) defName(t reflect.Type) string {
	base := strings.Trim(defNameUnsafe.ReplaceAllString(t.Name(), "_"), "_")
	name := base
	if other, taken := g.names[name]; taken && other != t {
		pkg := t.PkgPath()
		pkg = pkg[strings.LastIndex(pkg, "/")+1:]
		name = defNameUnsafe.ReplaceAllString(pkg, "_") + "." + base
		for i := 2; g.names[name] != nil; i++ {
			name = fmt.Sprintf("%s.%s_%d", pkg, base, i)
		}
	}
	g.names[name] = t
	return name
}

// nullable makes s also accept null.
func nullable(s any) any {
	m, ok := s.(object)
	if !ok {
		return s // true already accepts null
	}
	if _, ref := m["$ref"]; ref {
		return object{"anyOf": []any{m, object{"type": "null"}}}
	}
	switch t := m["type"].(type) {
	case string:
		m["type"] = []any{t, "null"}
	case []any:
		if !slices.Contains(t, any("null")) {
			m["type"] = append(t, "null")
		}
	}
	return m
}

func (g *schemaGen) structSchema(t reflect.Type) (object, error) {
	fields := jsonFields(t)
	props := object{}
	required := []any{}
	for _, f := range fields {
		var s any
		var err error
		if f.quoted {
			s = object{"type": "string"}
			if f.typ.Kind() == reflect.Pointer {
				s = nullable(s)
			}
		} else if s, err = g.schema(f.typ); err != nil {
			return nil, fmt.Errorf("field %s: %w", f.goName, err)
		}
		if f.schemaTag != "" {
			if s, err = applySchemaTag(s, f.schemaTag); err != nil {
				return nil, fmt.Errorf("field %s: tag jsonschema:%q: %w", f.goName, f.schemaTag, err)
			}
		}
		props[f.name] = s
		if !f.optional {
			required = append(required, f.name)
		}
	}
	s := object{"type": "object", "properties": props, "additionalProperties": false}
	if len(required) > 0 {
		s["required"] = required
	}
	return s, nil
}

// jsonField is one field of a struct as encoding/json sees it.
type jsonField struct {
	name      string // in JSON
	goName    string // in Go, for errors
	index     []int
	typ       reflect.Type
	tagged    bool // the name comes from a json tag
	optional  bool // omitempty or omitzero
	quoted    bool // the ",string" option
	schemaTag string
}

// jsonFields returns the fields encoding/json encodes and decodes for
// struct type t, with its rules for embedded structs: fields are promoted
// from embedded structs without a json name; of several fields with one
// name, the least deeply embedded wins, then a tagged one, and if that
// leaves more than one, none is used. (This is encoding/json's typeFields.)
func jsonFields(t reflect.Type) []jsonField {
	type walk struct {
		typ   reflect.Type
		index []int
	}
	var current []walk
	next := []walk{{typ: t}}
	count, nextCount := map[reflect.Type]int{}, map[reflect.Type]int{}
	visited := map[reflect.Type]bool{}
	var fields []jsonField
	for len(next) > 0 {
		current, next = next, current[:0]
		count, nextCount = nextCount, map[reflect.Type]int{}
		for _, w := range current {
			if visited[w.typ] {
				continue
			}
			visited[w.typ] = true
			for i := range w.typ.NumField() {
				sf := w.typ.Field(i)
				if sf.Anonymous {
					ft := sf.Type
					if ft.Name() == "" && ft.Kind() == reflect.Pointer {
						ft = ft.Elem()
					}
					if !sf.IsExported() && ft.Kind() != reflect.Struct {
						continue
					}
				} else if !sf.IsExported() {
					continue
				}
				tag := sf.Tag.Get("json")
				if tag == "-" {
					continue
				}
				name, opts, _ := strings.Cut(tag, ",")
				if !validTagName(name) {
					name = ""
				}
				index := append(slices.Clone(w.index), i)
				ft := sf.Type
				if ft.Name() == "" && ft.Kind() == reflect.Pointer {
					ft = ft.Elem()
				}
				if name != "" || !sf.Anonymous || ft.Kind() != reflect.Struct {
					f := jsonField{name: name, goName: sf.Name, index: index, typ: sf.Type, tagged: name != "", schemaTag: sf.Tag.Get("jsonschema")}
					if f.name == "" {
						f.name = sf.Name
					}
					for _, o := range strings.Split(opts, ",") {
						switch o {
						case "omitempty", "omitzero":
							f.optional = true
						case "string":
							switch ft.Kind() {
							case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
								reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
								reflect.Float32, reflect.Float64, reflect.String:
								f.quoted = true
							}
						}
					}
					fields = append(fields, f)
					if count[w.typ] > 1 {
						// Embedded more than once at this depth: the copy
						// makes it annihilate below, as in encoding/json.
						fields = append(fields, f)
					}
					continue
				}
				nextCount[ft]++
				if nextCount[ft] == 1 {
					next = append(next, walk{typ: ft, index: index})
				}
			}
		}
	}
	slices.SortStableFunc(fields, func(a, b jsonField) int {
		if c := strings.Compare(a.name, b.name); c != 0 {
			return c
		}
		if c := cmp.Compare(len(a.index), len(b.index)); c != 0 {
			return c
		}
		if a.tagged != b.tagged {
			if a.tagged {
				return -1
			}
			return 1
		}
		return slices.Compare(a.index, b.index)
	})
	out := fields[:0:0]
	for i := 0; i < len(fields); {
		j := i + 1
		for j < len(fields) && fields[j].name == fields[i].name {
			j++
		}
		group := fields[i:j]
		if len(group) == 1 || len(group[0].index) != len(group[1].index) || group[0].tagged != group[1].tagged {
			out = append(out, group[0])
		}
		i = j
	}
	slices.SortFunc(out, func(a, b jsonField) int { return slices.Compare(a.index, b.index) })
	return out
}

// validTagName is encoding/json's isValidTag.
func validTagName(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		switch {
		case strings.ContainsRune("!#$%&()*+-./:;<=>?@[]^_{|}~ ", c):
		case !unicode.IsLetter(c) && !unicode.IsDigit(c):
			return false
		}
	}
	return true
}

// applySchemaTag adds the constraints of a field's jsonschema tag to its
// schema s. The tag is a comma-separated list of KEY=VALUE (a comma inside
// a value is written \,), in the syntax github.com/invopop/jsonschema
// reads: description, title, enum (repeated for each value), minimum,
// maximum, exclusiveMinimum, exclusiveMaximum, minLength, maxLength,
// pattern, format, minItems, maxItems. For an array, the value
// constraints (enum, minimum..., pattern, format) apply to its items.
func applySchemaTag(s any, tag string) (any, error) {
	m, ok := s.(object)
	if !ok {
		m = object{} // any value, now with constraints
	}
	target := m // where value constraints go
	if isType(m, "array") {
		if items, ok := m["items"].(object); ok {
			target = items
		}
	}
	for _, part := range splitTag(tag) {
		key, value, ok := strings.Cut(part, "=")
		if !ok {
			return nil, fmt.Errorf("%q: want KEY=VALUE", part)
		}
		switch key {
		case "description", "title":
			m[key] = value
		case "pattern":
			if _, err := regexp.Compile(value); err != nil {
				return nil, fmt.Errorf("pattern %q: %v", value, err)
			}
			target[key] = value
		case "format":
			target[key] = value
		case "enum":
			v, err := enumValue(target, value)
			if err != nil {
				return nil, err
			}
			enum, _ := target["enum"].([]any)
			if len(enum) == 0 && isType(target, "null") {
				enum = append(enum, nil)
			}
			target["enum"] = append(enum, v)
		case "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum":
			f, err := strconv.ParseFloat(value, 64)
			if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
				return nil, fmt.Errorf("%s=%q: not a number", key, value)
			}
			target[key] = json.Number(value)
		case "minLength", "maxLength":
			n, err := strconv.ParseUint(value, 10, 31)
			if err != nil {
				return nil, fmt.Errorf("%s=%q: not a count", key, value)
			}
			target[key] = n
		case "minItems", "maxItems":
			n, err := strconv.ParseUint(value, 10, 31)
			if err != nil {
				return nil, fmt.Errorf("%s=%q: not a count", key, value)
			}
			m[key] = n
		default:
			return nil, fmt.Errorf("unknown key %q (known: description, title, enum, minimum, maximum, exclusiveMinimum, exclusiveMaximum, minLength, maxLength, pattern, format, minItems, maxItems)", key)
		}
	}
	return m, nil
}

// splitTag splits a jsonschema tag at commas not escaped with a backslash.
func splitTag(tag string) []string {
	var parts []string
	var b strings.Builder
	for i := 0; i < len(tag); i++ {
		switch {
		case tag[i] == '\\' && i+1 < len(tag) && tag[i+1] == ',':
			b.WriteByte(',')
			i++
		case tag[i] == ',':
			parts = append(parts, b.String())
			b.Reset()
		default:
			b.WriteByte(tag[i])
		}
	}
	return append(parts, b.String())
}

// isType reports whether schema m's type is, or includes, want.
func isType(m object, want string) bool {
	switch t := m["type"].(type) {
	case string:
		return t == want
	case []any:
		return slices.Contains(t, any(want))
	}
	return false
}

// enumValue parses one enum value for a schema of m's type.
func enumValue(m object, value string) (any, error) {
	switch {
	case isType(m, "integer"), isType(m, "number"):
		if _, err := strconv.ParseFloat(value, 64); err != nil {
			return nil, fmt.Errorf("enum=%q: not a number", value)
		}
		return json.Number(value), nil
	case isType(m, "boolean"):
		b, err := strconv.ParseBool(value)
		if err != nil {
			return nil, fmt.Errorf("enum=%q: not true or false", value)
		}
		return b, nil
	}
	if !utf8.ValidString(value) {
		return nil, fmt.Errorf("enum=%q: not UTF-8", value)
	}
	return value, nil
}
