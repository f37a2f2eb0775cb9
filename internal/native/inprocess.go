package native

import (
	"github.com/airlock-go/airlock/internal/inproc"
	"github.com/airlock-go/airlock/internal/tier"
)

// startInProcess loads the library into the host's process and runs it as
// a builtin plugin runs (internal/inproc): it cannot be killed, so a call
// past its deadline returns an error to its caller and keeps its slot
// until the library returns.
func startInProcess(spec tier.Spec, libPath string) (tier.Instance, error) {
	lib, err := Load(libPath, spec.Name)
	if err != nil {
		return nil, err
	}
	return inproc.Start(spec, lib.Plugin(), "native plugin")
}
