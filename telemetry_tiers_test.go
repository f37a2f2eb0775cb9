package airlock_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	oteltrace "go.opentelemetry.io/otel/trace"

	"github.com/airlock-go/airlock"
	"github.com/airlock-go/airlock/internal/testutil"
)

const cTraceManifest = `
name = "ctrace"
version = "0.1.0"
tier = "wasm"
protocol = 1
entry = "ctrace.wasm"
functions = ["trace", "hostcall"]

[capabilities]
optional = ["log"]
`

// tracedCall calls fn of plugin in a span of the test's, whose span
// context carries a tracestate, and returns the call's span and the
// traceparent and tracestate the host should have given the plugin.
func tracedCall(t *testing.T, o *observed, h *airlock.Host, plugin, fn string, input any) (raw json.RawMessage, call oteltrace.SpanContext, traceparent string) {
	t.Helper()
	state, err := oteltrace.ParseTraceState("vendor=x")
	if err != nil {
		t.Fatal(err)
	}
	remote := oteltrace.NewSpanContext(oteltrace.SpanContextConfig{TraceID: oteltrace.TraceID{7}, SpanID: oteltrace.SpanID{8}, TraceFlags: oteltrace.FlagsSampled, TraceState: state, Remote: true})
	ctx, parent := o.tp.Tracer("test").Start(oteltrace.ContextWithRemoteSpanContext(ctxT(t, 60*time.Second), remote), "request")
	raw, err = h.Call(ctx, plugin, fn, input)
	parent.End()
	if err != nil {
		t.Fatalf("%s/%s: %v", plugin, fn, err)
	}
	sc := o.span(t, "airlock.call "+plugin+"/"+fn).SpanContext()
	return raw, sc, "00-" + sc.TraceID().String() + "-" + sc.SpanID().String() + "-01"
}

// checkHostCallParent fails unless the span of host call fn is a child of
// the span of the call caller.
func checkHostCallParent(t *testing.T, o *observed, fn string, caller oteltrace.SpanContext) {
	t.Helper()
	s := o.span(t, "airlock.host_call "+fn)
	if s.Parent().SpanID() != caller.SpanID() || s.SpanContext().TraceID() != caller.TraceID() {
		t.Errorf("host call %s: parent span %s in trace %s, want the call's span %s in trace %s",
			fn, s.Parent().SpanID(), s.SpanContext().TraceID(), caller.SpanID(), caller.TraceID())
	}
}

type traceHeaders struct {
	Traceparent string `json:"traceparent"`
	Tracestate  string `json:"tracestate"`
}

// A wasm plugin in C gets its call's trace context from the C SDK
// (airlock_traceparent, airlock_tracestate), and its host calls are
// children of the call's span.
func TestTelemetryTraceContextCWasm(t *testing.T) {
	module := testutil.CWasm(t, "ctrace", []string{"-I", "sdk/c"}, "testdata/plugins/ctrace/trace.c", "sdk/c/airlock.c")
	dir := testutil.PluginDir(t, cTraceManifest, map[string]string{"ctrace.wasm": module})
	opts := airlock.Options{}
	o := withTelemetry(t, &opts)
	h, _ := newHost(t, opts)
	load(t, h, airlock.PluginConfig{Path: dir, Grants: []string{"log"}})

	raw, _, want := tracedCall(t, o, h, "ctrace", "trace", nil)
	var got traceHeaders
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatalf("%s: %v", raw, err)
	}
	if got.Traceparent != want || got.Tracestate != "vendor=x" {
		t.Errorf("C wasm plugin saw traceparent %q tracestate %q, want %q and vendor=x", got.Traceparent, got.Tracestate, want)
	}
	_, call, _ := tracedCall(t, o, h, "ctrace", "hostcall", nil)
	checkHostCallParent(t, o, "log", call)

	// Untraced (no tracer provider), a call sees none.
	plain, _ := newHost(t, airlock.Options{})
	load(t, plain, airlock.PluginConfig{Path: dir})
	out, err := plain.Call(context.Background(), "ctrace", "trace", nil)
	if err != nil || string(out) != `{"traceparent":"","tracestate":""}` {
		t.Errorf("untraced call: %s, %v; want empty trace context", out, err)
	}
}

// A native library gets its call's trace context in the call's struct
// (airlock_native_traceparent), in-process and contained, and its host
// calls are children of the call's span.
func TestTelemetryTraceContextNative(t *testing.T) {
	if !nativeSupported() {
		t.Skip("no native tier here")
	}
	dir := testLib(t)
	for _, iso := range isolations {
		t.Run(string(iso), func(t *testing.T) {
			opts := airlock.Options{}
			o := withTelemetry(t, &opts)
			h, _ := newHost(t, opts)
			load(t, h, airlock.PluginConfig{Path: dir, Isolation: iso, Grants: []string{"log"}})
			raw, _, want := tracedCall(t, o, h, "testlib", "echo", 1)
			var got traceHeaders
			if err := json.Unmarshal(raw, &got); err != nil {
				t.Fatalf("%s: %v", raw, err)
			}
			if got.Traceparent != want || got.Tracestate != "vendor=x" {
				t.Errorf("library saw traceparent %q tracestate %q, want %q and vendor=x", got.Traceparent, got.Tracestate, want)
			}
			_, call, _ := tracedCall(t, o, h, "testlib", "hostcall", map[string]any{"fn": "log", "input": map[string]any{"msg": "traced"}})
			checkHostCallParent(t, o, "log", call)
		})
	}
}
