package process

import (
	"bufio"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/airlock-go/airlock/internal/tier"
)

// tailLines is how many of the last log lines are kept to explain a crash.
const tailLines = 8

// logPump copies the plugin's standard error into the host's log, one
// record per line (threat: a plugin flooding the log: lines are cut at
// MaxLogLine bytes, and beyond LogLinesPerSec lines a second they are
// dropped and counted).
type logPump struct {
	r    *os.File
	log  *slog.Logger
	max  int
	rate int

	mu    sync.Mutex
	last  []string
	fatal string // the first line that looks like a crash's cause
	done  chan struct{}
}

func newLogPump(r *os.File, log *slog.Logger, l tier.Limits) *logPump {
	p := &logPump{r: r, log: log, max: l.MaxLogLine, rate: l.LogLinesPerSec, done: make(chan struct{})}
	go p.run()
	return p
}

func (p *logPump) run() {
	defer close(p.done)
	br := bufio.NewReaderSize(p.r, 4096)
	var (
		line      []byte
		cut       bool
		windowEnd = time.Now().Add(time.Second)
		count     int
		dropped   int
	)
	emit := func() {
		now := time.Now()
		if now.After(windowEnd) {
			if dropped > 0 {
				p.log.Warn("plugin log lines dropped: over the rate limit", "dropped", dropped, "limit_per_second", p.rate)
			}
			windowEnd, count, dropped = now.Add(time.Second), 0, 0
		}
		text := string(toValidUTF8(line))
		p.remember(text)
		count++
		if count > p.rate {
			if dropped == 0 {
				p.log.Warn("plugin log over its rate limit: dropping lines for the rest of this second", "limit_per_second", p.rate)
			}
			dropped++
			return
		}
		if cut {
			p.log.Info(text, "stream", "stderr", "truncated", true)
		} else {
			p.log.Info(text, "stream", "stderr")
		}
	}
	for {
		frag, err := br.ReadSlice('\n')
		if len(frag) > 0 {
			frag = trimNewline(frag)
			if room := p.max - len(line); room > 0 {
				if len(frag) > room {
					frag, cut = frag[:room], true
				}
				line = append(line, frag...)
			} else if len(frag) > 0 {
				cut = true
			}
		}
		switch err {
		case nil:
			emit()
			line, cut = line[:0], false
		case bufio.ErrBufferFull:
			continue
		default:
			if len(line) > 0 {
				emit()
			}
			if dropped > 0 {
				p.log.Warn("plugin log lines dropped: over the rate limit", "dropped", dropped)
			}
			if err != io.EOF {
				return
			}
			return
		}
	}
}

func trimNewline(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}

func toValidUTF8(b []byte) []byte {
	if utf8.Valid(b) {
		return b
	}
	out := make([]byte, 0, len(b))
	for len(b) > 0 {
		r, size := utf8.DecodeRune(b)
		if r == utf8.RuneError && size == 1 {
			out = append(out, '?')
		} else {
			out = append(out, b[:size]...)
		}
		b = b[size:]
	}
	return out
}

func (p *logPump) remember(line string) {
	const maxRemembered = 300
	if len(line) > maxRemembered {
		line = line[:maxRemembered] + "…"
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.fatal == "" && (strings.HasPrefix(line, "fatal error:") || strings.HasPrefix(line, "panic:")) {
		p.fatal = line
	}
	if len(p.last) == tailLines {
		copy(p.last, p.last[1:])
		p.last = p.last[:tailLines-1]
	}
	p.last = append(p.last, line)
}

// tail returns the last lines the plugin logged.
func (p *logPump) tail() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.last...)
}

// cause returns the first line that looked like the cause of a crash (a Go
// "fatal error:" or "panic:"), or "".
func (p *logPump) cause() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.fatal
}

// closeAfter waits up to d for the plugin's log to end, then closes it (a
// grandchild may hold the pipe open) and waits for the pump to finish.
func (p *logPump) closeAfter(d time.Duration) {
	select {
	case <-p.done:
	case <-time.After(d):
	}
	p.r.Close()
	<-p.done
}
