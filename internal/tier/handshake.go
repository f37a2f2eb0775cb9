package tier

import (
	"fmt"
	"slices"
	"strings"

	"github.com/airlock-go/airlock/internal/manifest"
	"github.com/airlock-go/airlock/protocol"
)

// checkHandshake verifies that the plugin is what its manifest says
// (threat: a plugin that claims hooks its operator never saw in the
// manifest, or an entry swapped for another plugin's binary).
func checkHandshake(m *manifest.Manifest, r protocol.InitializeResult) error {
	var probs []string
	if r.Protocol != manifest.ProtocolVersion {
		probs = append(probs, fmt.Sprintf("answered protocol %d, expected %d", r.Protocol, manifest.ProtocolVersion))
	}
	if r.Name != m.Name {
		probs = append(probs, fmt.Sprintf("says its name is %q, manifest says %q", r.Name, m.Name))
	}
	if r.Version != m.Version {
		probs = append(probs, fmt.Sprintf("says its version is %q, manifest says %q", r.Version, m.Version))
	}
	declared := append(slices.Clone(m.Hooks), m.Functions...)
	for _, h := range declared {
		if !slices.Contains(r.Hooks, h) {
			probs = append(probs, fmt.Sprintf("does not implement %q, which its manifest declares", h))
		}
	}
	for _, h := range r.Hooks {
		if !slices.Contains(declared, h) {
			probs = append(probs, fmt.Sprintf("implements %q, which its manifest does not declare", h))
		}
	}
	if len(probs) > 0 {
		return fmt.Errorf("%w: plugin %s", ErrHandshake, strings.Join(probs, "; "))
	}
	return nil
}
