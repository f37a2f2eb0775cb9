package wasm

import (
	"bytes"
	"log/slog"
	"sync"
	"unicode/utf8"

	"golang.org/x/time/rate"

	"github.com/airlock-go/airlock/internal/tier"
)

// lineWriter turns a guest's standard output and error into log records,
// one per line (threat: a guest flooding the host's log: lines are cut at
// MaxLogLine bytes and dropped beyond LogLinesPerSec).
type lineWriter struct {
	log   *slog.Logger
	max   int
	limit *rate.Limiter

	mu      sync.Mutex
	buf     []byte
	cut     bool
	dropped int
}

func newLineWriter(log *slog.Logger, l tier.Limits) *lineWriter {
	return &lineWriter{log: log, max: l.MaxLogLine, limit: rate.NewLimiter(rate.Limit(l.LogLinesPerSec), l.LogLinesPerSec)}
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		chunk := p
		if i >= 0 {
			chunk = p[:i]
		}
		if room := w.max - len(w.buf); room > 0 {
			if len(chunk) > room {
				chunk, w.cut = chunk[:room], true
			}
			w.buf = append(w.buf, chunk...)
		} else if len(chunk) > 0 {
			w.cut = true
		}
		if i < 0 {
			break
		}
		w.emit()
		p = p[i+1:]
	}
	return n, nil
}

func (w *lineWriter) emit() {
	line := bytes.ToValidUTF8(w.buf, []byte("?"))
	cut := w.cut
	w.buf, w.cut = w.buf[:0], false
	if !w.limit.Allow() {
		if w.dropped == 0 {
			w.log.Warn("plugin log over its rate limit: dropping lines")
		}
		w.dropped++
		return
	}
	if w.dropped > 0 {
		w.log.Warn("plugin log lines dropped: over the rate limit", "dropped", w.dropped)
		w.dropped = 0
	}
	if cut {
		w.log.Info(string(line), "stream", "stdio", "truncated", true)
	} else if utf8.Valid(line) {
		w.log.Info(string(line), "stream", "stdio")
	}
}
