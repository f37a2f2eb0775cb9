package plugin

import (
	"context"
	"testing"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/airlock-go/airlock/internal/rpc"
)

// A call's traceparent becomes the handler context's remote span context,
// the one propagation.TraceContext would extract; a missing or malformed
// one leaves the context alone (a hint, never an error).
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
		{"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-03", "bad state", "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7", ""},
	}
	for _, c := range cases {
		// As the connection decodes it.
		p, err := rpc.DecodeCallParams([]byte(`{"name":"f","traceparent":"` + c.traceparent + `","tracestate":"` + c.tracestate + `","input":1}`))
		if err != nil {
			t.Fatal(err)
		}
		sc := trace.SpanContextFromContext(withTraceContext(context.Background(), p.Traceparent, p.Tracestate))
		want := trace.SpanContextFromContext(propagation.TraceContext{}.Extract(context.Background(), propagation.MapCarrier{"traceparent": c.traceparent, "tracestate": c.tracestate}))
		if !sc.Equal(want) {
			t.Errorf("%q %q: span context %v, propagation.TraceContext extracts %v", c.traceparent, c.tracestate, sc, want)
		}
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
