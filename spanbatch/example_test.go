package spanbatch_test

import (
	"context"
	"fmt"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/airlock-go/airlock/spanbatch"
)

// A tracer provider whose spans are batched by spanbatch; a host gives it
// to airlock.Options.TracerProvider. (The in-memory exporter stands in for
// an OTLP exporter.)
func ExampleNew() {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spanbatch.New(exp, spanbatch.Options{})))
	_, span := tp.Tracer("example").Start(context.Background(), "work")
	span.End()
	fmt.Println("exported before the flush:", len(exp.GetSpans()))
	_ = tp.ForceFlush(context.Background()) // Shutdown too exports what is queued
	fmt.Println("exported at the flush:", len(exp.GetSpans()))
	_ = tp.Shutdown(context.Background())
	// Output:
	// exported before the flush: 0
	// exported at the flush: 1
}
