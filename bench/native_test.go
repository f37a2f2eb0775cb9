package bench

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/airlock-go/airlock"
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
// sandboxed child that calls the library).
func BenchmarkNative(b *testing.B) {
	dir := nativeEchoDir(b)
	for _, iso := range []airlock.Isolation{airlock.IsolationInProcess, airlock.IsolationProcess} {
		for _, size := range []int{64, 4096} {
			b.Run(fmt.Sprintf("%s/%dB", iso, size), func(b *testing.B) {
				h, err := airlock.New(airlock.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
				if err != nil {
					b.Fatal(err)
				}
				defer h.Close(context.Background())
				if _, err := h.Load(context.Background(), airlock.PluginConfig{Path: dir, Isolation: iso}); err != nil {
					b.Fatal(err)
				}
				m := newMsg(size)
				ctx := context.Background()
				b.SetBytes(int64(size))
				b.ReportAllocs()
				b.ResetTimer()
				for b.Loop() {
					res, err := h.Call(ctx, "nativeecho", "echo", m.json)
					if err != nil || len(res) != len(m.json) {
						b.Fatalf("echo: %d bytes, %v", len(res), err)
					}
				}
			})
		}
	}
}
