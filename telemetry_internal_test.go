package airlock

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/airlock-go/airlock/internal/manifest"
	"github.com/airlock-go/airlock/protocol"
)

// errorKind names the sentinel a caller would test, even where an error
// matches several (a veto wraps the plugin's error; a plugin's own
// deadline or refusal is also a plugin error).
func TestErrorKind(t *testing.T) {
	cases := []struct {
		err  error
		want string
	}{
		{&PluginError{Plugin: "p", Op: OpHook, Err: fmt.Errorf("%w: %w", ErrVetoed, &RemoteError{Code: protocol.CodeFailed})}, "vetoed"},
		{&PluginError{Plugin: "p", Op: OpCall, Err: &RemoteError{Code: protocol.CodeCancelled}}, "deadline"},
		{&RemoteError{Code: protocol.CodeDenied}, "denied"},
		{&RemoteError{Code: protocol.CodeNotImplemented}, "not_implemented"},
		{&RemoteError{Code: protocol.CodeFailed}, "plugin_failed"},
		{fmt.Errorf("x: %w", ErrPluginCrashed), "crashed"},
		{fmt.Errorf("%w (last: boom)", ErrPluginDisabled), "disabled"},
		{fmt.Errorf("%w: $.message", ErrBadResult), "bad_result"},
		{ErrResourceLimit, "resource_limit"},
		{ErrProtocol, "protocol"},
		{ErrClosed, "closed"},
		{context.Canceled, "cancelled"},
		{errors.New("what"), "other"},
	}
	for _, c := range cases {
		if got := errorKind(c.err); got != c.want {
			t.Errorf("errorKind(%v) = %q, want %q", c.err, got, c.want)
		}
	}
}

func TestHostCallErrorKind(t *testing.T) {
	cases := []struct {
		err  error
		want string
	}{
		{protocol.Errorf(protocol.CodeDenied, "no"), "denied"},
		{protocol.Errorf(protocol.CodeMethodNotFound, "no"), "no_such_function"},
		{protocol.Errorf(protocol.CodeRateLimited, "no"), "rate_limited"},
		{protocol.Errorf(protocol.CodeInvalidParams, "no"), "bad_input"},
		{fmt.Errorf("x: %w", context.DeadlineExceeded), "deadline"},
		{errors.New("boom"), "failed"},
	}
	for _, c := range cases {
		if got := hostCallErrorKind(c.err); got != c.want {
			t.Errorf("hostCallErrorKind(%v) = %q, want %q", c.err, got, c.want)
		}
	}
}

// With no providers and no otel global set, the host starts no spans (they
// would record nothing and cost allocations); a provider set later as the
// global turns them on. If otel renamed its global provider, the first
// check fails here rather than the saving silently going away.
func TestTracingOnlyWithAProvider(t *testing.T) {
	tel := newTelemetry(Options{}, &Host{log: slog.New(slog.DiscardHandler)})
	if !isGlobal(otel.GetTracerProvider(), "tracerProvider") || tel.tracing() {
		t.Fatalf("with the otel global unset: isGlobalDefault %v, tracing %v; want true, false", isGlobal(otel.GetTracerProvider(), "tracerProvider"), tel.tracing())
	}
	tp := sdktrace.NewTracerProvider()
	defer tp.Shutdown(context.Background())
	if isGlobal(tp, "tracerProvider") || !newTelemetry(Options{TracerProvider: tp}, &Host{log: slog.New(slog.DiscardHandler)}).tracing() {
		t.Errorf("an SDK provider given in Options does not trace")
	}
}

// With no meter provider given and none set as the otel global, calls
// skip their measurements (telemetry.off); a provider the application
// sets as the global later, after the host was made, gets them, through
// the instruments the host made from the global at the start.
func TestMetricsFollowAGlobalSetLater(t *testing.T) {
	if !isGlobal(otel.GetMeterProvider(), "meterProvider") {
		t.Fatal("the otel global meter provider is already set: this test must be the only one to set it")
	}
	tel := newTelemetry(Options{}, &Host{log: slog.New(slog.DiscardHandler)})
	if tel.metering() || !tel.off() {
		t.Fatalf("with the otel globals unset: metering %v, off %v; want false, true", tel.metering(), tel.off())
	}
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer mp.Shutdown(context.Background())
	otel.SetMeterProvider(mp)
	if !tel.metering() || tel.off() {
		t.Fatalf("with a global meter provider set: metering %v, off %v; want true, false", tel.metering(), tel.off())
	}
	ctx, _, rec := tel.startCall(context.Background(), &loadedPlugin{name: "p", manifest: &manifest.Manifest{Tier: "builtin"}}, protocol.CallParams{Name: "f"})
	rec.end(ctx, nil)
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	var calls int64
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if sum, ok := m.Data.(metricdata.Sum[int64]); ok && m.Name == "airlock.plugin.calls" {
				for _, dp := range sum.DataPoints {
					calls += dp.Value
				}
			}
		}
	}
	if calls != 1 {
		t.Errorf("airlock.plugin.calls = %d in the global provider set later, want 1", calls)
	}
}

// A plugin naming a new host function at every call must not grow the
// host's memory: the attributes of host calls are kept only for the
// host's own functions.
func TestHostCallAttributesKeptOnlyForHostFunctions(t *testing.T) {
	h := &Host{log: slog.New(slog.DiscardHandler), funcs: map[string]Function{"kv_get": {}}}
	tel := newTelemetry(Options{}, h)
	p := &loadedPlugin{host: h, name: "p"}
	for i := range 100 {
		a := tel.hostCallAttrs(p, fmt.Sprintf("nope%d", i))
		if want := "airlock.host_call " + unknownFunction; a.span != want {
			t.Fatalf("span name %q, want %q", a.span, want)
		}
	}
	if n := len(tel.hostFuncs.m); n != 0 {
		t.Errorf("%d unknown host functions kept, want none", n)
	}
	if tel.hostCallAttrs(p, "kv_get") != tel.hostCallAttrs(p, "kv_get") {
		t.Errorf("a host function's attributes are made at every call")
	}
}

// A traced call's and hook run's duration are their span's: the host reads
// the span's times rather than the clock.
func TestTracedDurationIsTheSpans(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer mp.Shutdown(context.Background())
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	defer tp.Shutdown(context.Background())
	tel := newTelemetry(Options{MeterProvider: mp, TracerProvider: tp}, &Host{log: slog.New(slog.DiscardHandler)})
	defer tel.close()
	p := &loadedPlugin{name: "p", manifest: &manifest.Manifest{Tier: manifest.TierProcess}}

	ctx, _, rec := tel.startCall(context.Background(), p, protocol.CallParams{Name: "f", Phase: manifest.PhaseDefine})
	time.Sleep(2 * time.Millisecond)
	rec.end(ctx, nil)
	ctx, hrec := tel.startHook(context.Background(), &hookDecl{name: "h"})
	time.Sleep(2 * time.Millisecond)
	hrec.end(ctx, nil)

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	sums := map[string]float64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if h, ok := m.Data.(metricdata.Histogram[float64]); ok {
				sums[m.Name] = h.DataPoints[0].Sum
			}
		}
	}
	ended := spans.Ended()
	if len(ended) != 2 {
		t.Fatalf("%d spans ended, want 2", len(ended))
	}
	for i, metric := range []string{"airlock.plugin.call.duration", "airlock.hook.duration"} {
		s := ended[i]
		if want := s.EndTime().Sub(s.StartTime()).Seconds(); sums[metric] != want {
			t.Errorf("%s = %v s, want span %s's %v s", metric, sums[metric], s.Name(), want)
		}
	}
}
