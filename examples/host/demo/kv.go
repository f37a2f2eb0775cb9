package demo

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/airlock-go/airlock"
	"github.com/airlock-go/airlock/sdk/go/plugin"
)

// note is the input of a notebook's write and read.
type note struct {
	Key   string          `json:"key"`
	Value json.RawMessage `json:"value,omitempty"`
}

// found is kv.get's answer, as a notebook's read passes it on.
type found struct {
	Value json.RawMessage `json:"value"`
	Found bool            `json:"found"`
}

// notebook is a builtin that keeps notes in the host's kv store: write
// sets a key, read gets one, keys lists its keys. The demo loads it under
// two names to show that each plugin has its own namespace.
func notebook(name string) airlock.Builtin {
	p := plugin.New(name, "0.1.0")
	plugin.Handle(p, "write", func(ctx context.Context, h *plugin.Host, in note) (any, error) {
		return nil, h.Call(ctx, "kv.set", in, nil)
	})
	plugin.Handle(p, "read", func(ctx context.Context, h *plugin.Host, in note) (found, error) {
		var out found
		err := h.Call(ctx, "kv.get", map[string]string{"key": in.Key}, &out)
		return out, err
	})
	plugin.Handle(p, "keys", func(ctx context.Context, h *plugin.Host, _ any) (json.RawMessage, error) {
		var out json.RawMessage
		err := h.Call(ctx, "kv.list", map[string]string{}, &out)
		return out, err
	})
	return airlock.Builtin{Plugin: p, Manifest: fmt.Sprintf(`
name = %q
version = "0.1.0"
description = "Keeps notes in the host's kv store."
tier = "builtin"
protocol = 1
functions = ["write", "read", "keys"]
[capabilities]
required = ["kv"]
`, name)}
}

// kvHost opens a host whose kv store is the bbolt file path, with the
// notebook and snoop builtins loaded.
func (d *demo) kvHost(ctx context.Context, path string, names ...string) (*airlock.Host, error) {
	opts := d.hostOptions()
	opts.KVPath = path
	opts.Builtins = map[string]airlock.Builtin{"notebook": notebook("notebook"), "snoop": notebook("snoop")}
	h, err := airlock.Open(ctx, d.policy(), opts)
	if err != nil {
		return nil, err
	}
	for _, name := range names {
		if _, err := h.Load(ctx, airlock.PluginConfig{Builtin: name, Grants: []string{"kv"}}); err != nil {
			h.Close(context.WithoutCancel(ctx))
			return nil, err
		}
	}
	return h, nil
}

// kv has notebook write a note, closes the host, opens a new one on the
// same file and has notebook read the note back, and shows that another
// plugin, snoop, sees none of notebook's keys.
func (d *demo) kv(ctx context.Context) error {
	dir, err := os.MkdirTemp("", "airlock-demo-kv-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "kv.db")
	first, err := d.kvHost(ctx, path, "notebook")
	if err != nil {
		return err
	}
	in := note{Key: "alice", Value: json.RawMessage(`"owes 12.50"`)}
	_, err = first.Call(ctx, "notebook", "write", in)
	d.say("  host #1: notebook.write(%q, %s) → err=%v", in.Key, in.Value, err)
	first.Close(context.WithoutCancel(ctx))
	d.say("  host #1 closed. Host #2 opens the same file (%s):", filepath.Base(path))
	second, err := d.kvHost(ctx, path, "notebook", "snoop")
	if err != nil {
		return err
	}
	defer second.Close(context.WithoutCancel(ctx))
	for _, name := range []string{"notebook", "snoop"} {
		got, err := airlock.CallFunc[found](ctx, second, name, "read", note{Key: in.Key})
		if err != nil {
			return err
		}
		keys, err := airlock.CallFunc[struct{ Keys []string }](ctx, second, name, "keys", nil)
		if err != nil {
			return err
		}
		d.say("  host #2: %s.read(%q) → found=%v value=%s   (%s's keys: %q)", name, in.Key, got.Found, got.Value, name, keys.Keys)
	}
	d.say("  Each plugin has its own namespace in the file: snoop cannot name notebook's keys.")
	return nil
}
