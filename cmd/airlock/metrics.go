package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
)

// metricsServer serves a host's OpenTelemetry metrics for Prometheus at
// http://ADDR/metrics ("airlock run HOST.toml serve --metrics ADDR").
type metricsServer struct {
	provider *sdkmetric.MeterProvider // for airlock.Options.MeterProvider
	addr     string                   // where it listens
	srv      *http.Server
	done     chan struct{}
}

// startMetrics listens on addr and serves the metrics of the provider it
// returns, through the OpenTelemetry Prometheus exporter and a registry of
// its own (the process's global registry is left alone).
func startMetrics(addr string) (*metricsServer, error) {
	reg := prometheus.NewRegistry()
	exp, err := otelprom.New(otelprom.WithRegisterer(reg))
	if err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	mux := http.NewServeMux()
	// Only /metrics: no profiling or other handlers on this port.
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	m := &metricsServer{
		provider: sdkmetric.NewMeterProvider(sdkmetric.WithReader(exp)),
		addr:     ln.Addr().String(),
		// Threat: a slow client holding connections open forever.
		srv:  &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, WriteTimeout: 30 * time.Second},
		done: make(chan struct{}),
	}
	go func() {
		defer close(m.done)
		_ = m.srv.Serve(ln)
	}()
	return m, nil
}

// close stops serving and shuts the provider down.
func (m *metricsServer) close(ctx context.Context) error {
	err := m.srv.Shutdown(ctx)
	<-m.done
	return errors.Join(err, m.provider.Shutdown(ctx))
}
