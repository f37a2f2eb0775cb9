package rpc

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"strings"
	"testing"
	"time"
)

// A host Conn (caller-reads) calling with CallTimeout a plugin Conn whose
// handler takes a RequestTimeout: the deadline paths of every call that
// is answered in time.
func BenchmarkDeadlinePaths(b *testing.B) {
	p1r, p1w, err := os.Pipe() // plugin -> host
	if err != nil {
		b.Fatal(err)
	}
	p2r, p2w, err := os.Pipe() // host -> plugin
	if err != nil {
		b.Fatal(err)
	}
	var plugin *Conn
	h := func(ctx context.Context, _ string, params json.RawMessage) (json.RawMessage, error) {
		_, _ = plugin.RequestTimeout(ctx, time.Minute)
		return params, nil
	}
	plugin = NewConn(p2r, p1w, h, Options{}, func() { p1w.Close() })
	host := NewConn(p1r, p2w, nil, Options{CallerReads: true}, func() { p2w.Close() })
	done := make(chan struct{}, 2)
	go func() { plugin.Serve(); done <- struct{}{} }()
	go func() { host.Serve(); done <- struct{}{} }()
	ctx := context.Background()
	in := json.RawMessage(`{"a":1}`)
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := host.CallTimeout(ctx, time.Minute, "echo", in); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.SetParallelism(8)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := host.CallTimeout(ctx, time.Minute, "echo", in); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
	host.Close(nil)
	<-done
	plugin.Close(nil)
	<-done
	p1r.Close()
	p2r.Close()
}

// The plugin side's per-call deadline path: a request registered, given
// a RequestTimeout, and finished.
func BenchmarkRequestDeadlinePath(b *testing.B) {
	c := NewConn(strings.NewReader(""), io.Discard, nil, Options{}, nil)
	defer c.Close(nil)
	b.ReportAllocs()
	for b.Loop() {
		r := &request{conn: c}
		c.mu.Lock()
		c.running["1"] = r
		c.mu.Unlock()
		c.RequestTimeout(r, time.Minute)
		c.finish("1", r)
	}
}
