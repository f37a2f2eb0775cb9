// Package kvstore holds the plugins' key-value data behind the "kv"
// capability: one namespace per plugin, each held to the plugin's quotas,
// with compare-and-set and listing by prefix. Memory keeps it in the heap
// (tests, ephemeral hosts); Bolt keeps it in a bbolt file, so it survives
// restarts.
//
// Both check the quotas and write in one step under one lock (Bolt: one
// write transaction), so that concurrent writers cannot together pass a
// quota. A host that keeps the data in its own database implements the
// same five methods (airlock.KVStore) and must give the same guarantee.
package kvstore

import (
	"bytes"
	"errors"
	"fmt"
)

// ErrQuota is wrapped by the errors of a write refused by a quota.
var ErrQuota = errors.New("over quota")

// ErrNamespace is wrapped by the errors of a call with an empty namespace.
var ErrNamespace = errors.New("empty namespace")

// Quota bounds one namespace. A zero field is no bound.
type Quota struct {
	MaxKeys       int   // keys held (kv_max_keys)
	MaxValueBytes int   // bytes in one value (kv_max_value_bytes)
	MaxTotalBytes int64 // bytes of all keys and values (kv_max_total_bytes)
}

// Usage is what one namespace holds.
type Usage struct {
	Keys  int64
	Bytes int64 // of all keys and values
}

// after returns the usage once key, now holding old (when exists), holds
// value instead (nil: deleted), or an error naming the quota the change
// would pass. Deleting is always allowed; a namespace already over a quota
// (the operator lowered it) can shrink but not grow.
func (u Usage) after(key string, old []byte, exists bool, value []byte, q Quota) (Usage, error) {
	if value == nil {
		if exists {
			u.Keys--
			u.Bytes -= int64(len(key) + len(old))
		}
		return u, nil
	}
	if q.MaxValueBytes > 0 && len(value) > q.MaxValueBytes {
		return u, fmt.Errorf("%w: a value of %d bytes is over its kv_max_value_bytes quota (%d)", ErrQuota, len(value), q.MaxValueBytes)
	}
	next := u
	if exists {
		next.Bytes += int64(len(value) - len(old))
	} else {
		if q.MaxKeys > 0 && u.Keys >= int64(q.MaxKeys) {
			return u, fmt.Errorf("%w: holds %d keys, its kv_max_keys quota: delete some first", ErrQuota, u.Keys)
		}
		next.Keys++
		next.Bytes += int64(len(key) + len(value))
	}
	if q.MaxTotalBytes > 0 && next.Bytes > q.MaxTotalBytes && next.Bytes > u.Bytes {
		return u, fmt.Errorf("%w: would hold %d bytes of keys and values, over its kv_max_total_bytes quota (%d)", ErrQuota, next.Bytes, q.MaxTotalBytes)
	}
	return next, nil
}

// matches reports whether a key holding cur (when exists) meets a
// compare-and-set's expectation old (nil: the key must not exist).
func matches(cur []byte, exists bool, old []byte) bool {
	if old == nil {
		return !exists
	}
	return exists && bytes.Equal(cur, old)
}

func checkNamespace(ns string) error {
	if ns == "" {
		return ErrNamespace
	}
	return nil
}
