package airlock_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/airlock-go/airlock"
)

// kvClient calls the kv host functions as the builtin plugin "kvuser".
type kvClient struct {
	t *testing.T
	h *airlock.Host
}

func newKVClient(t *testing.T, hostLimits, pluginLimits airlock.Limits) kvClient {
	t.Helper()
	h, _ := newHostWith(t, airlock.Config{Limits: hostLimits}, airlock.Options{Builtins: map[string]airlock.Builtin{"kvuser": hostCaller("kvuser", "kv")}})
	pluginLimits.HostCallsPerSecond = 1 << 20
	load(t, h, airlock.PluginConfig{Builtin: "kvuser", Grants: []string{"kv"}, Limits: pluginLimits})
	return kvClient{t, h}
}

func (c kvClient) call(fn string, in any) (json.RawMessage, error) {
	return c.h.Call(context.Background(), "kvuser", "call", map[string]any{"fn": fn, "input": in})
}

// set stores a JSON string of n bytes in all (quotes included).
func (c kvClient) set(key string, n int) error {
	_, err := c.call("kv.set", map[string]any{"key": key, "value": strings.Repeat("v", n-2)})
	return err
}

func (c kvClient) del(key string) {
	c.t.Helper()
	if _, err := c.call("kv.delete", map[string]any{"key": key}); err != nil {
		c.t.Fatal(err)
	}
}

// held returns the keys and the bytes of keys and values the store holds
// for the plugin, read back through kv.list and kv.get.
func (c kvClient) held() (keys int, bytes int) {
	c.t.Helper()
	raw, err := c.call("kv.list", map[string]any{})
	if err != nil {
		c.t.Fatal(err)
	}
	var list struct{ Keys []string }
	json.Unmarshal(raw, &list)
	for _, k := range list.Keys {
		raw, err := c.call("kv.get", map[string]any{"key": k})
		if err != nil {
			c.t.Fatal(err)
		}
		var got struct{ Value json.RawMessage }
		json.Unmarshal(raw, &got)
		bytes += len(k) + len(got.Value)
	}
	return len(list.Keys), bytes
}

func wantQuota(t *testing.T, err error, quota string) {
	t.Helper()
	if !errors.Is(err, airlock.ErrPluginFailed) || !strings.Contains(err.Error(), "plugin kvuser") || !strings.Contains(err.Error(), quota) {
		t.Errorf("err = %v, want an error naming plugin kvuser and %s", err, quota)
	}
}

// Each of the three quotas refuses what would pass it, with an error that
// names the plugin and the quota; overwriting and deleting free what the
// old value held. The host-wide limits are overridden by the plugin's.
func TestKVQuotas(t *testing.T) {
	c := newKVClient(t, airlock.Limits{KVMaxKeys: 100, KVMaxTotalBytes: 1 << 20},
		airlock.Limits{KVMaxKeys: 4, KVMaxValueBytes: 100, KVMaxTotalBytes: 300})
	t.Run("value", func(t *testing.T) {
		wantQuota(t, c.set("big", 101), "kv_max_value_bytes")
		if err := c.set("big", 100); err != nil {
			t.Fatal(err)
		}
		c.del("big")
	})
	t.Run("keys", func(t *testing.T) {
		for _, k := range []string{"a", "b", "c", "d"} {
			if err := c.set(k, 10); err != nil {
				t.Fatal(err)
			}
		}
		wantQuota(t, c.set("e", 10), "kv_max_keys")
		if err := c.set("a", 20); err != nil {
			t.Errorf("overwriting a key at the key quota: %v", err)
		}
		for _, k := range []string{"a", "b", "c", "d"} {
			c.del(k)
		}
	})
	t.Run("total", func(t *testing.T) {
		// Keys of 2 bytes: 3 × (2 + 90) = 276 bytes; a fourth is 368.
		for _, k := range []string{"k1", "k2", "k3"} {
			if err := c.set(k, 90); err != nil {
				t.Fatal(err)
			}
		}
		wantQuota(t, c.set("k4", 90), "kv_max_total_bytes")
		// Overwriting k1 with a smaller value frees the difference.
		if err := c.set("k1", 10); err != nil {
			t.Fatal(err)
		}
		if err := c.set("k4", 90); err != nil {
			t.Errorf("after overwriting with less: %v", err)
		}
		// Overwriting with more counts only the difference: 12 + 92 + 92 +
		// 92 = 288; growing k1 by 12 more bytes makes 300, exactly the
		// quota, and by 13 more makes 301.
		wantQuota(t, c.set("k1", 23), "kv_max_total_bytes")
		if err := c.set("k1", 22); err != nil {
			t.Errorf("up to the quota exactly: %v", err)
		}
		// Deleting frees what the key held.
		c.del("k2")
		if err := c.set("k5", 90); err != nil {
			t.Errorf("after deleting a key: %v", err)
		}
		for _, k := range []string{"k1", "k3", "k4", "k5"} {
			c.del(k)
		}
		if keys, n := c.held(); keys != 0 || n != 0 {
			t.Fatalf("after deleting everything: %d keys, %d bytes", keys, n)
		}
		// Deleting gave everything back.
		for _, k := range []string{"k1", "k2", "k3"} {
			if err := c.set(k, 90); err != nil {
				t.Errorf("after deleting everything: %v", err)
			}
		}
	})
	t.Run("process tier sees the error", func(t *testing.T) {
		h, _ := newHost(t, airlock.Options{})
		load(t, h, airlock.PluginConfig{Path: testPlugin(t), Grants: []string{"kv"}, Limits: airlock.Limits{KVMaxValueBytes: 10}})
		out, err := airlock.CallFunc[map[string]any](ctxT(t, 10*time.Second), h, "testplugin", "callhost",
			map[string]any{"fn": "kv.set", "input": map[string]any{"key": "k", "value": strings.Repeat("v", 20)}})
		if err != nil {
			t.Fatal(err)
		}
		if msg, _ := out["error"].(string); !strings.Contains(msg, "plugin testplugin") || !strings.Contains(msg, "kv_max_value_bytes") {
			t.Errorf("plugin saw %v", out)
		}
	})
}

// Many goroutines setting, overwriting and deleting at once never take the
// store past its quotas, and the accounting does not drift: once
// everything is deleted, the whole quota is free again.
func TestKVQuotaHammer(t *testing.T) {
	const (
		maxKeys    = 40
		maxTotal   = 3000
		goroutines = 16
		iterations = 150
	)
	c := newKVClient(t, airlock.Limits{}, airlock.Limits{KVMaxKeys: maxKeys, KVMaxValueBytes: 400, KVMaxTotalBytes: maxTotal})
	var wg sync.WaitGroup
	var mu sync.Mutex
	refused := map[string]int{}
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range iterations {
				key := fmt.Sprintf("k%02d", (g*7+i*13)%64)
				var err error
				switch {
				case i%10 == 9:
					_, err = c.call("kv.delete", map[string]any{"key": key})
				default:
					err = c.set(key, 2+(g*31+i*17)%390)
				}
				if err != nil {
					mu.Lock()
					switch msg := err.Error(); {
					case strings.Contains(msg, "kv_max_keys"):
						refused["kv_max_keys"]++
					case strings.Contains(msg, "kv_max_total_bytes"):
						refused["kv_max_total_bytes"]++
					default:
						refused[msg]++
					}
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	for what := range refused {
		if what != "kv_max_keys" && what != "kv_max_total_bytes" {
			t.Errorf("unexpected error: %s", what)
		}
	}
	if refused["kv_max_total_bytes"] == 0 {
		t.Errorf("the hammer never reached the total quota (refused: %v): make it harder", refused)
	}
	keys, n := c.held()
	if keys > maxKeys || n > maxTotal {
		t.Errorf("the store holds %d keys and %d bytes; quotas %d and %d", keys, n, maxKeys, maxTotal)
	}
	// Concurrent fillers without deletes: the total only grows, so an
	// overshoot by racing writers would stay visible.
	wg = sync.WaitGroup{}
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range iterations / 3 {
				_ = c.set(fmt.Sprintf("f%02d-%03d", g, i), 50+(g+i)%100)
			}
		}()
	}
	wg.Wait()
	if keys, n := c.held(); keys > maxKeys || n > maxTotal {
		t.Errorf("after concurrent fills the store holds %d keys and %d bytes; quotas %d and %d", keys, n, maxKeys, maxTotal)
	}
	// No drift: delete all but one key; exactly the rest of the quota is
	// free again, in values of 400 bytes under keys of 2.
	raw, _ := c.call("kv.list", map[string]any{})
	var list struct{ Keys []string }
	json.Unmarshal(raw, &list)
	for _, k := range list.Keys[1:] {
		c.del(k)
	}
	_, kept := c.held()
	fit := 0
	for ; fit < maxKeys; fit++ {
		if err := c.set(fmt.Sprintf("z%d", fit), 400); err != nil {
			wantQuota(t, err, "kv_max_total_bytes")
			break
		}
	}
	if want := (maxTotal - kept) / 402; fit != want {
		t.Errorf("with %d bytes held, %d values of 402 bytes fit; want %d", kept, fit, want)
	}
}
