package gen

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// pythonKeywords are Python's keywords and the names the generated module
// uses itself, which a function's name must not be.
var pythonKeywords = map[string]bool{
	"False": true, "None": true, "True": true, "and": true, "as": true, "assert": true, "async": true, "await": true,
	"break": true, "class": true, "continue": true, "def": true, "del": true, "elif": true, "else": true, "except": true,
	"finally": true, "for": true, "from": true, "global": true, "if": true, "import": true, "in": true, "is": true,
	"lambda": true, "nonlocal": true, "not": true, "or": true, "pass": true, "raise": true, "return": true, "try": true,
	"while": true, "with": true, "yield": true, "register_hooks": true, "register_after_hooks": true, "airlock": true, "settings": true,
}

// emitPython writes Python bindings on the Python SDK (airlock_plugin.py):
// a TypedDict and a decoder per object type, a typed handler table for the
// hooks with the function registering it, and a typed caller per host
// function. It needs Python 3.11 (typing.NotRequired).
func emitPython(c *Contract, pkg string) ([]File, error) {
	if err := checkReserved(c, "Python", "Any", "Callable", "Dict", "List", "Literal", "NotRequired", "Optional", "TypedDict",
		"Hooks", "AfterHooks", "ContractError", "JSONValue", "CONTRACT_VERSION"); err != nil {
		return nil, err
	}
	w := &writer{}
	w.p("# %s", Header)
	w.p(`"""Typed bindings of a host's contract for a plugin written with airlock_plugin.`)
	w.p("")
	w.p("Each hook's input is decoded before the handler runs: a missing required")
	w.p("field or a value of the wrong type is answered INVALID_PARAMS. Needs")
	w.p(`Python 3.11 or later."""`)
	w.p("")
	w.p("from __future__ import annotations")
	w.p("")
	w.p("from typing import Any, Callable, Dict, List, Literal, NotRequired, Optional, TypedDict")
	w.p("")
	w.p("import airlock_plugin as airlock")
	w.p("")
	if c.Version != "" {
		w.p("#: The version of the contract these bindings were generated from: the manifest's ``contract``.")
		w.p("CONTRACT_VERSION = %q", c.Version)
		w.p("")
	}
	w.p("#: Any JSON value, not checked.")
	w.p("JSONValue = Any")
	w.p("")
	w.WriteString(pyHelpers)
	for _, s := range c.Structs {
		pyStruct(w, s)
	}
	w.p("")
	var entries []string
	for _, h := range c.Hooks {
		entries = append(entries, fmt.Sprintf("        %q: Callable[[airlock.Context, %s], %s],", h.Name, pyType(h.In), pyType(h.Out)))
	}
	w.p("#: The plugin's handlers of the host's hooks, by hook name; each is optional.")
	w.p("Hooks = TypedDict(\n    \"Hooks\",\n    {\n%s\n    },\n    total=False,\n)", strings.Join(entries, "\n"))
	w.p("")
	w.p("_DECODERS: Dict[str, Callable[[Any, str], Any]] = {")
	for _, h := range c.Hooks {
		w.p("    %q: lambda v, p: %s,", h.Name, pyDecode(h.In, "v", "p"))
	}
	w.p("}")
	w.p("")
	w.p("")
	w.p("def register_hooks(plugin: airlock.Plugin, hooks: Hooks) -> None:")
	w.p(`    """Register the handlers of hooks (before and define phases), each`)
	w.p("    behind a decoder of its input. After handlers: register_after_hooks.\"\"\"")
	w.p("    for name, fn in hooks.items():")
	w.p("        if name not in _DECODERS:")
	w.p("            raise KeyError(f\"the host's contract has no hook {name!r}\")")
	w.p("        plugin.handle(name, _typed(name, _DECODERS[name], fn))")
	if c.Settings != nil {
		w.p("")
		w.p("")
		w.p("def settings(ctx: airlock.Context) -> Settings:")
		w.p(`    """Decode the plugin's settings (the host has filled in their defaults):`)
		w.p("    a missing required setting, a value of the wrong type (3.5 or \"3\" for")
		w.p("    an integer) or a setting these bindings do not know raises")
		w.p(`    ContractError naming the setting."""`)
		w.p("    try:")
		w.p("        return decode_settings(ctx.config)")
		w.p("    except ContractError as e:")
		w.p(`        raise ContractError("settings: " + str(e)) from None`)
	}
	pyAfter(w, c)
	taken := map[string]bool{}
	for _, f := range c.Functions {
		name := Snake(f.Name)
		if pythonKeywords[name] || strings.HasPrefix(name, "decode_") {
			name += "_"
		}
		for k := 2; taken[name]; k++ {
			name = fmt.Sprintf("%s%d", Snake(f.Name), k)
		}
		taken[name] = true
		w.p("")
		w.p("")
		w.p("def %s(ctx: airlock.Context, inp: %s) -> %s:", name, pyType(f.In), pyType(f.Out))
		w.p(`    """Call the host function %s (capability %s) and decode its result."""`, strconv.Quote(f.Name), strconv.Quote(f.Capability))
		w.p("    raw = ctx.call(%q, inp)", f.Name)
		w.p("    try:")
		w.p("        return %s", pyDecode(f.Out, "raw", `""`))
		w.p("    except ContractError as e:")
		w.p("        raise ContractError(%s + str(e)) from None", strconv.Quote("host call "+f.Name+": result: "))
	}
	return []File{{Name: pkg + ".py", Data: w.Bytes()}}, nil
}

// pyAfter writes AfterHooks and register_after_hooks.
func pyAfter(w *writer, c *Contract) {
	var entries []string
	for _, h := range c.Hooks {
		entries = append(entries, fmt.Sprintf("        %q: Callable[[airlock.Context, %s, %s], None],", h.Name, pyType(h.In), pyType(h.AfterOutput())))
	}
	w.p("")
	w.p("")
	w.p("#: The plugin's after handlers of the host's hooks (the manifest's")
	w.p("#: [hook.NAME] phase = \"after\"), by hook name: each gets the hook's input")
	w.p("#: and output (a collect hook's: the list of answers); each is optional.")
	w.p("AfterHooks = TypedDict(\n    \"AfterHooks\",\n    {\n%s\n    },\n    total=False,\n)", strings.Join(entries, "\n"))
	w.p("")
	w.p("_AFTER_DECODERS: Dict[str, Callable[[Any, str], Any]] = {")
	for _, h := range c.Hooks {
		in := pyDecode(h.In, `_req(_object(v, p), "input", p)`, `p + "/input"`)
		out := pyDecode(h.AfterOutput(), `_req(_object(v, p), "output", p)`, `p + "/output"`)
		w.p("    %q: lambda v, p: (%s, %s),", h.Name, in, out)
	}
	w.p("}")
	w.p("")
	w.p("")
	w.p("def register_after_hooks(plugin: airlock.Plugin, hooks: AfterHooks) -> None:")
	w.p(`    """Register after handlers, each behind a decoder of the hook's input and`)
	w.p("    output (a value that does not fit is answered INVALID_PARAMS). The host")
	w.p(`    logs what one raises; it cannot change the result."""`)
	w.p("    for name, fn in hooks.items():")
	w.p("        if name not in _AFTER_DECODERS:")
	w.p("            raise KeyError(f\"the host's contract has no hook {name!r}\")")
	w.p("        plugin.handle(name, _typed_after(name, _AFTER_DECODERS[name], fn))")
}

func pyType(t *Type) string {
	var s string
	switch t.Kind {
	case Raw:
		return "JSONValue"
	case Bool:
		s = "bool"
	case String, Number, Integer:
		s = map[Kind]string{String: "str", Number: "float", Integer: "int"}[t.Kind]
		if hasEnum(t) {
			s = "Literal[" + pyLiterals(t.Enum) + "]"
		}
	case Array:
		s = "List[" + pyType(t.Elem) + "]"
	case Map:
		s = "Dict[str, " + pyType(t.Elem) + "]"
	case Object:
		s = strconv.Quote(t.Struct.Name)
	}
	if t.Nullable {
		s = "Optional[" + s + "]"
	}
	return s
}

func pyLiterals(vals []any) string {
	var out []string
	for _, v := range vals {
		switch v := v.(type) {
		case bool:
			out = append(out, map[bool]string{true: "True", false: "False"}[v])
		case string:
			b, _ := json.Marshal(v) // a JSON string is a Python string literal
			out = append(out, string(b))
		default:
			out = append(out, fmt.Sprint(v))
		}
	}
	return strings.Join(out, ", ")
}

// pyDecode is an expression decoding the value v at path p into t's type.
func pyDecode(t *Type, v, p string) string {
	if t.Nullable {
		inner := *t
		inner.Nullable = false
		return fmt.Sprintf("_nullable(%s, %s, lambda x, q: %s)", v, p, pyDecode(&inner, "x", "q"))
	}
	switch t.Kind {
	case Raw:
		return v
	case Bool, String, Number, Integer:
		fn := map[Kind]string{Bool: "_bool", String: "_str", Number: "_number", Integer: "_integer"}[t.Kind]
		if hasEnum(t) {
			return fmt.Sprintf("_enum(%s(%s, %s), %s, (%s,))", fn, v, p, p, pyLiterals(t.Enum))
		}
		return fmt.Sprintf("%s(%s, %s)", fn, v, p)
	case Array:
		return fmt.Sprintf("_array(%s, %s, lambda x, q: %s)", v, p, pyDecode(t.Elem, "x", "q"))
	case Map:
		return fmt.Sprintf("_map(%s, %s, lambda x, q: %s)", v, p, pyDecode(t.Elem, "x", "q"))
	}
	return fmt.Sprintf("decode_%s(%s, %s)", Snake(t.Struct.Name), v, p)
}

func pyStruct(w *writer, s *Struct) {
	var entries []string
	for _, f := range s.Fields {
		typ := pyType(f.Type)
		if !f.Required {
			typ = "NotRequired[" + typ + "]"
		}
		b, _ := json.Marshal(f.JSON)
		entries = append(entries, fmt.Sprintf("        %s: %s,", b, typ))
	}
	w.p("")
	if s.Doc != "" {
		w.p("#: %s", oneLine(s.Doc))
	}
	if len(entries) == 0 {
		w.p("%s = TypedDict(%q, {})", s.Name, s.Name)
	} else {
		w.p("%s = TypedDict(\n    %q,\n    {\n%s\n    },\n)", s.Name, s.Name, strings.Join(entries, "\n"))
	}
	w.p("")
	w.p("")
	w.p("def decode_%s(v: Any, path: str = \"\") -> %s:", Snake(s.Name), s.Name)
	w.p(`    """Decode a value of type %s: a missing required field or a value of the wrong`, s.Name)
	if s.Closed {
		w.p(`    type, or a member it does not know, raises ContractError."""`)
	} else {
		w.p(`    type raises ContractError; unknown fields are left out."""`)
	}
	w.p("    o = _object(v, path)")
	if s.Closed {
		var known []string
		for _, f := range s.Fields {
			b, _ := json.Marshal(f.JSON)
			known = append(known, string(b)+",")
		}
		w.p("    _closed(o, path, (%s))", strings.Join(known, " "))
	}
	w.p("    r: Dict[str, Any] = {}")
	for _, f := range s.Fields {
		key, _ := json.Marshal(f.JSON)
		sub, _ := json.Marshal("/" + escapePointer(f.JSON))
		if f.Required {
			w.p("    r[%s] = %s", key, pyDecode(f.Type, fmt.Sprintf("_req(o, %s, path)", key), "path + "+string(sub)))
		} else {
			w.p("    if %s in o:", key)
			w.p("        r[%s] = %s", key, pyDecode(f.Type, fmt.Sprintf("o[%s]", key), "path + "+string(sub)))
		}
	}
	w.p("    return r  # type: ignore[return-value]")
	w.p("")
}

const pyHelpers = `
class ContractError(ValueError):
    """A value that does not fit the contract; the message starts with its
    JSON path."""


def _fail(path, msg):
    raise ContractError(f"{path or '(root)'}: {msg}")


def _kind(v):
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, (int, float)):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "array"
    return "object"


def _escape(k):
    return k.replace("~", "~0").replace("/", "~1")


def _object(v, path):
    if not isinstance(v, dict):
        _fail(path, f"got {_kind(v)}, want object")
    return v


def _req(o, k, path):
    if k not in o:
        _fail(f"{path}/{_escape(k)}", "missing")
    return o[k]


def _bool(v, path):
    if not isinstance(v, bool):
        _fail(path, f"got {_kind(v)}, want boolean")
    return v


def _str(v, path):
    if not isinstance(v, str):
        _fail(path, f"got {_kind(v)}, want string")
    return v


def _number(v, path):
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        _fail(path, f"got {_kind(v)}, want number")
    return v


def _integer(v, path):
    if isinstance(v, float) and v.is_integer():
        return int(v)
    if isinstance(v, bool) or not isinstance(v, int):
        _fail(path, f"got {v if isinstance(v, float) else _kind(v)}, want integer")
    return v


def _closed(o, path, known):
    for k in sorted(o):
        if k not in known:
            _fail(f"{path}/{_escape(k)}", f"unknown setting (these bindings know: {', '.join(known)}; regenerate them from the plugin's manifest)")


def _enum(v, path, allowed):
    if v not in allowed:
        _fail(path, f"{v!r} is not one of {list(allowed)!r}")
    return v


def _nullable(v, path, inner):
    return None if v is None else inner(v, path)


def _array(v, path, item):
    if not isinstance(v, list):
        _fail(path, f"got {_kind(v)}, want array")
    return [item(x, f"{path}/{i}") for i, x in enumerate(v)]


def _map(v, path, value):
    o = _object(v, path)
    return {k: value(x, f"{path}/{_escape(k)}") for k, x in o.items()}


def _typed(name, decode, fn):
    def handler(ctx, inp):
        try:
            value = decode(inp, "")
        except ContractError as e:
            raise airlock.Error(airlock.INVALID_PARAMS, f"{name}: invalid input: {e}") from None
        return fn(ctx, value)

    return handler


def _typed_after(name, decode, fn):
    def handler(ctx, inp):
        try:
            value, output = decode(inp, "")
        except ContractError as e:
            raise airlock.Error(airlock.INVALID_PARAMS, f"{name}: invalid input: {e}") from None
        fn(ctx, value, output)

    return handler

`
