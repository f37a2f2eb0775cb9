package airlock

import (
	"context"
	"fmt"

	"github.com/airlock-go/airlock/internal/inproc"
	"github.com/airlock-go/airlock/internal/manifest"
	"github.com/airlock-go/airlock/internal/tier"
	"github.com/airlock-go/airlock/sdk/go/plugin"
)

// Builtin is a plugin compiled into the host: Go code with full trust,
// written with the same SDK as a process plugin, so it can move between
// tiers by changing only its build. It still has a manifest, still gets
// only the host functions its grants allow, and still receives copies of
// its inputs.
type Builtin struct {
	// Manifest is the plugin's plugin.toml, with tier = "builtin".
	Manifest string
	// Plugin holds its handlers.
	Plugin *plugin.Plugin
}

func (b Builtin) manifest(name string) (*manifest.Manifest, error) {
	man, err := manifest.Parse("builtin "+name+" manifest", []byte(b.Manifest))
	if err != nil {
		return nil, manifestError(err)
	}
	if man.Tier != manifest.TierBuiltin {
		return nil, fmt.Errorf("%w: builtin %s: tier must be \"builtin\", not %q", ErrInvalidManifest, name, man.Tier)
	}
	if b.Plugin == nil {
		return nil, fmt.Errorf("%w: builtin %s has no Plugin", ErrInvalidConfig, name)
	}
	return man, nil
}

// builtinStarter runs builtin plugins in the host's own process.
type builtinStarter struct {
	builtins map[string]Builtin
}

func (s builtinStarter) Start(_ context.Context, spec tier.Spec) (tier.Instance, error) {
	var b Builtin
	for _, cand := range s.builtins {
		if cand.Plugin != nil && cand.Plugin.Name() == spec.Name {
			b = cand
		}
	}
	if b.Plugin == nil {
		return nil, fmt.Errorf("%w: no builtin plugin %s", tier.ErrStart, spec.Name)
	}
	// The builtin's host calls go through the same grant checks as any
	// other plugin's (spec.Host); internal/inproc bounds its calls and
	// keeps each caller's deadline.
	return inproc.Start(spec, b.Plugin, "builtin")
}
