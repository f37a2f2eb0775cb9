package native

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/airlock-go/airlock/internal/sdkcore"
	"github.com/airlock-go/airlock/internal/testutil"
	"github.com/airlock-go/airlock/internal/tier"
	"github.com/airlock-go/airlock/sdk/go/plugin"
)

// buildLib compiles C source text (or, with src empty, testdata/testlib.c)
// into a shared library in a fresh directory.
func buildLib(t testing.TB, src string, flags ...string) string {
	t.Helper()
	if !supported || runtime.GOOS == "windows" {
		t.Skip("needs cc and the native tier on this platform")
	}
	if _, err := exec.LookPath("cc"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("cc is required in CI")
		}
		t.Skip("cc not installed")
	}
	dir := t.TempDir()
	file := filepath.Join(testutil.Root(), "internal/native/testdata/testlib.c")
	if src != "" {
		file = filepath.Join(dir, "lib.c")
		if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	root := testutil.Root()
	out := filepath.Join(dir, "lib.so")
	args := append([]string{"-shared", "-fPIC", "-O2", "-I", filepath.Join(root, "sdk/c"), "-o", out, file,
		filepath.Join(root, "sdk/c/airlock_json.c"), "-lm"}, flags...)
	if b, err := exec.Command("cc", args...).CombinedOutput(); err != nil {
		t.Fatalf("cc: %v\n%s", err, b)
	}
	return out
}

const initRefuses = `
#include "airlock_native.h"
AIRLOCK_NATIVE_EXPORT uint32_t airlock_native_api_version(void) { return AIRLOCK_NATIVE_API_VERSION; }
AIRLOCK_NATIVE_EXPORT int32_t airlock_native_init(const airlock_host_v1 *h, airlock_plugin_v1 *o) {
    (void)h; (void)o; return RESULT;
}
`

// Every way a library can be wrong is refused with an error naming the
// plugin and what is wrong, before any call.
func TestLoadRefuses(t *testing.T) {
	notLib := filepath.Join(t.TempDir(), "not.so")
	if err := os.WriteFile(notLib, []byte("not an ELF file"), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, path, want string
		version          bool // matches ErrAPIVersion
	}{
		{"missing file", filepath.Join(t.TempDir(), "none.so"), "load none.so", false},
		{"not a library", notLib, "load not.so", false},
		{"no version export", buildLib(t, "int unrelated(void) { return 1; }"), "does not export airlock_native_api_version", false},
		{"other version", buildLib(t, "", "-DREPORT_VERSION=7"), "built for native API version 7; this host speaks version 1", true},
		{"init refuses the version", buildLib(t, initRefuses, "-DRESULT=1"), "its init refused this host's native API version 1", true},
		{"init fails", buildLib(t, initRefuses, "-DRESULT=5"), "airlock_native_init returned 5", false},
		{"init leaves the table empty", buildLib(t, initRefuses, "-DRESULT=0"), "filled in a version 0 table", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Load(c.path, "victim")
			if err == nil {
				t.Fatal("loaded")
			}
			if !strings.Contains(err.Error(), "native plugin victim") || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q does not name the plugin and say %q", err, c.want)
			}
			if !errors.Is(err, tier.ErrStart) || errors.Is(err, ErrAPIVersion) != c.version {
				t.Errorf("error %v: ErrStart %v, ErrAPIVersion %v (want %v)", err, errors.Is(err, tier.ErrStart), errors.Is(err, ErrAPIVersion), c.version)
			}
		})
	}
}

// testHost makes the Host a library call gets, its host calls going to
// caller.
func testHost(caller sdkcore.Caller, config map[string]any, grants, functions []string) *plugin.Host {
	return (*plugin.Host)(sdkcore.NewHost(caller, config, grants, functions))
}

// echoHost is a host caller that answers every host call with its input.
type echoHost struct{}

func (echoHost) CallHost(_ context.Context, _ string, in json.RawMessage) (json.RawMessage, error) {
	return in, nil
}

// Many goroutines call one library at once, each with host calls: every
// answer is its own (the host's results and the call contexts are not
// mixed up between calls).
func TestCallHammer(t *testing.T) {
	lib, err := Load(buildLib(t, ""), "testlib")
	if err != nil {
		t.Fatal(err)
	}
	h := testHost(echoHost{}, map[string]any{"greeting": "hi"}, nil, nil)
	const P, N = 8, 200
	var wg sync.WaitGroup
	errs := make(chan error, P)
	for p := range P {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range N {
				want := strings.Repeat("x", p*N+i)
				in, _ := json.Marshal(map[string]any{"fn": "echo", "input": want})
				raw, err := lib.Call(context.Background(), h, []byte(`{"greeting":"hi"}`), "hostcall", "", in)
				if err != nil {
					errs <- err
					return
				}
				var res struct {
					Code   int    `json:"code"`
					Result string `json:"result"`
				}
				if err := json.Unmarshal(raw, &res); err != nil || res.Code != 0 || res.Result != `"`+want+`"` {
					errs <- errors.New("wrong answer: " + string(raw))
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// BenchmarkLibraryCall is the cost of the ABI alone: one call into the
// library and back through purego, with the copies, without the host.
func BenchmarkLibraryCall(b *testing.B) {
	lib, err := Load(buildLib(b, ""), "testlib")
	if err != nil {
		b.Fatal(err)
	}
	h := testHost(echoHost{}, map[string]any{}, nil, nil)
	in := json.RawMessage(`"0123456789012345678901234567890123456789012345678901234567890"`)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := lib.Call(context.Background(), h, []byte(`{}`), "echo", "", in); err != nil {
			b.Fatal(err)
		}
	}
}
