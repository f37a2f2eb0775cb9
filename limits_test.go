package airlock_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/airlock-go/airlock"
	"github.com/airlock-go/airlock/internal/testutil"
	"github.com/airlock-go/airlock/sdk/go/plugin"
)

// jsonLog collects a host's log as JSON records.
type jsonLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *jsonLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *jsonLog) logger() *slog.Logger {
	return slog.New(slog.NewJSONHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// records returns the records whose msg starts with prefix.
func (l *jsonLog) records(t *testing.T, prefix string) []map[string]any {
	t.Helper()
	l.mu.Lock()
	data := bytes.Clone(l.buf.Bytes())
	l.mu.Unlock()
	var out []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var rec map[string]any
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatalf("log line %q: %v", sc.Text(), err)
		}
		if msg, _ := rec["msg"].(string); strings.HasPrefix(msg, prefix) {
			out = append(out, rec)
		}
	}
	return out
}

// sumDropped adds up the dropped counts the host reported.
func (l *jsonLog) sumDropped(t *testing.T) int {
	n := 0
	for _, r := range l.records(t, "plugin log lines dropped") {
		d, _ := r["dropped"].(float64)
		n += int(d)
	}
	return n
}

// hostCaller is a builtin plugin whose function "call" calls the host
// function its input names, times times, and returns the last result: host
// functions seen from the builtin tier.
func hostCaller(name string, caps ...string) airlock.Builtin {
	p := plugin.New(name, "1.0.0")
	plugin.Handle(p, "call", func(ctx context.Context, h *plugin.Host, in struct {
		Fn    string          `json:"fn"`
		Input json.RawMessage `json:"input"`
		Times int             `json:"times"`
	}) (json.RawMessage, error) {
		var out json.RawMessage
		for range max(in.Times, 1) {
			if err := h.Call(ctx, in.Fn, in.Input, &out); err != nil {
				return nil, err
			}
		}
		return out, nil
	})
	quoted := make([]string, len(caps))
	for i, c := range caps {
		quoted[i] = fmt.Sprintf("%q", c)
	}
	return airlock.Builtin{Plugin: p, Manifest: fmt.Sprintf(`
name = %q
version = "1.0.0"
tier = "builtin"
protocol = 1
functions = ["call"]
[capabilities]
optional = [%s]
`, name, strings.Join(quoted, ", "))}
}

// logVia sends one log host function call as a plugin of some tier would.
type logVia func(ctx context.Context, in map[string]any) error

// logTiers loads a plugin of each tier that can send any log input, with
// limits, and returns how to log through each.
func logTiers(t *testing.T, limits airlock.Limits) (map[string]logVia, map[string]*jsonLog) {
	t.Helper()
	vias, logs := map[string]logVia{}, map[string]*jsonLog{}

	logs["builtin"] = &jsonLog{}
	hb, _ := newHost(t, airlock.Options{Logger: logs["builtin"].logger(), Builtins: map[string]airlock.Builtin{"logger": hostCaller("logger", "log")}})
	load(t, hb, airlock.PluginConfig{Builtin: "logger", Grants: []string{"log"}, Limits: limits})
	vias["builtin"] = func(ctx context.Context, in map[string]any) error {
		_, err := hb.Call(ctx, "logger", "call", map[string]any{"fn": "log", "input": in})
		return err
	}

	logs["process"] = &jsonLog{}
	hp, _ := newHost(t, airlock.Options{Logger: logs["process"].logger()})
	load(t, hp, airlock.PluginConfig{Path: testPlugin(t), Grants: []string{"log"}, Limits: limits})
	vias["process"] = func(ctx context.Context, in map[string]any) error {
		out, err := airlock.CallFunc[map[string]any](ctx, hp, "testplugin", "callhost", map[string]any{"fn": "log", "input": in})
		if err == nil && out["error"] != nil {
			err = fmt.Errorf("log: %v", out["error"])
		}
		return err
	}
	return vias, logs
}

// The log host function cuts long messages at max_log_line_bytes and
// bounds the attributes, whatever the tier of the plugin calling it.
func TestLogHostFunctionCutsLines(t *testing.T) {
	vias, logs := logTiers(t, airlock.Limits{MaxLogLineBytes: 100, LogLinesPerSecond: 1000})
	for tier, via := range vias {
		t.Run(tier, func(t *testing.T) {
			ctx := ctxT(t, 20*time.Second)
			attrs := map[string]any{}
			for i := range 100 {
				attrs[fmt.Sprintf("k%02d", i)] = strings.Repeat("v", 1000)
			}
			attrs["nested"] = map[string]any{"deep": strings.Repeat("x", 5000)}
			attrs["small"] = 7
			attrs[strings.Repeat("K", 500)] = 1
			if err := via(ctx, map[string]any{"level": "warn", "msg": "long " + strings.Repeat("é", 1000), "attrs": attrs}); err != nil {
				t.Fatal(err)
			}
			recs := logs[tier].records(t, "long ")
			if len(recs) != 1 {
				t.Fatalf("%d records of the long line", len(recs))
			}
			rec := recs[0]
			msg := rec["msg"].(string)
			if len(msg) > 100+len("…") || !utf8.ValidString(msg) || rec["truncated"] != true {
				t.Errorf("message of %d bytes (valid UTF-8: %v), truncated=%v; want it cut at 100 bytes", len(msg), utf8.ValidString(msg), rec["truncated"])
			}
			if rec["plugin"] == nil || rec["level"] != "WARN" {
				t.Errorf("record %v lost its plugin or level", rec)
			}
			attrBytes, kept := 0, 0
			for k, v := range rec {
				if strings.HasPrefix(k, "plugin.") {
					kept++
					attrBytes += len(k) + len(fmt.Sprint(v))
				}
			}
			// The budget is the line cap (plus an ellipsis a cut value).
			if attrBytes > 100+2*len("…") || kept == 0 || rec["attrs_dropped"] == nil {
				t.Errorf("%d attributes of %d bytes kept, attrs_dropped=%v; want at most 100 bytes", kept, attrBytes, rec["attrs_dropped"])
			}
		})
	}
	t.Run("attribute caps", func(t *testing.T) {
		// With the default line cap, the count and per-value caps bind.
		vias, logs := logTiers(t, airlock.Limits{LogLinesPerSecond: 1000})
		attrs := map[string]any{}
		for i := range 100 {
			attrs[fmt.Sprintf("k%02d", i)] = strings.Repeat("v", 1000)
		}
		attrs[strings.Repeat("K", 500)] = "long key"
		if err := vias["builtin"](ctxT(t, 10*time.Second), map[string]any{"msg": "attrs", "attrs": attrs}); err != nil {
			t.Fatal(err)
		}
		rec := logs["builtin"].records(t, "attrs")[0]
		kept := 0
		for k, v := range rec {
			if strings.HasPrefix(k, "plugin.") {
				kept++
				if len(k) > len("plugin.")+64+len("…") || len(fmt.Sprint(v)) > 256+len("…") {
					t.Errorf("attribute %.80q = %.80q… is over the key or value cap", k, v)
				}
			}
		}
		if kept > 32 || kept == 0 {
			t.Errorf("%d attributes kept, want 1 to 32", kept)
		}
	})
}

// Lines beyond log_lines_per_second are dropped, and how many is reported
// later, whatever the tier.
func TestLogHostFunctionRateLimit(t *testing.T) {
	const rate, flood = 3, 30
	vias, logs := logTiers(t, airlock.Limits{LogLinesPerSecond: rate, HostCallsPerSecond: 100000})
	for tier, via := range vias {
		t.Run(tier, func(t *testing.T) {
			ctx := ctxT(t, 30*time.Second)
			start := time.Now()
			for i := range flood {
				if err := via(ctx, map[string]any{"msg": fmt.Sprintf("flood %d", i)}); err != nil {
					t.Fatal(err)
				}
			}
			logged := len(logs[tier].records(t, "flood "))
			if logged < rate || logged > rate*rateWindows(time.Since(start)) {
				t.Errorf("%d of %d lines logged in %v at %d a second", logged, flood, time.Since(start), rate)
			}
			if len(logs[tier].records(t, "plugin log over its rate limit")) == 0 {
				t.Error("no warning that lines are being dropped")
			}
			// The count is reported with the first line after the window:
			// keep logging, below the rate, until it is.
			waitFor(t, func() bool {
				_ = via(ctx, map[string]any{"level": "debug", "msg": "later"})
				time.Sleep(300 * time.Millisecond)
				return logs[tier].sumDropped(t) >= flood-logged
			}, "the dropped lines reported")
		})
	}
}

// rateWindows is how many one-second rate windows a burst that took d can
// touch at most.
func rateWindows(d time.Duration) int { return int(d/time.Second) + 2 }

// The wasm tier's log calls get the same caps: the example guest logs its
// input's name as an attribute.
func TestLogHostFunctionWasm(t *testing.T) {
	dir := testutil.PluginDir(t, readExampleManifest(t, "hello-wasm-go"), map[string]string{
		"bin/hello-wasm-go.wasm": testutil.GoWasm(t, "examples/plugins/hello-wasm-go"),
	})
	logs := &jsonLog{}
	h, _ := newHost(t, airlock.Options{Logger: logs.logger()})
	load(t, h, airlock.PluginConfig{Path: dir, Grants: []string{"log"}, Limits: airlock.Limits{LogLinesPerSecond: 2}})
	ctx := ctxT(t, 60*time.Second)
	start := time.Now()
	for range 10 {
		if _, err := greet.Run(ctx, h, map[string]string{"name": strings.Repeat("n", 5000)}); err != nil {
			t.Fatal(err)
		}
	}
	recs := logs.records(t, "greeting someone")
	if len(recs) == 0 || len(recs) > 2*rateWindows(time.Since(start)) {
		t.Fatalf("%d of 10 lines logged in %v at 2 a second", len(recs), time.Since(start))
	}
	if name, _ := recs[0]["plugin.name"].(string); len(name) > 256+len("…") {
		t.Errorf("attribute of %d bytes logged", len(name))
	}
	if len(logs.records(t, "plugin log over its rate limit")) == 0 {
		t.Error("no warning that lines are being dropped")
	}
}
