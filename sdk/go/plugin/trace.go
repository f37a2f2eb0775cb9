package plugin

import (
	"context"

	"go.opentelemetry.io/otel/propagation"
)

// withTraceContext returns ctx carrying the host's span context, from the
// W3C traceparent and tracestate of a call's params (docs/PROTOCOL.md), as
// a remote span context: a handler gets it with
// trace.SpanContextFromContext(ctx), and the spans it starts with its own
// OpenTelemetry tracer are children of the host's call span. Without a
// valid traceparent, ctx is returned as it is.
func withTraceContext(ctx context.Context, traceparent, tracestate string) context.Context {
	if traceparent == "" {
		return ctx
	}
	return propagation.TraceContext{}.Extract(ctx, traceCarrier{traceparent, tracestate})
}

// traceCarrier holds a call's trace context headers.
type traceCarrier struct{ traceparent, tracestate string }

func (c traceCarrier) Get(key string) string {
	switch key {
	case "traceparent":
		return c.traceparent
	case "tracestate":
		return c.tracestate
	}
	return ""
}

func (traceCarrier) Set(string, string) {}

func (traceCarrier) Keys() []string { return []string{"traceparent", "tracestate"} }
