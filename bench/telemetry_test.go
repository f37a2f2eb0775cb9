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

	"github.com/airlock-go/airlock"
)

// BenchmarkTelemetry is the cost of Airlock's OpenTelemetry instrumentation
// (docs/OBSERVABILITY.md) on a 64 B process call, side by side in one run:
// the same echo with telemetry off (no providers: the otel globals,
// no-ops), with real SDK metrics only, and with real SDK metrics and
// traces: every span exported as it ends to an exporter that drops it
// (Airlock's own cost: the span, the trace context sent to the plugin and
// parsed there), through the SDK's batch span processor, and through the
// batch processor with 1 % of the traces sampled.
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
			ctx := context.Background()
			b.SetBytes(64)
			b.ReportAllocs()
			for b.Loop() {
				if err := e.echo(ctx, p); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkTelemetryInterleaved makes the same calls as BenchmarkTelemetry
// in turns: at every iteration, a block of calls in each mode, so that a
// busy machine slows them all alike (a block keeps its plugin warm, as
// back-to-back calls do). It reports each mode's median time per call over
// the blocks, and its ratio to the median with telemetry off.
func BenchmarkTelemetryInterleaved(b *testing.B) {
	const block = 200
	hosts := make([]*airlockEcho, len(telemetryModes))
	times := make([][]time.Duration, len(telemetryModes))
	for i, mode := range telemetryModes {
		hosts[i] = startTelemetryHost(b, mode)
		defer hosts[i].close()
	}
	p := newMsg(64)
	ctx := context.Background()
	for b.Loop() {
		for i, e := range hosts {
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
}

var telemetryModes = []telemetryMode{
	{"off", false, nil},
	{"metrics", true, nil},
	{"metrics+traces", true, func() []sdktrace.TracerProviderOption {
		return []sdktrace.TracerProviderOption{sdktrace.WithSyncer(tracetest.NewNoopExporter())}
	}},
	{"metrics+traces-batched", true, func() []sdktrace.TracerProviderOption {
		return []sdktrace.TracerProviderOption{sdktrace.WithBatcher(tracetest.NewNoopExporter())}
	}},
	{"metrics+traces-batched-sampled-1%", true, func() []sdktrace.TracerProviderOption {
		return []sdktrace.TracerProviderOption{sdktrace.WithBatcher(tracetest.NewNoopExporter()), sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(0.01)))}
	}},
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
