package main

import (
	"context"
	"fmt"
	"hash/fnv"
	"os"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/airlock-go/airlock"
)

// reloadSettle is how long serve --watch waits after the last change
// before it reloads: a build or an editor writes several files in turn.
const reloadSettle = 300 * time.Millisecond

// watchPoll is how often serve --watch also compares the watched files'
// names, sizes and times with what it saw last, for the file systems that
// lose change notifications (network and some container mounts; Wine's).
const watchPoll = 2 * time.Second

// serve keeps the host running until ctx ends; with o.watch, it reloads
// the host (Host.Reload: no call dropped) whenever host.toml or a
// plugin's directory changes, or has changed since seen, the snapshot of
// the watched files taken before the host read its configuration.
func (c *cli) serve(ctx context.Context, h *airlock.Host, o runOptions, seen uint64) error {
	fmt.Fprintf(c.stdout, "serving %d plugins from %s; interrupt to stop\n", len(h.Plugins()), o.config)
	if err := printPlugins(c.stdout, h.Plugins(), false); err != nil {
		return err
	}
	if !o.watch {
		<-ctx.Done()
		return nil
	}
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("watch: %w", err)
	}
	defer w.Close()
	watchPaths(w, o)
	poll := time.NewTicker(watchPoll)
	defer poll.Stop()
	events := w.Events
	if c.noNotify {
		events = nil
	}
	var settle <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-w.Errors:
			fmt.Fprintf(c.stderr, "airlock run: watch: %v\n", err)
		case ev := <-events:
			if ev.Op&(fsnotify.Write|fsnotify.Create|fsnotify.Rename|fsnotify.Remove) != 0 {
				settle = time.After(reloadSettle)
			}
		case <-poll.C:
			if now := snapshot(o); now != seen && settle == nil {
				settle = time.After(reloadSettle)
			}
		case <-settle:
			settle = nil
			seen = snapshot(o) // what this reload reads
			c.reload(ctx, h, o)
			watchPaths(w, o) // plugins added by the reload
		}
	}
}

// reload reads the configuration again and applies it; a failure is
// reported and the host goes on serving what it had.
func (c *cli) reload(ctx context.Context, h *airlock.Host, o runOptions) {
	cfg, err := c.readRunConfig(o)
	if err == nil {
		err = h.Reload(ctx, cfg)
	}
	if err != nil {
		fmt.Fprintf(c.stdout, "reload: %v\n", err)
	} else {
		fmt.Fprintln(c.stdout, "reloaded")
	}
	_ = printPlugins(c.stdout, h.Plugins(), false)
}

// watchPaths watches the configuration's directory (editors replace a file
// by renaming a new one over it), each plugin directory and its bin/, and
// the directory of each package: where the operator's files are, never
// the run directories the host unpacks packages into.
func watchPaths(w *fsnotify.Watcher, o runOptions) {
	for _, d := range watchedDirs(o) {
		if fi, err := os.Stat(d); err == nil && fi.IsDir() {
			_ = w.Add(d) // adding a watched directory again is a no-op
		}
	}
}

// watchedDirs are the directories serve --watch watches (watchPaths).
func watchedDirs(o runOptions) []string {
	dirs := []string{filepath.Dir(o.config)}
	if cfg, err := airlock.ReadConfig(o.config); err == nil {
		for _, pc := range cfg.Plugins {
			switch {
			case pc.Path != "":
				dirs = append(dirs, pc.Path, filepath.Join(pc.Path, "bin"))
			case pc.Package != "":
				dirs = append(dirs, filepath.Dir(pc.Package))
			}
		}
	}
	return dirs
}

// snapshot sums up the watched directories' entries (names, sizes, modes,
// modification times): it changes when one of them does. Each entry is
// stat'ed by its path: on Windows, DirEntry.Info answers from the
// directory listing, which can lag behind a file just rewritten (seen
// under wine: a changed host.toml never noticed).
func snapshot(o runOptions) uint64 {
	h := fnv.New64a()
	for _, d := range watchedDirs(o) {
		entries, _ := os.ReadDir(d)
		fmt.Fprintf(h, "%s\x00", d)
		for _, e := range entries {
			if fi, err := os.Lstat(filepath.Join(d, e.Name())); err == nil {
				fmt.Fprintf(h, "%s\x00%d\x00%v\x00%d\x00", e.Name(), fi.Size(), fi.Mode(), fi.ModTime().UnixNano())
			}
		}
	}
	return h.Sum64()
}
