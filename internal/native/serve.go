package native

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/airlock-go/airlock/internal/tier"
)

// serveArg is the first argument of the host's executable started to serve
// a library: os.Args is [exe, serveArg, library].
const serveArg = "airlock-native-serve"

func init() {
	// Only the child of startContained takes this path; a normal start of
	// the host returns at once. It runs before the host's main package
	// initialises anything.
	if len(os.Args) == 3 && os.Args[1] == serveArg {
		os.Exit(serve(os.Args[2]))
	}
}

// serve loads the library in this (already confined) process and speaks
// the protocol for it on standard input and output, as any process plugin.
func serve(lib string) int {
	l, err := Load(lib, filepath.Base(lib))
	if err != nil {
		fmt.Fprintf(os.Stderr, "airlock native: %v\n", err)
		return 1
	}
	l.Plugin().Main()
	return 0 // Main exits
}

// startContained starts the host's own executable through the process
// tier, so the sandbox, limits, supervision and protocol are the process
// tier's, with the library as the plugin. The child's command line names
// the library; it loads it only after the launcher has confined it.
func (s Starter) startContained(ctx context.Context, spec tier.Spec, lib string) (tier.Instance, error) {
	if spec.Entry != "" {
		// The sandbox lets the child read the plugin's directory, not an
		// operator's entry elsewhere.
		return nil, fmt.Errorf("%w: native plugin %s: entry overrides are for isolation = %q only", tier.ErrStart, spec.Name, InProcess)
	}
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("%w: native plugin %s: find the host's executable: %v", tier.ErrStart, spec.Name, err)
	}
	if real, err := filepath.EvalSymlinks(exe); err == nil {
		exe = real
	}
	spec.Entry = exe // read-only in the sandbox, like any operator entry
	spec.Args = []string{serveArg, lib}
	return s.Process.Start(ctx, spec)
}
