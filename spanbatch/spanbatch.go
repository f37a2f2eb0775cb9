// Package spanbatch is an OpenTelemetry span processor that exports the
// spans it is given in batches, as the SDK's batch span processor does,
// without handing each span to a goroutine: an ended span is appended to a
// queue under a mutex, and the exporting goroutine wakes only when a batch
// is full or its timeout has passed.
//
// The SDK's processor (sdktrace.WithBatcher, go.opentelemetry.io/otel/sdk
// v1.47.0) sends every ended span over a channel to its goroutine; between
// small, quick calls that goroutine is idle, and the send makes the Go
// runtime wake a thread to run it, once per span. On a host making 64 B
// plugin calls of a few microseconds each, that wake-up costs more than
// the span itself (docs/OBSERVABILITY.md, "Cost"; docs/RATIONALE.md).
//
//	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spanbatch.New(exporter, spanbatch.Options{})))
package spanbatch

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// The defaults of Options, the SDK batch span processor's.
const (
	DefaultBatchTimeout  = 5 * time.Second
	DefaultExportTimeout = 30 * time.Second
	DefaultMaxQueueSize  = 2048
	DefaultMaxBatchSize  = 512
)

// Options configure a Processor. A zero field takes its default.
type Options struct {
	// BatchTimeout is the longest a span waits in the queue before it is
	// exported (DefaultBatchTimeout).
	BatchTimeout time.Duration
	// ExportTimeout bounds each export (DefaultExportTimeout).
	ExportTimeout time.Duration
	// MaxQueueSize is how many spans may wait; spans ended while it is
	// full are dropped and counted (Processor.Dropped). DefaultMaxQueueSize.
	MaxQueueSize int
	// MaxBatchSize is the most spans an export carries; a queue this
	// long is exported at once (DefaultMaxBatchSize).
	MaxBatchSize int
}

func (o Options) withDefaults() Options {
	if o.BatchTimeout <= 0 {
		o.BatchTimeout = DefaultBatchTimeout
	}
	if o.ExportTimeout <= 0 {
		o.ExportTimeout = DefaultExportTimeout
	}
	if o.MaxQueueSize <= 0 {
		o.MaxQueueSize = DefaultMaxQueueSize
	}
	if o.MaxBatchSize <= 0 {
		o.MaxBatchSize = DefaultMaxBatchSize
	}
	o.MaxBatchSize = min(o.MaxBatchSize, o.MaxQueueSize)
	return o
}

// Processor is a batching sdktrace.SpanProcessor. Make it with New.
type Processor struct {
	exp sdktrace.SpanExporter
	o   Options

	mu      sync.Mutex
	queue   []sdktrace.ReadOnlySpan
	stopped bool

	exporting sync.Mutex    // one export at a time, so that batches leave in order
	full      chan struct{} // a batch is ready (buffered: OnEnd never waits)
	stop      chan struct{}
	done      chan struct{}
	once      sync.Once
	dropped   atomic.Uint64
}

var _ sdktrace.SpanProcessor = (*Processor)(nil)

// New returns a Processor exporting to exp, and starts its goroutine
// (Shutdown stops it).
func New(exp sdktrace.SpanExporter, o Options) *Processor {
	p := &Processor{
		exp:  exp,
		o:    o.withDefaults(),
		full: make(chan struct{}, 1),
		stop: make(chan struct{}),
		done: make(chan struct{}),
	}
	go p.run()
	return p
}

// OnStart does nothing.
func (*Processor) OnStart(context.Context, sdktrace.ReadWriteSpan) {}

// OnEnd queues s if it is sampled. It takes a mutex and wakes the
// exporting goroutine only when a batch is full.
func (p *Processor) OnEnd(s sdktrace.ReadOnlySpan) {
	if !s.SpanContext().IsSampled() {
		return
	}
	p.mu.Lock()
	if p.stopped || len(p.queue) >= p.o.MaxQueueSize {
		p.mu.Unlock()
		p.dropped.Add(1)
		return
	}
	p.queue = append(p.queue, s)
	n := len(p.queue)
	p.mu.Unlock()
	if n >= p.o.MaxBatchSize {
		select {
		case p.full <- struct{}{}:
		default: // already told
		}
	}
}

// Dropped returns how many spans were dropped: ended while the queue was
// full, or after Shutdown.
func (p *Processor) Dropped() uint64 { return p.dropped.Load() }

// run exports a batch whenever one is full or the batch timeout passes.
func (p *Processor) run() {
	defer close(p.done)
	t := time.NewTicker(p.o.BatchTimeout)
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-t.C:
		case <-p.full:
		}
		if err := p.export(context.Background()); err != nil {
			otel.Handle(err)
		}
	}
}

// export exports every queued span, in batches of at most MaxBatchSize.
func (p *Processor) export(ctx context.Context) error {
	p.exporting.Lock()
	defer p.exporting.Unlock()
	p.mu.Lock()
	spans := p.queue
	p.queue = nil
	p.mu.Unlock()
	var errs []error
	for len(spans) > 0 {
		n := min(len(spans), p.o.MaxBatchSize)
		errs = append(errs, p.exportBatch(ctx, spans[:n]))
		spans = spans[n:]
	}
	return errors.Join(errs...)
}

func (p *Processor) exportBatch(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	ctx, cancel := context.WithTimeout(ctx, p.o.ExportTimeout)
	defer cancel()
	return p.exp.ExportSpans(ctx, spans)
}

// ForceFlush exports every queued span now.
func (p *Processor) ForceFlush(ctx context.Context) error {
	return p.export(ctx)
}

// Shutdown stops the goroutine, exports the queued spans and shuts the
// exporter down. Spans ended after it are dropped. Calls after the first
// do nothing.
func (p *Processor) Shutdown(ctx context.Context) error {
	var err error
	p.once.Do(func() {
		p.mu.Lock()
		p.stopped = true
		p.mu.Unlock()
		close(p.stop)
		select {
		case <-p.done:
		case <-ctx.Done():
			err = ctx.Err()
			return
		}
		err = errors.Join(p.export(ctx), p.exp.Shutdown(ctx))
	})
	return err
}
