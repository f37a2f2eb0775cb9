package bench

import (
	"context"
	"io"
	"log/slog"
	"slices"
	"testing"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/airlock-go/airlock"
)

// BenchmarkTelemetry is the cost of Airlock's OpenTelemetry instrumentation
// (docs/OBSERVABILITY.md) on a 64 B process call, side by side in one run:
// the same echo with telemetry off (no providers: the otel globals,
// no-ops), with real SDK metrics only, with metrics and the caller's trace
// context passed on (no spans of Airlock's), and with real SDK metrics and
// traces: every span exported as it ends to an exporter that drops it
// (Airlock's own cost: the span, the trace context sent to the plugin and
// parsed there), through the SDK's batch span processor, and through the
// batch processor with 1 % of the traces sampled. Besides time and
// allocations it reports each side's CPU time per call (usage_test.go),
// which moves much less than wall time on a shared machine.
//
//	cd bench && go test -run '^$' -bench Telemetry -count 10 .
//
// BenchmarkTelemetryInterleaved gives the ratios.
func BenchmarkTelemetry(b *testing.B) {
	for _, mode := range telemetryModes {
		b.Run("64B/"+mode.name, func(b *testing.B) {
			e := startTelemetryHost(b, mode)
			defer e.close()
			p := newMsg(64)
			ctx := mode.ctx()
			b.SetBytes(64)
			b.ReportAllocs()
			u := startUsage()
			for b.Loop() {
				if err := e.echo(ctx, p); err != nil {
					b.Fatal(err)
				}
			}
			u.report(b)
		})
	}
}

// BenchmarkTelemetryInterleaved makes the same calls as BenchmarkTelemetry
// in turns: at every iteration, a block of calls in each mode, so that a
// busy machine slows them all alike (a block keeps its plugin warm, as
// back-to-back calls do). It reports each mode's median time per call over
// the blocks, and its ratio to the median with telemetry off. (CPU time is
// BenchmarkTelemetry's: measured here per block, a mode would be charged
// for the garbage collection of the modes before it.)
func BenchmarkTelemetryInterleaved(b *testing.B) {
	const block = 200
	hosts := make([]*airlockEcho, len(telemetryModes))
	times := make([][]time.Duration, len(telemetryModes))
	for i, mode := range telemetryModes {
		hosts[i] = startTelemetryHost(b, mode)
		defer hosts[i].close()
	}
	p := newMsg(64)
	for b.Loop() {
		for i, e := range hosts {
			ctx := telemetryModes[i].ctx()
			start := time.Now()
			for range block {
				if err := e.echo(ctx, p); err != nil {
					b.Fatal(err)
				}
			}
			times[i] = append(times[i], time.Since(start)/block)
		}
	}
	off := median(times[0])
	for i, mode := range telemetryModes {
		m := median(times[i])
		b.ReportMetric(float64(m.Nanoseconds()), mode.name+"-ns/call")
		if i > 0 {
			b.ReportMetric(float64(m)/float64(off), mode.name+"/off")
		}
	}
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}

// telemetryMode is one way of running a host's telemetry.
type telemetryMode struct {
	name    string
	metrics bool
	traces  func() []sdktrace.TracerProviderOption // nil: no tracer provider
	// callerSpan: the calls are made in a span context of the caller's
	// (sampled), which the host passes on to the plugin.
	callerSpan bool
}

// ctx returns the context to make mode's calls in.
func (m telemetryMode) ctx() context.Context {
	if !m.callerSpan {
		return context.Background()
	}
	sc := trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{1}, SpanID: trace.SpanID{2}, TraceFlags: trace.FlagsSampled})
	return trace.ContextWithSpanContext(context.Background(), sc)
}

var telemetryModes = []telemetryMode{
	{"off", false, nil, false},
	{"metrics", true, nil, false},
	// No tracer provider, but the caller's span context: what carrying
	// the trace context to the plugin costs on its own.
	{"metrics+context", true, nil, true},
	{"metrics+traces", true, func() []sdktrace.TracerProviderOption {
		return []sdktrace.TracerProviderOption{sdktrace.WithSyncer(tracetest.NewNoopExporter())}
	}, false},
	{"metrics+traces-batched", true, func() []sdktrace.TracerProviderOption {
		return []sdktrace.TracerProviderOption{sdktrace.WithBatcher(tracetest.NewNoopExporter())}
	}, false},
	{"metrics+traces-batched-sampled-1%", true, func() []sdktrace.TracerProviderOption {
		return []sdktrace.TracerProviderOption{sdktrace.WithBatcher(tracetest.NewNoopExporter()), sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(0.01)))}
	}, false},
}

// startTelemetryHost starts a host with the echo plugin and mode's
// providers, shut down with the host.
func startTelemetryHost(b *testing.B, mode telemetryMode) *airlockEcho {
	opts := airlock.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	var shutdown []func(context.Context) error
	if mode.metrics {
		mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
		shutdown = append(shutdown, mp.Shutdown)
		opts.MeterProvider = mp
	}
	if mode.traces != nil {
		tp := sdktrace.NewTracerProvider(mode.traces()...)
		shutdown = append(shutdown, tp.Shutdown)
		opts.TracerProvider = tp
	}
	b.Cleanup(func() {
		for _, f := range shutdown {
			_ = f(context.Background())
		}
	})
	h, err := airlock.New(opts)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := h.Load(context.Background(), airlock.PluginConfig{Path: bins.airlockDir}); err != nil {
		h.Close(context.Background())
		b.Fatal(err)
	}
	return &airlockEcho{h: h, name: "airlockecho"}
}
