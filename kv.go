package airlock

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/airlock-go/airlock/internal/capability"
	"github.com/airlock-go/airlock/internal/kvstore"
	"github.com/airlock-go/airlock/protocol"
)

// kvMaxKeyBytes bounds one key of the kv store; the other bounds are
// per-plugin quotas in Limits (kv_max_keys, kv_max_value_bytes,
// kv_max_total_bytes).
const kvMaxKeyBytes = 256

// kvLockTimeout is how long a host waits for another process to release
// the kv store file before failing.
const kvLockTimeout = 2 * time.Second

var kvCap = capability.MustParse("kv")

// KVStore holds the data of the "kv" capability: one namespace per plugin
// (ns is the plugin's name), keys of 1 to 256 bytes, values of compact JSON
// text. Set it in Options.KVStore to keep the data in the host's own
// database; by default a bbolt file holds it (Options.KVPath).
//
// Airlock checks the grant, the key and the value size before calling, and
// passes the plugin's quotas: Set and CAS must check the key and total
// quotas and write in one atomic step (one transaction), so that
// concurrent calls cannot together pass a quota, and return an error
// wrapping ErrKVQuota, naming the quota (kv_max_keys, kv_max_total_bytes),
// when a write would pass one. A namespace already over a lowered quota
// may shrink but not grow. The methods are called concurrently.
//
// # Notes
//
//   - Namespaces must be kept strictly apart: nothing a key holds (slashes,
//     NUL bytes, another plugin's name) may reach another namespace.
//   - A host's own errors are logged, and the plugin is told only that the
//     store failed.
type KVStore interface {
	// Get returns the value of key in ns and whether it exists.
	Get(ctx context.Context, ns, key string) (value []byte, found bool, err error)
	// Set stores value under key in ns, within q.
	Set(ctx context.Context, ns, key string, value []byte, q KVQuota) error
	// Delete removes key from ns; a missing key is not an error.
	Delete(ctx context.Context, ns, key string) error
	// List returns the keys of ns that start with prefix, sorted
	// bytewise.
	List(ctx context.Context, ns, prefix string) ([]string, error)
	// CAS stores value under key (a nil value deletes the key) if the key
	// holds old (a nil old: if the key does not exist), within q, and
	// reports whether it did.
	CAS(ctx context.Context, ns, key string, old, value []byte, q KVQuota) (bool, error)
}

// KVQuota bounds one plugin's namespace of a KVStore: its kv_max_keys,
// kv_max_value_bytes and kv_max_total_bytes limits. A zero field is no
// bound.
type KVQuota = kvstore.Quota

// ErrKVQuota is wrapped by a KVStore's error for a write that would pass a
// quota.
var ErrKVQuota = kvstore.ErrQuota

// ErrKVLocked is wrapped by the error of loading a plugin holding the "kv"
// capability when the kv store file is held by another process (two hosts
// given the same Options.KVPath).
var ErrKVLocked = kvstore.ErrLocked

// kvStore serves the kv host functions from a KVStore: the host's own, or
// the built-in one, opened the first time a plugin holding "kv" is loaded
// (a host whose plugins keep nothing touches no file).
type kvStore struct {
	path string // the bbolt file; "-": in memory

	mu     sync.Mutex
	store  KVStore
	closer io.Closer // the built-in file, which the host closes
	closed bool
}

// newKVStore returns a kv store in memory.
func newKVStore() *kvStore { return &kvStore{path: "-"} }

// newKVStoreFor returns the kv store opts ask for.
func newKVStoreFor(opts Options) *kvStore {
	if opts.KVStore != nil {
		return &kvStore{store: opts.KVStore}
	}
	return &kvStore{path: opts.KVPath}
}

// open returns the store, opening the built-in one if it is not yet.
func (s *kvStore) open() (KVStore, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.store != nil:
		return s.store, nil
	case s.closed:
		return nil, ErrClosed
	case s.path == "-":
		s.store = kvstore.NewMemory()
		return s.store, nil
	}
	path := s.path
	if path == "" {
		var err error
		if path, err = defaultKVPath(); err != nil {
			return nil, fmt.Errorf("%w: kv store: %v (set Options.KVPath; \"-\" keeps it in memory)", ErrInvalidConfig, err)
		}
	}
	b, err := kvstore.OpenBolt(path, kvLockTimeout)
	if err != nil {
		return nil, err
	}
	s.store, s.closer = b, b
	return b, nil
}

// close closes the built-in file; a host's own store is the host's.
func (s *kvStore) close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	if s.closer == nil {
		return nil
	}
	err := s.closer.Close()
	s.store, s.closer = nil, nil
	return err
}

// defaultKVPath is STATE/airlock/kv/PROGRAM.db, where STATE is the user's
// state directory ($XDG_STATE_HOME or ~/.local/state on Unix systems, the
// configuration directory on Windows and macOS) and PROGRAM the host
// executable's name: each host program gets its own file, so that two
// programs built on Airlock never contend for one.
func defaultKVPath() (string, error) {
	exe, err := os.Executable()
	if err != nil {
		return "", err
	}
	program := strings.TrimSuffix(filepath.Base(exe), ".exe")
	dir, err := stateDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, "airlock", "kv", program+".db"), nil
}

func stateDir() (string, error) {
	switch runtime.GOOS {
	case "windows", "darwin", "ios", "plan9":
		return os.UserConfigDir()
	}
	if dir := os.Getenv("XDG_STATE_HOME"); filepath.IsAbs(dir) {
		return dir, nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(home, ".local", "state"), nil
}

type kvKey struct {
	Key string `json:"key"`
}

type kvSetInput struct {
	Key   string          `json:"key"`
	Value json.RawMessage `json:"value"`
}

type kvGetOutput struct {
	Value json.RawMessage `json:"value"`
	Found bool            `json:"found"`
}

type kvListInput struct {
	Prefix string `json:"prefix,omitempty" jsonschema:"description=only the keys that start with it"`
}

type kvListOutput struct {
	Keys []string `json:"keys"`
}

// kvCASInput is the input of kv.cas. Old and New are raw so that an
// absent field (nil) is told apart from a JSON null.
type kvCASInput struct {
	Key string          `json:"key"`
	Old json.RawMessage `json:"old,omitempty" jsonschema:"description=the value the key must hold; absent: the key must not exist"`
	New json.RawMessage `json:"new,omitempty" jsonschema:"description=the value to store; absent: delete the key"`
}

type kvCASOutput struct {
	Swapped bool `json:"swapped"`
}

func (s *kvStore) funcs() []Function {
	return []Function{
		NewFunc("kv.get", "kv", s.get),
		NewFunc("kv.set", "kv", s.set),
		NewFunc("kv.delete", "kv", s.delete),
		NewFunc("kv.list", "kv", s.list),
		NewFunc("kv.cas", "kv", s.cas),
	}
}

func checkKey(k string) error {
	if k == "" || len(k) > kvMaxKeyBytes {
		return protocol.Errorf(protocol.CodeInvalidParams, "kv: key must be 1 to %d bytes", kvMaxKeyBytes)
	}
	return nil
}

// compact returns v as compact JSON (null when empty), so that what a
// plugin sends and what kv.cas compares do not depend on spacing.
func compact(v json.RawMessage) []byte {
	if len(v) == 0 {
		return []byte("null")
	}
	var b bytes.Buffer
	if json.Compact(&b, v) != nil {
		return v // already validated as JSON by the input schema
	}
	return b.Bytes()
}

// quota returns the caller's kv quotas. Threat: one plugin filling the
// host's disk or heap through kv.set (an attack run put ~600 MiB in the
// heap before there were quotas). The value size is checked here, before
// the store sees the value; the store checks the others in the same step
// as the write.
func quota(fn string, c Caller, value []byte) (KVQuota, error) {
	l := c.plugin.spec.Limits
	q := KVQuota{MaxKeys: l.KVMaxKeys, MaxValueBytes: l.KVMaxValueBytes, MaxTotalBytes: l.KVMaxTotalBytes}
	if len(value) > q.MaxValueBytes {
		return q, protocol.Errorf(protocol.CodeFailed, "%s: plugin %s: a value of %d bytes is over its kv_max_value_bytes quota (%d)", fn, c.Plugin(), len(value), q.MaxValueBytes)
	}
	return q, nil
}

// fail turns a store's error into what the plugin is told: a quota is
// named; anything else is logged and reported as a failure of the store.
func fail(fn string, c Caller, err error) error {
	if errors.Is(err, ErrKVQuota) {
		return protocol.Errorf(protocol.CodeFailed, "%s: plugin %s: %v", fn, c.Plugin(), err)
	}
	c.plugin.log.Error("kv store failed", "function", fn, "error", err)
	return protocol.Errorf(protocol.CodeInternalError, "%s: plugin %s: the host's kv store failed", fn, c.Plugin())
}

func (s *kvStore) get(ctx context.Context, c Caller, in kvKey) (kvGetOutput, error) {
	if err := checkKey(in.Key); err != nil {
		return kvGetOutput{}, err
	}
	st, err := s.open()
	if err != nil {
		return kvGetOutput{}, fail("kv.get", c, err)
	}
	v, ok, err := st.Get(ctx, c.Plugin(), in.Key)
	if err != nil {
		return kvGetOutput{}, fail("kv.get", c, err)
	}
	if !ok {
		return kvGetOutput{Value: json.RawMessage("null")}, nil
	}
	return kvGetOutput{Value: v, Found: true}, nil
}

func (s *kvStore) set(ctx context.Context, c Caller, in kvSetInput) (any, error) {
	if err := checkKey(in.Key); err != nil {
		return nil, err
	}
	value := compact(in.Value)
	q, err := quota("kv.set", c, value)
	if err != nil {
		return nil, err
	}
	st, err := s.open()
	if err == nil {
		err = st.Set(ctx, c.Plugin(), in.Key, value, q)
	}
	if err != nil {
		return nil, fail("kv.set", c, err)
	}
	return nil, nil
}

func (s *kvStore) delete(ctx context.Context, c Caller, in kvKey) (any, error) {
	if err := checkKey(in.Key); err != nil {
		return nil, err
	}
	st, err := s.open()
	if err == nil {
		err = st.Delete(ctx, c.Plugin(), in.Key)
	}
	if err != nil {
		return nil, fail("kv.delete", c, err)
	}
	return nil, nil
}

func (s *kvStore) list(ctx context.Context, c Caller, in kvListInput) (kvListOutput, error) {
	st, err := s.open()
	if err != nil {
		return kvListOutput{}, fail("kv.list", c, err)
	}
	keys, err := st.List(ctx, c.Plugin(), in.Prefix)
	if err != nil {
		return kvListOutput{}, fail("kv.list", c, err)
	}
	if keys == nil {
		keys = []string{}
	}
	return kvListOutput{Keys: keys}, nil
}

// cas is kv.cas: an atomic compare-and-set, for counters, leases and
// claims that several instances of a plugin (or its concurrent calls)
// share. Values are compared as compact JSON, byte for byte.
func (s *kvStore) cas(ctx context.Context, c Caller, in kvCASInput) (kvCASOutput, error) {
	if err := checkKey(in.Key); err != nil {
		return kvCASOutput{}, err
	}
	var old, value []byte
	if in.Old != nil {
		old = compact(in.Old)
	}
	if in.New != nil {
		value = compact(in.New)
	}
	q, err := quota("kv.cas", c, value)
	if err != nil {
		return kvCASOutput{}, err
	}
	st, err := s.open()
	if err != nil {
		return kvCASOutput{}, fail("kv.cas", c, err)
	}
	ok, err := st.CAS(ctx, c.Plugin(), in.Key, old, value, q)
	if err != nil {
		return kvCASOutput{}, fail("kv.cas", c, err)
	}
	return kvCASOutput{Swapped: ok}, nil
}

// openFor opens the store when p holds the "kv" capability, so that a
// store that cannot open (a file held by another host) fails the plugin's
// load, not its first call.
func (s *kvStore) openFor(p *loadedPlugin) error {
	if !p.grants.Allows(kvCap) {
		return nil
	}
	_, err := s.open()
	return err
}

// NewMemoryKVStore returns a KVStore in memory, whose data ends with it:
// for tests, and for a host's own store to wrap. (Options.KVPath "-" gives
// a host one of its own.)
func NewMemoryKVStore() KVStore { return kvstore.NewMemory() }
