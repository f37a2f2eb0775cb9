package airlock_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
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
		iterations = 60
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

// kvHost opens a host whose builtin plugins, one per name, may call the kv
// host functions, with the built-in store at path.
func kvHost(t *testing.T, path string, limits airlock.Limits, names ...string) *airlock.Host {
	t.Helper()
	builtins := map[string]airlock.Builtin{}
	for _, n := range names {
		builtins[n] = hostCaller(n, "kv")
	}
	h, err := airlock.Open(context.Background(), &airlock.Config{}, airlock.Options{Logger: quietLogger(), Builtins: builtins, KVPath: path})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		limits.HostCallsPerSecond = 1 << 20
		if _, err := h.Load(context.Background(), airlock.PluginConfig{Builtin: n, Grants: []string{"kv"}, Limits: limits}); err != nil {
			h.Close(context.Background())
			t.Fatal(err)
		}
	}
	return h
}

// kvCall calls host function fn as plugin.
func kvCall(h *airlock.Host, plugin, fn string, in any) (map[string]any, error) {
	return airlock.CallFunc[map[string]any](context.Background(), h, plugin, "call", map[string]any{"fn": fn, "input": in})
}

func mustKV(t *testing.T, h *airlock.Host, plugin, fn string, in any) map[string]any {
	t.Helper()
	out, err := kvCall(h, plugin, fn, in)
	if err != nil {
		t.Fatalf("%s %s(%v): %v", plugin, fn, in, err)
	}
	return out
}

func kvGet(t *testing.T, h *airlock.Host, plugin, key string) any {
	t.Helper()
	out := mustKV(t, h, plugin, "kv.get", map[string]any{"key": key})
	if out["found"] != true {
		return "<absent>"
	}
	return out["value"]
}

// What a plugin stores survives the host: closed and opened again on the
// same file, it reads the value back, and the quotas count what is
// already on disk.
func TestKVSurvivesRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state", "kv.db")
	h := kvHost(t, path, airlock.Limits{}, "kvuser")
	mustKV(t, h, "kvuser", "kv.set", map[string]any{"key": "cursor", "value": map[string]any{"offset": 42}})
	mustKV(t, h, "kvuser", "kv.set", map[string]any{"key": "other", "value": 1})
	if err := h.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	h = kvHost(t, path, airlock.Limits{KVMaxKeys: 2}, "kvuser")
	defer h.Close(context.Background())
	if got, _ := json.Marshal(kvGet(t, h, "kvuser", "cursor")); string(got) != `{"offset":42}` {
		t.Errorf("after a restart: %s", got)
	}
	_, err := kvCall(h, "kvuser", "kv.set", map[string]any{"key": "third", "value": 1})
	if err == nil || !strings.Contains(err.Error(), "kv_max_keys") {
		t.Errorf("a third key over a quota of 2 held on disk: %v", err)
	}
}

// A plugin can never see another's namespace: two plugins with the same
// keys each read their own, list their own, delete and swap their own, and
// keys built to escape (paths, NUL bytes, the other's name, the store's
// bucket names) reach nothing else.
func TestKVNamespaces(t *testing.T) {
	for _, path := range []string{"-", "kv.db"} {
		t.Run(path, func(t *testing.T) {
			if path != "-" {
				path = filepath.Join(t.TempDir(), path)
			}
			h := kvHost(t, path, airlock.Limits{}, "alpha", "beta")
			defer h.Close(context.Background())
			keys := []string{"k", "../beta/k", "..", "/", "\x00", "beta", "beta\x00k", "ns", "usage", "../../usage/beta"}
			for _, k := range keys {
				mustKV(t, h, "alpha", "kv.set", map[string]any{"key": k, "value": "alpha"})
			}
			mustKV(t, h, "beta", "kv.set", map[string]any{"key": "k", "value": "beta"})
			for _, k := range keys {
				if got := kvGet(t, h, "alpha", k); got != "alpha" {
					t.Errorf("alpha's %q = %v", k, got)
				}
				want := map[bool]any{true: "beta", false: "<absent>"}[k == "k"]
				if got := kvGet(t, h, "beta", k); got != want {
					t.Errorf("beta's %q = %v, want %v", k, got, want)
				}
			}
			if out := mustKV(t, h, "beta", "kv.list", map[string]any{}); fmt.Sprint(out["keys"]) != "[k]" {
				t.Errorf("beta lists %v", out["keys"])
			}
			mustKV(t, h, "beta", "kv.delete", map[string]any{"key": "../alpha/k"})
			mustKV(t, h, "beta", "kv.delete", map[string]any{"key": "k"})
			if got := kvGet(t, h, "alpha", "k"); got != "alpha" {
				t.Errorf("after beta deleted its k: alpha's k = %v", got)
			}
			if out := mustKV(t, h, "beta", "kv.cas", map[string]any{"key": "k", "old": "alpha", "new": "stolen"}); out["swapped"] != false {
				t.Errorf("beta swapped alpha's value: %v", out)
			}
			if out := mustKV(t, h, "alpha", "kv.list", map[string]any{}); len(out["keys"].([]any)) != len(keys) {
				t.Errorf("alpha lists %v", out["keys"])
			}
		})
	}
}

// kv.cas: an absent old means the key must not exist, null is a value;
// an absent new deletes; values compare as compact JSON.
func TestKVCompareAndSet(t *testing.T) {
	h := kvHost(t, filepath.Join(t.TempDir(), "kv.db"), airlock.Limits{KVMaxValueBytes: 20}, "kvuser")
	defer h.Close(context.Background())
	steps := []struct {
		in    map[string]any
		want  bool
		after any
	}{
		{map[string]any{"key": "k", "old": 1, "new": 2}, false, "<absent>"},
		{map[string]any{"key": "k", "new": map[string]any{"a": 1, "b": []int{1}}}, true, map[string]any{"a": 1.0, "b": []any{1.0}}},
		{map[string]any{"key": "k", "new": 3}, false, map[string]any{"a": 1.0, "b": []any{1.0}}},
		{map[string]any{"key": "k", "old": json.RawMessage(`{ "a" : 1, "b": [ 1 ] }`), "new": nil}, true, nil},
		{map[string]any{"key": "k", "new": 4}, false, nil},
		{map[string]any{"key": "k", "old": nil}, true, "<absent>"},
		{map[string]any{"key": "k", "old": nil, "new": 5}, false, "<absent>"},
	}
	for i, st := range steps {
		out := mustKV(t, h, "kvuser", "kv.cas", st.in)
		if out["swapped"] != st.want {
			t.Errorf("step %d %v: swapped = %v, want %v", i, st.in, out["swapped"], st.want)
		}
		if got := kvGet(t, h, "kvuser", "k"); fmt.Sprint(got) != fmt.Sprint(st.after) {
			t.Errorf("step %d: value %v, want %v", i, got, st.after)
		}
	}
	_, err := kvCall(h, "kvuser", "kv.cas", map[string]any{"key": "k", "new": strings.Repeat("v", 30)})
	if err == nil || !strings.Contains(err.Error(), "plugin kvuser") || !strings.Contains(err.Error(), "kv_max_value_bytes") {
		t.Errorf("kv.cas over the value quota: %v", err)
	}
}

func TestKVListPrefix(t *testing.T) {
	h := kvHost(t, filepath.Join(t.TempDir(), "kv.db"), airlock.Limits{}, "kvuser")
	defer h.Close(context.Background())
	for _, k := range []string{"user/2", "user/1", "job/1", "users"} {
		mustKV(t, h, "kvuser", "kv.set", map[string]any{"key": k, "value": 1})
	}
	for prefix, want := range map[string]string{"": "[job/1 user/1 user/2 users]", "user/": "[user/1 user/2]", "x": "[]"} {
		if out := mustKV(t, h, "kvuser", "kv.list", map[string]any{"prefix": prefix}); fmt.Sprint(out["keys"]) != want {
			t.Errorf("kv.list %q = %v, want %s", prefix, out["keys"], want)
		}
	}
}

// Two hosts on one file: the second cannot load a plugin holding "kv" and
// says why and which file; a plugin without "kv" does not need the file.
func TestKVFileHeldByAnotherHost(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kv.db")
	h := kvHost(t, path, airlock.Limits{}, "kvuser")
	defer h.Close(context.Background())
	h2, err := airlock.New(airlock.Options{Logger: quietLogger(), KVPath: path,
		Builtins: map[string]airlock.Builtin{"kvuser": hostCaller("kvuser", "kv")}})
	if err != nil {
		t.Fatal(err)
	}
	defer h2.Close(context.Background())
	if _, err := h2.Load(context.Background(), airlock.PluginConfig{Builtin: "kvuser"}); err != nil {
		t.Errorf("a plugin without the kv grant: %v", err)
	}
	h2.Unload(context.Background(), "kvuser")
	_, err = h2.Load(context.Background(), airlock.PluginConfig{Builtin: "kvuser", Grants: []string{"kv"}})
	if !errors.Is(err, airlock.ErrKVLocked) || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "kvuser") {
		t.Errorf("second host on one file: %v", err)
	}
}

// recordingStore is a host's own KVStore: it records what Airlock asks.
type recordingStore struct {
	airlock.KVStore
	mu    sync.Mutex
	calls []string
}

func (r *recordingStore) Set(ctx context.Context, ns, key string, value []byte, q airlock.KVQuota) error {
	r.mu.Lock()
	r.calls = append(r.calls, fmt.Sprintf("set %s %s %s %+v", ns, key, value, q))
	r.mu.Unlock()
	return r.KVStore.Set(ctx, ns, key, value, q)
}

// A host's own store gets each plugin's calls in the plugin's namespace,
// with its quotas, and Airlock keeps no file.
func TestKVHostStore(t *testing.T) {
	own := &recordingStore{KVStore: airlock.NewMemoryKVStore()}
	dir := t.TempDir()
	h, err := airlock.New(airlock.Options{Logger: quietLogger(), KVStore: own, KVPath: filepath.Join(dir, "unused.db"),
		Builtins: map[string]airlock.Builtin{"kvuser": hostCaller("kvuser", "kv")}})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close(context.Background())
	load(t, h, airlock.PluginConfig{Builtin: "kvuser", Grants: []string{"kv"}, Limits: airlock.Limits{KVMaxKeys: 7}})
	mustKV(t, h, "kvuser", "kv.set", map[string]any{"key": "k", "value": map[string]any{"a": 1}})
	if got := kvGet(t, h, "kvuser", "k"); fmt.Sprint(got) != "map[a:1]" {
		t.Errorf("read back %v", got)
	}
	want := `set kvuser k {"a":1} {MaxKeys:7 MaxValueBytes:65536 MaxTotalBytes:1048576}`
	if len(own.calls) != 1 || own.calls[0] != want {
		t.Errorf("the host's store saw %q, want %q", own.calls, want)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("Airlock made files beside the host's own store: %v", entries)
	}
}
