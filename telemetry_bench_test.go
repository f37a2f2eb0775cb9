//go:build unix

package airlock

import (
	"context"
	"log/slog"
	"syscall"
	"testing"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/airlock-go/airlock/internal/manifest"
	"github.com/airlock-go/airlock/protocol"
)

// BenchmarkCallTelemetry is Airlock's own telemetry work, without the work
// it measures: a call's (startCall and end, as (*loadedPlugin).call makes
// them), a hook run's and a host function call's, with real SDK providers
// (bench/telemetry_test.go measures it on a real call). The traces are
// exported as they end to an exporter that drops them; every call is
// traced, or 1 % of them (a parent-based sampler).
//
//	go test -run '^$' -bench CallTelemetry -benchmem .
func BenchmarkCallTelemetry(b *testing.B) {
	sampled := trace.ContextWithSpanContext(context.Background(), trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{1}, SpanID: trace.SpanID{2}, TraceFlags: trace.FlagsSampled}))
	modes := []struct {
		name    string
		metrics bool
		traces  []sdktrace.TracerProviderOption
		ctx     context.Context
	}{
		{"off", false, nil, context.Background()},
		{"metrics", true, nil, context.Background()},
		{"metrics+context", true, nil, sampled},
		{"metrics+traces", true, []sdktrace.TracerProviderOption{sdktrace.WithSyncer(tracetest.NewNoopExporter())}, context.Background()},
		// 1 % of the traces sampled: mostly a span that does not record.
		{"metrics+traces-1%", true, []sdktrace.TracerProviderOption{sdktrace.WithSyncer(tracetest.NewNoopExporter()), sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(0.01)))}, context.Background()},
	}
	for _, m := range modes {
		b.Run(m.name, func(b *testing.B) {
			var opts Options
			if m.metrics {
				mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
				defer mp.Shutdown(context.Background())
				opts.MeterProvider = mp
			}
			if m.traces != nil {
				tp := sdktrace.NewTracerProvider(m.traces...)
				defer tp.Shutdown(context.Background())
				opts.TracerProvider = tp
			}
			h := &Host{log: slog.New(slog.DiscardHandler), funcs: map[string]Function{"kv_get": {}}}
			tel := newTelemetry(opts, h)
			defer tel.close()
			p := &loadedPlugin{host: h, name: "echo", manifest: &manifest.Manifest{Tier: "process"}}
			params := protocol.CallParams{Name: "echo", Phase: "call"}
			decl := &hookDecl{name: "approve"}
			b.Run("call", func(b *testing.B) {
				defer reportCPU(b)()
				b.ReportAllocs()
				for b.Loop() {
					ctx, _, rec := tel.startCall(m.ctx, p, params)
					rec.end(ctx, nil)
				}
			})
			b.Run("hook", func(b *testing.B) {
				defer reportCPU(b)()
				b.ReportAllocs()
				for b.Loop() {
					ctx, rec := tel.startHook(m.ctx, decl)
					rec.end(ctx, nil)
				}
			})
			b.Run("hostcall", func(b *testing.B) {
				defer reportCPU(b)()
				b.ReportAllocs()
				for b.Loop() {
					_, span := tel.startHostCall(m.ctx, p, "kv_get")
					endHostCall(span, nil)
				}
			})
		})
	}
}

// reportCPU reports the process's CPU time per operation (garbage
// collection included) from now to when the function it returns is
// called: on a shared machine it moves less than the wall time.
func reportCPU(b *testing.B) func() {
	start := cpuTime()
	return func() {
		b.ReportMetric(float64((cpuTime()-start).Nanoseconds())/float64(b.N), "cpu-ns/op")
	}
}

func cpuTime() time.Duration {
	var r syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &r)
	return time.Duration(r.Utime.Nano() + r.Stime.Nano())
}
