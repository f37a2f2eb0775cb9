// Package privdir makes and checks directories whose contents the host
// will execute or trust: the wasm compilation cache and the directories
// verified packages are unpacked into.
package privdir

import (
	"fmt"
	"os"
)

// Ensure creates dir (mode 0700) if needed and checks that only the host's
// user can write to it (threat: another user planting machine code or
// files the host would then run).
func Ensure(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	st, err := os.Stat(dir)
	if err != nil {
		return err
	}
	if err := checkOwner(st); err != nil {
		return fmt.Errorf("%s: %w", dir, err)
	}
	if err := checkMode(st); err != nil {
		return fmt.Errorf("%s %w", dir, err)
	}
	return nil
}
