package airlock

import (
	"context"
	"encoding/json"
	"log/slog"
	"sort"
	"strings"
	"sync"

	"github.com/airlock-go/airlock/internal/rpc"
)

// Limits of the built-in key-value store, per plugin (threat: a plugin
// filling the host's memory through kv.set).
const (
	kvMaxKeys      = 10000
	kvMaxKeyBytes  = 256
	kvMaxValueSize = 64 << 10
)

// standardFuncs are the host functions every host has: log (capability
// "log") and a per-plugin key-value store (capability "kv").
func standardFuncs(store *kvStore) []Function {
	return []Function{
		NewFunc("log", "log", logFunc),
		NewFunc("kv.get", "kv", store.get),
		NewFunc("kv.set", "kv", store.set),
		NewFunc("kv.delete", "kv", store.delete),
		NewFunc("kv.list", "kv", store.list),
	}
}

// LogInput is the input of the "log" host function.
type LogInput struct {
	Level string         `json:"level"` // debug, info, warn or error
	Msg   string         `json:"msg"`
	Attrs map[string]any `json:"attrs,omitempty"`
}

func logFunc(ctx context.Context, c Caller, in LogInput) (any, error) {
	var level slog.Level
	switch strings.ToLower(in.Level) {
	case "debug":
		level = slog.LevelDebug
	case "", "info":
		level = slog.LevelInfo
	case "warn", "warning":
		level = slog.LevelWarn
	case "error":
		level = slog.LevelError
	default:
		return nil, rpc.Errorf(rpc.CodeInvalidParams, "log: level %q: use debug, info, warn or error", in.Level)
	}
	msg := in.Msg
	if len(msg) > 4096 {
		msg = msg[:4096] + "…"
	}
	attrs := make([]slog.Attr, 0, len(in.Attrs))
	keys := make([]string, 0, len(in.Attrs))
	for k := range in.Attrs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if len(attrs) == 32 {
			break
		}
		attrs = append(attrs, slog.Any("plugin."+k, in.Attrs[k]))
	}
	c.Logger().LogAttrs(ctx, level, msg, attrs...)
	return nil, nil
}

// kvStore is an in-memory key-value store with one namespace per plugin.
type kvStore struct {
	mu   sync.Mutex
	data map[string]map[string]json.RawMessage
}

func newKVStore() *kvStore { return &kvStore{data: map[string]map[string]json.RawMessage{}} }

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
	Prefix string `json:"prefix"`
}

type kvListOutput struct {
	Keys []string `json:"keys"`
}

func checkKey(k string) error {
	if k == "" || len(k) > kvMaxKeyBytes {
		return rpc.Errorf(rpc.CodeInvalidParams, "kv: key must be 1 to %d bytes", kvMaxKeyBytes)
	}
	return nil
}

func (s *kvStore) get(_ context.Context, c Caller, in kvKey) (kvGetOutput, error) {
	if err := checkKey(in.Key); err != nil {
		return kvGetOutput{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.data[c.Plugin()][in.Key]
	if !ok {
		return kvGetOutput{Value: json.RawMessage("null")}, nil
	}
	return kvGetOutput{Value: v, Found: true}, nil
}

func (s *kvStore) set(_ context.Context, c Caller, in kvSetInput) (any, error) {
	if err := checkKey(in.Key); err != nil {
		return nil, err
	}
	if len(in.Value) > kvMaxValueSize {
		return nil, rpc.Errorf(rpc.CodeInvalidParams, "kv.set: value of %d bytes exceeds %d", len(in.Value), kvMaxValueSize)
	}
	if len(in.Value) == 0 {
		in.Value = json.RawMessage("null")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ns := s.data[c.Plugin()]
	if ns == nil {
		ns = map[string]json.RawMessage{}
		s.data[c.Plugin()] = ns
	}
	if _, exists := ns[in.Key]; !exists && len(ns) >= kvMaxKeys {
		return nil, rpc.Errorf(rpc.CodeFailed, "kv.set: store full (%d keys)", kvMaxKeys)
	}
	ns[in.Key] = append(json.RawMessage(nil), in.Value...)
	return nil, nil
}

func (s *kvStore) delete(_ context.Context, c Caller, in kvKey) (any, error) {
	if err := checkKey(in.Key); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.data[c.Plugin()], in.Key)
	return nil, nil
}

func (s *kvStore) list(_ context.Context, c Caller, in kvListInput) (kvListOutput, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	keys := []string{}
	for k := range s.data[c.Plugin()] {
		if strings.HasPrefix(k, in.Prefix) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	return kvListOutput{Keys: keys}, nil
}
