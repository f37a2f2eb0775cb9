package airlock

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/airlock-go/airlock/internal/kvstore"
	"github.com/airlock-go/airlock/internal/tier"
)

// usager is what the built-in stores offer besides KVStore: their own
// accounting, to be checked against what they hold.
type usager interface {
	KVStore
	Usage(ctx context.Context, ns string) (kvstore.Usage, error)
}

// The host functions over each built-in store, hammered without the host
// around them (so the goroutines really contend): the quotas hold at every
// moment a concurrent observer looks, and the accounting matches what the
// store holds.
func TestKVStoreHammer(t *testing.T) {
	t.Run("memory", func(t *testing.T) { kvStoreHammer(t, &kvStore{path: "-"}, 32, 200) })
	// Each bbolt write waits for the disk: fewer of them.
	t.Run("bolt", func(t *testing.T) { kvStoreHammer(t, &kvStore{path: filepath.Join(t.TempDir(), "kv.db")}, 16, 40) })
}

func kvStoreHammer(t *testing.T, s *kvStore, goroutines, iterations int) {
	const maxKeys, maxTotal = 24, 2048
	defer s.close()
	p := &loadedPlugin{name: "hammered", spec: tier.Spec{Limits: tier.Limits{KVMaxKeys: maxKeys, KVMaxValueBytes: 300, KVMaxTotalBytes: maxTotal}.WithDefaults()}}
	c := Caller{plugin: p}
	st, err := s.open()
	if err != nil {
		t.Fatal(err)
	}
	store := st.(usager)
	ctx := context.Background()
	check := func() error {
		u, err := store.Usage(ctx, p.name)
		if err != nil {
			return err
		}
		if u.Keys > maxKeys || u.Bytes > maxTotal {
			return fmt.Errorf("accounts %+v; quotas %d keys and %d bytes", u, maxKeys, maxTotal)
		}
		return nil
	}
	done := make(chan struct{})
	watched := make(chan error, 1)
	go func() {
		defer close(watched)
		for {
			if err := check(); err != nil {
				watched <- err
				return
			}
			select {
			case <-done:
				return
			default:
			}
		}
	}()
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range iterations {
				key := fmt.Sprintf("k%02d", (g*5+i*7)%40)
				value := json.RawMessage(`"` + strings.Repeat("v", (g*37+i*11)%298) + `"`)
				switch i % 5 {
				case 4:
					s.delete(ctx, c, kvKey{Key: key})
				case 3:
					s.cas(ctx, c, kvCASInput{Key: key, New: value})
				default:
					s.set(ctx, c, kvSetInput{Key: key, Value: value})
				}
			}
		})
	}
	wg.Wait()
	close(done)
	if err := <-watched; err != nil {
		t.Errorf("during the hammer: %v", err)
	}
	keys, _ := store.List(ctx, p.name, "")
	var held kvstore.Usage
	for _, k := range keys {
		v, _, _ := store.Get(ctx, p.name, k)
		held.Keys++
		held.Bytes += int64(len(k) + len(v))
	}
	if u, _ := store.Usage(ctx, p.name); u != held || held.Keys > maxKeys || held.Bytes > maxTotal {
		t.Errorf("after the hammer: accounts %+v, holds %+v; quotas %d keys and %d bytes", u, held, maxKeys, maxTotal)
	}
}
