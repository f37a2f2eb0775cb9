package kvstore

import (
	"context"
	"slices"
	"strings"
	"sync"
)

// Memory is a store in the host's heap: its data ends with the host. The
// zero value is not usable; make one with NewMemory.
type Memory struct {
	mu     sync.Mutex
	spaces map[string]*space // by namespace
}

// space is one namespace and what it holds.
type space struct {
	data  map[string][]byte
	usage Usage
}

// NewMemory returns an empty in-memory store.
func NewMemory() *Memory { return &Memory{spaces: map[string]*space{}} }

// Get returns the value of key in ns and whether it exists.
func (m *Memory) Get(_ context.Context, ns, key string) ([]byte, bool, error) {
	if err := checkNamespace(ns); err != nil {
		return nil, false, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if sp := m.spaces[ns]; sp != nil {
		v, ok := sp.data[key]
		return slices.Clone(v), ok, nil
	}
	return nil, false, nil
}

// Set stores value under key in ns, within q.
func (m *Memory) Set(_ context.Context, ns, key string, value []byte, q Quota) error {
	_, err := m.write(ns, key, nil, false, value, q)
	return err
}

// Delete removes key from ns; a missing key is not an error.
func (m *Memory) Delete(_ context.Context, ns, key string) error {
	_, err := m.write(ns, key, nil, false, nil, Quota{})
	return err
}

// CAS stores value (nil: deletes the key) if key holds old (nil: does
// not exist), within q, and reports whether it did.
func (m *Memory) CAS(_ context.Context, ns, key string, old, value []byte, q Quota) (bool, error) {
	return m.write(ns, key, old, true, value, q)
}

// List returns the keys of ns that start with prefix, sorted.
func (m *Memory) List(_ context.Context, ns, prefix string) ([]string, error) {
	if err := checkNamespace(ns); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	keys := []string{}
	if sp := m.spaces[ns]; sp != nil {
		for k := range sp.data {
			if strings.HasPrefix(k, prefix) {
				keys = append(keys, k)
			}
		}
	}
	slices.Sort(keys)
	return keys, nil
}

// write checks the condition (when cas) and the quotas and writes, all
// under the lock, so that concurrent writers cannot together pass a quota.
func (m *Memory) write(ns, key string, old []byte, cas bool, value []byte, q Quota) (bool, error) {
	if err := checkNamespace(ns); err != nil {
		return false, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	sp := m.spaces[ns]
	if sp == nil {
		sp = &space{data: map[string][]byte{}}
	}
	cur, exists := sp.data[key]
	if cas && !matches(cur, exists, old) {
		return false, nil
	}
	usage, err := sp.usage.after(key, cur, exists, value, q)
	if err != nil {
		return false, err
	}
	if value == nil {
		delete(sp.data, key)
	} else {
		sp.data[key] = slices.Clone(value)
	}
	sp.usage = usage
	if len(sp.data) == 0 {
		delete(m.spaces, ns)
	} else {
		m.spaces[ns] = sp
	}
	return true, nil
}

// Usage returns what ns holds, as accounted.
func (m *Memory) Usage(_ context.Context, ns string) (Usage, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if sp := m.spaces[ns]; sp != nil {
		return sp.usage, nil
	}
	return Usage{}, nil
}
