package airlock

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/airlock-go/airlock/internal/tier"
)

// The store itself, hammered without the host around it (so the goroutines
// really contend for its lock): its quotas hold at every moment a
// concurrent observer looks, and its accounting matches what it holds.
func TestKVStoreHammer(t *testing.T) {
	const (
		maxKeys, maxTotal = 24, 2048
		goroutines        = 64
		iterations        = 1000
	)
	s := newKVStore()
	p := &managed{name: "hammered", spec: tier.Spec{Limits: tier.Limits{KVMaxKeys: maxKeys, KVMaxValueBytes: 300, KVMaxTotalBytes: maxTotal}.WithDefaults()}}
	c := Caller{plugin: p}
	check := func() error {
		s.mu.Lock()
		defer s.mu.Unlock()
		ns := s.spaces[p.name]
		if ns == nil {
			return nil
		}
		sum := int64(0)
		for k, v := range ns.data {
			sum += int64(len(k) + len(v))
		}
		if sum != ns.bytes || sum > maxTotal || len(ns.data) > maxKeys {
			return fmt.Errorf("holds %d keys and %d bytes (accounted %d); quotas %d and %d", len(ns.data), sum, ns.bytes, maxKeys, maxTotal)
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
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range iterations {
				key := fmt.Sprintf("k%02d", (g*5+i*7)%40)
				if i%5 == 4 {
					s.delete(context.Background(), c, kvKey{Key: key})
					continue
				}
				value := json.RawMessage(`"` + strings.Repeat("v", (g*37+i*11)%298) + `"`)
				s.set(context.Background(), c, kvSetInput{Key: key, Value: value})
			}
		}()
	}
	wg.Wait()
	close(done)
	if err := <-watched; err != nil {
		t.Errorf("during the hammer: %v", err)
	}
	if err := check(); err != nil {
		t.Errorf("after the hammer: %v", err)
	}
}
