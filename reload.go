package airlock

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"

	"github.com/airlock-go/airlock/internal/manifest"
)

// Reload applies a changed configuration without dropping calls: a new
// version of a plugin, changed grants, settings or limits, plugins added
// and removed, and the host-wide policy (limits, restarts, trust, hook
// policies) for what it starts.
//
// For each plugin of cfg that is new or differs from the one running (its
// configuration, its manifest or its code), Reload starts the new instance
// and waits for its handshake while the old one goes on serving; then new
// calls go to the new instance, the old one's calls in flight finish on it,
// and it is stopped. A plugin that fails to start keeps the old one
// serving, and its error is in Reload's error. A plugin unchanged and
// running is left alone; a disabled one is started afresh (re-enabled).
// Plugins no longer in cfg are stopped once their calls have finished,
// unless a plugin of cfg could not be read far enough to tell which
// running plugin it replaces (a package that fails verification, say):
// then none is stopped, since it may be the one being replaced.
//
// Reload returns when every old instance has stopped. If ctx ends first,
// the old instances still draining are stopped at once, which cancels
// their calls in flight. Its error joins every plugin's, each a
// *PluginError. One Reload runs at a time.
func (h *Host) Reload(ctx context.Context, cfg *Config) error {
	h.reloadMu.Lock()
	defer h.reloadMu.Unlock()
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return ErrClosed
	}
	h.policy = policyOf(cfg)
	h.mu.Unlock()

	var errs []error
	keep := map[string]bool{}
	unknown := false // a plugin of cfg failed before it could be named
	var retire []*loadedPlugin
	for _, conf := range cfg.Plugins {
		if conf.Disabled {
			continue
		}
		name, old, err := h.reloadOne(ctx, conf)
		if name != "" {
			keep[name] = true
		}
		if err != nil {
			errs = append(errs, err)
			unknown = unknown || name == ""
		}
		if old != nil {
			retire = append(retire, old)
		}
	}
	h.mu.Lock()
	for name, p := range h.plugins {
		if keep[name] {
			continue
		}
		if unknown {
			// Threat: a broken new release (at a new path) taking the
			// running one down with it.
			h.log.Warn("plugin kept running although the new configuration does not name it: a plugin in it could not be read, and may be its replacement", "plugin", name)
			continue
		}
		delete(h.plugins, name)
		retire = append(retire, p)
	}
	h.mu.Unlock()
	for _, p := range retire {
		p.retire(ctx)
	}
	return errors.Join(errs...)
}

// reloadOne brings one plugin to conf. It returns the plugin's name (to
// keep), the instance it replaced (to retire), and its error. A plugin
// whose configuration cannot even be read keeps running under the name
// of the old plugin at the same place.
func (h *Host) reloadOne(ctx context.Context, conf PluginConfig) (string, *loadedPlugin, error) {
	src, p, err := h.prepare(ctx, conf)
	if err != nil {
		return h.nameAt(conf, err), nil, err
	}
	h.mu.RLock()
	old := h.plugins[p.name]
	h.mu.RUnlock()
	p.code = codeVersion(src)
	if old != nil && !old.disabled() && old.same(p) {
		src.cleanup()
		return p.name, nil, nil
	}
	if err := h.kv.openFor(p); err != nil { // kv.go
		src.cleanup()
		return p.name, nil, &PluginError{Plugin: p.name, Op: OpLoad, Err: err}
	}
	if err := p.begin(ctx, src); err != nil {
		return p.name, nil, err // the old one, if any, goes on serving
	}
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		p.stop(context.WithoutCancel(ctx))
		return p.name, nil, &PluginError{Plugin: p.name, Op: OpLoad, Err: ErrClosed}
	}
	h.plugins[p.name] = p
	h.mu.Unlock()
	if old != nil {
		old.mu.Lock()
		old.next = p
		old.mu.Unlock()
		p.log.Info("plugin reloaded", "version", p.manifest.Version, "was", old.manifest.Version)
	}
	return p.name, old, nil
}

// nameAt finds the running plugin that conf, which failed with err
// before it could start, was meant for: the one its manifest names (err
// names it once the manifest was read), the one conf names, or the one
// loaded from the same place. It returns "" if there is none.
func (h *Host) nameAt(conf PluginConfig, err error) string {
	h.mu.RLock()
	defer h.mu.RUnlock()
	var pe *PluginError
	if errors.As(err, &pe) && h.plugins[pe.Plugin] != nil {
		return pe.Plugin
	}
	if conf.Name != "" && h.plugins[conf.Name] != nil {
		return conf.Name
	}
	for name, p := range h.plugins {
		if p.cfg.Path == conf.Path && p.cfg.Package == conf.Package && p.cfg.Builtin == conf.Builtin {
			return name
		}
	}
	return ""
}

// same reports whether p, about to be started, is what old already runs:
// the same configuration, limits, restart policy, manifest and code.
func (old *loadedPlugin) same(p *loadedPlugin) bool {
	return reflect.DeepEqual(old.cfg, p.cfg) && reflect.DeepEqual(old.spec.Limits, p.spec.Limits) &&
		old.policy == p.policy && reflect.DeepEqual(old.manifest, p.manifest) &&
		old.code != "" && old.code == p.code
}

// codeVersion identifies the code a source runs, for Reload to see a new
// version: a digest of a package's verified entry or of a wasm module,
// and for a directory's entry file, its size and modification time (a
// rebuild changes them; hashing a large executable at every load would
// cost more). It is "" when the code cannot be read (Reload then restarts
// the plugin).
func codeVersion(src *source) string {
	var data []byte
	switch {
	case src.code != nil:
		data = src.code
	case src.starter != nil:
		if fs, ok := src.starter.(*freshStarter); ok {
			data = fs.bundle.Entry()
		}
	case src.dir != "":
		fi, err := os.Stat(filepath.Join(src.dir, filepath.FromSlash(src.manifest.RunHere().Entry)))
		if err != nil {
			return ""
		}
		return fmt.Sprintf("file %d %d", fi.Size(), fi.ModTime().UnixNano())
	case src.manifest.Tier == manifest.TierBuiltin:
		return "builtin"
	}
	if data == nil {
		return ""
	}
	sum := sha256.Sum256(data)
	return "sha256 " + hex.EncodeToString(sum[:])
}

// enter admits a call unless the plugin is retired, and returns what
// the call finds of it (under the same lock: one lock a call less).
func (p *loadedPlugin) enter() (current, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.retired {
		return current{}, false
	}
	p.inflight++
	return p.current(), true
}

// leave ends a call admitted by enter.
func (p *loadedPlugin) leave() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.inflight--
	if p.retired && p.inflight == 0 {
		close(p.drained)
	}
}

// successor is the plugin that replaced a retired one, if any.
func (p *loadedPlugin) successor() *loadedPlugin {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.next
}

// retire stops new calls (they go to the successor), waits for the calls
// in flight to finish (within ctx) and stops the plugin.
func (p *loadedPlugin) retire(ctx context.Context) {
	p.mu.Lock()
	if !p.retired {
		p.retired = true
		if p.inflight == 0 {
			close(p.drained)
		}
	}
	p.mu.Unlock()
	select {
	case <-p.drained:
	case <-ctx.Done():
	}
	p.stop(context.WithoutCancel(ctx))
}

// Enable starts a disabled plugin afresh, with its crash count reset, as
// a Reload with an unchanged configuration would. It does nothing to a
// plugin that is not disabled.
func (h *Host) Enable(ctx context.Context, name string) error {
	h.mu.RLock()
	p := h.plugins[name]
	h.mu.RUnlock()
	if p == nil {
		return &PluginError{Plugin: name, Op: OpLoad, Err: ErrUnknownPlugin}
	}
	if !p.disabled() {
		return nil
	}
	h.reloadMu.Lock()
	defer h.reloadMu.Unlock()
	_, old, err := h.reloadOne(ctx, p.cfg)
	if old != nil {
		old.retire(ctx)
	}
	return err
}
