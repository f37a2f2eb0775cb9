package native

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/airlock-go/airlock/internal/tier"
)

// Isolation modes of a native plugin, chosen by the operator.
const (
	InProcess = "in-process" // the default: loaded into the host, full trust
	Process   = "process"    // loaded by a sandboxed child, over the protocol
)

// Starter starts native plugins.
type Starter struct {
	// Process starts the sandboxed child of isolation = "process": the
	// process tier's starter.
	Process tier.Starter
}

// Start loads the library the manifest names, in the host or in a
// sandboxed child as spec.Isolation says.
func (s Starter) Start(ctx context.Context, spec tier.Spec) (tier.Instance, error) {
	lib := filepath.Join(spec.Dir, filepath.FromSlash(spec.Manifest.RunHere().Entry))
	if spec.Entry != "" {
		lib = spec.Entry
	}
	if len(spec.Args) > 0 {
		return nil, fmt.Errorf("%w: native plugin %s: args are for process plugins; a library takes none", tier.ErrStart, spec.Name)
	}
	if _, err := os.Stat(lib); err != nil {
		hint := ""
		if spec.Manifest.Build != nil {
			hint = " (build it first: airlock build " + spec.Dir + ")"
		}
		return nil, fmt.Errorf("%w: native plugin %s: library %s%s: %v", tier.ErrStart, spec.Name, filepath.Base(lib), hint, err)
	}
	switch spec.Isolation {
	case "", InProcess:
		return startInProcess(spec, lib)
	case Process:
		return s.startContained(ctx, spec, lib)
	}
	return nil, fmt.Errorf("%w: native plugin %s: isolation %q: use %q or %q", tier.ErrStart, spec.Name, spec.Isolation, InProcess, Process)
}
