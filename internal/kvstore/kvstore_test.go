package kvstore

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// store is what both implementations offer.
type store interface {
	Get(ctx context.Context, ns, key string) ([]byte, bool, error)
	Set(ctx context.Context, ns, key string, value []byte, q Quota) error
	Delete(ctx context.Context, ns, key string) error
	List(ctx context.Context, ns, prefix string) ([]string, error)
	CAS(ctx context.Context, ns, key string, old, value []byte, q Quota) (bool, error)
	Usage(ctx context.Context, ns string) (Usage, error)
}

// eachStore runs f against a fresh Memory and a fresh Bolt.
func eachStore(t *testing.T, f func(t *testing.T, s store)) {
	t.Run("memory", func(t *testing.T) { f(t, NewMemory()) })
	t.Run("bolt", func(t *testing.T) { f(t, openBolt(t, filepath.Join(t.TempDir(), "kv.db"))) })
}

func openBolt(t *testing.T, path string) *Bolt {
	t.Helper()
	b, err := OpenBolt(path, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

var ctx = context.Background()

func get(t *testing.T, s store, ns, key string) string {
	t.Helper()
	v, ok, err := s.Get(ctx, ns, key)
	if err != nil {
		t.Fatal(err)
	}
	if !ok {
		return "<absent>"
	}
	return string(v)
}

func mustSet(t *testing.T, s store, ns, key, value string) {
	t.Helper()
	if err := s.Set(ctx, ns, key, []byte(value), Quota{}); err != nil {
		t.Fatal(err)
	}
}

func TestGetSetDeleteList(t *testing.T) {
	eachStore(t, func(t *testing.T, s store) {
		if got := get(t, s, "a", "k"); got != "<absent>" {
			t.Fatalf("empty store: %s", got)
		}
		for _, k := range []string{"user/2", "user/1", "job/1", "user", "users"} {
			mustSet(t, s, "a", k, `"`+k+`"`)
		}
		mustSet(t, s, "a", "user/1", `1`)
		if got := get(t, s, "a", "user/1"); got != "1" {
			t.Errorf("overwritten value = %s", got)
		}
		for prefix, want := range map[string][]string{
			"":      {"job/1", "user", "user/1", "user/2", "users"},
			"user/": {"user/1", "user/2"},
			"user":  {"user", "user/1", "user/2", "users"},
			"x":     {},
		} {
			got, err := s.List(ctx, "a", prefix)
			if err != nil || !slices.Equal(got, want) {
				t.Errorf("List(%q) = %q, %v; want %q", prefix, got, err, want)
			}
		}
		if err := s.Delete(ctx, "a", "user"); err != nil {
			t.Fatal(err)
		}
		if err := s.Delete(ctx, "a", "never"); err != nil {
			t.Errorf("deleting a missing key: %v", err)
		}
		if got := get(t, s, "a", "user"); got != "<absent>" {
			t.Errorf("deleted key = %s", got)
		}
		if _, _, err := s.Get(ctx, "", "k"); !errors.Is(err, ErrNamespace) {
			t.Errorf("empty namespace: %v", err)
		}
	})
}

// A plugin can never see another's namespace, whatever its keys hold:
// the same keys in two namespaces stay apart, and keys that look like
// paths, hold NUL bytes or spell another namespace's or the store's own
// bucket names reach nothing but the namespace's own data.
func TestNamespaceIsolation(t *testing.T) {
	tricks := []string{"k", "../b/k", "..", "/", "\x00", "b\x00k", "ns", "usage", "b", "ns/b", "\xff", strings.Repeat("b", 256)}
	eachStore(t, func(t *testing.T, s store) {
		for _, k := range tricks {
			mustSet(t, s, "a", k, `"a"`)
		}
		mustSet(t, s, "b", "k", `"b"`)
		mustSet(t, s, "a\x00", "k", `"nul"`)
		for _, k := range tricks {
			if got := get(t, s, "a", k); got != `"a"` {
				t.Errorf("a's key %q = %s", k, got)
			}
			if want := map[bool]string{true: `"b"`, false: "<absent>"}[k == "k"]; get(t, s, "b", k) != want {
				t.Errorf("b's key %q = %s, want %s", k, get(t, s, "b", k), want)
			}
		}
		keys, _ := s.List(ctx, "b", "")
		if !slices.Equal(keys, []string{"k"}) {
			t.Errorf("b lists %q", keys)
		}
		keys, _ = s.List(ctx, "a", "")
		if len(keys) != len(tricks) {
			t.Errorf("a lists %d keys, want %d: %q", len(keys), len(tricks), keys)
		}
		if err := s.Delete(ctx, "b", "../a/k"); err != nil {
			t.Fatal(err)
		}
		if got := get(t, s, "a", "k"); got != `"a"` {
			t.Errorf("after b deleted ../a/k, a's k = %s", got)
		}
		if ok, err := s.CAS(ctx, "b", "k", []byte(`"a"`), []byte(`"stolen"`), Quota{}); ok || err != nil {
			t.Errorf("CAS in b against a's value: %v, %v", ok, err)
		}
	})
}

func TestCAS(t *testing.T) {
	eachStore(t, func(t *testing.T, s store) {
		steps := []struct {
			old, value []byte
			want       bool
			after      string
		}{
			{old: []byte(`1`), value: []byte(`2`), want: false, after: "<absent>"}, // absent, expected 1
			{old: nil, value: []byte(`1`), want: true, after: "1"},                 // create
			{old: nil, value: []byte(`2`), want: false, after: "1"},                // exists now
			{old: []byte(`2`), value: []byte(`3`), want: false, after: "1"},        // wrong old
			{old: []byte(`1`), value: []byte(`null`), want: true, after: "null"},   // swap
			{old: []byte(`null`), value: nil, want: true, after: "<absent>"},       // delete
			{old: []byte(`null`), value: []byte(`1`), want: false, after: "<absent>"},
		}
		for i, st := range steps {
			ok, err := s.CAS(ctx, "a", "k", st.old, st.value, Quota{})
			if err != nil || ok != st.want {
				t.Fatalf("step %d: CAS = %v, %v; want %v", i, ok, err, st.want)
			}
			if got := get(t, s, "a", "k"); got != st.after {
				t.Fatalf("step %d: value %s, want %s", i, got, st.after)
			}
		}
		// The quotas hold for a CAS as for a Set.
		if _, err := s.CAS(ctx, "a", "k", nil, []byte(`"long"`), Quota{MaxValueBytes: 3}); !errors.Is(err, ErrQuota) {
			t.Errorf("CAS over the value quota: %v", err)
		}
	})
}

// Concurrent compare-and-set increments lose no update: each success is
// exactly one step of the counter.
func TestCASCounterHammer(t *testing.T) {
	eachStore(t, func(t *testing.T, s store) {
		const goroutines, each = 8, 25
		var wg sync.WaitGroup
		for range goroutines {
			wg.Go(func() {
				for done := 0; done < each; {
					cur, ok, err := s.Get(ctx, "a", "n")
					if err != nil {
						t.Error(err)
						return
					}
					var n int
					var old []byte
					if ok {
						fmt.Sscan(string(cur), &n)
						old = cur
					}
					swapped, err := s.CAS(ctx, "a", "n", old, fmt.Appendf(nil, "%d", n+1), Quota{})
					if err != nil {
						t.Error(err)
						return
					}
					if swapped {
						done++
					}
				}
			})
		}
		wg.Wait()
		if got := get(t, s, "a", "n"); got != fmt.Sprint(goroutines*each) {
			t.Errorf("counter = %s, want %d", got, goroutines*each)
		}
	})
}

func TestQuotas(t *testing.T) {
	q := Quota{MaxKeys: 3, MaxValueBytes: 10, MaxTotalBytes: 30}
	eachStore(t, func(t *testing.T, s store) {
		set := func(k string, n int) error { return s.Set(ctx, "a", k, []byte(strings.Repeat("v", n)), q) }
		for _, c := range []struct {
			key   string
			n     int
			quota string // "" when it must pass
		}{
			{"a", 11, "kv_max_value_bytes"},
			{"a", 9, ""}, // 10 bytes
			{"b", 9, ""}, // 20
			{"c", 9, ""}, // 30: the total quota exactly
			{"d", 1, "kv_max_keys"},
			{"a", 10, "kv_max_total_bytes"}, // 31
			{"a", 1, ""},                    // shrink: 22
			{"a", 9, ""},                    // back to 30
		} {
			err := set(c.key, c.n)
			if c.quota == "" && err != nil || c.quota != "" && (!errors.Is(err, ErrQuota) || !strings.Contains(err.Error(), c.quota)) {
				t.Errorf("set %s (%d bytes): %v, want quota %q", c.key, c.n, err, c.quota)
			}
		}
		if u, _ := s.Usage(ctx, "a"); u != (Usage{Keys: 3, Bytes: 30}) {
			t.Errorf("usage %+v", u)
		}
		// Lowered quotas hold for what is already stored: no growth,
		// but shrinking and deleting still work.
		low := Quota{MaxKeys: 1, MaxValueBytes: 10, MaxTotalBytes: 10}
		if err := s.Set(ctx, "a", "d", []byte("v"), low); !errors.Is(err, ErrQuota) {
			t.Errorf("a new key over a lowered key quota: %v", err)
		}
		if err := s.Set(ctx, "a", "a", []byte("vv"), low); err != nil {
			t.Errorf("shrinking under a lowered total quota: %v", err)
		}
		if err := s.Set(ctx, "a", "a", []byte("vvv"), low); !errors.Is(err, ErrQuota) {
			t.Errorf("growing under a lowered total quota: %v", err)
		}
		if err := s.Delete(ctx, "a", "b"); err != nil {
			t.Errorf("deleting over a quota: %v", err)
		}
		if u, _ := s.Usage(ctx, "a"); u != (Usage{Keys: 2, Bytes: 13}) {
			t.Errorf("usage after shrinking and deleting %+v", u)
		}
	})
}

// Data and its accounting survive closing and reopening the file.
func TestBoltPersists(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "kv.db")
	b, err := OpenBolt(path, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	mustSet(t, b, "a", "k", `"kept"`)
	b.Close()
	b = openBolt(t, path)
	if got := get(t, b, "a", "k"); got != `"kept"` {
		t.Errorf("after reopening: %s", got)
	}
	if u, _ := b.Usage(ctx, "a"); u != (Usage{Keys: 1, Bytes: 7}) {
		t.Errorf("usage after reopening: %+v", u)
	}
}

// A second opener of a held file fails after the timeout, saying why.
func TestBoltLocked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kv.db")
	openBolt(t, path)
	start := time.Now()
	_, err := OpenBolt(path, 100*time.Millisecond)
	if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), path) {
		t.Errorf("second open: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("second open waited %v", d)
	}
}

// A namespace whose usage record is missing (data written by something
// else, or before records existed) is counted from its data, so the
// quotas hold for what is already on disk.
func TestBoltCountsDataOnDisk(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kv.db")
	b, err := OpenBolt(path, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	mustSet(t, b, "a", "k1", "vvvv")
	mustSet(t, b, "a", "k2", "vvvv")
	err = b.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketUsage).Delete([]byte("a")) })
	if err != nil {
		t.Fatal(err)
	}
	b.Close()
	b = openBolt(t, path)
	if err := b.Set(ctx, "a", "k3", []byte("v"), Quota{MaxKeys: 2}); !errors.Is(err, ErrQuota) {
		t.Errorf("a third key over a quota of 2 on disk: %v", err)
	}
	if err := b.Set(ctx, "a", "k3", []byte("v"), Quota{MaxTotalBytes: 13}); !errors.Is(err, ErrQuota) {
		t.Errorf("12 bytes on disk + 3 over a quota of 13: %v", err)
	}
	if u, _ := b.Usage(ctx, "a"); u != (Usage{Keys: 2, Bytes: 12}) {
		t.Errorf("usage counted from disk: %+v", u)
	}
}

// Many writers at once never take a namespace past its quotas, and the
// accounting matches the data at the end.
func TestQuotaHammer(t *testing.T) {
	q := Quota{MaxKeys: 20, MaxValueBytes: 200, MaxTotalBytes: 1500}
	eachStore(t, func(t *testing.T, s store) {
		var wg sync.WaitGroup
		for g := range 16 {
			wg.Go(func() {
				for i := range 80 {
					key := fmt.Sprintf("k%02d", (g*7+i*13)%40)
					var err error
					switch i % 5 {
					case 4:
						err = s.Delete(ctx, "a", key)
					case 3:
						_, err = s.CAS(ctx, "a", key, nil, []byte(strings.Repeat("c", (g+i)%200+1)), q)
					default:
						err = s.Set(ctx, "a", key, []byte(strings.Repeat("v", (g*31+i*17)%200+1)), q)
					}
					if err != nil && !errors.Is(err, ErrQuota) {
						t.Error(err)
					}
				}
			})
		}
		wg.Wait()
		keys, _ := s.List(ctx, "a", "")
		var held Usage
		for _, k := range keys {
			v, _, _ := s.Get(ctx, "a", k)
			held.Keys++
			held.Bytes += int64(len(k) + len(v))
		}
		if u, _ := s.Usage(ctx, "a"); u != held {
			t.Errorf("accounted %+v, holds %+v", u, held)
		}
		if held.Keys > int64(q.MaxKeys) || held.Bytes > q.MaxTotalBytes {
			t.Errorf("holds %+v over %+v", held, q)
		}
	})
}
