package rpc

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"testing"
)

// BenchmarkServeRequest measures a request the peer answers from its
// handler (as a plugin's host call is served), with one caller and with
// 16 per core at once, each request passing through its slot and its
// answer's (serve.go).
func BenchmarkServeRequest(b *testing.B) {
	for _, par := range []int{0, 16} {
		b.Run(fmt.Sprintf("parallelism=%d", par), func(b *testing.B) {
			ar, bw := io.Pipe()
			br, aw := io.Pipe()
			echo := func(_ context.Context, _ string, params json.RawMessage) (json.RawMessage, error) { return params, nil }
			caller := NewConn(ar, aw, nil, Options{}, func() { ar.Close(); aw.Close() })
			server := NewConn(br, bw, echo, Options{}, func() { br.Close(); bw.Close() })
			go caller.Serve()
			go server.Serve()
			defer server.Close(nil)
			defer caller.Close(nil)
			params := json.RawMessage(`"` + strings.Repeat("x", 64) + `"`)
			call := func() error {
				out, err := caller.Call(context.Background(), "echo", params)
				if err == nil && len(out) != len(params) {
					err = fmt.Errorf("echo returned %d bytes", len(out))
				}
				return err
			}
			if par == 0 {
				for b.Loop() {
					if err := call(); err != nil {
						b.Fatal(err)
					}
				}
				return
			}
			b.SetParallelism(par)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := call(); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
