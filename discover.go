package airlock

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/airlock-go/airlock/internal/manifest"
)

// Candidate is a plugin found by Discover, with the host's verdict on it.
type Candidate struct {
	// Config is what Load takes to load it: Path or Package is where it
	// was found; the rest is the operator's configuration for it.
	Config PluginConfig
	// Name, Version and Tier are from its manifest: empty when the
	// manifest could not be read, and, for a package, as the package says
	// (trust them only when Err is nil).
	Name    string
	Version string
	Tier    Tier
	// Err is nil when the host would load the plugin; otherwise it is
	// the error Load would return, saying exactly why, and it matches
	// with errors.Is: ErrNotTrusted (unsigned, untrusted or revoked key,
	// revoked digest, tampered package), ErrMissingGrant, ErrContract,
	// ErrPlatform, ErrInvalidManifest or ErrInvalidConfig.
	Err error
}

// Discover scans dirs for plugins and says, for each, whether this host
// would load it and, if not, exactly why, without starting anything. It
// finds a directory holding a plugin.toml, its subdirectories that hold
// one, and its packages (*.tar.gz, with their .minisig signatures).
//
// configFor gives the operator's configuration for a plugin by its
// manifest's name (its grants, settings, signature pins and limits); nil
// gives every plugin an empty one (no grants). Discover sets Path or
// Package itself. The host's trust policy and contract apply, as they do
// to Load: the verdict is Load's, and a host loads what Discover admits
// with Load(ctx, c.Config).
//
// The error is for the scan itself (a directory that cannot be read);
// each plugin's problem is in its Candidate.
func (h *Host) Discover(ctx context.Context, configFor func(name string) PluginConfig, dirs ...string) ([]Candidate, error) {
	var found []PluginConfig
	for _, dir := range dirs {
		locs, err := scanDir(dir)
		if err != nil {
			return nil, fmt.Errorf("%w: discover: %v", ErrInvalidConfig, err)
		}
		found = append(found, locs...)
	}
	out := make([]Candidate, 0, len(found))
	for _, loc := range found {
		if err := ctx.Err(); err != nil {
			return out, err
		}
		out = append(out, h.judge(ctx, loc, configFor))
	}
	return out, nil
}

// judge runs Load's checks on the plugin at loc.
func (h *Host) judge(ctx context.Context, loc PluginConfig, configFor func(string) PluginConfig) Candidate {
	c := Candidate{}
	if man := h.peek(ctx, loc); man != nil {
		c.Name, c.Version, c.Tier = man.Name, man.Version, Tier(man.Tier)
	}
	conf := PluginConfig{}
	if configFor != nil && c.Name != "" {
		conf = configFor(c.Name)
	}
	conf.Path, conf.Package, conf.Builtin = loc.Path, loc.Package, ""
	c.Config = conf
	src, _, err := h.prepare(ctx, conf)
	if err != nil {
		c.Err = err
		return c
	}
	defer src.cleanup()
	c.Name, c.Version, c.Tier = src.manifest.Name, src.manifest.Version, Tier(src.manifest.Tier)
	return c
}

// peek reads a plugin's manifest before it is verified, to find the
// operator's configuration for it and to describe it; the verification
// that follows checks the name the package was signed with. It returns nil
// for a manifest that cannot be read.
func (h *Host) peek(ctx context.Context, loc PluginConfig) *manifest.Manifest {
	if loc.Path != "" {
		man, _ := manifest.Load(loc.Path)
		return man
	}
	data, err := readBounded(loc.Package, 512<<20)
	if err != nil {
		return nil
	}
	b, err := h.openBundle(ctx, loc, data)
	if err != nil {
		return nil
	}
	return b.Manifest
}

// scanDir lists the plugins in dir: dir itself when it holds a manifest,
// else its subdirectories holding one and its packages, sorted by name.
func scanDir(dir string) ([]PluginConfig, error) {
	if isPluginDir(dir) {
		return []PluginConfig{{Path: dir}}, nil
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []PluginConfig
	for _, e := range entries {
		path := filepath.Join(dir, e.Name())
		switch {
		case e.IsDir() && isPluginDir(path):
			out = append(out, PluginConfig{Path: path})
		case e.Type().IsRegular() && strings.HasSuffix(e.Name(), ".tar.gz"):
			out = append(out, PluginConfig{Package: path})
		}
	}
	slices.SortFunc(out, func(a, b PluginConfig) int { return strings.Compare(a.label(), b.label()) })
	return out, nil
}

func isPluginDir(dir string) bool {
	fi, err := os.Stat(filepath.Join(dir, manifest.FileName))
	return err == nil && fi.Mode().IsRegular()
}
