package airlock

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"reflect"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/airlock-go/airlock/protocol"
)

// Bounds of the attributes of one log host function call (threat: a
// plugin making the host write huge records through attributes, which the
// line cap on the message alone would not stop). All of a record's
// attributes together are also cut at the plugin's MaxLogLine.
const (
	logMaxAttrs      = 32
	logMaxAttrKey    = 64
	logMaxAttrValue  = 256
	logTruncatedMark = "…"
)

// standardFuncs are the host functions every host has: log (capability
// "log") and a per-plugin key-value store (capability "kv", kv.go).
func standardFuncs(store *kvStore) []Function {
	logs := newLogGates()
	// The host decodes logInput (attributes kept raw, so that only those
	// kept are decoded); plugins are told, and checked against, LogInput.
	logFn := NewFunc("log", "log", logs.log)
	logFn.in = mustSchema(reflect.TypeFor[LogInput](), true, `host function "log" input`)
	return append([]Function{logFn}, store.funcs()...)
}

// LogInput is the input of the "log" host function: Level is debug, info
// (the default), warn or error; Attrs is an optional JSON object. The message is cut at
// the plugin's max_log_line_bytes, at most 32 attributes are kept (keys cut
// at 64 bytes, values at 256, all of them together at max_log_line_bytes),
// and lines beyond log_lines_per_second are dropped and counted.
type LogInput struct {
	Level string         `json:"level,omitempty" jsonschema:"description=debug\\, info (the default)\\, warn or error"`
	Msg   string         `json:"msg"`
	Attrs map[string]any `json:"attrs,omitempty" jsonschema:"description=at most 32 are kept"`
}

// logInput is LogInput as the host decodes it: the attributes stay raw so
// that only the ones kept are decoded.
type logInput struct {
	Level string          `json:"level,omitempty"`
	Msg   string          `json:"msg"`
	Attrs json.RawMessage `json:"attrs,omitempty"`
}

// logGates holds each plugin's log rate window.
type logGates struct {
	mu    sync.Mutex
	gates map[string]*logGate // by plugin name
}

func newLogGates() *logGates { return &logGates{gates: map[string]*logGate{}} }

// logGate counts one plugin's log lines in the current one-second window,
// as the process tier's stderr pump does for its standard error.
type logGate struct {
	owner *loadedPlugin // a plugin loaded again under the same name gets a new gate

	mu        sync.Mutex
	windowEnd time.Time
	count     int
	dropped   int
}

// gate returns the gate of the calling plugin.
func (g *logGates) gate(p *loadedPlugin) *logGate {
	g.mu.Lock()
	defer g.mu.Unlock()
	lg := g.gates[p.name]
	if lg == nil || lg.owner != p {
		lg = &logGate{owner: p}
		g.gates[p.name] = lg
	}
	return lg
}

// admit reports whether one more line may be logged at now under rate
// lines a second. It also returns the count of lines dropped in the window
// that just ended (to be reported now) and whether this is the first line
// dropped in this window (to warn once).
func (lg *logGate) admit(now time.Time, rate int) (ok bool, droppedBefore int, firstDrop bool) {
	lg.mu.Lock()
	defer lg.mu.Unlock()
	if now.After(lg.windowEnd) {
		droppedBefore = lg.dropped
		lg.windowEnd, lg.count, lg.dropped = now.Add(time.Second), 0, 0
	}
	lg.count++
	if lg.count <= rate {
		return true, droppedBefore, false
	}
	lg.dropped++
	return false, droppedBefore, lg.dropped == 1
}

// log is the "log" host function. Threat: a plugin flooding or bloating
// the host's log through it, which must cost no more than its standard
// error may: the message is cut at MaxLogLine bytes, the attributes are
// bounded, and lines beyond LogLinesPerSec a second are dropped and their
// count reported, whatever the plugin's tier.
func (g *logGates) log(ctx context.Context, c Caller, in logInput) (any, error) {
	level, err := logLevel(in.Level)
	if err != nil {
		return nil, err
	}
	limits := c.plugin.spec.Limits
	ok, droppedBefore, firstDrop := g.gate(c.plugin).admit(time.Now(), limits.LogLinesPerSec)
	log := c.Logger()
	if droppedBefore > 0 {
		log.Warn("plugin log lines dropped: over the rate limit", "stream", "log", "dropped", droppedBefore, "limit_per_second", limits.LogLinesPerSec)
	}
	if firstDrop {
		log.Warn("plugin log over its rate limit: dropping lines for the rest of this second", "stream", "log", "limit_per_second", limits.LogLinesPerSec)
	}
	if !ok {
		return nil, nil
	}
	attrs, err := logAttrs(in.Attrs, limits.MaxLogLine)
	if err != nil {
		return nil, err
	}
	msg, cut := cutUTF8(in.Msg, limits.MaxLogLine)
	if cut {
		attrs = append(attrs, slog.Bool("truncated", true))
	}
	log.LogAttrs(ctx, level, msg, attrs...)
	return nil, nil
}

func logLevel(s string) (slog.Level, error) {
	switch strings.ToLower(s) {
	case "debug":
		return slog.LevelDebug, nil
	case "", "info":
		return slog.LevelInfo, nil
	case "warn", "warning":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return 0, protocol.Errorf(protocol.CodeInvalidParams, "log: level %q: use debug, info, warn or error", s)
}

// logAttrs decodes at most logMaxAttrs attributes of the JSON object raw,
// cutting each and stopping once budget bytes are used; the attributes it
// leaves out are counted in an "attrs_dropped" attribute. The object is
// read as a stream, so the ones left out are never decoded into values.
func logAttrs(raw json.RawMessage, budget int) ([]slog.Attr, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, protocol.Errorf(protocol.CodeInvalidParams, "log: attrs must be a JSON object")
	}
	var attrs []slog.Attr
	dropped := 0
	for dec.More() {
		tok, err := dec.Token()
		key, isKey := tok.(string)
		var value json.RawMessage
		if err == nil && isKey {
			err = dec.Decode(&value)
		}
		if err != nil || !isKey {
			return nil, protocol.Errorf(protocol.CodeInvalidParams, "log: attrs: not a valid JSON object")
		}
		a := logAttr(key, value)
		size := len(a.Key) + len(a.Value.String())
		if len(attrs) == logMaxAttrs || size > budget {
			dropped++
			continue
		}
		budget -= size
		attrs = append(attrs, a)
	}
	sort.Slice(attrs, func(i, j int) bool { return attrs[i].Key < attrs[j].Key })
	if dropped > 0 {
		attrs = append(attrs, slog.Int("attrs_dropped", dropped))
	}
	return attrs, nil
}

// logAttr makes one attribute: the key prefixed with "plugin." and cut;
// a string, number, boolean or null value as it is (a string cut), an
// object or array as its JSON text, cut.
func logAttr(key string, value json.RawMessage) slog.Attr {
	key, _ = cutUTF8(key, logMaxAttrKey)
	key = "plugin." + key
	value = bytes.TrimSpace(value)
	if len(value) > 0 && (value[0] == '{' || value[0] == '[') {
		s, _ := cutUTF8(strings.ToValidUTF8(string(value), "?"), logMaxAttrValue)
		return slog.String(key, s)
	}
	var v any
	if err := json.Unmarshal(value, &v); err != nil {
		return slog.String(key, "?")
	}
	if s, ok := v.(string); ok {
		s, _ = cutUTF8(s, logMaxAttrValue)
		return slog.String(key, s)
	}
	return slog.Any(key, v)
}

// cutUTF8 cuts s to at most max bytes on a character boundary, marking a
// cut with an ellipsis (which the max does not count).
// errForLog returns err's text cut at max bytes, for the host's log.
// Threat: a plugin's error message (an after handler's, a timer
// callback's), up to max_message_bytes, logged in full would pass the
// max_log_line_bytes its own log lines are held to, at every call.
func errForLog(err error, max int) string {
	s, _ := cutUTF8(err.Error(), max)
	return s
}

func cutUTF8(s string, max int) (string, bool) {
	if len(s) <= max {
		return s, false
	}
	i := max
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i] + logTruncatedMark, true
}
