package kvstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// ErrLocked is wrapped by Open's error when another process (or another
// host in this one) has the file open.
var ErrLocked = errors.New("kv store file is in use")

// The file's layout: bucket "ns" holds one bucket per namespace, which
// holds that namespace's keys and values and nothing else; bucket "usage"
// holds each namespace's Usage, written in the same transaction as the
// data it accounts for. A key is only ever a key inside its own
// namespace's bucket, so no key, whatever bytes it holds, can name another
// namespace or the usage records.
var (
	bucketNS    = []byte("ns")
	bucketUsage = []byte("usage")
)

// Bolt is a store in a bbolt file: its data survives the host. Only one
// process may have the file open at a time (bbolt locks it).
type Bolt struct {
	db *bolt.DB
}

// OpenBolt opens (creating if needed) the store file at path. Its
// directory is created private to the host's user, and the file readable
// by that user only: it holds what plugins keep, which other local users
// have no business reading. If another process holds the file, OpenBolt
// waits up to timeout, then fails with ErrLocked.
func OpenBolt(path string, timeout time.Duration) (*Bolt, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("kv store: %w", err)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: timeout})
	if errors.Is(err, berrors.ErrTimeout) {
		return nil, fmt.Errorf("%w: %s is held by another process (another host using the same file?) after waiting %v", ErrLocked, path, timeout)
	}
	if err != nil {
		return nil, fmt.Errorf("kv store %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		if _, err := tx.CreateBucketIfNotExists(bucketNS); err != nil {
			return err
		}
		_, err := tx.CreateBucketIfNotExists(bucketUsage)
		return err
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("kv store %s: %w", path, err)
	}
	return &Bolt{db: db}, nil
}

// Close closes the file, releasing its lock.
func (b *Bolt) Close() error { return b.db.Close() }

// Get returns the value of key in ns and whether it exists.
func (b *Bolt) Get(ctx context.Context, ns, key string) (value []byte, found bool, err error) {
	if err := begin(ctx, ns); err != nil {
		return nil, false, err
	}
	err = b.db.View(func(tx *bolt.Tx) error {
		if sp := tx.Bucket(bucketNS).Bucket([]byte(ns)); sp != nil {
			if v := sp.Get([]byte(key)); v != nil {
				value, found = bytes.Clone(v), true // v is valid only in the transaction
			}
		}
		return nil
	})
	return value, found, err
}

// Set stores value under key in ns, within q.
func (b *Bolt) Set(ctx context.Context, ns, key string, value []byte, q Quota) error {
	_, err := b.write(ctx, ns, key, nil, false, value, q)
	return err
}

// Delete removes key from ns; a missing key is not an error.
func (b *Bolt) Delete(ctx context.Context, ns, key string) error {
	_, err := b.write(ctx, ns, key, nil, false, nil, Quota{})
	return err
}

// CAS stores value (nil: deletes the key) if key holds old (nil: does
// not exist), within q, and reports whether it did.
func (b *Bolt) CAS(ctx context.Context, ns, key string, old, value []byte, q Quota) (bool, error) {
	return b.write(ctx, ns, key, old, true, value, q)
}

// List returns the keys of ns that start with prefix, sorted.
func (b *Bolt) List(ctx context.Context, ns, prefix string) ([]string, error) {
	if err := begin(ctx, ns); err != nil {
		return nil, err
	}
	keys := []string{}
	err := b.db.View(func(tx *bolt.Tx) error {
		sp := tx.Bucket(bucketNS).Bucket([]byte(ns))
		if sp == nil {
			return nil
		}
		c := sp.Cursor()
		p := []byte(prefix)
		for k, _ := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, _ = c.Next() {
			keys = append(keys, string(k))
		}
		return nil
	})
	return keys, err
}

// Usage returns what ns holds, as accounted.
func (b *Bolt) Usage(ctx context.Context, ns string) (u Usage, err error) {
	if err := begin(ctx, ns); err != nil {
		return Usage{}, err
	}
	err = b.db.View(func(tx *bolt.Tx) error {
		u = usageOf(tx, ns)
		return nil
	})
	return u, err
}

// write checks the condition (when cas) and the quotas and writes in one
// transaction: bbolt runs one write transaction at a time, so concurrent
// writers cannot together pass a quota, and the usage record never
// disagrees with the data, even after a crash.
func (b *Bolt) write(ctx context.Context, ns, key string, old []byte, cas bool, value []byte, q Quota) (done bool, err error) {
	if err := begin(ctx, ns); err != nil {
		return false, err
	}
	err = b.db.Update(func(tx *bolt.Tx) error {
		sp, err := tx.Bucket(bucketNS).CreateBucketIfNotExists([]byte(ns))
		if err != nil {
			return err
		}
		cur := sp.Get([]byte(key))
		exists := cur != nil
		if cas && !matches(cur, exists, old) {
			return nil
		}
		usage, err := usageOf(tx, ns).after(key, cur, exists, value, q)
		if err != nil {
			return err
		}
		if value == nil {
			err = sp.Delete([]byte(key))
		} else {
			err = sp.Put([]byte(key), value)
		}
		if err != nil {
			return err
		}
		done = true
		return tx.Bucket(bucketUsage).Put([]byte(ns), usage.encode())
	})
	return done, err
}

// usageOf returns the usage record of ns; a namespace without one (written
// by something else than this package) is counted afresh, so that its
// quotas hold for the data already on disk too.
func usageOf(tx *bolt.Tx, ns string) Usage {
	if rec := tx.Bucket(bucketUsage).Get([]byte(ns)); len(rec) == 16 {
		return Usage{Keys: int64(binary.BigEndian.Uint64(rec)), Bytes: int64(binary.BigEndian.Uint64(rec[8:]))}
	}
	var u Usage
	if sp := tx.Bucket(bucketNS).Bucket([]byte(ns)); sp != nil {
		_ = sp.ForEach(func(k, v []byte) error {
			u.Keys++
			u.Bytes += int64(len(k) + len(v))
			return nil
		})
	}
	return u
}

func (u Usage) encode() []byte {
	rec := make([]byte, 16)
	binary.BigEndian.PutUint64(rec, uint64(u.Keys))
	binary.BigEndian.PutUint64(rec[8:], uint64(u.Bytes))
	return rec
}

func begin(ctx context.Context, ns string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return checkNamespace(ns)
}
