package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/airlock-go/airlock/internal/capability"
	"github.com/airlock-go/airlock/internal/manifest"
	"github.com/airlock-go/airlock/protocol"
)

const (
	// jitterMax bounds the random delay before each host call's answer in
	// the host-calls check.
	jitterMax = 20 * time.Millisecond
	// holdBack is how long the cancel check holds back the answer to a
	// host call while it cancels the call that made it.
	holdBack = 300 * time.Millisecond
	// kvMaxValue bounds a value in the checker's kv store, as the host's
	// default does.
	kvMaxValue = 64 << 10
)

// checkHost plays the host's side of host function calls for check: the
// standard functions (log, and kv.* on a store of its own) and the --stub
// stand-ins, each behind its capability, as in a host. It counts calls,
// and can delay its answers (jitter, hold) to shake out plugins that
// assume an order.
type checkHost struct {
	plugin  string
	grants  capability.Set
	log     *slog.Logger
	caps    map[string]capability.Cap // function name → its capability
	stubs   map[string]json.RawMessage
	calls   atomic.Int64
	jitter  atomic.Bool
	hold    atomic.Int64  // a delay before every answer, in nanoseconds
	arrived chan struct{} // receives (without blocking) at every call

	mu     sync.Mutex
	kv     map[string]json.RawMessage
	timers int // timers "set" (they never fire during a check)
}

func newCheckHost(plugin string, grants capability.Set, log *slog.Logger, stubs []stub) (*checkHost, error) {
	h := &checkHost{
		plugin: plugin, grants: grants, log: log,
		caps: map[string]capability.Cap{
			"log":          capability.MustParse("log"),
			"kv.get":       capability.MustParse("kv"),
			"kv.set":       capability.MustParse("kv"),
			"kv.delete":    capability.MustParse("kv"),
			"kv.list":      capability.MustParse("kv"),
			"kv.cas":       capability.MustParse("kv"),
			"timer.after":  capability.MustParse("timer"),
			"timer.every":  capability.MustParse("timer"),
			"timer.cancel": capability.MustParse("timer"),
		},
		stubs:   map[string]json.RawMessage{},
		arrived: make(chan struct{}, 1),
		kv:      map[string]json.RawMessage{},
	}
	for _, s := range stubs {
		if _, dup := h.caps[s.name]; dup {
			return nil, usagef("--stub %s: there is already a host function called %s", s.name, s.name)
		}
		h.caps[s.name] = capability.MustParse(s.cap) // parsed by parseStub
		h.stubs[s.name] = s.value
	}
	return h, nil
}

// allowed returns the host functions the plugin's grants let it call: the
// initialize message's "functions".
func (h *checkHost) allowed() []string {
	var out []string
	for name, c := range h.caps {
		if h.grants.Allows(c) {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

func (h *checkHost) drainArrived() {
	select {
	case <-h.arrived:
	default:
	}
}

// call serves one host function call (tier.HostFunc).
func (h *checkHost) call(ctx context.Context, fn string, input json.RawMessage) (json.RawMessage, error) {
	h.calls.Add(1)
	select {
	case h.arrived <- struct{}{}:
	default:
	}
	c, ok := h.caps[fn]
	if !ok {
		return nil, protocol.Errorf(protocol.CodeMethodNotFound, "no host function %q", fn)
	}
	if !h.grants.Allows(c) {
		return nil, protocol.Errorf(protocol.CodeDenied, "capability %q not granted to plugin %s (needed by host function %s)", c, h.plugin, fn)
	}
	d := time.Duration(h.hold.Load())
	if h.jitter.Load() {
		d += rand.N(jitterMax)
	}
	if d > 0 {
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil, protocol.Errorf(protocol.CodeCancelled, "%s: cancelled", fn)
		}
	}
	if v, ok := h.stubs[fn]; ok {
		return v, nil
	}
	return h.standard(ctx, fn, input)
}

func (h *checkHost) standard(ctx context.Context, fn string, input json.RawMessage) (json.RawMessage, error) {
	var in struct {
		Level  string          `json:"level"`
		Msg    string          `json:"msg"`
		Key    string          `json:"key"`
		Value  json.RawMessage `json:"value"`
		Prefix string          `json:"prefix"`
		Old    json.RawMessage `json:"old"`
		New    json.RawMessage `json:"new"`
	}
	if err := json.Unmarshal(input, &in); err != nil {
		return nil, protocol.Errorf(protocol.CodeInvalidParams, "%s: invalid input: %v", fn, err)
	}
	if strings.HasPrefix(fn, "kv.") && fn != "kv.list" && (len(in.Key) == 0 || len(in.Key) > 256) {
		return nil, protocol.Errorf(protocol.CodeInvalidParams, "%s: a key has 1 to 256 bytes", fn)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	switch fn {
	case "log":
		level, ok := map[string]slog.Level{"debug": slog.LevelDebug, "info": slog.LevelInfo, "warn": slog.LevelWarn, "error": slog.LevelError}[strings.ToLower(in.Level)]
		if !ok {
			return nil, protocol.Errorf(protocol.CodeInvalidParams, "log: level %q: use debug, info, warn or error", in.Level)
		}
		h.log.Log(ctx, level, in.Msg, "stream", "log")
		return json.RawMessage("null"), nil
	case "kv.get":
		v, found := h.kv[in.Key]
		if !found {
			v = json.RawMessage("null")
		}
		return json.Marshal(map[string]any{"value": v, "found": found})
	case "kv.set":
		if len(in.Value) > kvMaxValue {
			return nil, protocol.Errorf(protocol.CodeInvalidParams, "kv.set: a value has at most %d bytes", kvMaxValue)
		}
		if in.Value == nil {
			in.Value = json.RawMessage("null")
		}
		h.kv[in.Key] = in.Value
		return json.RawMessage("null"), nil
	case "kv.delete":
		delete(h.kv, in.Key)
		return json.RawMessage("null"), nil
	case "kv.list":
		keys := []string{}
		for k := range h.kv {
			if strings.HasPrefix(k, in.Prefix) {
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		return json.Marshal(map[string]any{"keys": keys})
	case "kv.cas":
		// Absent old: the key must not exist; absent new: delete it.
		cur, found := h.kv[in.Key]
		if (in.Old == nil) == found || (found && !bytes.Equal(compact(cur), compact(in.Old))) {
			return json.Marshal(map[string]bool{"swapped": false})
		}
		if in.New == nil {
			delete(h.kv, in.Key)
		} else {
			h.kv[in.Key] = in.New
		}
		return json.Marshal(map[string]bool{"swapped": true})
	case "timer.after", "timer.every":
		// The checks run calls, not time: a timer is accepted and never
		// fires, as if the plugin were stopped first.
		h.timers++
		return json.Marshal(map[string]string{"id": fmt.Sprintf("check-%d", h.timers)})
	case "timer.cancel":
		return json.RawMessage("null"), nil
	}
	return nil, protocol.Errorf(protocol.CodeMethodNotFound, "no host function %q", fn)
}

// Settings for the checks.

// baseSettings returns the settings the checks run the plugin with: the
// --set values, and for each required setting without one a value made up
// from its schema, resolved against the manifest (defaults filled in).
func baseSettings(man *manifest.Manifest, sets []string) (map[string]any, map[string]bool, error) {
	values, err := parseSettings(man, sets)
	if err != nil {
		return nil, nil, err
	}
	fixed := map[string]bool{}
	for name := range values {
		fixed[name] = true
	}
	for _, name := range settingNames(man) {
		s := man.Config[name]
		if !s.Required || fixed[name] {
			continue
		}
		made := false
		for _, v := range settingCandidates(s) {
			if validSetting(s, name, v) {
				values[name], made = v, true
				break
			}
		}
		if !made {
			return nil, nil, usagef("plugin %s: setting %q is required and no value can be made up for it (it has a pattern): give one with --set %s=VALUE", man.Name, name, name)
		}
	}
	resolved, err := man.ResolveConfig(values)
	if err != nil {
		return nil, nil, fmt.Errorf("plugin %s: invalid configuration: %w", man.Name, err)
	}
	return resolved, fixed, nil
}

func settingNames(man *manifest.Manifest) []string {
	return slices.Sorted(maps.Keys(man.Config))
}

// validSetting reports whether the schema of setting s allows v.
func validSetting(s manifest.Setting, name string, v any) bool {
	one := &manifest.Manifest{Config: map[string]manifest.Setting{name: s}}
	_, err := one.ResolveConfig(map[string]any{name: v})
	return err == nil
}

// with returns a copy of values with name set to v.
func with(values map[string]any, name string, v any) map[string]any {
	out := maps.Clone(values)
	if out == nil {
		out = map[string]any{}
	}
	out[name] = v
	return out
}

// settingCandidates returns values the checker tries for a setting: each
// enum value, the bounds of a number (or 0 and 42), both booleans, a
// string and the empty string, a list and the empty list. A string with a
// pattern gets none: no value can be made up for it. Numbers are whole:
// a manifest has no integer type, but plugins commonly read counts.
func settingCandidates(s manifest.Setting) []any {
	if len(s.Enum) > 0 {
		return slices.Clone(s.Enum)
	}
	switch s.Type {
	case manifest.TypeString, manifest.TypeSecret:
		if s.Pattern != "" {
			return nil
		}
		return []any{"airlock-check", ""}
	case manifest.TypeNumber, manifest.TypeInteger:
		var c []any
		switch {
		case s.Min != nil && s.Max != nil:
			c = append(c, *s.Min, *s.Max)
		case s.Min != nil:
			c = append(c, *s.Min, *s.Min+1)
		case s.Max != nil:
			c = append(c, *s.Max, *s.Max-1)
		default:
			c = append(c, 0.0, 42.0) // whole numbers: integers too
		}
		return c
	case manifest.TypeBool:
		return []any{true, false}
	case manifest.TypeList:
		if s.Pattern != "" {
			return []any{[]any{}}
		}
		return []any{[]any{"airlock-check", "second"}, []any{}}
	}
	return nil
}

// settingVariant is a configuration the settings check starts the plugin
// with.
type settingVariant struct {
	label  string
	config map[string]any // resolved
}

// settingVariants returns up to two configurations other than base that
// the schema allows: the first takes each setting's first candidate
// value that differs from base, the second its second.
func settingVariants(man *manifest.Manifest, base map[string]any, fixed map[string]bool) []settingVariant {
	var out []settingVariant
	for i := range 2 {
		values := maps.Clone(base)
		var changed []string
		for _, name := range settingNames(man) {
			if fixed[name] {
				continue
			}
			s := man.Config[name]
			var picks []any
			for _, v := range settingCandidates(s) {
				if !sameJSON(v, base[name]) && validSetting(s, name, v) {
					picks = append(picks, v)
				}
			}
			if i >= len(picks) {
				continue
			}
			values[name] = picks[i]
			changed = append(changed, settingLabel(s, name, picks[i]))
		}
		if len(changed) == 0 {
			continue
		}
		resolved, err := man.ResolveConfig(values)
		if err != nil {
			continue
		}
		out = append(out, settingVariant{label: strings.Join(changed, ", "), config: resolved})
	}
	return out
}

// refusedSettings returns, for the report, configurations the host
// refuses before the plugin sees them: each setting with a value of the
// wrong type, and an unknown setting.
func refusedSettings(man *manifest.Manifest, base map[string]any) []string {
	var out []string
	try := func(label string, values map[string]any) {
		if _, err := man.ResolveConfig(values); err != nil {
			out = append(out, label)
		}
	}
	for _, name := range settingNames(man) {
		s := man.Config[name]
		var wrong any = "not-a-" + s.Type
		switch s.Type {
		case manifest.TypeString, manifest.TypeSecret:
			wrong = 42.0
		}
		try(settingLabel(s, name, wrong)+" (wrong type)", with(base, name, wrong))
	}
	try("an unknown setting", with(base, "airlock_check_unknown", true))
	return out
}

func settingLabel(s manifest.Setting, name string, v any) string {
	if s.Secret() {
		return name + "=(a secret)"
	}
	b, _ := json.Marshal(v)
	return name + "=" + string(b)
}

// sameJSON reports whether two setting values encode alike (a TOML
// default may be an int64 where a made-up value is a float64).
func sameJSON(a, b any) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	var va, vb any
	_ = json.Unmarshal(ja, &va)
	_ = json.Unmarshal(jb, &vb)
	return reflect.DeepEqual(va, vb)
}

// compact is v without insignificant space, for comparing JSON values.
func compact(v json.RawMessage) []byte {
	var b bytes.Buffer
	if json.Compact(&b, v) != nil {
		return v
	}
	return b.Bytes()
}
