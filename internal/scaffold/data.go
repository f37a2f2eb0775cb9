package scaffold

import (
	"encoding/json"
	"fmt"
	"runtime/debug"
	"strings"

	"github.com/BurntSushi/toml"

	"github.com/airlock-go/airlock/sdk"
)

const (
	// Module is the Go module a Go plugin requires for the SDK.
	Module = "github.com/airlock-go/airlock"
	// goVersion is the go line of a Go plugin's go.mod: the Airlock
	// module's own (a test keeps them equal), the lowest a module that
	// requires it may have.
	goVersion = "1.26.8"
	// DevelVersion is what a Go plugin requires when this program's own
	// version is none a module proxy could serve (it was built from a
	// checkout): the zero pseudo-version, to be replaced by a directory.
	DevelVersion = "v0.0.0-00010101000000-000000000000"
)

// data is what the templates see.
type data struct {
	Name, Version string

	GoVersion      string
	AirlockModule  string
	AirlockVersion string
	AirlockDevel   bool // AirlockVersion is DevelVersion: go.mod says how to replace it

	TypeScriptSDK struct{ Version, Node string }
	RustSDK       struct{ Version, Edition, RustVersion string }
	RustNativeSDK struct{ Version, Edition, RustVersion string }
	// LibName is Name as a Rust library's name (dashes become
	// underscores): a cdylib's file is libLIBNAME.so.
	LibName string
}

func newData(o Options) (data, error) {
	d := data{Name: o.Name, Version: Version, GoVersion: goVersion, AirlockModule: Module, AirlockVersion: o.AirlockVersion,
		LibName: strings.ReplaceAll(o.Name, "-", "_")}
	if d.AirlockVersion == "" {
		d.AirlockVersion = ModuleVersion()
	}
	d.AirlockDevel = d.AirlockVersion == DevelVersion
	var pkg struct {
		Version string
		Engines struct{ Node string }
	}
	if err := readSDK("typescript/package.json", json.Unmarshal, &pkg); err != nil {
		return d, err
	}
	d.TypeScriptSDK.Version, d.TypeScriptSDK.Node = pkg.Version, pkg.Engines.Node
	var crate struct {
		Package struct {
			Version, Edition string
			RustVersion      string `toml:"rust-version"`
		}
	}
	if err := readSDK("rust/Cargo.toml", toml.Unmarshal, &crate); err != nil {
		return d, err
	}
	d.RustSDK.Version, d.RustSDK.Edition, d.RustSDK.RustVersion = crate.Package.Version, crate.Package.Edition, crate.Package.RustVersion
	crate.Package.Version, crate.Package.Edition, crate.Package.RustVersion = "", "", ""
	if err := readSDK("rust-native/Cargo.toml", toml.Unmarshal, &crate); err != nil {
		return d, err
	}
	d.RustNativeSDK.Version, d.RustNativeSDK.Edition, d.RustNativeSDK.RustVersion = crate.Package.Version, crate.Package.Edition, crate.Package.RustVersion
	return d, nil
}

// readSDK decodes one of the embedded SDK's files.
func readSDK(name string, decode func([]byte, any) error, v any) error {
	b, err := sdk.Files.ReadFile(name)
	if err == nil {
		err = decode(b, v)
	}
	if err != nil {
		return fmt.Errorf("scaffold: the embedded SDK's %s: %w", name, err)
	}
	return nil
}

// ModuleVersion returns the version of the Airlock module this program was
// built from, when a module proxy could serve it (it was installed with
// `go install github.com/airlock-go/airlock/cmd/airlock@VERSION`), or else
// the zero pseudo-version, which a Go plugin must replace with a checkout.
func ModuleVersion() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return DevelVersion
	}
	v := bi.Main.Version
	if bi.Main.Path != Module {
		for _, dep := range bi.Deps {
			if dep.Path == Module {
				v = dep.Version
			}
		}
	}
	// "(devel)", or a version stamped from a checkout with changes
	// ("+dirty"), names nothing a proxy has.
	if !strings.HasPrefix(v, "v") || strings.Contains(v, "+") {
		return DevelVersion
	}
	return v
}
