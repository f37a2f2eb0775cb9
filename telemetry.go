package airlock

import (
	"context"
	"errors"
	"reflect"
	"sync"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/airlock-go/airlock/internal/rpc"
	"github.com/airlock-go/airlock/protocol"
)

// instrumentationName names Airlock's tracer and meter.
const instrumentationName = "github.com/airlock-go/airlock"

// The attribute keys of Airlock's metrics and spans (docs/OBSERVABILITY.md).
const (
	attrPlugin   = attribute.Key("plugin")
	attrFunction = attribute.Key("function")
	attrPhase    = attribute.Key("phase")
	attrHook     = attribute.Key("hook")
	attrErrType  = attribute.Key("error.type")
	attrReason   = attribute.Key("reason")
	attrTier     = attribute.Key("tier")
)

// durationBuckets are the latency histograms' bucket bounds, in seconds:
// from a builtin's tens of microseconds to a slow plugin's seconds.
var durationBuckets = []float64{0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

// telemetry is a host's OpenTelemetry instrumentation: its tracer and its
// instruments, made once from the providers of Options. With the otel
// globals left unset they are no-ops, and a call pays two atomic loads
// (off).
type telemetry struct {
	tracer trace.Tracer
	// unset is the otel global tracer provider while the application has
	// set none (nil otherwise): Airlock then starts no spans at all, which
	// would cost two allocations per call for spans that record nothing.
	unset trace.TracerProvider
	// unsetMeter is the same for the meter provider: while it is the
	// global's own, measurements are skipped (the instruments it made
	// would pass them on to nothing, at about 0.2 µs a call).
	unsetMeter metric.MeterProvider
	calls      metric.Int64Counter
	errs       metric.Int64Counter
	duration   metric.Float64Histogram
	hookRuns   metric.Int64Counter
	hookErrs   metric.Int64Counter
	hookDur    metric.Float64Histogram
	hostCalls  metric.Int64Counter
	refused    metric.Int64Counter
	paced      metric.Float64Counter
	restarts   metric.Int64Counter
	disables   metric.Int64Counter
	reg        metric.Registration // the in-flight gauge's callback

	// The attributes of calls, hook runs and host calls, made once per
	// kind: a measurement then allocates nothing.
	callKinds attrCache[callKey, callAttrs]
	hooks     attrCache[hookKey, hookAttrs]
	hostFuncs attrCache[hostCallKey, hostCallAttrs]
}

// attrCache holds attributes made once per key.
type attrCache[K comparable, V any] struct {
	mu sync.RWMutex
	m  map[K]*V
}

// get returns k's attributes, made by build the first time.
func (c *attrCache[K, V]) get(k K, build func() *V) *V {
	c.mu.RLock()
	v := c.m[k]
	c.mu.RUnlock()
	if v != nil {
		return v
	}
	v = build()
	c.mu.Lock()
	defer c.mu.Unlock()
	if old := c.m[k]; old != nil {
		return old
	}
	if c.m == nil {
		c.m = map[K]*V{}
	}
	c.m[k] = v
	return v
}

// callKey names one kind of call.
type callKey struct{ plugin, function, phase string }

// callAttrs are a kind of call's attributes, built once: a call records
// with them without allocating.
type callAttrs struct {
	add    []metric.AddOption    // plugin, function, phase
	record []metric.RecordOption // the same
	span   string                // the span's name
	// spanAttrs are set on a span that records (given to Start, they
	// would be copied once more, for the sampler, on every call).
	spanAttrs []attribute.KeyValue
	plugin    string
	function  string
	phase     string
}

// newTelemetry makes h's instruments from opts' providers (nil: the otel
// globals). An instrument the provider refuses is logged and replaced by
// a no-op: telemetry never stops the host.
func newTelemetry(opts Options, h *Host) *telemetry {
	mp, tp := opts.MeterProvider, opts.TracerProvider
	var unsetMeter metric.MeterProvider
	if mp == nil {
		mp = otel.GetMeterProvider()
		if isGlobal(mp, "meterProvider") {
			unsetMeter = mp
		}
	}
	var unset trace.TracerProvider
	if tp == nil {
		tp = otel.GetTracerProvider()
		if isGlobal(tp, "tracerProvider") {
			unset = tp
		}
	}
	m := mp.Meter(instrumentationName)
	t := &telemetry{tracer: tp.Tracer(instrumentationName), unset: unset, unsetMeter: unsetMeter}
	var errs []error
	counter := func(name, unit, desc string) metric.Int64Counter {
		c, err := m.Int64Counter(name, metric.WithUnit(unit), metric.WithDescription(desc))
		errs = append(errs, err)
		return c
	}
	histogram := func(name, desc string) metric.Float64Histogram {
		c, err := m.Float64Histogram(name, metric.WithUnit("s"), metric.WithDescription(desc), metric.WithExplicitBucketBoundaries(durationBuckets...))
		errs = append(errs, err)
		return c
	}
	t.calls = counter("airlock.plugin.calls", "{call}", "Calls to plugins (hook handlers and direct calls), by plugin, function and phase.")
	t.errs = counter("airlock.plugin.errors", "{call}", "Failed plugin calls, by plugin, function, phase and error.type (deadline, crashed, denied, bad_result, plugin_failed...).")
	t.duration = histogram("airlock.plugin.call.duration", "How long plugin calls took, by plugin, function and phase.")
	t.hookRuns = counter("airlock.hook.runs", "{run}", "Hook runs, by hook.")
	t.hookErrs = counter("airlock.hook.errors", "{run}", "Hook runs that failed, by hook and error.type.")
	t.hookDur = histogram("airlock.hook.duration", "How long hook runs took, by hook.")
	t.hostCalls = counter("airlock.host_calls", "{call}", "Host function calls made by plugins, by plugin and function.")
	t.refused = counter("airlock.host_calls.refused", "{call}", "Host function calls refused, by plugin, function and reason (not_granted, no_such_function, rate_limited).")
	var err error
	t.paced, err = m.Float64Counter("airlock.host_calls.paced", metric.WithUnit("s"), metric.WithDescription("Time a plugin's host calls were held back past host_call_bytes_per_second, by plugin."))
	errs = append(errs, err)
	t.restarts = counter("airlock.plugin.restarts", "{restart}", "Plugin restarts after a crash, by plugin.")
	t.disables = counter("airlock.plugin.disables", "{disable}", "Plugins disabled after crashing too often, by plugin.")
	inflight, err := m.Int64ObservableUpDownCounter("airlock.plugin.inflight", metric.WithUnit("{call}"), metric.WithDescription("Calls to a plugin not yet answered, by plugin."))
	errs = append(errs, err)
	if err == nil {
		t.reg, err = m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
			for _, p := range h.Plugins() {
				o.ObserveInt64(inflight, int64(p.InFlight), metric.WithAttributes(attrPlugin.String(p.Name)))
			}
			return nil
		}, inflight)
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		h.log.Error("airlock telemetry: instruments not created", "error", err)
	}
	return t
}

// isGlobal reports whether provider is the otel global's own tracer
// provider or meter provider (typeName "tracerProvider", "meterProvider"),
// which does nothing until the application sets one (otel.SetTracerProvider
// then makes otel.GetTracerProvider return the application's). If a later
// otel renames them, this says false and telemetry runs as usual.
func isGlobal(provider any, typeName string) bool {
	ty := reflect.TypeOf(provider)
	return ty != nil && ty.Kind() == reflect.Pointer && ty.Elem().PkgPath() == "go.opentelemetry.io/otel/internal/global" && ty.Elem().Name() == typeName
}

// tracing reports whether spans are to be started: not while the
// provider is the otel global's and the application has set none.
func (t *telemetry) tracing() bool {
	return t.unset == nil || otel.GetTracerProvider() != t.unset
}

// metering reports whether measurements are to be made: not while the
// meter provider is the otel global's and the application has set none.
func (t *telemetry) metering() bool {
	return t.unsetMeter == nil || otel.GetMeterProvider() != t.unsetMeter
}

// off reports whether there is neither tracing nor metering: calls, hook
// runs and host calls then skip their telemetry.
func (t *telemetry) off() bool { return !t.tracing() && !t.metering() }

// start starts a span named name with attrs, or none (nil) when tracing
// is off.
func (t *telemetry) start(ctx context.Context, name string, attrs []attribute.KeyValue, opts []trace.SpanStartOption) (context.Context, trace.Span) {
	if !t.tracing() {
		return ctx, nil
	}
	ctx, span := t.tracer.Start(ctx, name, opts...)
	// Set on a span that records (given to Start, they would be copied
	// once more, for the sampler, on every call).
	if span.IsRecording() {
		span.SetAttributes(attrs...)
	}
	return ctx, span
}

// close unregisters the in-flight gauge's callback.
func (t *telemetry) close() {
	if t.reg != nil {
		_ = t.reg.Unregister()
	}
}

// attrsFor returns the attributes of a call to p's function in phase.
// (Host.Call takes only the functions p's manifest declares: the kinds
// are bounded.)
func (t *telemetry) attrsFor(p *loadedPlugin, function, phase string) *callAttrs {
	return t.callKinds.get(callKey{p.name, function, phase}, func() *callAttrs {
		kv := []attribute.KeyValue{attrPlugin.String(p.name), attrFunction.String(function), attrPhase.String(phase)}
		set := metric.WithAttributeSet(attribute.NewSet(kv...))
		return &callAttrs{
			add:       []metric.AddOption{set},
			record:    []metric.RecordOption{set},
			span:      "airlock.call " + p.name + "/" + function,
			spanAttrs: append(kv, attrTier.String(p.manifest.Tier)),
			plugin:    p.name,
			function:  function,
			phase:     phase,
		}
	})
}

// callRecord is one plugin call being measured.
type callRecord struct {
	t     *telemetry
	a     *callAttrs
	span  trace.Span
	start time.Time
}

// startCall starts the span of a call to p and returns the context that
// carries it, and the params with the span's trace context (W3C
// traceparent and tracestate) for the plugin, so that the plugin's own
// spans join the host's trace.
func (t *telemetry) startCall(ctx context.Context, p *loadedPlugin, params protocol.CallParams) (context.Context, protocol.CallParams, callRecord) {
	var rec callRecord
	if !t.off() {
		a := t.attrsFor(p, params.Name, params.Phase)
		var span trace.Span
		ctx, span = t.start(ctx, a.span, a.spanAttrs, callSpan)
		rec = callRecord{t: t, a: a, span: span, start: startTime(span)}
	}
	// The call's span context, or without one of its own the caller's,
	// if any.
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		withTraceContext(sc, &params)
	}
	return ctx, params, rec
}

// end records the call's outcome: its duration, and its error's kind.
func (r callRecord) end(ctx context.Context, err error) {
	if r.t == nil { // telemetry was off at the start
		return
	}
	var kind string
	if err != nil {
		kind = errorKind(err)
		failSpan(r.span, kind, err)
	}
	endSpan(r.span)
	r.t.calls.Add(ctx, 1, r.a.add...)
	r.t.duration.Record(ctx, elapsed(r.span, r.start).Seconds(), r.a.record...)
	if err != nil {
		r.t.errs.Add(ctx, 1, metric.WithAttributes(attrPlugin.String(r.a.plugin), attrFunction.String(r.a.function), attrPhase.String(r.a.phase), attrErrType.String(kind)))
	}
}

// timedSpan is a span that tells when it started and ended, as the
// OpenTelemetry SDK's do.
type timedSpan interface {
	StartTime() time.Time
	EndTime() time.Time
}

// startTime returns when span started, if it records and tells, or now: a
// traced call's or run's duration is its span's, without reading the
// clock twice more (on a small call, about a tenth of what the span adds).
func startTime(span trace.Span) time.Time {
	if s, ok := span.(timedSpan); ok && span.IsRecording() {
		return s.StartTime()
	}
	return time.Now()
}

// elapsed returns how long it has been since start, or, if span has
// ended and tells when, until then.
func elapsed(span trace.Span, start time.Time) time.Duration {
	if s, ok := span.(timedSpan); ok {
		if end := s.EndTime(); !end.IsZero() {
			return end.Sub(start)
		}
	}
	return time.Since(start)
}

// resultRefused counts a result the host refused after the call returned
// (ErrBadResult: the call's span has ended; the hook's span says it).
func (t *telemetry) resultRefused(ctx context.Context, p *loadedPlugin, function, phase string, err error) {
	t.errs.Add(ctx, 1, metric.WithAttributes(attrPlugin.String(p.name), attrFunction.String(function), attrPhase.String(phase), attrErrType.String(errorKind(err))))
	if span := trace.SpanFromContext(ctx); span.IsRecording() {
		span.AddEvent("result refused", trace.WithAttributes(attrPlugin.String(p.name), attrErrType.String(errorKind(err))))
	}
}

// withTraceContext puts sc into params as W3C trace context, written as
// propagation.TraceContext would write it: only the sampled and random
// flags, the trace state if any. It formats nothing here: AppendJSON
// writes the traceparent into the call's message.
func withTraceContext(sc trace.SpanContext, params *protocol.CallParams) {
	params.Traceparent = &protocol.Traceparent{
		TraceID: sc.TraceID(),
		SpanID:  sc.SpanID(),
		Flags:   byte(sc.TraceFlags() & (trace.FlagsSampled | trace.FlagsRandom)),
	}
	if ts := sc.TraceState(); ts.Len() > 0 {
		params.Tracestate = ts.String()
	}
}

// hookKey names a hook.
type hookKey struct {
	name    string
	collect bool
}

// hookAttrs are a hook's attributes, built once.
type hookAttrs struct {
	add       []metric.AddOption    // hook
	record    []metric.RecordOption // the same
	span      string                // the span's name
	spanAttrs []attribute.KeyValue  // hook, collect
	hook      string
}

// hookRecord is one hook run being measured.
type hookRecord struct {
	t     *telemetry
	a     *hookAttrs
	span  trace.Span
	start time.Time
}

// startHook starts the span of a run of hook. (The host's code declares
// its hooks: the kinds are bounded.)
func (t *telemetry) startHook(ctx context.Context, decl *hookDecl) (context.Context, hookRecord) {
	if t.off() {
		return ctx, hookRecord{}
	}
	a := t.hooks.get(hookKey{decl.name, decl.collect}, func() *hookAttrs {
		set := metric.WithAttributeSet(attribute.NewSet(attrHook.String(decl.name)))
		return &hookAttrs{
			add:       []metric.AddOption{set},
			record:    []metric.RecordOption{set},
			span:      "airlock.hook " + decl.name,
			spanAttrs: []attribute.KeyValue{attrHook.String(decl.name), attribute.Bool("collect", decl.collect)},
			hook:      decl.name,
		}
	})
	ctx, span := t.start(ctx, a.span, a.spanAttrs, hookSpan)
	return ctx, hookRecord{t: t, a: a, span: span, start: startTime(span)}
}

// end records the run's outcome.
func (r hookRecord) end(ctx context.Context, err error) {
	if r.t == nil { // telemetry was off at the start
		return
	}
	var kind string
	if err != nil {
		kind = errorKind(err)
		failSpan(r.span, kind, err)
	}
	endSpan(r.span)
	r.t.hookRuns.Add(ctx, 1, r.a.add...)
	r.t.hookDur.Record(ctx, elapsed(r.span, r.start).Seconds(), r.a.record...)
	if err != nil {
		r.t.hookErrs.Add(ctx, 1, metric.WithAttributes(attrHook.String(r.a.hook), attrErrType.String(kind)))
	}
}

// The spans' kinds.
var (
	callSpan     = []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindClient)}
	hookSpan     = []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindInternal)}
	hostCallSpan = []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindServer)}
)

// startHostCall starts the span of a host function call by p: a child of
// the call's span during which p made it. A builtin's and a wasm
// plugin's host calls run in that call's context; a process plugin's
// arrive on its connection, each naming the call it serves, and the
// connection gives its context (rpc.Origin; threat: a plugin attaching
// spans to another's trace: only its own calls in flight are found).
func (t *telemetry) startHostCall(ctx context.Context, p *loadedPlugin, fn string) (context.Context, trace.Span) {
	if t.off() {
		return ctx, nil
	}
	if !trace.SpanContextFromContext(ctx).IsValid() {
		if origin, ok := rpc.Origin(ctx); ok {
			ctx = trace.ContextWithSpan(ctx, trace.SpanFromContext(origin))
		}
	}
	a := t.hostCallAttrs(p, fn)
	ctx, span := t.start(ctx, a.span, a.spanAttrs, hostCallSpan)
	t.hostCalls.Add(ctx, 1, a.add...)
	return ctx, span
}

// hostCallKey names a host function called by a plugin.
type hostCallKey struct{ plugin, function string }

// hostCallAttrs are the attributes of p's calls to a host function.
type hostCallAttrs struct {
	add       []metric.AddOption   // plugin, function
	span      string               // the span's name
	spanAttrs []attribute.KeyValue // the same
}

// hostCallAttrs returns the attributes of p's calls to host function fn,
// kept only for the host's functions. Threat: a plugin naming a new
// function at every call, to grow the host's memory without bound; those
// calls are refused, and their attributes are made for each.
func (t *telemetry) hostCallAttrs(p *loadedPlugin, fn string) *hostCallAttrs {
	_, known := p.host.funcs[fn]
	fn = functionLabel(fn, known)
	build := func() *hostCallAttrs {
		kv := []attribute.KeyValue{attrPlugin.String(p.name), attrFunction.String(fn)}
		return &hostCallAttrs{
			add:       []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(kv...))},
			span:      "airlock.host_call " + fn,
			spanAttrs: kv,
		}
	}
	if !known {
		return build()
	}
	return t.hostFuncs.get(hostCallKey{p.name, fn}, build)
}

// unknownFunction stands in the metrics and span names for any name a
// plugin called that is not one of the host's functions.
const unknownFunction = "(unknown)"

// functionLabel is the name of a host function for metrics and spans:
// fn if the host has it, else unknownFunction. Threat: a plugin calling a
// new made-up name each time, to fill the metric SDK's series for host
// calls (2000 an instrument by default, after which every plugin's
// calls are counted only in an overflow series) and the traces' span
// names. The audit log keeps the name.
func functionLabel(fn string, known bool) string {
	if known {
		return fn
	}
	return unknownFunction
}

// endHostCall ends a host call's span.
func endHostCall(span trace.Span, err error) {
	if err != nil {
		failSpan(span, hostCallErrorKind(err), err)
	}
	endSpan(span)
}

// endSpan ends span, if there is one.
func endSpan(span trace.Span) {
	if span != nil {
		span.End()
	}
}

// refusedHostCall counts a refused host call to fn, which the host has if
// known (functionLabel).
func (t *telemetry) refusedHostCall(ctx context.Context, plugin, fn string, known bool, reason string) {
	t.refused.Add(ctx, 1, metric.WithAttributes(attrPlugin.String(plugin), attrFunction.String(functionLabel(fn, known)), attrReason.String(reason)))
}

// pacedHostCalls counts wait, for which p's host calls are held back by
// host_call_bytes_per_second.
func (t *telemetry) pacedHostCalls(p *loadedPlugin, wait time.Duration) {
	if !t.metering() {
		return
	}
	t.paced.Add(context.Background(), wait.Seconds(), metric.WithAttributes(attrPlugin.String(p.name)))
}

// restarted counts a restart of p after a crash.
func (t *telemetry) restarted(p *loadedPlugin) {
	t.restarts.Add(context.Background(), 1, metric.WithAttributes(attrPlugin.String(p.name)))
}

// disabled counts p's being disabled after crashing too often.
func (t *telemetry) disabled(p *loadedPlugin) {
	t.disables.Add(context.Background(), 1, metric.WithAttributes(attrPlugin.String(p.name)))
}

// failSpan marks span as failed with err, of kind.
func failSpan(span trace.Span, kind string, err error) {
	if span == nil || !span.IsRecording() {
		return
	}
	span.SetAttributes(attrErrType.String(kind))
	span.SetStatus(codes.Error, err.Error())
}

// errorKinds map the sentinels to the error.type of metrics and spans, in
// the order they are tested: a veto wraps the before handler's error, and
// a plugin's own deadline or refusal is also a plugin_failed.
var errorKinds = []struct {
	err  error
	kind string
}{
	{ErrVetoed, "vetoed"},
	{ErrDeadline, "deadline"},
	{ErrPluginCrashed, "crashed"},
	{ErrPluginDisabled, "disabled"},
	{ErrCapabilityDenied, "denied"},
	{ErrNotImplemented, "not_implemented"},
	{ErrBadResult, "bad_result"},
	{ErrBadInput, "bad_input"},
	{ErrResourceLimit, "resource_limit"},
	{ErrProtocol, "protocol"},
	{ErrContract, "contract"},
	{ErrUnknownPlugin, "unknown_plugin"},
	{ErrClosed, "closed"},
	{ErrPluginFailed, "plugin_failed"},
	{context.DeadlineExceeded, "deadline"},
	{context.Canceled, "cancelled"},
}

// errorKind returns the error.type of err: the kind of its sentinel, or
// "other".
func errorKind(err error) string {
	for _, k := range errorKinds {
		if errors.Is(err, k.err) {
			return k.kind
		}
	}
	return "other"
}

// hostCallErrorKind returns the error.type of a host function's error: its
// protocol code's kind, or "failed".
func hostCallErrorKind(err error) string {
	var re *protocol.Error
	if errors.As(err, &re) {
		switch re.Code {
		case protocol.CodeDenied:
			return "denied"
		case protocol.CodeMethodNotFound:
			return "no_such_function"
		case protocol.CodeRateLimited:
			return "rate_limited"
		case protocol.CodeInvalidParams:
			return "bad_input"
		}
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "deadline"
	}
	return "failed"
}

// auditReasonLabel is the reason label of a refused host call.
func auditReasonLabel(r AuditReason) string {
	switch r {
	case AuditNotGranted:
		return "not_granted"
	case AuditNoSuchFunction:
		return "no_such_function"
	}
	return string(r)
}
