package airlock_test

import (
	"context"
	"strings"
	"testing"

	"github.com/airlock-go/airlock"
)

// BenchmarkProcessCall measures one direct call to a Go process plugin
// that echoes its input, with a 64-byte payload.
func BenchmarkProcessCall(b *testing.B) {
	h, err := airlock.New(airlock.Options{Logger: quietLogger()})
	if err != nil {
		b.Fatal(err)
	}
	defer h.Close(context.Background())
	dir := benchPlugin(b)
	if _, err := h.Load(context.Background(), airlock.PluginConfig{Path: dir}); err != nil {
		b.Fatal(err)
	}
	payload := strings.Repeat("x", 64)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := h.Call(ctx, "testplugin", "echo", payload); err != nil {
			b.Fatal(err)
		}
	}
}
