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
		probs = append(probs, fmt.Sprintf("says its name is %s, manifest says %q", quoteCut(r.Name), m.Name))
	}
	if r.Version != m.Version {
		probs = append(probs, fmt.Sprintf("says its version is %s, manifest says %q", quoteCut(r.Version), m.Version))
	}
	declared := append(slices.Clone(m.Hooks), m.Functions...)
	for _, h := range declared {
		if !slices.Contains(r.Hooks, h) {
			probs = append(probs, fmt.Sprintf("does not implement %q, which its manifest declares", h))
		}
	}
	extra := 0
	for _, h := range r.Hooks {
		if !slices.Contains(declared, h) {
			// Threat: a handshake naming thousands of hooks, or names
			// megabytes long, making an error (logged again at each
			// restart) megabytes long: a few are named, the rest counted.
			if extra++; extra <= maxHandshakeExtras {
				probs = append(probs, fmt.Sprintf("implements %s, which its manifest does not declare", quoteCut(h)))
			}
		}
	}
	if extra > maxHandshakeExtras {
		probs = append(probs, fmt.Sprintf("implements %d more hooks or functions its manifest does not declare", extra-maxHandshakeExtras))
	}
	if len(probs) > 0 {
		return fmt.Errorf("%w: plugin %s", ErrHandshake, strings.Join(probs, "; "))
	}
	return nil
}

// Bounds of what a handshake error quotes of the plugin's answer.
const (
	maxHandshakeExtras = 10
	maxHandshakeQuote  = 128
)

// quoteCut quotes s, a value of the plugin's, cut at maxHandshakeQuote
// bytes (an ellipsis after the quote says it was cut).
func quoteCut(s string) string {
	if len(s) <= maxHandshakeQuote {
		return fmt.Sprintf("%q", s)
	}
	return fmt.Sprintf("%q...", strings.ToValidUTF8(s[:maxHandshakeQuote], ""))
}
