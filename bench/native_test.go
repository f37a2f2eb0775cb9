package bench

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/airlock-go/airlock"
	"github.com/airlock-go/airlock/sdk/go/plugin"
)

// echoLibrary is a native plugin that answers a call with its input: the
// native tier's counterpart of the echo plugins above.
const echoLibrary = `
#include <stdlib.h>
#include <string.h>
#include "airlock_native.h"
static int32_t call(const airlock_call_v1 *c, uint8_t **out, size_t *n) {
    *out = malloc(c->input_len ? c->input_len : 1);
    memcpy(*out, c->input, c->input_len);
    *n = c->input_len;
    return AIRLOCK_NATIVE_OK;
}
static void release(uint8_t *p, size_t n) { (void)n; free(p); }
AIRLOCK_NATIVE_EXPORT uint32_t airlock_native_api_version(void) { return AIRLOCK_NATIVE_API_VERSION; }
AIRLOCK_NATIVE_EXPORT int32_t airlock_native_init(const airlock_host_v1 *h, airlock_plugin_v1 *o) {
    if (h->api_version != AIRLOCK_NATIVE_API_VERSION) return AIRLOCK_NATIVE_VERSION_MISMATCH;
    o->api_version = AIRLOCK_NATIVE_API_VERSION;
    o->name = "nativeecho"; o->version = "1.0.0"; o->hooks = "echo";
    o->call = call; o->free = release;
    return AIRLOCK_NATIVE_OK;
}
`

const echoLibraryManifest = `
name = "nativeecho"
version = "1.0.0"
tier = "native"
protocol = 1
entry = "libnativeecho.so"
functions = ["echo"]
`

// nativeEchoDir builds the echo library with cc into a plugin directory.
func nativeEchoDir(b *testing.B) string {
	if runtime.GOOS != "linux" {
		b.Skip("the native benchmark builds a .so with cc")
	}
	if _, err := exec.LookPath("cc"); err != nil {
		b.Skip("cc not installed")
	}
	dir := b.TempDir()
	src := filepath.Join(dir, "echo.c")
	if err := os.WriteFile(src, []byte(echoLibrary), 0o644); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "plugin.toml"), []byte(echoLibraryManifest), 0o644); err != nil {
		b.Fatal(err)
	}
	sdk, _ := filepath.Abs("../sdk/c")
	cmd := exec.Command("cc", "-shared", "-fPIC", "-O2", "-I", sdk, "-o", filepath.Join(dir, "libnativeecho.so"), src)
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("cc: %v\n%s", err, out)
	}
	return dir
}

// BenchmarkNative is the cost of one call into a native library through
// the host, in-process (a C call through purego, both ways' copies and
// the host's checks) and contained (the process tier's protocol to a
// sandboxed child that calls the library), beside a builtin echo in Go:
// the same host path in-process with no C call, so in-process ÷ builtin is
// the C call's share.
func BenchmarkNative(b *testing.B) {
	dir := nativeEchoDir(b)
	contenders := []struct {
		name string
		pc   airlock.PluginConfig
	}{
		{"builtin", airlock.PluginConfig{Builtin: "nativeecho"}},
		{"in-process", airlock.PluginConfig{Path: dir, Isolation: airlock.IsolationInProcess}},
		{"process", airlock.PluginConfig{Path: dir, Isolation: airlock.IsolationProcess}},
	}
	for _, sz := range sizes[:2] {
		for _, c := range contenders {
			b.Run(sz.name+"/"+c.name, func(b *testing.B) {
				h, err := airlock.New(airlock.Options{
					Logger:   slog.New(slog.NewTextHandler(io.Discard, nil)),
					Builtins: map[string]airlock.Builtin{"nativeecho": builtinEcho()},
				})
				if err != nil {
					b.Fatal(err)
				}
				defer h.Close(context.Background())
				if _, err := h.Load(context.Background(), c.pc); err != nil {
					b.Fatal(err)
				}
				m := newMsg(sz.n)
				ctx := context.Background()
				b.SetBytes(int64(sz.n))
				b.ReportAllocs()
				b.ResetTimer()
				for b.Loop() {
					res, err := h.Call(ctx, "nativeecho", "echo", m.value)
					if err != nil || len(res) != m.size {
						b.Fatalf("echo: %d bytes, %v", len(res), err)
					}
				}
			})
		}
	}
}

// builtinEcho is the echo library's counterpart in Go, compiled into the
// host.
func builtinEcho() airlock.Builtin {
	p := plugin.New("nativeecho", "1.0.0")
	plugin.Handle(p, "echo", func(_ context.Context, _ *plugin.Host, in json.RawMessage) (json.RawMessage, error) {
		return in, nil
	})
	return airlock.Builtin{Plugin: p, Manifest: `
name = "nativeecho"
version = "1.0.0"
tier = "builtin"
protocol = 1
functions = ["echo"]
`}
}
