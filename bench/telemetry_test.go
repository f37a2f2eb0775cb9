package bench

import (
	"context"
	"io"
	"log/slog"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/airlock-go/airlock"
	"github.com/airlock-go/airlock/spanbatch"
)

// BenchmarkTelemetry is the cost of Airlock's OpenTelemetry instrumentation
// (docs/OBSERVABILITY.md) on a 64 B process call, side by side in one run,
// in each of telemetryModes: off (no providers: the otel globals, no-ops),
// the SDK's metrics only, metrics and the caller's trace context passed on
// (no spans of Airlock's), and metrics and traces, every call traced or
// 1 % of them, each span exported as it ends or through a batching
// processor (the SDK's or package spanbatch), to an exporter that drops
// it. Besides time and allocations it reports each side's CPU time and
// thread wake-ups per call (usage_test.go), which move much less than
// wall time on a shared machine.
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
// in turns: at every iteration, a block of calls in each mode, in a
// random order, so that a busy machine slows them all alike (a block
// keeps its plugin warm, as back-to-back calls do). It reports each
// mode's median time per call over the blocks, and its ratio to the
// median with telemetry off. (CPU time is BenchmarkTelemetry's: measured
// here per block, a mode would be charged for the garbage collection of
// the modes before it.)
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
		// In a new order each time: a block is not always the one after
		// the same mode (whose garbage, or batch processor's goroutine,
		// it might pay for).
		for _, i := range rand.Perm(len(hosts)) {
			e := hosts[i]
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

// telemetryModes are the ways telemetry is on, named as in the tables
// (docs/OBSERVABILITY.md, "Cost"). "traces-all": every call traced (the
// default sampler); "traces-1%": a parent-based sampler keeping 1 % of
// the traces. "sync": each span exported as it ends (sdktrace.WithSyncer)
// to an exporter that drops it, Airlock's own cost; "sdkbatch": the SDK's
// batch span processor (sdktrace.WithBatcher), as the SDK's docs run it;
// "spanbatch": Airlock's batching processor (package spanbatch). The
// exporters drop the spans. Metrics are the SDK's with a manual reader,
// never collected.
var telemetryModes = []telemetryMode{
	{"off", false, nil, false},
	{"metrics", true, nil, false},
	// No tracer provider, but the caller's span context: what carrying
	// the trace context to the plugin costs on its own.
	{"metrics+caller-context", true, nil, true},
	{"metrics+traces-all-sync", true, traced(syncer), false},
	{"metrics+traces-all-sdkbatch", true, traced(sdkBatcher), false},
	{"metrics+traces-all-spanbatch", true, traced(spanBatcher), false},
	{"metrics+traces-1%-sdkbatch", true, traced(sdkBatcher, onePercent), false},
	{"metrics+traces-1%-spanbatch", true, traced(spanBatcher, onePercent), false},
}

// traced returns the options of a tracer provider, made for each host.
func traced(opts ...func() sdktrace.TracerProviderOption) func() []sdktrace.TracerProviderOption {
	return func() []sdktrace.TracerProviderOption {
		var out []sdktrace.TracerProviderOption
		for _, o := range opts {
			out = append(out, o())
		}
		return out
	}
}

// The parts of a tracer provider's options: each makes a new one (a
// batch processor is made with its option).
func syncer() sdktrace.TracerProviderOption {
	return sdktrace.WithSyncer(tracetest.NewNoopExporter())
}

func sdkBatcher() sdktrace.TracerProviderOption {
	return sdktrace.WithBatcher(tracetest.NewNoopExporter())
}

func spanBatcher() sdktrace.TracerProviderOption {
	return sdktrace.WithSpanProcessor(spanbatch.New(tracetest.NewNoopExporter(), spanbatch.Options{}))
}

func onePercent() sdktrace.TracerProviderOption {
	return sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(0.01)))
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
