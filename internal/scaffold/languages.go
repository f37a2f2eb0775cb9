package scaffold

import (
	"fmt"
	"slices"
	"strings"
)

// Language is one kind of plugin New can make.
type Language struct {
	// Name is what `airlock new` takes: "go", "go-wasm", "python", ...
	Name string
	// Summary says in a few words what the plugin is, for help texts.
	Summary string
	// Test is the command that runs the plugin's own test, in its
	// directory, after `airlock build`.
	Test []string
	// vendor maps paths in sdk.Files (a file, or a directory copied
	// whole) to where the plugin holds its copy of the SDK.
	vendor map[string]string
}

// languages lists every language, in the order help texts show them. The
// templates of each are under templates/NAME.
var languages = []Language{
	{Name: "go", Summary: "a process plugin in Go (the module github.com/airlock-go/airlock/sdk/go/plugin)",
		Test: []string{"go", "test", "-mod=mod", "./..."}},
	{Name: "go-wasm", Summary: "a wasm plugin in Go (GOOS=wasip1), same SDK",
		Test: []string{"go", "test", "-mod=mod", "./..."}},
	{Name: "python", Summary: "a process plugin in Python 3, the SDK's one file beside it",
		Test:   []string{"python3", "-m", "unittest", "-v"},
		vendor: map[string]string{"python/airlock_plugin.py": "airlock_plugin.py"}},
	{Name: "typescript", Summary: "a process plugin in TypeScript for Node.js, the SDK in vendor/",
		Test:   []string{"npm", "test"},
		vendor: map[string]string{"typescript": "vendor/airlock-plugin"}},
	{Name: "rust", Summary: "a process plugin in Rust (std only), the SDK crate in vendor/",
		Test:   []string{"cargo", "test", "--offline", "--locked"},
		vendor: map[string]string{"rust/src": "vendor/airlock-plugin/src", "rust/README.md": "vendor/airlock-plugin/README.md"}},
	{Name: "c-wasm", Summary: "a wasm plugin in C (clang, wasi-libc), the SDK in vendor/",
		Test:   []string{"make", "test"},
		vendor: map[string]string{"c/airlock.c": "vendor/airlock/airlock.c", "c/airlock.h": "vendor/airlock/airlock.h"}},
	{Name: "native-c", Summary: "a native plugin in C: a shared library, in the host or contained (docs/NATIVE.md)",
		Test: []string{"make", "test"},
		vendor: map[string]string{"c/airlock_native.h": "vendor/airlock/airlock_native.h",
			"c/airlock_json.c": "vendor/airlock/airlock_json.c", "c/airlock_json.h": "vendor/airlock/airlock_json.h"}},
	{Name: "native-rust", Summary: "a native plugin in Rust: a cdylib, in the host or contained (docs/NATIVE.md), the SDK crate in vendor/",
		Test:   []string{"cargo", "test", "--offline", "--locked"},
		vendor: map[string]string{"rust-native/src": "vendor/airlock-native/src", "rust-native/README.md": "vendor/airlock-native/README.md"}},
}

// Languages returns the languages New knows, in a stable order.
func Languages() []Language { return slices.Clone(languages) }

// LanguageNames returns the names of the languages New knows.
func LanguageNames() []string {
	names := make([]string, len(languages))
	for i, l := range languages {
		names[i] = l.Name
	}
	return names
}

// Lookup returns the language called name, or an error wrapping
// ErrUnknownLanguage that lists the known ones and suggests the nearest.
func Lookup(name string) (Language, error) {
	for _, l := range languages {
		if l.Name == name {
			return l, nil
		}
	}
	hint := ""
	if near := nearestLanguage(name); near != "" {
		hint = fmt.Sprintf(" (did you mean %q?)", near)
	}
	return Language{}, fmt.Errorf("%w %q%s: the languages are %s", ErrUnknownLanguage, name, hint, strings.Join(LanguageNames(), ", "))
}

// aliases are other names people use for a language.
var aliases = map[string]string{
	"golang": "go", "wasm-go": "go-wasm", "gowasm": "go-wasm", "tinygo": "go-wasm",
	"py": "python", "python3": "python",
	"ts": "typescript", "node": "typescript", "nodejs": "typescript", "js": "typescript", "javascript": "typescript",
	"rs": "rust", "cargo": "rust",
	"c": "c-wasm", "wasm-c": "c-wasm", "cwasm": "c-wasm", "wasm": "c-wasm",
	"c-native": "native-c", "native": "native-c", "so": "native-c", "dll": "native-c",
	"rust-native": "native-rust", "rs-native": "native-rust", "cdylib": "native-rust",
}

// nearestLanguage suggests a language for a name New does not know: an
// alias's language, or a name at most a third of its length (and at least
// one) edits away.
func nearestLanguage(name string) string {
	name = strings.ToLower(name)
	if l, ok := aliases[name]; ok {
		return l
	}
	best, bestDist := "", max(len(name)/3, 1)+1
	for _, l := range languages {
		if d := editDistance(name, l.Name); d < bestDist {
			best, bestDist = l.Name, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}
