package gen

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// emitTypeScript writes TypeScript bindings on the TypeScript SDK
// (@airlock-go/plugin): an interface and a decoder per object type, a
// typed handler table for the hooks with the function registering it
// (the decoders are the handlers' parse), and a typed caller per host
// function.
func emitTypeScript(c *Contract, pkg string) ([]File, error) {
	if err := checkReserved(c, "TypeScript", "CallOptions", "Handler", "Host", "JSONValue", "Plugin", "Hooks", "AfterHooks", "AfterHandler", "ContractError",
		"Array", "Record", "Object", "Number", "String", "Boolean", "Error", "Promise"); err != nil {
		return nil, err
	}
	w := &writer{}
	w.p("// %s", Header)
	w.p("//")
	w.p("// Typed bindings of a host's contract for a plugin written with @airlock-go/plugin.")
	w.p("")
	w.p("%s", tsImportLine)
	w.p("")
	if c.Version != "" {
		w.p("/** The version of the contract these bindings were generated from: the manifest's `contract`. */")
		w.p("export const CONTRACT_VERSION = %q;", c.Version)
		w.p("")
	}
	for _, s := range c.Structs {
		tsStruct(w, s)
	}
	w.p("/** The plugin's handlers of the host's hooks, by hook name; each is optional. */")
	w.p("export interface Hooks<S extends object = Record<string, unknown>> {")
	for _, h := range c.Hooks {
		w.p("  /** The hook %q (before and define phases). */", h.Name)
		w.p("  %s?: Handler<%s, %s, S>;", strconv.Quote(h.Name), tsType(h.In), tsType(h.Out))
	}
	w.p("}")
	w.p("")
	w.p("/**")
	w.p(" * Registers the handlers of hooks on p, each with a parse that refuses")
	w.p(" * an input missing a required field or with a value of the wrong type")
	w.p(" * (answered Code.InvalidParams). After handlers: registerAfterHooks.")
	w.p(" */")
	w.p("export function registerHooks<S extends object>(p: Plugin<S>, hooks: Hooks<S>): Plugin<S> {")
	for i, h := range c.Hooks {
		w.p("  const h%d = hooks[%s];", i, strconv.Quote(h.Name))
		w.p("  if (h%d !== undefined) {", i)
		w.p("    p.hook(%s, h%d, { parse: (v: unknown) => %s });", strconv.Quote(h.Name), i, tsDecode(h.In, "v", `""`))
		w.p("  }")
	}
	w.p("  return p;")
	w.p("}")
	w.p("")
	if c.Settings != nil {
		w.p("/**")
		w.p(" * Decodes the plugin's settings (the host has filled in their defaults),")
		w.p(" * throwing a ContractError naming the setting for a missing required one,")
		w.p(" * a value of the wrong type (3.5 or \"3\" for an integer) or a setting")
		w.p(" * these bindings do not know.")
		w.p(" */")
		w.p("export function settings<S extends object>(host: Host<S>): Settings {")
		w.p("  try {")
		w.p("    return decodeSettings(host.config);")
		w.p("  } catch (e) {")
		w.p(`    throw new ContractError("settings: " + (e as Error).message);`)
		w.p("  }")
		w.p("}")
		w.p("")
	}
	tsAfter(w, c)
	taken := map[string]bool{"registerHooks": true, "registerAfterHooks": true, "settings": true}
	for _, f := range c.Functions {
		name := tsIdent(f.Name)
		for k := 2; taken[name]; k++ {
			name = fmt.Sprintf("%s%d", tsIdent(f.Name), k)
		}
		taken[name] = true
		w.p("/** Calls the host function %q (capability %q) and decodes its result. */", f.Name, f.Capability)
		w.p("export async function %s<S extends object>(host: Host<S>, input: %s, options?: CallOptions): Promise<%s> {", name, tsType(f.In), tsType(f.Out))
		w.p("  const raw: unknown = await host.call(%s, input, options);", strconv.Quote(f.Name))
		w.p("  try {")
		w.p("    return %s;", tsDecode(f.Out, "raw", `""`))
		w.p("  } catch (e) {")
		w.p("    throw new ContractError(%s + (e as Error).message);", strconv.Quote("host call "+f.Name+": result: "))
		w.p("  }")
		w.p("}")
		w.p("")
	}
	w.WriteString(tsUsedHelpers(w.String()))
	return []File{{Name: pkg + ".ts", Data: tsUsedImports(w.Bytes())}}, nil
}

// tsImportLine is the SDK import the emitter writes first, with every name.
const tsImportLine = `import type { CallOptions, Handler, Host, JSONValue, Plugin } from "@airlock-go/plugin";`

// tsUsedImports keeps, in the SDK import, the names the file uses: an
// unused one fails a build with noUnusedLocals (a contract without host
// functions uses no CallOptions).
func tsUsedImports(src []byte) []byte {
	text := string(src)
	i := strings.Index(text, tsImportLine)
	rest := text[i+len(tsImportLine):]
	var used []string
	for _, n := range []string{"CallOptions", "Handler", "Host", "JSONValue", "Plugin"} {
		if regexp.MustCompile(`\b` + n + `\b`).MatchString(rest) {
			used = append(used, n)
		}
	}
	line := ""
	if len(used) > 0 {
		line = "import type { " + strings.Join(used, ", ") + ` } from "@airlock-go/plugin";`
	}
	return []byte(text[:i] + line + rest)
}

// tsAfter writes AfterHandler, AfterHooks and registerAfterHooks.
func tsAfter(w *writer, c *Contract) {
	w.p("/** An after handler: the hook's input and output (a collect hook's: its answers). */")
	w.p("export type AfterHandler<In, Out, S extends object = Record<string, unknown>> = (")
	w.p("  ctx: Parameters<Handler<In, Out, S>>[0],")
	w.p("  input: In,")
	w.p("  output: Out,")
	w.p(") => void | Promise<void>;")
	w.p("")
	w.p("/** The plugin's after handlers of the host's hooks (the manifest's [hook.NAME] phase = \"after\"), by hook name; each is optional. */")
	w.p("export interface AfterHooks<S extends object = Record<string, unknown>> {")
	for _, h := range c.Hooks {
		w.p("  %s?: AfterHandler<%s, %s, S>;", strconv.Quote(h.Name), tsType(h.In), tsType(h.AfterOutput()))
	}
	w.p("}")
	w.p("")
	w.p("/**")
	w.p(" * Registers after handlers on p, each with a parse that refuses an input or")
	w.p(" * output that does not fit (answered Code.InvalidParams). The host logs what")
	w.p(" * one throws; it cannot change the result.")
	w.p(" */")
	w.p("export function registerAfterHooks<S extends object>(p: Plugin<S>, hooks: AfterHooks<S>): Plugin<S> {")
	for i, h := range c.Hooks {
		in, out := tsType(h.In), tsType(h.AfterOutput())
		w.p("  const a%d = hooks[%s];", i, strconv.Quote(h.Name))
		w.p("  if (a%d !== undefined) {", i)
		w.p("    const f = a%d;", i)
		w.p("    p.hook(%s, (ctx, v: { input: %s; output: %s }) => f(ctx, v.input, v.output), {", strconv.Quote(h.Name), in, out)
		w.p("      parse: (v: unknown) => {")
		w.p("        const o = dObject(v, \"\");")
		w.p("        return { input: %s, output: %s };", tsDecode(h.In, `req(o, "input", "")`, `"/input"`), tsDecode(h.AfterOutput(), `req(o, "output", "")`, `"/output"`))
		w.p("      },")
		w.p("    });")
		w.p("  }")
	}
	w.p("  return p;")
	w.p("}")
	w.p("")
}

var tsIdentRE = regexp.MustCompile(`^[A-Za-z_$][A-Za-z0-9_$]*$`)

// tsIdent is the camelCase identifier of a hook or function name.
func tsIdent(name string) string {
	c := Camel(name)
	return strings.ToLower(c[:1]) + c[1:]
}

func tsKey(name string) string {
	if tsIdentRE.MatchString(name) {
		return name
	}
	return strconv.Quote(name)
}

func tsType(t *Type) string {
	var s string
	switch t.Kind {
	case Raw:
		return "JSONValue"
	case Bool:
		s = "boolean"
	case String, Number, Integer:
		s = map[Kind]string{String: "string", Number: "number", Integer: "number"}[t.Kind]
		if hasEnum(t) {
			s = tsLiterals(t.Enum, " | ")
		}
	case Array:
		s = "Array<" + tsType(t.Elem) + ">"
	case Map:
		s = "{ [key: string]: " + tsType(t.Elem) + " }"
	case Object:
		s = t.Struct.Name
	}
	if t.Nullable {
		s += " | null"
	}
	return s
}

func tsLiterals(vals []any, sep string) string {
	var out []string
	for _, v := range vals {
		b, _ := json.Marshal(v)
		out = append(out, string(b))
	}
	return strings.Join(out, sep)
}

// tsDecode is an expression decoding the value v at path p (both
// expressions) into t's type.
func tsDecode(t *Type, v, p string) string {
	if t.Nullable {
		inner := *t
		inner.Nullable = false
		return fmt.Sprintf("(%s === null ? null : %s)", v, tsDecode(&inner, v, p))
	}
	switch t.Kind {
	case Raw:
		return fmt.Sprintf("(%s as JSONValue)", v)
	case Bool:
		return fmt.Sprintf("dBool(%s, %s)", v, p)
	case String, Number, Integer:
		fn := map[Kind]string{String: "dString", Number: "dNumber", Integer: "dInteger"}[t.Kind]
		if hasEnum(t) {
			return fmt.Sprintf("dEnum(%s(%s, %s), %s, [%s] as const)", fn, v, p, p, tsLiterals(t.Enum, ", "))
		}
		return fmt.Sprintf("%s(%s, %s)", fn, v, p)
	case Array:
		return fmt.Sprintf("dArray(%s, %s, %s)", v, p, tsElem(t.Elem))
	case Map:
		return fmt.Sprintf("dMap(%s, %s, %s)", v, p, tsElem(t.Elem))
	}
	return fmt.Sprintf("decode%s(%s, %s)", t.Struct.Name, v, p)
}

// tsElem is a function decoding an array's item or a map's value.
func tsElem(t *Type) string {
	if t.Kind == Raw {
		return "(x: unknown) => x as JSONValue" // its path is not needed
	}
	return "(x: unknown, q: string) => " + tsDecode(t, "x", "q")
}

func tsStruct(w *writer, s *Struct) {
	if s.Closed {
		w.p("/** The plugin's settings, as its manifest declares them. */")
	} else {
		w.p("/** An object of the contract.%s */", tsDoc(s.Doc))
	}
	w.p("export interface %s {", s.Name)
	for _, f := range s.Fields {
		if f.Doc != "" {
			w.p("  /**%s */", tsDoc(f.Doc))
		}
		opt := ""
		if !f.Required {
			opt = "?"
		}
		w.p("  %s%s: %s;", tsKey(f.JSON), opt, tsType(f.Type))
	}
	w.p("}")
	w.p("")
	if s.Closed {
		w.p("/** Decodes a value of type %s, refusing a missing required field, a value of the wrong type and a member it does not know. */", s.Name)
	} else {
		w.p("/** Decodes a value of type %s, refusing a missing required field and a value of the wrong type; unknown fields are left out. */", s.Name)
	}
	w.p("export function decode%s(v: unknown, path: string = \"\"): %s {", s.Name, s.Name)
	if len(s.Fields) == 0 && s.Closed {
		w.p("  closed(dObject(v, path), path, []);")
		w.p("  return {};")
		w.p("}")
		w.p("")
		return
	}
	if len(s.Fields) == 0 {
		w.p("  dObject(v, path);")
		w.p("  return {};")
		w.p("}")
		w.p("")
		return
	}
	w.p("  const o = dObject(v, path);")
	if s.Closed {
		var known []string
		for _, f := range s.Fields {
			known = append(known, strconv.Quote(f.JSON))
		}
		w.p("  closed(o, path, [%s]);", strings.Join(known, ", "))
	}
	w.p("  const r: %s = {", s.Name)
	for _, f := range s.Fields {
		if f.Required {
			key := strconv.Quote(f.JSON)
			w.p("    %s: %s,", tsKey(f.JSON), tsDecode(f.Type, fmt.Sprintf("req(o, %s, path)", key), "path + "+strconv.Quote("/"+escapePointer(f.JSON))))
		}
	}
	w.p("  };")
	for _, f := range s.Fields {
		if !f.Required {
			key := strconv.Quote(f.JSON)
			w.p("  if (has(o, %s)) {", key)
			w.p("    r[%s] = %s;", key, tsDecode(f.Type, "o["+key+"]", "path + "+strconv.Quote("/"+escapePointer(f.JSON))))
			w.p("  }")
		}
	}
	w.p("  return r;")
	w.p("}")
	w.p("")
}

func tsDoc(s string) string {
	if s == "" {
		return ""
	}
	return " " + strings.ReplaceAll(oneLine(s), "*/", "* /")
}

// tsUsedHelpers returns the helpers body calls, and the helpers they call:
// a helper left unused would fail a build with noUnusedLocals.
func tsUsedHelpers(body string) string {
	chunks := strings.Split(tsHelpers, "\n\n")
	used := make([]bool, len(chunks))
	text := body
	for changed := true; changed; {
		changed = false
		for i, c := range chunks {
			name := tsHelperName(c)
			if !used[i] && (name == "" || strings.Contains(text, name+"(") || strings.Contains(text, "new "+name)) {
				used[i], changed = true, true
				text += c
			}
		}
	}
	var out []string
	for i, c := range chunks {
		if used[i] {
			out = append(out, c)
		}
	}
	return strings.Join(out, "\n\n")
}

var tsHelperNameRE = regexp.MustCompile(`(?m)^(?:export )?(?:function|class) ([A-Za-z]+)`)

func tsHelperName(chunk string) string {
	m := tsHelperNameRE.FindStringSubmatch(chunk)
	if m == nil || m[1] == "ContractError" {
		return ""
	}
	return m[1]
}

const tsHelpers = `/** A value that does not fit the contract; the message starts with its JSON path. */
export class ContractError extends Error {
  override name = "ContractError";
}

function fail(path: string, msg: string): never {
  throw new ContractError((path === "" ? "(root)" : path) + ": " + msg);
}

function kind(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "array";
  if (typeof v === "object") return "object";
  return typeof v;
}

function has(o: Record<string, unknown>, k: string): boolean {
  return Object.prototype.hasOwnProperty.call(o, k);
}

function req(o: Record<string, unknown>, k: string, path: string): unknown {
  if (!has(o, k)) fail(path + "/" + k.replace(/~/g, "~0").replace(/\//g, "~1"), "missing");
  return o[k];
}

function closed(o: Record<string, unknown>, path: string, known: readonly string[]): void {
  for (const k of Object.keys(o).sort()) {
    if (!known.includes(k)) fail(path + "/" + k.replace(/~/g, "~0").replace(/\//g, "~1"), "unknown setting (these bindings know: " + known.join(", ") + "; regenerate them from the plugin's manifest)");
  }
}

function dObject(v: unknown, path: string): Record<string, unknown> {
  if (typeof v !== "object" || v === null || Array.isArray(v)) fail(path, "got " + kind(v) + ", want object");
  return v as Record<string, unknown>;
}

function dBool(v: unknown, path: string): boolean {
  if (typeof v !== "boolean") fail(path, "got " + kind(v) + ", want boolean");
  return v;
}

function dString(v: unknown, path: string): string {
  if (typeof v !== "string") fail(path, "got " + kind(v) + ", want string");
  return v;
}

function dNumber(v: unknown, path: string): number {
  if (typeof v !== "number") fail(path, "got " + kind(v) + ", want number");
  return v;
}

function dInteger(v: unknown, path: string): number {
  if (typeof v !== "number" || !Number.isInteger(v)) fail(path, "got " + (typeof v === "number" ? String(v) : kind(v)) + ", want integer");
  return v;
}

function dEnum<T extends string | number>(v: string | number, path: string, allowed: readonly T[]): T {
  if (!(allowed as readonly (string | number)[]).includes(v)) fail(path, JSON.stringify(v) + " is not one of " + JSON.stringify(allowed));
  return v as T;
}

function dArray<T>(v: unknown, path: string, item: (x: unknown, q: string) => T): T[] {
  if (!Array.isArray(v)) fail(path, "got " + kind(v) + ", want array");
  return v.map((x: unknown, i: number) => item(x, path + "/" + i));
}

function dMap<T>(v: unknown, path: string, value: (x: unknown, q: string) => T): { [key: string]: T } {
  const o = dObject(v, path);
  const r: { [key: string]: T } = {};
  for (const k of Object.keys(o)) r[k] = value(o[k], path + "/" + k.replace(/~/g, "~0").replace(/\//g, "~1"));
  return r;
}
`
