// Package capability parses capability names and decides whether a set of
// grants covers a capability.
//
// A capability is a name with an optional scope, written NAME or NAME:SCOPE:
// "log", "kv", "env:HOME", "http:api.example.com", "fs.read:/srv/in",
// "ledger.read". Names are lower-case dotted identifiers; the scope is free
// text whose meaning depends on the name.
package capability

import (
	"fmt"
	"path"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Cap is one parsed capability.
type Cap struct {
	Name  string // "fs.read"
	Scope string // "/srv/in"; empty when the capability has no scope
}

// String returns the capability in its written form, NAME or NAME:SCOPE.
func (c Cap) String() string {
	if c.Scope == "" {
		return c.Name
	}
	return c.Name + ":" + c.Scope
}

// Parse parses a capability written as NAME or NAME:SCOPE.
func Parse(s string) (Cap, error) {
	name, scope, hasScope := strings.Cut(s, ":")
	if err := checkName(name); err != nil {
		return Cap{}, fmt.Errorf("capability %q: %w", s, err)
	}
	if hasScope && scope == "" {
		return Cap{}, fmt.Errorf("capability %q: empty scope after ':'", s)
	}
	if strings.ContainsFunc(scope, unicode.IsControl) {
		return Cap{}, fmt.Errorf("capability %q: scope contains a control character", s)
	}
	// Threat: a scope that reads as another to the operator who reviews
	// it (a bidi override reorders what follows; a zero-width character
	// hides), in a manifest, an error's suggested grant or a log.
	if !utf8.ValidString(scope) {
		return Cap{}, fmt.Errorf("capability %q: scope is not valid UTF-8", s)
	}
	if strings.ContainsFunc(scope, func(r rune) bool { return unicode.Is(unicode.Cf, r) }) {
		return Cap{}, fmt.Errorf("capability %q: scope contains an invisible formatting character", s)
	}
	if isPathCap(name) && hasScope {
		clean, ok := cleanAbs(scope)
		if !ok {
			return Cap{}, fmt.Errorf("capability %q: %s needs an absolute path", s, name)
		}
		scope = clean
	}
	return Cap{Name: name, Scope: scope}, nil
}

// MustParse is like Parse but panics on a malformed capability. It is meant
// for capabilities written as constants in the host's own code.
func MustParse(s string) Cap {
	c, err := Parse(s)
	if err != nil {
		panic(err)
	}
	return c
}

func checkName(name string) error {
	if name == "" {
		return fmt.Errorf("empty name")
	}
	for i, r := range name {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9' && i > 0:
		case (r == '.' || r == '-' || r == '_') && i > 0 && i < len(name)-1:
		default:
			return fmt.Errorf("name %q: use lower-case letters, digits, '.', '-' and '_', starting with a letter", name)
		}
	}
	return nil
}

// cleanAbs cleans an absolute path, Unix ("/srv/in") or Windows
// ("C:\\data" or "C:/data"); Windows paths are kept with forward slashes,
// which Windows accepts, so that one rule covers both. ok is false for a
// relative path.
func cleanAbs(p string) (string, bool) {
	if strings.HasPrefix(p, "/") {
		return path.Clean(p), true
	}
	if len(p) >= 3 && p[1] == ':' && (p[2] == '\\' || p[2] == '/') && (p[0]|0x20 >= 'a' && p[0]|0x20 <= 'z') {
		// Clean the rooted part on its own: cleaning "C:/../x" whole would
		// let ".." remove the drive and leave a relative path.
		return p[:2] + path.Clean(strings.ReplaceAll(p[2:], `\`, "/")), true
	}
	return "", false
}

// isPathCap reports whether the scope of a capability is a file system path,
// so that a grant of a directory covers the files beneath it.
func isPathCap(name string) bool { return strings.HasPrefix(name, "fs.") }

// Covers reports whether grant g allows capability c.
//
// A grant without scope covers only the unscoped capability: granting "env"
// does not grant "env:HOME" (threat: an operator granting a bare name must not
// hand out every scope of it by accident). A grant with scope "*" covers every
// scope of that name. For fs.* capabilities a directory covers what lies
// beneath it. For http a scope "*.example.com" covers its subdomains.
func (g Cap) Covers(c Cap) bool {
	if g.Name != c.Name {
		return false
	}
	switch {
	case g.Scope == c.Scope:
		return true
	case g.Scope == "*":
		return c.Scope != ""
	case g.Scope == "", c.Scope == "":
		return false
	case isPathCap(g.Name):
		// "/" covers every path (docs/MANIFEST.md), Windows ones too; a
		// drive root ("C:/") already ends in '/'.
		return g.Scope == "/" || strings.HasPrefix(c.Scope, strings.TrimSuffix(g.Scope, "/")+"/")
	case strings.HasPrefix(g.Scope, "*."):
		return strings.HasSuffix(c.Scope, g.Scope[1:])
	}
	return false
}

// Set is an immutable set of granted capabilities.
type Set struct {
	caps []Cap
}

// NewSet parses each grant; it fails on the first malformed one.
func NewSet(grants []string) (Set, error) {
	s := Set{caps: make([]Cap, 0, len(grants))}
	for _, g := range grants {
		c, err := Parse(g)
		if err != nil {
			return Set{}, err
		}
		if !slices.Contains(s.caps, c) {
			s.caps = append(s.caps, c)
		}
	}
	return s, nil
}

// Allows reports whether any grant in the set covers c.
func (s Set) Allows(c Cap) bool {
	for _, g := range s.caps {
		if g.Covers(c) {
			return true
		}
	}
	return false
}

// AllowsString parses c and reports whether the set allows it; a malformed
// capability is never allowed.
func (s Set) AllowsString(c string) bool {
	p, err := Parse(c)
	return err == nil && s.Allows(p)
}

// Missing returns, in order, the capabilities in want that the set does not
// allow.
func (s Set) Missing(want []Cap) []Cap {
	var out []Cap
	for _, c := range want {
		if !s.Allows(c) {
			out = append(out, c)
		}
	}
	return out
}

// Strings returns the grants in their written form.
func (s Set) Strings() []string {
	out := make([]string, len(s.caps))
	for i, c := range s.caps {
		out[i] = c.String()
	}
	return out
}

// Caps returns a copy of the grants.
func (s Set) Caps() []Cap { return slices.Clone(s.caps) }

// Scopes returns the scopes granted for name, e.g. Scopes("env") for the
// grants env:HOME and env:LANG returns ["HOME", "LANG"].
func (s Set) Scopes(name string) []string {
	var out []string
	for _, c := range s.caps {
		if c.Name == name && c.Scope != "" {
			out = append(out, c.Scope)
		}
	}
	return out
}

// Spec describes a capability Airlock itself understands.
type Spec struct {
	Name string // "fs.read"
	// Scoped capabilities are granted with a scope (NAME:SCOPE); the
	// others without one.
	Scoped      bool
	Form        string // how it is written: "fs.read:PATH"
	Description string
}

// standard is docs/MANIFEST.md's table of the capabilities Airlock
// understands.
var standard = []Spec{
	{Name: "log", Form: "log", Description: "the host function log"},
	{Name: "kv", Form: "kv", Description: "the host functions kv.get, kv.set, kv.delete, kv.list and kv.cas: a small key-value store private to the plugin, kept across restarts"},
	{Name: "timer", Form: "timer", Description: "the host functions timer.after, timer.every and timer.cancel: the host calls one of the plugin's functions after a delay or every period"},
	{Name: "env", Scoped: true, Form: "env:NAME", Description: "the environment variable NAME, with the host's value (process tier); env:* grants every variable"},
	{Name: "fs.read", Scoped: true, Form: "fs.read:PATH", Description: "reading beneath the absolute PATH"},
	{Name: "fs.write", Scoped: true, Form: "fs.write:PATH", Description: "reading and writing beneath the absolute PATH"},
	{Name: "net", Form: "net", Description: "opening TCP and UDP connections (process tier); not unix sockets"},
	{Name: "unix", Form: "unix", Description: "unix-domain sockets by path or abstract name (process tier)"},
	{Name: "http", Scoped: true, Form: "http:HOST", Description: "the network, for HTTP to HOST (process tier: any connection, today); http:*.example.com covers subdomains"},
	{Name: "spawn", Form: "spawn", Description: "starting child processes (process tier)"},
}

// Standard returns the capabilities Airlock itself understands, in the
// order docs/MANIFEST.md lists them.
func Standard() []Spec { return slices.Clone(standard) }

// LookupStandard returns the capability of Airlock's own called name.
func LookupStandard(name string) (Spec, bool) {
	for _, s := range standard {
		if s.Name == name {
			return s, true
		}
	}
	return Spec{}, false
}
