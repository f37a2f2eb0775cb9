package plugin

import (
	"context"

	"go.opentelemetry.io/otel/trace"

	"github.com/airlock-go/airlock/protocol"
)

// withTraceContext returns ctx carrying the host's span context, from the
// W3C traceparent and tracestate of a call's params (docs/PROTOCOL.md), as
// a remote span context: a handler gets it with
// trace.SpanContextFromContext(ctx), and the spans it starts with its own
// OpenTelemetry tracer are children of the host's call span. Without a
// valid traceparent (the connection decodes one that is not valid as
// none), ctx is returned as it is. What it makes is what
// propagation.TraceContext's Extract makes of the same headers, without
// parsing the traceparent a second time.
func withTraceContext(ctx context.Context, traceparent *protocol.Traceparent, tracestate string) context.Context {
	tp := traceparent.Value()
	if tp.IsZero() {
		return ctx
	}
	cfg := trace.SpanContextConfig{
		TraceID:    tp.TraceID,
		SpanID:     tp.SpanID,
		TraceFlags: trace.TraceFlags(tp.Flags) & (trace.FlagsSampled | trace.FlagsRandom),
		Remote:     true,
	}
	if tracestate != "" {
		// A trace state that is not valid is dropped, the traceparent kept
		// (W3C Trace Context).
		cfg.TraceState, _ = trace.ParseTraceState(tracestate)
	}
	sc := trace.NewSpanContext(cfg)
	if !sc.IsValid() {
		return ctx
	}
	return trace.ContextWithRemoteSpanContext(ctx, sc)
}
