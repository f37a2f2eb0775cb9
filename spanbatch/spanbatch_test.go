package spanbatch

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

// recorder is an exporter that keeps the batches it is given.
type recorder struct {
	mu       sync.Mutex
	batches  [][]string
	shutdown bool
	err      error
	exported chan struct{} // told at each export
}

func newRecorder() *recorder { return &recorder{exported: make(chan struct{}, 100)} }

func (r *recorder) ExportSpans(_ context.Context, spans []sdktrace.ReadOnlySpan) error {
	r.mu.Lock()
	var names []string
	for _, s := range spans {
		names = append(names, s.Name())
	}
	r.batches = append(r.batches, names)
	r.mu.Unlock()
	select {
	case r.exported <- struct{}{}:
	default:
	}
	return r.err
}

func (r *recorder) Shutdown(context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.shutdown = true
	return nil
}

func (r *recorder) got() (batches [][]string, names []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, b := range r.batches {
		batches = append(batches, b)
		names = append(names, b...)
	}
	return batches, names
}

// span returns an ended span called name, sampled or not.
func span(name string, sampled bool) sdktrace.ReadOnlySpan {
	var flags trace.TraceFlags
	if sampled {
		flags = trace.FlagsSampled
	}
	return tracetest.SpanStub{
		Name:        name,
		SpanContext: trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{1}, SpanID: trace.SpanID{2}, TraceFlags: flags}),
	}.Snapshot()
}

const hour = time.Hour

// Spans wait in the queue, without an export, until the batch is full or
// its timeout passes (no hand-off per span); a flush exports them all,
// sampled ones only, in order, in batches of at most MaxBatchSize.
func TestQueuedUntilFlush(t *testing.T) {
	r := newRecorder()
	p := New(r, Options{BatchTimeout: hour, MaxBatchSize: 4})
	defer p.Shutdown(context.Background())
	for i := range 3 {
		p.OnEnd(span(fmt.Sprint(i), true))
		p.OnEnd(span("unsampled", false))
	}
	time.Sleep(20 * time.Millisecond)
	if b, _ := r.got(); len(b) != 0 {
		t.Fatalf("exported %v before the batch was full or its timeout", b)
	}
	for i := 3; i < 10; i++ {
		p.OnEnd(span(fmt.Sprint(i), true))
	}
	if err := p.ForceFlush(context.Background()); err != nil {
		t.Fatal(err)
	}
	batches, names := r.got()
	if fmt.Sprint(names) != "[0 1 2 3 4 5 6 7 8 9]" {
		t.Errorf("exported %v, want the ten sampled spans in order", names)
	}
	for _, b := range batches {
		if len(b) > 4 {
			t.Errorf("a batch of %d spans, more than MaxBatchSize 4", len(b))
		}
	}
}

// A full batch is exported without waiting for the timeout; so is a
// short one once the timeout passes.
func TestExportedWhenFullOrLate(t *testing.T) {
	for _, c := range []struct {
		name  string
		o     Options
		spans int
	}{
		{"full batch", Options{BatchTimeout: hour, MaxBatchSize: 4}, 4},
		{"timeout", Options{BatchTimeout: 10 * time.Millisecond, MaxBatchSize: 4}, 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := newRecorder()
			p := New(r, c.o)
			defer p.Shutdown(context.Background())
			for i := range c.spans {
				p.OnEnd(span(fmt.Sprint(i), true))
			}
			deadline := time.After(10 * time.Second)
			for {
				if _, names := r.got(); len(names) == c.spans {
					return
				}
				select {
				case <-r.exported:
				case <-deadline:
					_, names := r.got()
					t.Fatalf("exported %v, want %d spans without a flush", names, c.spans)
				}
			}
		})
	}
}

// A full queue drops and counts; Shutdown exports what is queued, shuts
// the exporter down, and drops the spans ended after it; a second
// Shutdown does nothing.
func TestDropsAndShutdown(t *testing.T) {
	r := newRecorder()
	p := New(r, Options{BatchTimeout: hour, MaxQueueSize: 3, MaxBatchSize: 3})
	// Hold the exporting goroutine: the full queue stays full.
	p.exporting.Lock()
	for i := range 5 {
		p.OnEnd(span(fmt.Sprint(i), true))
	}
	if d := p.Dropped(); d != 2 {
		t.Errorf("dropped %d, want the 2 spans over MaxQueueSize 3", d)
	}
	p.exporting.Unlock()
	if err := p.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	p.OnEnd(span("late", true))
	if err := p.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	_, names := r.got()
	if fmt.Sprint(names) != "[0 1 2]" || !r.shutdown || p.Dropped() != 3 {
		t.Errorf("exported %v, exporter shut down %v, dropped %d; want [0 1 2], true, 3", names, r.shutdown, p.Dropped())
	}
}

// An exporter's error is returned by ForceFlush.
func TestExportErrorReturned(t *testing.T) {
	r := newRecorder()
	r.err = errors.New("collector down")
	p := New(r, Options{BatchTimeout: hour})
	defer p.Shutdown(context.Background())
	p.OnEnd(span("a", true))
	if err := p.ForceFlush(context.Background()); !errors.Is(err, r.err) {
		t.Errorf("ForceFlush = %v, want the exporter's error", err)
	}
}

// Spans ended by many goroutines at once, with exports running, are each
// exported once (run with -race).
func TestHammer(t *testing.T) {
	r := newRecorder()
	p := New(r, Options{BatchTimeout: time.Millisecond, MaxBatchSize: 7, MaxQueueSize: 1 << 20})
	const goroutines, each = 8, 500
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range each {
				p.OnEnd(span(fmt.Sprint(g, "/", i), true))
			}
		})
	}
	wg.Wait()
	if err := p.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	_, names := r.got()
	seen := map[string]bool{}
	for _, n := range names {
		if seen[n] {
			t.Fatalf("span %s exported twice", n)
		}
		seen[n] = true
	}
	if len(seen) != goroutines*each || p.Dropped() != 0 {
		t.Errorf("exported %d spans, dropped %d; want %d, 0", len(seen), p.Dropped(), goroutines*each)
	}
}

// Through a tracer provider, as a host uses it.
func TestWithTracerProvider(t *testing.T) {
	r := newRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(New(r, Options{})))
	_, s := tp.Tracer("test").Start(context.Background(), "call")
	s.End()
	if err := tp.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, names := r.got(); fmt.Sprint(names) != "[call]" || !r.shutdown {
		t.Errorf("exported %v, shut down %v; want [call], true", names, r.shutdown)
	}
}
