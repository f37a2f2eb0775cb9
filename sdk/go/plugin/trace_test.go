package plugin

import (
	"context"
	"testing"

	"go.opentelemetry.io/otel/trace"
)

// A call's traceparent becomes the handler context's remote span context;
// a missing or malformed one leaves the context alone (a hint, never an
// error).
func TestWithTraceContext(t *testing.T) {
	cases := []struct {
		traceparent, tracestate string
		wantTrace, wantSpan     string
		wantState               string
	}{
		{"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "k=v", "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7", "k=v"},
		{"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00", "", "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7", ""},
		{"", "k=v", "", "", ""},
		{"garbage", "", "", "", ""},
		{"ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "", "", "", ""},
		{"00-00000000000000000000000000000000-00f067aa0ba902b7-01", "", "", "", ""},
	}
	for _, c := range cases {
		sc := trace.SpanContextFromContext(withTraceContext(context.Background(), c.traceparent, c.tracestate))
		if c.wantTrace == "" {
			if sc.IsValid() {
				t.Errorf("%q: span context %v, want none", c.traceparent, sc)
			}
			continue
		}
		if sc.TraceID().String() != c.wantTrace || sc.SpanID().String() != c.wantSpan || !sc.IsRemote() || sc.TraceState().String() != c.wantState {
			t.Errorf("%q %q: trace %s span %s remote %v state %q", c.traceparent, c.tracestate, sc.TraceID(), sc.SpanID(), sc.IsRemote(), sc.TraceState())
		}
	}
}
