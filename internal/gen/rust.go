package gen

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// rustKeywords are Rust's keywords (strict and reserved).
var rustKeywords = map[string]bool{
	"as": true, "break": true, "const": true, "continue": true, "crate": true, "else": true, "enum": true, "extern": true,
	"false": true, "fn": true, "for": true, "if": true, "impl": true, "in": true, "let": true, "loop": true, "match": true,
	"mod": true, "move": true, "mut": true, "pub": true, "ref": true, "return": true, "self": true, "static": true,
	"struct": true, "super": true, "trait": true, "true": true, "type": true, "unsafe": true, "use": true, "where": true,
	"while": true, "async": true, "await": true, "dyn": true, "abstract": true, "become": true, "box": true, "do": true,
	"final": true, "macro": true, "override": true, "priv": true, "typeof": true, "unsized": true, "virtual": true,
	"yield": true, "try": true, "union": true,
}

// emitRust writes a Rust module on the Rust SDK (airlock_plugin, std
// only): a struct per object type, converted from the SDK's Value by the
// module's Decode trait (which refuses a missing required field or a
// value of the wrong type, with its JSON path) and into it with From; a
// register function per hook and a typed caller per host function.
func emitRust(c *Contract, pkg string) ([]File, error) {
	if err := checkReserved(c, "Rust", "BTreeMap", "Context", "Error", "FromValue", "Map", "Plugin", "Value", "Decode",
		"String", "Vec", "Option", "Result", "Box", "Self"); err != nil {
		return nil, err
	}
	w := &writer{}
	w.p("// %s", Header)
	w.p("//")
	w.p("// Typed bindings of a host's contract for a plugin written with airlock_plugin.")
	w.p("// Include it as a module: `mod %s;`.", pkg)
	w.p("#![allow(dead_code, unused_mut, unused_variables, clippy::all)]")
	w.p("")
	w.p("use std::collections::BTreeMap;")
	w.p("")
	w.p("use airlock_plugin::{code, Context, Error, FromValue, Map, Plugin, Value};")
	w.p("")
	if c.Version != "" {
		w.p("/// The version of the contract these bindings were generated from: the manifest's `contract`.")
		w.p("pub const CONTRACT_VERSION: &str = %q;", c.Version)
		w.p("")
	}
	boxed := rustBoxed(c)
	for _, s := range c.Structs {
		if err := rustStruct(w, s, boxed); err != nil {
			return nil, err
		}
	}
	for _, h := range c.Hooks {
		name := "register_" + Snake(h.Name)
		in, out := rustType(h.In), rustType(h.Out)
		w.p("/// Registers f as the plugin's handler of the hook %q (before and define", h.Name)
		w.p("/// phases). Its input is decoded into `%s`: a missing required field or a", in)
		w.p("/// value of the wrong type is answered `INVALID_PARAMS` without calling f.")
		w.p("pub fn %s<F>(p: Plugin, f: F) -> Plugin", name)
		w.p("where")
		w.p("    F: Fn(&Context, %s) -> Result<%s, Error> + Send + Sync + 'static,", in, out)
		w.p("{")
		w.p("    p.hook(%q, move |ctx: &Context, v: Value| -> Result<%s, Error> {", h.Name, out)
		w.p("        let input = <%s as Decode>::decode(v, \"\")", in)
		w.p("            .map_err(|e| Error::new(code::INVALID_PARAMS, format!(\"%s: invalid input: {}\", e.message())))?;", h.Name)
		w.p("        f(ctx, input)")
		w.p("    })")
		w.p("}")
		w.p("")
		rustAfter(w, h)
	}
	if c.Settings != nil {
		w.p("/// Decodes the plugin's settings (the host has filled in their defaults):")
		w.p("/// a missing required setting, a value of the wrong type (3.5 or \"3\" for")
		w.p("/// an integer) or a setting these bindings do not know is an error")
		w.p("/// naming the setting.")
		w.p("pub fn settings(ctx: &Context) -> Result<Settings, Error> {")
		w.p("    <Settings as Decode>::decode(Value::Object(ctx.config().clone()), \"\")")
		w.p("        .map_err(|e| Error::new(e.code(), format!(\"settings: {}\", e.message())))")
		w.p("}")
		w.p("")
	}
	taken := map[string]bool{"settings": true}
	for _, f := range c.Functions {
		name := Snake(f.Name)
		if rustKeywords[name] || strings.HasPrefix(name, "register_") || name == "settings" {
			name += "_"
		}
		for k := 2; taken[name]; k++ {
			name = fmt.Sprintf("%s%d", Snake(f.Name), k)
		}
		taken[name] = true
		w.p("/// Calls the host function %q (capability %q) and decodes its result.", f.Name, f.Capability)
		w.p("pub fn %s(ctx: &Context, input: %s) -> Result<%s, Error> {", name, rustType(f.In), rustType(f.Out))
		w.p("    let v = ctx.call(%q, input)?;", f.Name)
		w.p("    <%s as Decode>::decode(v, \"\")", rustType(f.Out))
		w.p("        .map_err(|e| Error::new(e.code(), format!(\"host call %s: result: {}\", e.message())))", f.Name)
		w.p("}")
		w.p("")
	}
	w.WriteString(rustHelpers)
	return []File{{Name: pkg + ".rs", Data: w.Bytes()}}, nil
}

// rustAfter writes register_HOOK_after: the typed after handler of h.
func rustAfter(w *writer, h Op) {
	name := "register_" + Snake(h.Name) + "_after"
	in, out := rustType(h.In), rustType(h.AfterOutput())
	what := "output"
	if h.Collect {
		what = "answers"
	}
	w.p("/// Registers f as the plugin's after handler of the hook %q (the manifest's", h.Name)
	w.p("/// `[hook.%q] phase = \"after\"`), instead of `register_%s`: it gets the", h.Name, Snake(h.Name))
	w.p("/// hook's input and %s, decoded (a value that does not fit is answered", what)
	w.p("/// `INVALID_PARAMS`). The host logs its error; it cannot change the result.")
	w.p("pub fn %s<F>(p: Plugin, f: F) -> Plugin", name)
	w.p("where")
	w.p("    F: Fn(&Context, %s, %s) -> Result<(), Error> + Send + Sync + 'static,", in, out)
	w.p("{")
	w.p("    p.hook(%q, move |ctx: &Context, v: Value| -> Result<Value, Error> {", h.Name)
	w.p("        let invalid = |e: Error| Error::new(code::INVALID_PARAMS, format!(\"%s: invalid input: {}\", e.message()));", h.Name)
	w.p("        let mut o = object(v, \"\").map_err(invalid)?;")
	w.p("        let input: %s = required(&mut o, \"input\", \"\").map_err(invalid)?;", in)
	w.p("        let output: %s = required(&mut o, \"output\", \"\").map_err(invalid)?;", out)
	w.p("        f(ctx, input, output)?;")
	w.p("        Ok(Value::Null)")
	w.p("    })")
	w.p("}")
	w.p("")
}

func rustType(t *Type) string {
	var s string
	switch t.Kind {
	case Raw:
		return "Value"
	case Bool:
		s = "bool"
	case String:
		s = "String"
	case Number:
		s = "f64"
	case Integer:
		s = "i64"
	case Array:
		s = "Vec<" + rustType(t.Elem) + ">"
	case Map:
		s = "BTreeMap<String, " + rustType(t.Elem) + ">"
	case Object:
		s = t.Struct.Name
	}
	if t.Nullable {
		s = "Option<" + s + ">"
	}
	return s
}

func rustField(json string) string {
	n := Snake(json)
	if rustKeywords[n] {
		n += "_"
	}
	return n
}

func rustStruct(w *writer, s *Struct, boxed map[*Struct]map[string]bool) error {
	names := uniqueNames(fieldJSONNames(s), rustField, nil)
	if s.Closed {
		w.p("/// The plugin's settings, as its manifest declares them.")
	} else {
		w.p("/// An object of the contract.%s", docSuffix(s.Doc))
	}
	w.p("#[derive(Clone, Debug, PartialEq)]")
	w.p("pub struct %s {", s.Name)
	for i, f := range s.Fields {
		if f.Doc != "" {
			w.p("    /// %s", oneLine(f.Doc))
		}
		if hasEnum(f.Type) {
			w.p("    /// One of %s.", enumList(f.Type.Enum))
		}
		typ := rustFieldType(f, boxed[s][f.JSON])
		w.p("    /// JSON: %s%s.", strconv.Quote(f.JSON), map[bool]string{true: "", false: ", optional"}[f.Required])
		w.p("    pub %s: %s,", names[i], typ)
	}
	w.p("}")
	w.p("")
	w.p("impl Decode for %s {", s.Name)
	w.p("    fn decode(v: Value, path: &str) -> Result<Self, Error> {")
	if len(s.Fields) == 0 && !s.Closed {
		w.p("        object(v, path)?;")
	} else {
		w.p("        let mut o = object(v, path)?;")
	}
	if s.Closed {
		var known []string
		for _, f := range s.Fields {
			known = append(known, strconv.Quote(f.JSON))
		}
		w.p("        closed(&o, path, &[%s])?;", strings.Join(known, ", "))
	}
	for i, f := range s.Fields {
		fn := "required"
		if !f.Required {
			fn = "optional"
			if f.Type.Kind == Raw {
				fn = "optional_raw"
			}
		}
		w.p("        let %s: %s = %s(&mut o, %q, path)?;", names[i], rustFieldType(f, boxed[s][f.JSON]), fn, f.JSON)
		if hasEnum(f.Type) && f.Type.Kind != Bool {
			lits := rustEnum(f.Type)
			sub := "format!(\"{path}/" + escapePointer(f.JSON) + "\")"
			deref := ""
			if f.Type.Kind == String {
				deref = ".as_str()"
			}
			if f.Type.Nullable || !f.Required {
				w.p("        if let Some(x) = &%s {", names[i])
				x := "*x"
				if deref != "" {
					x = "x" + deref
				}
				w.p("            one_of(%s, &[%s], &%s)?;", x, lits, sub)
				w.p("        }")
			} else {
				w.p("        one_of(%s%s, &[%s], &%s)?;", names[i], deref, lits, sub)
			}
		}
	}
	w.p("        Ok(%s {%s})", s.Name, rustFieldList(names))
	w.p("    }")
	w.p("}")
	w.p("")
	w.p("impl FromValue for %s {", s.Name)
	w.p("    fn from_value(v: Value) -> Result<Self, Error> {")
	w.p("        <%s as Decode>::decode(v, \"\")", s.Name)
	w.p("    }")
	w.p("}")
	w.p("")
	w.p("impl From<%s> for Value {", s.Name)
	w.p("    fn from(%sv: %s) -> Value {", map[bool]string{true: "", false: "_"}[len(s.Fields) > 0], s.Name)
	w.p("        %slet mut m = Map::new();", "")
	for i, f := range s.Fields {
		deref := ""
		if boxed[s][f.JSON] {
			deref = "*"
		}
		if !f.Required && !f.Type.Nullable && f.Type.Kind != Raw || !f.Required && f.Type.Nullable {
			w.p("        if let Some(x) = v.%s {", names[i])
			w.p("            m.insert(%q.to_string(), Value::from(%sx));", f.JSON, deref)
			w.p("        }")
		} else if !f.Required && f.Type.Kind == Raw {
			w.p("        if !v.%s.is_null() {", names[i])
			w.p("            m.insert(%q.to_string(), v.%s);", f.JSON, names[i])
			w.p("        }")
		} else {
			if boxed[s][f.JSON] && f.Type.Nullable {
				w.p("        m.insert(%q.to_string(), v.%s.map_or(Value::Null, |x| Value::from(*x)));", f.JSON, names[i])
			} else {
				w.p("        m.insert(%q.to_string(), Value::from(%sv.%s));", f.JSON, deref, names[i])
			}
		}
	}
	w.p("        Value::Object(m)")
	w.p("    }")
	w.p("}")
	w.p("")
	return nil
}

// rustBoxed finds the fields that hold a struct which holds, directly or
// through other structs, the field's own struct: Rust needs them boxed
// (Vec and BTreeMap are on the heap already). By struct, then JSON name.
func rustBoxed(c *Contract) map[*Struct]map[string]bool {
	reaches := func(from, to *Struct) bool {
		seen := map[*Struct]bool{}
		var walk func(s *Struct) bool
		walk = func(s *Struct) bool {
			if s == to {
				return true
			}
			if seen[s] {
				return false
			}
			seen[s] = true
			for _, f := range s.Fields {
				if f.Type.Kind == Object && walk(f.Type.Struct) {
					return true
				}
			}
			return false
		}
		return walk(from)
	}
	out := map[*Struct]map[string]bool{}
	for _, s := range c.Structs {
		out[s] = map[string]bool{}
		for _, f := range s.Fields {
			if f.Type.Kind == Object && reaches(f.Type.Struct, s) {
				out[s][f.JSON] = true
			}
		}
	}
	return out
}

// rustFieldType is the type of a struct's field: an optional one is an
// Option, unless it can hold null already; a recursive one is boxed.
func rustFieldType(f Field, boxed bool) string {
	typ := rustType(f.Type)
	if boxed {
		inner := *f.Type
		inner.Nullable = false
		typ = "Box<" + rustType(&inner) + ">"
		if f.Type.Nullable {
			typ = "Option<" + typ + ">"
		}
	}
	if !f.Required && !f.Type.Nullable && f.Type.Kind != Raw {
		typ = "Option<" + typ + ">"
	}
	return typ
}

func rustFieldList(names []string) string {
	if len(names) == 0 {
		return ""
	}
	return " " + strings.Join(names, ", ") + " "
}

func rustEnum(t *Type) string {
	var out []string
	for _, v := range t.Enum {
		switch v := v.(type) {
		case string:
			b, _ := json.Marshal(v)
			out = append(out, string(b))
		case json.Number:
			s := v.String()
			if t.Kind == Number && !strings.ContainsAny(s, ".eE") {
				s += ".0"
			}
			out = append(out, s)
		}
	}
	return strings.Join(out, ", ")
}

func docSuffix(doc string) string {
	if doc == "" {
		return ""
	}
	return " " + oneLine(doc)
}

const rustHelpers = `/// Converts a JSON value into a type of the contract, refusing a missing
/// required field, null where none is allowed, and a value of the wrong
/// type; the error's message starts with the JSON path. Unknown fields are
/// ignored.
pub trait Decode: Sized {
    /// Converts v, found at path (a JSON pointer; "" is the whole value).
    fn decode(v: Value, path: &str) -> Result<Self, Error>;
}

fn fail(path: &str, msg: impl std::fmt::Display) -> Error {
    let path = if path.is_empty() { "(root)" } else { path };
    Error::new(code::INVALID_PARAMS, format!("{path}: {msg}"))
}

fn want(path: &str, v: &Value, what: &str) -> Error {
    fail(path, format!("got {}, want {what}", v.kind()))
}

fn escape(k: &str) -> String {
    k.replace('~', "~0").replace('/', "~1")
}

fn object(v: Value, path: &str) -> Result<Map, Error> {
    match v {
        Value::Object(m) => Ok(m),
        v => Err(want(path, &v, "object")),
    }
}

fn required<T: Decode>(o: &mut Map, k: &str, path: &str) -> Result<T, Error> {
    let sub = format!("{path}/{}", escape(k));
    match o.remove(k) {
        Some(v) => T::decode(v, &sub),
        None => Err(fail(&sub, "missing")),
    }
}

fn optional<T: Decode>(o: &mut Map, k: &str, path: &str) -> Result<Option<T>, Error> {
    match o.remove(k) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => T::decode(v, &format!("{path}/{}", escape(k))).map(Some),
    }
}

fn closed(o: &Map, path: &str, known: &[&str]) -> Result<(), Error> {
    match o.keys().find(|k| !known.contains(&k.as_str())) {
        Some(k) => Err(fail(
            &format!("{path}/{}", escape(k)),
            format!("unknown setting (these bindings know: {}; regenerate them from the plugin's manifest)", known.join(", ")),
        )),
        None => Ok(()),
    }
}

fn optional_raw(o: &mut Map, k: &str, _path: &str) -> Result<Value, Error> {
    Ok(o.remove(k).unwrap_or(Value::Null))
}

fn one_of<T: PartialEq + std::fmt::Debug>(v: T, allowed: &[T], path: &str) -> Result<(), Error> {
    if allowed.contains(&v) {
        Ok(())
    } else {
        Err(fail(path, format!("{v:?} is not one of {allowed:?}")))
    }
}

impl Decode for Value {
    fn decode(v: Value, _path: &str) -> Result<Value, Error> {
        Ok(v)
    }
}

impl Decode for bool {
    fn decode(v: Value, path: &str) -> Result<bool, Error> {
        v.as_bool().ok_or_else(|| want(path, &v, "boolean"))
    }
}

impl Decode for String {
    fn decode(v: Value, path: &str) -> Result<String, Error> {
        match v {
            Value::String(s) => Ok(s),
            v => Err(want(path, &v, "string")),
        }
    }
}

impl Decode for f64 {
    fn decode(v: Value, path: &str) -> Result<f64, Error> {
        v.as_f64().ok_or_else(|| want(path, &v, "number"))
    }
}

impl Decode for i64 {
    fn decode(v: Value, path: &str) -> Result<i64, Error> {
        match v.as_number() {
            Some(n) => n.as_i64().ok_or_else(|| fail(path, format!("got {n}, want integer"))),
            None => Err(want(path, &v, "integer")),
        }
    }
}

impl<T: Decode> Decode for Option<T> {
    fn decode(v: Value, path: &str) -> Result<Option<T>, Error> {
        match v {
            Value::Null => Ok(None),
            v => T::decode(v, path).map(Some),
        }
    }
}

impl<T: Decode> Decode for Box<T> {
    fn decode(v: Value, path: &str) -> Result<Box<T>, Error> {
        T::decode(v, path).map(Box::new)
    }
}

impl<T: Decode> Decode for Vec<T> {
    fn decode(v: Value, path: &str) -> Result<Vec<T>, Error> {
        match v {
            Value::Array(a) => a.into_iter().enumerate().map(|(i, x)| T::decode(x, &format!("{path}/{i}"))).collect(),
            v => Err(want(path, &v, "array")),
        }
    }
}

impl<T: Decode> Decode for BTreeMap<String, T> {
    fn decode(v: Value, path: &str) -> Result<BTreeMap<String, T>, Error> {
        object(v, path)?
            .into_iter()
            .map(|(k, x)| {
                let sub = format!("{path}/{}", escape(&k));
                T::decode(x, &sub).map(|t| (k, t))
            })
            .collect()
    }
}
`
