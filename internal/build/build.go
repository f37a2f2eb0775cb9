// Package build runs a plugin's [build] command, for the CLI's build and
// call commands and for the demo. The host library never builds plugins.
package build

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/airlock-go/airlock/internal/manifest"
)

// Run runs the manifest's build command in the plugin's directory, with
// the user's environment plus the manifest's build env, writing the build's
// output to out. It checks that the build produced the entry.
//
// # Notes
//
// The build runs with the user's own privileges, like make: build only
// plugins whose source you trust.
func Run(ctx context.Context, man *manifest.Manifest, out io.Writer) error {
	if man.Build == nil {
		return fmt.Errorf("plugin %s: %s has no [build] command", man.Name, man.File)
	}
	argv := man.Build.Command
	fmt.Fprintf(out, "airlock: building %s: %s\n", man.Name, strings.Join(argv, " "))
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir = man.Dir
	cmd.Env = append(os.Environ(), man.Build.Env...)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Run(); err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return fmt.Errorf("plugin %s: build failed: %s exited with status %d", man.Name, argv[0], ee.ExitCode())
		}
		return fmt.Errorf("plugin %s: build: %w", man.Name, err)
	}
	if !EntryExists(man) {
		return fmt.Errorf("plugin %s: the build ran but did not produce the entry %s", man.Name, man.RunHere().Entry)
	}
	return nil
}

// EntryExists reports whether the plugin's entry for this platform exists.
func EntryExists(man *manifest.Manifest) bool {
	_, err := os.Stat(filepath.Join(man.Dir, filepath.FromSlash(man.RunHere().Entry)))
	return err == nil
}

// IfMissing builds the plugin when its entry does not exist yet and its
// manifest says how to build it.
func IfMissing(ctx context.Context, man *manifest.Manifest, out io.Writer) error {
	if man.Tier == manifest.TierBuiltin || man.Build == nil || EntryExists(man) {
		return nil
	}
	return Run(ctx, man, out)
}
