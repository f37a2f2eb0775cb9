package gen

import (
	"encoding/json"
	"fmt"
	"go/format"
	"strconv"
	"strings"
)

// emitGo writes Go bindings on the Go SDK (sdk/go/plugin): a struct per
// object type, with an UnmarshalJSON that refuses missing required fields
// and null where none is allowed; RegisterHOOK for each hook and a typed
// caller for each host function.
func emitGo(c *Contract, pkg string) ([]File, error) {
	g := &goEmitter{c: c}
	if err := g.names(); err != nil {
		return nil, err
	}
	w := &writer{}
	w.p("// %s", Header)
	w.p("")
	w.p("// Package %s holds typed bindings of a host's contract", pkg)
	if c.Version != "" {
		w.p("// (version %s)", c.Version)
	}
	w.p("// for a plugin written with github.com/airlock-go/airlock/sdk/go/plugin.")
	w.p("package %s", pkg)
	w.p("")
	w.p("import (")
	w.p("\"context\"\n\"encoding/json\"\n\"errors\"\n\"fmt\"\n\"reflect\"\n\"slices\"\n\"strconv\"\n\"strings\"\n")
	w.p("\"github.com/airlock-go/airlock/sdk/go/plugin\"")
	w.p(")")
	w.p("")
	if c.Version != "" {
		w.p("// ContractVersion is the version of the contract these bindings were generated from:")
		w.p("// the value of the \"contract\" key of the plugin's manifest.")
		w.p("const ContractVersion = %q", c.Version)
		w.p("")
	}
	for _, s := range c.Structs {
		if err := g.structType(w, s); err != nil {
			return nil, err
		}
	}
	for _, h := range c.Hooks {
		g.hook(w, h)
	}
	for _, f := range c.Functions {
		g.function(w, f)
	}
	if c.Settings != nil {
		w.p("// LoadSettings decodes the plugin's settings (the host has filled in")
		w.p("// their defaults) into Settings, strictly: see Settings.UnmarshalJSON.")
		w.p("// It is plugin.Settings[Settings](h).")
		w.p("func LoadSettings(h *plugin.Host) (Settings, error) {")
		w.p("return plugin.Settings[Settings](h)")
		w.p("}")
		w.p("")
	}
	if len(c.Hooks)+len(c.Functions) == 0 {
		w.p("var _ = context.Background // no hook or function uses them")
		w.p("var _ *plugin.Plugin")
	}
	w.WriteString(goHelpers)
	src, err := format.Source(w.Bytes())
	if err != nil {
		return nil, fmt.Errorf("gofmt of the generated Go: %w (a bug of airlock gen)", err)
	}
	return []File{{Name: pkg + ".go", Data: src}}, nil
}

type goEmitter struct {
	c      *Contract
	fields map[*Struct][]string // Go field names, in Fields' order
	funcs  map[string]string    // function name → its caller's name
}

// goReserved are the generated file's own identifiers.
var goReserved = map[string]bool{"ContractVersion": true, "DecodeError": true, "Problem": true, "LoadSettings": true}

func (g *goEmitter) names() error {
	taken := map[string]bool{}
	for k := range goReserved {
		taken[k] = true
	}
	for _, s := range g.c.Structs {
		if taken[s.Name] {
			return fmt.Errorf("type %s: %w: the name is taken by the generated code", s.Name, ErrUnsupported)
		}
		taken[s.Name] = true
	}
	g.fields = map[*Struct][]string{}
	for _, s := range g.c.Structs {
		for _, f := range s.Fields {
			if strings.ContainsAny(f.JSON, "\",\\`") {
				return fmt.Errorf("type %s: property %q: %w: a name a Go struct tag cannot hold", s.Name, f.JSON, ErrUnsupported)
			}
		}
		g.fields[s] = uniqueNames(fieldJSONNames(s), goName, map[string]bool{"UnmarshalJSON": true})
	}
	for _, h := range g.c.Hooks {
		taken["Register"+Camel(h.Name)] = true
		taken["Register"+Camel(h.Name)+"After"] = true
	}
	g.funcs = map[string]string{}
	for _, f := range g.c.Functions {
		n := Camel(f.Name)
		for k := 2; taken[n]; k++ {
			n = fmt.Sprintf("%sFunc%d", Camel(f.Name), k)
		}
		taken[n] = true
		g.funcs[f.Name] = n
	}
	return nil
}

// goInitialisms are the words Go's style writes in capitals.
var goInitialisms = map[string]bool{
	"api": true, "cpu": true, "css": true, "dns": true, "html": true, "http": true, "https": true, "id": true, "ip": true,
	"json": true, "sku": true, "sql": true, "tcp": true, "tls": true, "ttl": true, "udp": true, "uri": true, "url": true,
	"uuid": true, "xml": true,
}

// goName is Camel with Go's initialisms: account_id is AccountID.
func goName(name string) string {
	words := strings.Split(Snake(name), "_")
	for i, w := range words {
		if goInitialisms[w] {
			words[i] = strings.ToUpper(w)
		}
	}
	return Camel(strings.Join(words, "_"))
}

// typ is the Go type of t.
func (g *goEmitter) typ(t *Type) string {
	var base string
	switch t.Kind {
	case Raw:
		return "json.RawMessage"
	case Bool:
		base = "bool"
	case String:
		base = "string"
	case Number:
		base = "float64"
	case Integer:
		base = "int64"
	case Array:
		return "[]" + g.typ(t.Elem)
	case Map:
		return "map[string]" + g.typ(t.Elem)
	case Object:
		base = t.Struct.Name
	}
	if t.Nullable {
		return "*" + base
	}
	return base
}

// goScalar reports whether t is a bool, string or number.
func goScalar(t *Type) bool {
	return t.Kind == Bool || t.Kind == String || t.Kind == Number || t.Kind == Integer
}

// nullable reports whether the Go value of t can hold null.
func goHoldsNull(t *Type) bool {
	return t.Kind == Raw || t.Nullable
}

func (g *goEmitter) structType(w *writer, s *Struct) error {
	if s.Closed {
		w.p("// %s is the plugin's settings, as its manifest declares them.", s.Name)
	} else {
		w.p("// %s is an object of the contract.", s.Name)
	}
	if s.Doc != "" && !s.Closed {
		w.p("//\n// %s", oneLine(s.Doc))
	}
	w.p("type %s struct {", s.Name)
	names := g.fields[s]
	for i, f := range s.Fields {
		typ := g.typ(f.Type)
		if !f.Required && !f.Type.Nullable && (f.Type.Kind == Object || s.Closed && goScalar(f.Type)) {
			typ = "*" + typ // absent: nil (an unset setting is not its zero value)
		}
		opt := ""
		if !f.Required {
			opt = ",omitempty"
		}
		doc := ""
		if f.Doc != "" {
			doc = " // " + oneLine(f.Doc)
		}
		if hasEnum(f.Type) {
			doc += " // one of " + enumList(f.Type.Enum)
		}
		w.p("\t%s %s `json:\"%s%s\"`%s", names[i], typ, f.JSON, opt, doc)
	}
	w.p("}")
	w.p("")
	w.p("// UnmarshalJSON decodes an object, refusing a missing required field")
	if s.Closed {
		w.p("// and null where none is allowed, and a member it does not know: the")
		w.p("// bindings were generated from another manifest.")
	} else {
		w.p("// and null where the contract allows none. Unknown fields are ignored:")
		w.p("// a host may add fields in a minor version of its contract.")
	}
	w.p("func (v *%s) UnmarshalJSON(data []byte) error {", s.Name)
	w.p("m, err := decodeObject(data)")
	w.p("if err != nil {\nreturn err\n}")
	w.p("var errs []error")
	if s.Closed {
		var known []string
		for _, f := range s.Fields {
			known = append(known, strconv.Quote(f.JSON))
		}
		w.p("errs = append(errs, refuseUnknown(m, %s))", strings.Join(known, ", "))
	} else if len(s.Fields) == 0 {
		w.p("_ = m")
	}
	for i, f := range s.Fields {
		nullable := goHoldsNull(f.Type) || !f.Required && f.Type.Kind == Object
		w.p("errs = append(errs, decodeField(m, %q, %v, %v, &v.%s))", f.JSON, f.Required, nullable, names[i])
		if hasEnum(f.Type) && f.Type.Kind != Bool {
			val := "v." + names[i]
			ptr := f.Type.Nullable || s.Closed && !f.Required && goScalar(f.Type)
			if ptr {
				w.p("if v.%s != nil {", names[i])
				val = "*" + val
			}
			w.p("errs = append(errs, checkEnum(%q, %s, %s))", "/"+f.JSON, val, g.enumValues(f.Type))
			if ptr {
				w.p("}")
			}
		}
	}
	w.p("return joinProblems(errs)")
	w.p("}")
	w.p("")
	return nil
}

func (g *goEmitter) enumValues(t *Type) string {
	var vals []string
	for _, v := range t.Enum {
		switch v := v.(type) {
		case string:
			vals = append(vals, strconv.Quote(v))
		case json.Number:
			vals = append(vals, v.String())
		}
	}
	return strings.Join(vals, ", ")
}

func enumList(vals []any) string {
	var out []string
	for _, v := range vals {
		b, _ := json.Marshal(v)
		out = append(out, string(b))
	}
	return strings.Join(out, ", ")
}

func (g *goEmitter) hook(w *writer, h Op) {
	name := "Register" + Camel(h.Name)
	in, out := g.typ(h.In), g.typ(h.Out)
	w.p("// %s registers fn as the plugin's handler of the hook %q, in its", name, h.Name)
	w.p("// before and define phases: its input is decoded into %s, and a", in)
	w.p("// missing required field or a value of the wrong type is answered")
	w.p("// plugin.CodeInvalidInput without calling fn. (An after handler:")
	w.p("// %sAfter.)", name)
	w.p("func %s(p *plugin.Plugin, fn func(ctx context.Context, h *plugin.Host, in %s) (%s, error)) {", name, in, out)
	w.p("p.HandleRaw(%q, func(ctx context.Context, h *plugin.Host, input json.RawMessage) (any, error) {", h.Name)
	w.p("var in %s", in)
	w.p("if err := decodeValue(input, %v, &in); err != nil {", goHoldsNull(h.In))
	w.p("return nil, &plugin.Error{Code: plugin.CodeInvalidInput, Message: %q + err.Error()}", h.Name+": invalid input: ")
	w.p("}")
	w.p("return fn(ctx, h, in)")
	w.p("})")
	w.p("}")
	w.p("")
	g.afterHook(w, h)
}

// afterHook writes RegisterHOOKAfter: the typed after handler of h.
func (g *goEmitter) afterHook(w *writer, h Op) {
	name := "Register" + Camel(h.Name) + "After"
	in, out := g.typ(h.In), g.typ(h.AfterOutput())
	w.p("// %s registers fn as the plugin's after handler of the hook", name)
	w.p("// %q (its manifest's [hook.%q] phase = \"after\"), instead of", h.Name, h.Name)
	what := "output"
	if h.Collect {
		what = "answers that succeeded"
	}
	w.p("// %s: fn gets the hook's input and %s, decoded; a value", "Register"+Camel(h.Name), what)
	w.p("// that does not fit is answered plugin.CodeInvalidInput. The host logs")
	w.p("// fn's error; it cannot change the result.")
	w.p("func %s(p *plugin.Plugin, fn func(ctx context.Context, h *plugin.Host, in %s, out %s) error) {", name, in, out)
	w.p("p.HandleRaw(%q, func(ctx context.Context, h *plugin.Host, input json.RawMessage) (any, error) {", h.Name)
	w.p("var in %s", in)
	w.p("var out %s", out)
	w.p("err := decodeAfter(input, %v, &in, %v, &out)", goHoldsNull(h.In), goHoldsNull(h.AfterOutput()))
	w.p("if err != nil {")
	w.p("return nil, &plugin.Error{Code: plugin.CodeInvalidInput, Message: %q + err.Error()}", h.Name+": invalid input: ")
	w.p("}")
	w.p("return nil, fn(ctx, h, in, out)")
	w.p("})")
	w.p("}")
	w.p("")
}

func (g *goEmitter) function(w *writer, f Op) {
	name := g.funcs[f.Name]
	in, out := g.typ(f.In), g.typ(f.Out)
	w.p("// %s calls the host function %q (capability %q) and decodes its", name, f.Name, f.Capability)
	w.p("// result, refusing a missing required field or null where none is allowed.")
	w.p("func %s(ctx context.Context, h *plugin.Host, in %s) (%s, error) {", name, in, out)
	w.p("var raw json.RawMessage")
	w.p("var out %s", out)
	w.p("if err := h.Call(ctx, %q, in, &raw); err != nil {\nreturn out, err\n}", f.Name)
	w.p("if err := decodeValue(raw, %v, &out); err != nil {", goHoldsNull(f.Out))
	w.p("return out, fmt.Errorf(%q, err)", "host call "+f.Name+": result: %w")
	w.p("}")
	w.p("return out, nil")
	w.p("}")
	w.p("")
}

const goHelpers = `
// DecodeError is a value that does not fit the contract: one problem per
// value, each with its JSON path.
type DecodeError struct {
	Problems []Problem
}

// Problem is one value that does not fit.
type Problem struct {
	Path    string // a JSON pointer; "" is the whole value
	Message string
}

func (e *DecodeError) Error() string {
	parts := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		path := p.Path
		if path == "" {
			path = "(root)"
		}
		parts[i] = path + ": " + p.Message
	}
	return strings.Join(parts, "; ")
}

// decodeValue decodes data (JSON; empty is null) into dst, refusing null
// unless nullable.
func decodeValue(data []byte, nullable bool, dst any) error {
	if len(data) == 0 {
		data = []byte("null")
	}
	if !nullable && string(data) == "null" {
		return &DecodeError{Problems: []Problem{{Message: "got null, want a value"}}}
	}
	return decodeAt("", data, reflect.ValueOf(dst).Elem())
}

// decodeAfter decodes an after handler's {"input": ..., "output": ...}.
func decodeAfter(data []byte, inNullable bool, in any, outNullable bool, out any) error {
	m, err := decodeObject(data)
	if err != nil {
		return err
	}
	return joinProblems([]error{
		decodeField(m, "input", true, inNullable, in),
		decodeField(m, "output", true, outNullable, out),
	})
}

// decodeObject decodes the members of a JSON object.
func decodeObject(data []byte) (map[string]json.RawMessage, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, problems("", err)
	}
	if m == nil {
		return nil, &DecodeError{Problems: []Problem{{Message: "got null, want object"}}}
	}
	return m, nil
}

// decodeField decodes the member name of m into dst.
func decodeField(m map[string]json.RawMessage, name string, required, nullable bool, dst any) error {
	raw, ok := m[name]
	switch {
	case !ok && required:
		return &DecodeError{Problems: []Problem{{Path: "/" + escapePointer(name), Message: "missing"}}}
	case !ok:
		return nil
	case !nullable && string(raw) == "null":
		return &DecodeError{Problems: []Problem{{Path: "/" + escapePointer(name), Message: "got null, want a value"}}}
	}
	return decodeAt("/"+escapePointer(name), raw, reflect.ValueOf(dst).Elem())
}

// decodeAt decodes raw into dst, found at path: arrays and maps item by
// item, so that a problem's path has its index or key.
func decodeAt(path string, raw json.RawMessage, dst reflect.Value) error {
	t := dst.Type()
	switch {
	case string(raw) == "null" || t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Uint8:
	case t.Kind() == reflect.Slice:
		var items []json.RawMessage
		if err := json.Unmarshal(raw, &items); err != nil {
			return problems(path, err)
		}
		s := reflect.MakeSlice(t, len(items), len(items))
		errs := make([]error, len(items))
		for i, item := range items {
			errs[i] = decodeAt(path+"/"+strconv.Itoa(i), item, s.Index(i))
		}
		dst.Set(s)
		return joinProblems(errs)
	case t.Kind() == reflect.Map:
		var members map[string]json.RawMessage
		if err := json.Unmarshal(raw, &members); err != nil {
			return problems(path, err)
		}
		keys := make([]string, 0, len(members))
		for k := range members {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		m := reflect.MakeMapWithSize(t, len(members))
		var errs []error
		for _, k := range keys {
			v := reflect.New(t.Elem()).Elem()
			errs = append(errs, decodeAt(path+"/"+escapePointer(k), members[k], v))
			m.SetMapIndex(reflect.ValueOf(k), v)
		}
		dst.Set(m)
		return joinProblems(errs)
	}
	if err := json.Unmarshal(raw, dst.Addr().Interface()); err != nil {
		return problems(path, err)
	}
	return nil
}

// problems turns a decoding error into a *DecodeError under path.
func problems(path string, err error) error {
	var de *DecodeError
	if errors.As(err, &de) {
		out := &DecodeError{}
		for _, p := range de.Problems {
			out.Problems = append(out.Problems, Problem{Path: path + p.Path, Message: p.Message})
		}
		return out
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		if te.Field != "" {
			path += "/" + strings.ReplaceAll(te.Field, ".", "/")
		}
		return &DecodeError{Problems: []Problem{{Path: path, Message: "got " + te.Value + ", want " + te.Type.String()}}}
	}
	return &DecodeError{Problems: []Problem{{Path: path, Message: err.Error()}}}
}

// joinProblems gathers the problems of errs, or returns nil.
func joinProblems(errs []error) error {
	out := &DecodeError{}
	for _, err := range errs {
		if err == nil {
			continue
		}
		var de *DecodeError
		if !errors.As(err, &de) {
			return err
		}
		out.Problems = append(out.Problems, de.Problems...)
	}
	if len(out.Problems) == 0 {
		return nil
	}
	return out
}

// refuseUnknown refuses the members of m not named in known.
func refuseUnknown(m map[string]json.RawMessage, known ...string) error {
	var unknown []string
	for k := range m {
		if !slices.Contains(known, k) {
			unknown = append(unknown, k)
		}
	}
	slices.Sort(unknown)
	out := &DecodeError{}
	for _, k := range unknown {
		out.Problems = append(out.Problems, Problem{Path: "/" + escapePointer(k), Message: "unknown setting (these bindings know: " + strings.Join(known, ", ") + "; regenerate them from the plugin's manifest)"})
	}
	if len(out.Problems) == 0 {
		return nil
	}
	return out
}

// checkEnum refuses a value the contract does not list.
func checkEnum[T comparable](path string, v T, allowed ...T) error {
	if slices.Contains(allowed, v) {
		return nil
	}
	return &DecodeError{Problems: []Problem{{Path: path, Message: fmt.Sprintf("%v is not one of %v", v, allowed)}}}
}

func escapePointer(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}
`
