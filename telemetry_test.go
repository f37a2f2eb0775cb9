package airlock_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	oteltrace "go.opentelemetry.io/otel/trace"

	"github.com/airlock-go/airlock"
	"github.com/airlock-go/airlock/sdk/go/plugin"
)

// observed is a host's telemetry, kept in memory.
type observed struct {
	reader *sdkmetric.ManualReader
	spans  *tracetest.SpanRecorder
	tp     *sdktrace.TracerProvider
}

// withTelemetry sets opts' providers to in-memory ones.
func withTelemetry(t *testing.T, opts *airlock.Options) *observed {
	t.Helper()
	o := &observed{reader: sdkmetric.NewManualReader(), spans: tracetest.NewSpanRecorder()}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(o.reader))
	o.tp = sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(o.spans))
	t.Cleanup(func() {
		_ = mp.Shutdown(context.Background())
		_ = o.tp.Shutdown(context.Background())
	})
	opts.MeterProvider, opts.TracerProvider = mp, o.tp
	return o
}

// points returns the data points of metric name as attribute sets
// (rendered "k=v,k=v") with their values: a sum's value (an integer or
// a float), a histogram's count.
func (o *observed) points(t *testing.T, name string) map[string]float64 {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := o.reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != name {
				continue
			}
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				for _, p := range d.DataPoints {
					out[render(p.Attributes)] = float64(p.Value)
				}
			case metricdata.Sum[float64]:
				for _, p := range d.DataPoints {
					out[render(p.Attributes)] = p.Value
				}
			case metricdata.Histogram[float64]:
				for _, p := range d.DataPoints {
					out[render(p.Attributes)] = float64(p.Count)
				}
			default:
				t.Fatalf("metric %s has unexpected data %T", name, m.Data)
			}
		}
	}
	return out
}

func render(s attribute.Set) string {
	var parts []string
	for _, kv := range s.ToSlice() {
		parts = append(parts, string(kv.Key)+"="+kv.Value.Emit())
	}
	return strings.Join(parts, ",")
}

// span returns the ended span called name; it fails the test if there is
// none.
func (o *observed) span(t *testing.T, name string) sdktrace.ReadOnlySpan {
	t.Helper()
	var names []string
	for _, s := range o.spans.Ended() {
		if s.Name() == name {
			return s
		}
		names = append(names, s.Name())
	}
	t.Fatalf("no span %q; spans: %q", name, names)
	return nil
}

func spanAttr(s sdktrace.ReadOnlySpan, key string) string {
	for _, kv := range s.Attributes() {
		if string(kv.Key) == key {
			return kv.Value.Emit()
		}
	}
	return ""
}

type telGreeting struct {
	Name string `json:"name"`
}

type telReply struct {
	Message string `json:"message"`
}

// A process plugin's hooks and calls are counted and timed by plugin,
// function and phase, their errors by kind, and each has a span; the
// plugin receives the trace context of its call span.
func TestTelemetryProcessPlugin(t *testing.T) {
	opts := airlock.Options{Functions: []airlock.Function{airlock.NewFunc("secret.read", "secret.read", func(context.Context, airlock.Caller, struct{}) (string, error) { return "", nil })}}
	o := withTelemetry(t, &opts)
	h, _ := newHost(t, opts)
	load(t, h, airlock.PluginConfig{Path: testPlugin(t), Grants: []string{"log"}})
	ctx := ctxT(t, 20*time.Second)

	greet := airlock.NewHook[telGreeting, telReply]("greet", nil)
	if _, err := greet.Run(ctx, h, telGreeting{Name: "ada"}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Call(ctx, "testplugin", "fail", nil); !errors.Is(err, airlock.ErrPluginFailed) {
		t.Fatalf("fail: %v", err)
	}
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, err := h.Call(short, "testplugin", "sleep", 5000); !errors.Is(err, airlock.ErrDeadline) {
		t.Fatalf("sleep: %v", err)
	}
	// A refused host call: secret.read is not granted.
	if _, err := h.Call(ctx, "testplugin", "callhost", map[string]any{"fn": "secret.read", "input": map[string]any{}}); err != nil {
		t.Fatal(err)
	}
	// Names the host does not have, made up by the plugin, are counted
	// under one label (threat: a plugin filling the metric series).
	for _, fn := range []string{"made.up.1", "made.up.2"} {
		if _, err := h.Call(ctx, "testplugin", "callhost", map[string]any{"fn": fn, "input": map[string]any{}}); err != nil {
			t.Fatal(err)
		}
	}

	// The trace context reaches the plugin: its handler's context holds
	// the host's call span, as a remote parent.
	parentCtx, parent := o.tp.Tracer("test").Start(ctx, "request")
	got, err := airlock.CallFunc[map[string]string](parentCtx, h, "testplugin", "traceparent", nil)
	parent.End()
	if err != nil {
		t.Fatal(err)
	}
	call := o.span(t, "airlock.call testplugin/traceparent")
	if got["trace_id"] != parent.SpanContext().TraceID().String() || got["span_id"] != call.SpanContext().SpanID().String() || got["remote"] != "true" {
		t.Errorf("plugin saw trace %s span %s remote %s, want trace %s span %s (the call's) remote true",
			got["trace_id"], got["span_id"], got["remote"], parent.SpanContext().TraceID(), call.SpanContext().SpanID())
	}
	if call.Parent().SpanID() != parent.SpanContext().SpanID() {
		t.Errorf("call span's parent = %s, want the caller's span %s", call.Parent().SpanID(), parent.SpanContext().SpanID())
	}

	calls := o.points(t, "airlock.plugin.calls")
	for _, want := range []string{
		"function=greet,phase=define,plugin=testplugin",
		"function=fail,phase=,plugin=testplugin",
		"function=sleep,phase=,plugin=testplugin",
		"function=traceparent,phase=,plugin=testplugin",
	} {
		if calls[want] != 1 {
			t.Errorf("airlock.plugin.calls{%s} = %v, want 1 (have %v)", want, calls[want], calls)
		}
	}
	errs := o.points(t, "airlock.plugin.errors")
	for _, want := range []string{
		"error.type=plugin_failed,function=fail,phase=,plugin=testplugin",
		"error.type=deadline,function=sleep,phase=,plugin=testplugin",
	} {
		if errs[want] != 1 {
			t.Errorf("airlock.plugin.errors{%s} = %v, want 1 (have %v)", want, errs[want], errs)
		}
	}
	if len(errs) != 2 {
		t.Errorf("airlock.plugin.errors = %v, want the two failures only", errs)
	}
	if d := o.points(t, "airlock.plugin.call.duration"); d["function=greet,phase=define,plugin=testplugin"] != 1 {
		t.Errorf("airlock.plugin.call.duration = %v, want one greet", d)
	}
	if r := o.points(t, "airlock.hook.runs"); r["hook=greet"] != 1 {
		t.Errorf("airlock.hook.runs = %v, want greet once", r)
	}
	if r := o.points(t, "airlock.host_calls.refused"); r["function=secret.read,plugin=testplugin,reason=not_granted"] != 1 ||
		r["function=(unknown),plugin=testplugin,reason=no_such_function"] != 2 || len(r) != 2 {
		t.Errorf("airlock.host_calls.refused = %v, want secret.read refused once and two unknown names under one label", r)
	}
	for name, n := range o.points(t, "airlock.host_calls") {
		if strings.Contains(name, "made.up") {
			t.Errorf("airlock.host_calls{%s} = %v: a made-up name became a series", name, n)
		}
	}

	hook, greetCall := o.span(t, "airlock.hook greet"), o.span(t, "airlock.call testplugin/greet")
	if greetCall.Parent().SpanID() != hook.SpanContext().SpanID() || greetCall.SpanContext().TraceID() != hook.SpanContext().TraceID() {
		t.Errorf("the greet call's span is not a child of the hook's")
	}
	if spanAttr(greetCall, "phase") != "define" || spanAttr(greetCall, "tier") != "process" || greetCall.SpanKind() != oteltrace.SpanKindClient {
		t.Errorf("greet call span attributes %v, kind %v", greetCall.Attributes(), greetCall.SpanKind())
	}
	if s := o.span(t, "airlock.call testplugin/sleep"); s.Status().Code != codes.Error || spanAttr(s, "error.type") != "deadline" {
		t.Errorf("sleep span status %v error.type %q, want an error of type deadline", s.Status(), spanAttr(s, "error.type"))
	}
	hostCall := o.span(t, "airlock.host_call secret.read")
	if spanAttr(hostCall, "error.type") != "denied" || spanAttr(hostCall, "plugin") != "testplugin" {
		t.Errorf("host call span attributes %v, want plugin testplugin and error.type denied", hostCall.Attributes())
	}
	// The process plugin's host call is a child of the call it made it
	// during (the request names it: rpc.Origin).
	if c := o.span(t, "airlock.call testplugin/callhost"); hostCall.Parent().SpanID() != c.SpanContext().SpanID() || hostCall.SpanContext().TraceID() != c.SpanContext().TraceID() {
		t.Errorf("host call span's parent %s in trace %s, want the callhost call's span %s in trace %s",
			hostCall.Parent().SpanID(), hostCall.SpanContext().TraceID(), c.SpanContext().SpanID(), c.SpanContext().TraceID())
	}
}

// A builtin runs in the host's own trace: its handler's context holds the
// call span itself. A result refused by the hook's schema counts as a
// bad_result, and a collect hook's run has its own span.
func TestTelemetryBuiltinBadResultAndInFlight(t *testing.T) {
	var seen oteltrace.SpanContext
	release := make(chan struct{})
	var once sync.Once
	liar := plugin.New("liar", "1.0.0")
	plugin.Handle(liar, "greet", func(ctx context.Context, _ *plugin.Host, _ telGreeting) (map[string]int, error) {
		seen = oteltrace.SpanContextFromContext(ctx)
		return map[string]int{"message": 1}, nil // not a telReply
	})
	plugin.Handle(liar, "hold", func(ctx context.Context, _ *plugin.Host, _ any) (any, error) {
		<-release
		return nil, nil
	})
	opts := airlock.Options{Builtins: map[string]airlock.Builtin{"liar": {Plugin: liar, Manifest: `
name = "liar"
version = "1.0.0"
tier = "builtin"
protocol = 1
hooks = ["greet"]
functions = ["hold"]
`}}}
	o := withTelemetry(t, &opts)
	h, _ := newHost(t, opts)
	load(t, h, airlock.PluginConfig{Builtin: "liar"})
	ctx := ctxT(t, 10*time.Second)

	greet := airlock.NewHook[telGreeting, telReply]("greet", nil)
	if _, err := greet.Run(ctx, h, telGreeting{Name: "ada"}); !errors.Is(err, airlock.ErrBadResult) {
		t.Fatalf("greet: %v, want ErrBadResult", err)
	}
	call := o.span(t, "airlock.call liar/greet")
	if !seen.Equal(call.SpanContext()) {
		t.Errorf("builtin saw span %v, want the call span %v", seen, call.SpanContext())
	}
	if e := o.points(t, "airlock.plugin.errors"); e["error.type=bad_result,function=greet,phase=define,plugin=liar"] != 1 {
		t.Errorf("airlock.plugin.errors = %v, want one bad_result", e)
	}
	if e := o.points(t, "airlock.hook.errors"); e["error.type=bad_result,hook=greet"] != 1 {
		t.Errorf("airlock.hook.errors = %v, want one bad_result", e)
	}
	if s := o.span(t, "airlock.hook greet"); s.Status().Code != codes.Error {
		t.Errorf("hook span status %v, want an error", s.Status())
	}

	collect := airlock.NewCollectHook[telGreeting, telReply]("greet")
	answers, err := collect.Run(ctx, h, telGreeting{Name: "bob"})
	if err != nil || len(answers) != 1 || !errors.Is(answers[0].Err, airlock.ErrBadResult) {
		t.Fatalf("collect: %v %+v", err, answers)
	}
	if r := o.points(t, "airlock.hook.runs"); r["hook=greet"] != 2 {
		t.Errorf("airlock.hook.runs = %v, want greet twice", r)
	}

	// In flight: one call held.
	done := make(chan error, 1)
	go func() {
		_, err := h.Call(ctx, "liar", "hold", nil)
		done <- err
	}()
	defer once.Do(func() { close(release) })
	waitFor(t, func() bool { return o.points(t, "airlock.plugin.inflight")["plugin=liar"] == 1 }, "one call in flight")
	once.Do(func() { close(release) })
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := o.points(t, "airlock.plugin.inflight")["plugin=liar"]; n != 0 {
		t.Errorf("in flight after the call = %v, want 0", n)
	}
}

// Restarts and disables are counted per plugin.
func TestTelemetryRestartsAndDisables(t *testing.T) {
	opts := airlock.Options{}
	o := withTelemetry(t, &opts)
	h, _ := newHostWith(t, airlock.Config{Restart: airlock.RestartPolicy{MaxCrashes: 2, Window: airlock.Duration(time.Minute), Backoff: airlock.Duration(10 * time.Millisecond)}}, opts)
	load(t, h, airlock.PluginConfig{Path: testPlugin(t)})
	ctx := ctxT(t, 30*time.Second)
	if _, err := h.Call(ctx, "testplugin", "crash", nil); !errors.Is(err, airlock.ErrPluginCrashed) {
		t.Fatalf("crash: %v", err)
	}
	if _, err := h.Call(ctx, "testplugin", "echo", 1); err != nil { // after the restart
		t.Fatal(err)
	}
	if _, err := h.Call(ctx, "testplugin", "crash", nil); !errors.Is(err, airlock.ErrPluginCrashed) {
		t.Fatalf("crash: %v", err)
	}
	waitFor(t, func() bool { info, _ := h.Plugin("testplugin"); return info.State == airlock.StateDisabled }, "the plugin disabled")
	if _, err := h.Call(ctx, "testplugin", "echo", 1); !errors.Is(err, airlock.ErrPluginDisabled) {
		t.Fatalf("echo: %v", err)
	}
	if r := o.points(t, "airlock.plugin.restarts"); r["plugin=testplugin"] != 1 {
		t.Errorf("airlock.plugin.restarts = %v, want 1", r)
	}
	if d := o.points(t, "airlock.plugin.disables"); d["plugin=testplugin"] != 1 {
		t.Errorf("airlock.plugin.disables = %v, want 1", d)
	}
	errs := o.points(t, "airlock.plugin.errors")
	if errs["error.type=crashed,function=crash,phase=,plugin=testplugin"] != 2 || errs["error.type=disabled,function=echo,phase=,plugin=testplugin"] != 1 {
		t.Errorf("airlock.plugin.errors = %v, want two crashed and one disabled", errs)
	}
}

// Without providers (the otel globals, no-ops), nothing is sent to the
// plugin: the call params carry no trace context.
func TestTelemetryOffSendsNoTraceContext(t *testing.T) {
	h, _ := newHost(t, airlock.Options{})
	load(t, h, airlock.PluginConfig{Path: testPlugin(t)})
	got, err := airlock.CallFunc[map[string]string](ctxT(t, 10*time.Second), h, "testplugin", "traceparent", nil)
	if err != nil {
		t.Fatal(err)
	}
	if got["trace_id"] != (oteltrace.TraceID{}).String() {
		t.Errorf("plugin saw trace %s with telemetry off, want none", got["trace_id"])
	}
	// A caller's own trace context still reaches the plugin.
	caller := oteltrace.NewSpanContext(oteltrace.SpanContextConfig{TraceID: oteltrace.TraceID{1}, SpanID: oteltrace.SpanID{2}, TraceFlags: oteltrace.FlagsSampled})
	ctx := oteltrace.ContextWithSpanContext(ctxT(t, 10*time.Second), caller)
	if got, err = airlock.CallFunc[map[string]string](ctx, h, "testplugin", "traceparent", nil); err != nil {
		t.Fatal(err)
	}
	if got["trace_id"] != caller.TraceID().String() || got["span_id"] != caller.SpanID().String() {
		t.Errorf("plugin saw trace %s span %s, want the caller's %s %s", got["trace_id"], got["span_id"], caller.TraceID(), caller.SpanID())
	}
}
