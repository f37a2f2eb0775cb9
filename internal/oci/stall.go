package oci

import (
	"context"
	"fmt"
	"io"
	"sync/atomic"
	"time"
)

// MinStallBytes is the least a transfer must bring in each Client.Stall
// period (or what is left of it, if less).
const MinStallBytes = 16 << 10

// stallGuard cancels a transfer that brings fewer than MinStallBytes in a
// stall period. Threat: a registry, or a machine in between, that answers
// at once and then trickles its body (a byte now and then): connection
// and header timeouts never fire, and without a deadline from its caller
// the host would wait for ever. A slow but working link (16 KiB in 30 s)
// is not cut.
type stallGuard struct {
	cancel  context.CancelFunc
	size    int64        // bytes expected in all
	total   atomic.Int64 // bytes read so far
	window  atomic.Int64 // bytes read in this period
	stalled atomic.Bool
	period  time.Duration
	done    chan struct{}
}

// guard returns a context for one transfer of about size bytes, and its
// guard; the caller reads through g.reader and calls g.stop at the end.
func (c *Client) guard(ctx context.Context, size int64) (context.Context, *stallGuard) {
	period := c.Stall
	if period <= 0 {
		period = 30 * time.Second
	}
	ctx, cancel := context.WithCancel(ctx)
	g := &stallGuard{cancel: cancel, size: size, period: period, done: make(chan struct{})}
	go g.watch(ctx)
	return ctx, g
}

func (g *stallGuard) watch(ctx context.Context) {
	t := time.NewTicker(g.period)
	defer t.Stop()
	for {
		select {
		case <-g.done:
			return
		case <-ctx.Done():
			return
		case <-t.C:
			need := min(MinStallBytes, max(g.size-g.total.Load(), 1))
			if g.window.Swap(0) < need {
				g.stalled.Store(true)
				g.cancel()
				return
			}
		}
	}
}

// reader counts what r brings.
func (g *stallGuard) reader(r io.Reader) io.Reader { return &countingReader{r: r, g: g} }

// stop ends the guard.
func (g *stallGuard) stop() {
	close(g.done)
	g.cancel()
}

// explain says so when err comes from a transfer the guard cut.
func (g *stallGuard) explain(err error) error {
	if err != nil && g.stalled.Load() {
		return fmt.Errorf("too slow: fewer than %d bytes in %v: %w", MinStallBytes, g.period, err)
	}
	return err
}

type countingReader struct {
	r io.Reader
	g *stallGuard
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.g.total.Add(int64(n))
	c.g.window.Add(int64(n))
	return n, err
}
