package airlock_test

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
	"time"

	"github.com/airlock-go/airlock"
	"github.com/airlock-go/airlock/internal/native"
	"github.com/airlock-go/airlock/internal/testutil"
)

// The native tier: C and Rust libraries built from source here, loaded in
// the host and in a sandboxed child (docs/NATIVE.md).

const nativeTestManifest = `
name = "testlib"
version = "0.1.0"
tier = "native"
protocol = 1
entry = "bin/libtestlib.so"
functions = ["echo", "hostcall", "read", "fail", "crash"]

[platform.darwin]
entry = "bin/libtestlib.dylib"

[platform.windows]
entry = "bin/testlib.dll"

[capabilities]
optional = ["log"]

[config.greeting]
type = "string"
default = "hello"
`

var nativeBuilds = struct {
	sync.Mutex
	libs map[string]string
}{libs: map[string]string{}}

// libName is the file name of library name on this platform.
func libName(name string) string {
	switch runtime.GOOS {
	case "windows":
		return name + ".dll"
	case "darwin":
		return "lib" + name + ".dylib"
	}
	return "lib" + name + ".so"
}

// cLibrary compiles C sources (relative to the module root) into a shared
// library with cc, once per test process. Under wine
// (AIRLOCK_TEST_PREBUILT) it returns the DLL .ci/windows-tests built with
// mingw-w64 instead: name plus the flags, e.g. "testlib-DREPORT_VERSION=2".
func cLibrary(t *testing.T, name string, flags []string, sources ...string) string {
	t.Helper()
	if !nativeSupported() {
		t.Skipf("the native tier is not built for %s/%s", runtime.GOOS, runtime.GOARCH)
	}
	if dir := os.Getenv("AIRLOCK_TEST_PREBUILT"); dir != "" {
		lib := filepath.Join(dir, libName(strings.Join(append([]string{name}, flags...), "")))
		if _, err := os.Stat(lib); err != nil {
			t.Fatalf("prebuilt library: %v (.ci/windows-tests builds it with x86_64-w64-mingw32-gcc)", err)
		}
		return lib
	}
	requireProgram(t, "cc")
	key := name + strings.Join(flags, " ")
	nativeBuilds.Lock()
	defer nativeBuilds.Unlock()
	if lib, ok := nativeBuilds.libs[key]; ok {
		return lib
	}
	dir, err := os.MkdirTemp("", "airlock-native-")
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, libName(name))
	args := append([]string{"-shared", "-fPIC", "-O2", "-fvisibility=hidden", "-I", "sdk/c", "-o", out}, flags...)
	args = append(append(args, sources...), "-lm")
	cmd := exec.Command("cc", args...)
	cmd.Dir = testutil.Root()
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("cc %s: %v\n%s", name, err, b)
	}
	nativeBuilds.libs[key] = out
	return out
}

func nativeSupported() bool {
	return (runtime.GOOS == "linux" || runtime.GOOS == "darwin" || runtime.GOOS == "windows") &&
		(runtime.GOARCH == "amd64" || runtime.GOARCH == "arm64")
}

func testLib(t *testing.T, flags ...string) string {
	lib := cLibrary(t, "testlib", flags, "internal/native/testdata/testlib.c", "sdk/c/airlock_json.c")
	return testutil.PluginDir(t, nativeTestManifest, map[string]string{"bin/" + libName("testlib"): lib})
}

// helloNativeDirs builds the two greet examples with their manifests'
// [build] commands, as airlock build does, in a copy of the tree: C with
// cc, Rust with cargo. Under wine it uses the prebuilt C DLL.
func helloNativeDirs(t *testing.T) map[string]string {
	t.Helper()
	if os.Getenv("AIRLOCK_TEST_PREBUILT") != "" {
		c := cLibrary(t, "hello-native-c", nil)
		man, err := os.ReadFile(filepath.Join(testutil.Root(), "examples/plugins/hello-native-c/plugin.toml"))
		if err != nil {
			t.Fatal(err)
		}
		return map[string]string{"c": testutil.PluginDir(t, string(man), map[string]string{"bin/" + libName("hello-native-c"): c})}
	}
	if !nativeSupported() || runtime.GOOS == "windows" {
		t.Skipf("the examples' build commands are for Linux (and macOS with a .dylib entry): %s/%s", runtime.GOOS, runtime.GOARCH)
	}
	requireProgram(t, "cc")
	dirs := map[string]string{"c": buildWithManifest(t, "hello-native-c", "c")}
	sdkTool(t, "cargo", "the Rust example is built with it")
	dirs["rust"] = buildWithManifest(t, "hello-native-rust", "rust-native")
	return dirs
}

var isolations = []airlock.Isolation{airlock.IsolationInProcess, airlock.IsolationProcess}

func TestNativeGreet(t *testing.T) {
	for lang, dir := range helloNativeDirs(t) {
		for _, iso := range isolations {
			t.Run(lang+"/"+string(iso), func(t *testing.T) {
				h, rec := newHost(t, airlock.Options{})
				load(t, h, airlock.PluginConfig{Path: dir, Grants: []string{"log"}, Isolation: iso,
					Config: map[string]any{"greeting": "hi"}})
				out, err := greet.Run(ctxT(t, 20*time.Second), h, map[string]string{"name": "ada"})
				if err != nil {
					t.Fatal(err)
				}
				if out["message"] != "hi, ada" {
					t.Errorf("greet = %v, want hi, ada", out)
				}
				if !strings.Contains(rec.String(), "greeting ada") {
					t.Errorf("the plugin's log line is missing:\n%s", rec.String())
				}
				_, err = greet.Run(ctxT(t, 20*time.Second), h, map[string]string{"name": ""})
				var re *airlock.RemoteError
				if !errors.As(err, &re) || re.Code != -32000 || !strings.Contains(re.Message, "name is empty") {
					t.Errorf("empty name: %v, want the plugin's error -32000", err)
				}
			})
		}
	}
}

// Every host call is checked against the grants, in the host and
// contained alike.
func TestNativeHostCallGrants(t *testing.T) {
	dir := testLib(t)
	for _, iso := range isolations {
		for _, granted := range []bool{true, false} {
			name := string(iso) + "/granted"
			var grants []string
			if granted {
				grants = []string{"log"}
			} else {
				name = string(iso) + "/denied"
			}
			t.Run(name, func(t *testing.T) {
				h, _ := newHost(t, airlock.Options{})
				load(t, h, airlock.PluginConfig{Path: dir, Grants: grants, Isolation: iso})
				raw, err := h.Call(ctxT(t, 20*time.Second), "testlib", "hostcall",
					map[string]any{"fn": "log", "input": map[string]any{"msg": "from native"}})
				if err != nil {
					t.Fatal(err)
				}
				var res struct {
					Code   int    `json:"code"`
					Result string `json:"result"`
				}
				if err := json.Unmarshal(raw, &res); err != nil {
					t.Fatalf("%s: %v", raw, err)
				}
				want := 0
				if !granted {
					want = -32001
				}
				if res.Code != want {
					t.Errorf("host call log: code %d (%s), want %d", res.Code, res.Result, want)
				}
			})
		}
	}
}

// The call's name, phase, input and settings reach the library, and its
// own errors come back with their code.
func TestNativeCallData(t *testing.T) {
	dir := testLib(t)
	for _, iso := range isolations {
		t.Run(string(iso), func(t *testing.T) {
			h, _ := newHost(t, airlock.Options{})
			load(t, h, airlock.PluginConfig{Path: dir, Isolation: iso, Config: map[string]any{"greeting": "yo"}})
			ctx := ctxT(t, 20*time.Second)
			raw, err := h.Call(ctx, "testlib", "echo", map[string]any{"x": []int{1, 2}})
			if err != nil {
				t.Fatal(err)
			}
			var res struct {
				Input  map[string][]int  `json:"input"`
				Config map[string]string `json:"config"`
				Inits  int               `json:"inits"`
			}
			if err := json.Unmarshal(raw, &res); err != nil {
				t.Fatalf("%s: %v", raw, err)
			}
			if len(res.Input["x"]) != 2 || res.Config["greeting"] != "yo" || res.Inits != 1 {
				t.Errorf("echo = %s", raw)
			}
			_, err = h.Call(ctx, "testlib", "fail", nil)
			var re *airlock.RemoteError
			if !errors.As(err, &re) || re.Code != -32000 || re.Message != "fail: as asked" {
				t.Errorf("fail: %v", err)
			}
		})
	}
}

// A library is never unloaded: a second load of the same file in the
// same process reuses it, and its init runs once.
func TestNativeInitOnce(t *testing.T) {
	dir := testLib(t)
	for range 2 {
		h, _ := newHost(t, airlock.Options{})
		load(t, h, airlock.PluginConfig{Path: dir})
		raw, err := h.Call(ctxT(t, 10*time.Second), "testlib", "echo", 1)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(raw), `"inits":1`) {
			t.Errorf("echo = %s, want inits 1", raw)
		}
		h.Close(context.Background())
	}
}

// A library built for another ABI version is refused before its init runs,
// with an error naming the plugin.
func TestNativeVersionMismatch(t *testing.T) {
	dir := testLib(t, "-DREPORT_VERSION=2")
	for _, iso := range isolations {
		t.Run(string(iso), func(t *testing.T) {
			h, _ := newHost(t, airlock.Options{})
			_, err := h.Load(ctxT(t, 20*time.Second), airlock.PluginConfig{Path: dir, Isolation: iso})
			if err == nil {
				t.Fatal("a version 2 library loaded")
			}
			if !strings.Contains(err.Error(), "testlib") || !strings.Contains(err.Error(), "native API version 2") {
				t.Errorf("error does not name the plugin and the version: %v", err)
			}
			if iso == airlock.IsolationInProcess && !errors.Is(err, native.ErrAPIVersion) {
				t.Errorf("error does not match native.ErrAPIVersion: %v", err)
			}
			want := airlock.ErrStart // contained: the child exits before its handshake
			if iso == airlock.IsolationProcess {
				want = airlock.ErrHandshake
			}
			if !errors.Is(err, want) {
				t.Errorf("error does not match %v: %v", want, err)
			}
		})
	}
}

// Contained, a crash in the library costs the call an error; the plugin is
// restarted and answers the next call. (In-process a crash is the host's
// crash, by design: docs/NATIVE.md. It is not tested here for that reason.)
func TestNativeContainedCrash(t *testing.T) {
	dir := testLib(t)
	h, _ := newHost(t, airlock.Options{})
	load(t, h, airlock.PluginConfig{Path: dir, Isolation: airlock.IsolationProcess})
	_, err := h.Call(ctxT(t, 20*time.Second), "testlib", "crash", nil)
	if !errors.Is(err, airlock.ErrPluginCrashed) {
		t.Fatalf("crash: %v, want ErrPluginCrashed", err)
	}
	if _, err := h.Call(ctxT(t, 20*time.Second), "testlib", "echo", 1); err != nil {
		t.Fatalf("after the crash: %v", err)
	}
}

// Contained, the library is inside the process tier's sandbox: it cannot
// read a file outside its grants, which the same library in-process can.
func TestNativeContainedSandbox(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the file system layer is enforced on Linux")
	}
	dir := testLib(t)
	secret := filepath.Join(t.TempDir(), "secret.txt")
	if err := os.WriteFile(secret, []byte("the host's secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, iso := range isolations {
		t.Run(string(iso), func(t *testing.T) {
			h, _ := newHost(t, airlock.Options{})
			load(t, h, airlock.PluginConfig{Path: dir, Isolation: iso})
			raw, err := h.Call(ctxT(t, 20*time.Second), "testlib", "read", map[string]string{"path": secret})
			if iso == airlock.IsolationInProcess {
				if err != nil || !strings.Contains(string(raw), "secret") {
					t.Errorf("in-process read (the control): %s, %v", raw, err)
				}
				return
			}
			if err == nil {
				t.Errorf("contained, the library read a file outside its grants: %s", raw)
			}
		})
	}
}

// isolation is for native plugins only.
func TestNativeIsolationOtherTiers(t *testing.T) {
	h, _ := newHost(t, airlock.Options{})
	_, err := h.Load(context.Background(), airlock.PluginConfig{Path: buildExample(t, "hello-go"), Grants: []string{"log"}, Isolation: airlock.IsolationProcess})
	if !errors.Is(err, airlock.ErrInvalidConfig) {
		t.Errorf("isolation on a process plugin: %v, want ErrInvalidConfig", err)
	}
}

// docs/NATIVE.md's host.toml example is real.
func TestNativeDocExample(t *testing.T) {
	cfg, err := airlock.ParseConfig("docs/NATIVE.md", []byte(firstTOML(t, "docs/NATIVE.md")))
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Plugins) != 1 || cfg.Plugins[0].Isolation != airlock.IsolationProcess {
		t.Errorf("parsed as %+v", cfg.Plugins)
	}
	if _, err := airlock.ParseConfig("bad", []byte("[[plugin]]\npath = \"x\"\nisolation = \"thread\"\n")); err == nil ||
		!strings.Contains(err.Error(), "isolation") {
		t.Errorf("isolation = \"thread\": %v, want an error naming isolation", err)
	}
}

// A signed native package runs from the verified bytes, unpacked into a
// private directory, in the host and contained alike.
func TestNativeSignedPackage(t *testing.T) {
	acme := newPublisher(t, "acme")
	pkg := packAndSign(t, helloNativeDirs(t)["c"], acme)
	for _, iso := range isolations {
		t.Run(string(iso), func(t *testing.T) {
			runDir := filepath.Join(t.TempDir(), "run")
			if runtime.GOOS == "windows" {
				// A loaded DLL cannot be deleted and is never unloaded: the
				// run directory stays until the host process ends
				// (docs/NATIVE.md), so it is not t.TempDir's to remove.
				d, err := os.MkdirTemp("", "airlock-native-run-")
				if err != nil {
					t.Fatal(err)
				}
				runDir = d
			}
			h, _ := newHostWith(t, airlock.Config{Trust: airlock.Trust{Keys: []string{acme.pub}}}, airlock.Options{RunDir: runDir})
			load(t, h, airlock.PluginConfig{Package: pkg, Grants: []string{"log"}, Publishers: []string{acme.id}, Isolation: iso})
			out, err := greet.Run(ctxT(t, 20*time.Second), h, map[string]string{"name": "ada"})
			if err != nil || out["message"] != "hello, ada" {
				t.Errorf("greet = %v, %v", out, err)
			}
		})
	}
}
