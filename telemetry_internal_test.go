package airlock

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"testing"

	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

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
	if !isGlobalDefault(otel.GetTracerProvider()) || tel.tracing() {
		t.Fatalf("with the otel global unset: isGlobalDefault %v, tracing %v; want true, false", isGlobalDefault(otel.GetTracerProvider()), tel.tracing())
	}
	tp := sdktrace.NewTracerProvider()
	defer tp.Shutdown(context.Background())
	if isGlobalDefault(tp) || !newTelemetry(Options{TracerProvider: tp}, &Host{log: slog.New(slog.DiscardHandler)}).tracing() {
		t.Errorf("an SDK provider given in Options does not trace")
	}
}
