package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	extism "github.com/extism/go-sdk"
	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	"github.com/airlock-go/airlock"
)

// The wasm-tier benchmarks: the same echo in C through Airlock, through a
// raw wazero call into the very same module doing the same copies (the
// limit), and through extism's Go SDK running an equivalent extism plugin,
// with and without its timeout; the 64 B call and compute-bound guest
// code through Airlock and raw wazero in turns (paired_test.go); then
// start-up with a cold and a warm compilation cache.

var wasmBins struct {
	once                 sync.Once
	err                  error
	airlockDir           string // plugin directory holding wasmecho.wasm
	airlockWasm, extWasm []byte
	computeDir           string // plugin directory holding wasmcompute.wasm
	computeWasm          []byte
}

func buildWasm(b *testing.B) {
	wasmBins.once.Do(func() {
		if _, err := exec.LookPath("clang"); err != nil {
			wasmBins.err = fmt.Errorf("clang is needed for the wasm benchmarks: %w", err)
			return
		}
		dir := filepath.Join(bins.dir, "wasmecho")
		os.MkdirAll(dir, 0o755)
		cc := func(out string, args ...string) error {
			cmd := exec.Command("clang", append([]string{"--target=wasm32-wasi", "-O2", "-mbulk-memory", "-mexec-model=reactor", "-o", out}, args...)...)
			if b, err := cmd.CombinedOutput(); err != nil {
				return fmt.Errorf("clang: %v\n%s", err, b)
			}
			return nil
		}
		wasm := filepath.Join(dir, "wasmecho.wasm")
		if wasmBins.err = cc(wasm, "-I", "../sdk/c", "plugins/wasmecho/echo.c", "../sdk/c/airlock.c"); wasmBins.err != nil {
			return
		}
		ext := filepath.Join(bins.dir, "extismecho.wasm")
		if wasmBins.err = cc(ext, "-Wl,--allow-undefined", "plugins/extismecho/echo.c"); wasmBins.err != nil {
			return
		}
		manifest, _ := os.ReadFile("plugins/wasmecho/plugin.toml")
		os.WriteFile(filepath.Join(dir, "plugin.toml"), manifest, 0o644)
		cdir := filepath.Join(bins.dir, "wasmcompute")
		os.MkdirAll(cdir, 0o755)
		compute := filepath.Join(cdir, "wasmcompute.wasm")
		if wasmBins.err = cc(compute, "-I", "../sdk/c", "plugins/wasmcompute/compute.c", "../sdk/c/airlock.c"); wasmBins.err != nil {
			return
		}
		manifest, _ = os.ReadFile("plugins/wasmcompute/plugin.toml")
		os.WriteFile(filepath.Join(cdir, "plugin.toml"), manifest, 0o644)
		wasmBins.computeDir = cdir
		wasmBins.computeWasm, _ = os.ReadFile(compute)
		wasmBins.airlockDir = dir
		wasmBins.airlockWasm, _ = os.ReadFile(wasm)
		wasmBins.extWasm, _ = os.ReadFile(ext)
	})
	if wasmBins.err != nil {
		b.Fatal(wasmBins.err)
	}
}

func BenchmarkWasm(b *testing.B) {
	buildWasm(b)
	for _, pl := range payloads {
		for _, sz := range sizes {
			input := pl.make(sz.n)
			encoded, err := json.Marshal(input)
			if err != nil {
				b.Fatal(err)
			}
			for _, impl := range []struct {
				name  string
				start func(b *testing.B) func(input any, want int) error
			}{
				{"raw-wazero", startRawWazero},
				{"raw-wazero-closeonctx", startRawWazeroClose},
				{"airlock", startAirlockWasm},
				{"extism", startExtism},
				{"extism-timeout", startExtismTimeout},
			} {
				name := sz.name + "/" + impl.name
				switch {
				case pl.name != "string":
					name = pl.name + "/" + name
				case sz.name == "64B":
					name = impl.name
				}
				b.Run(name, func(b *testing.B) {
					call := impl.start(b)
					b.SetBytes(int64(len(encoded)))
					b.ReportAllocs()
					b.ResetTimer()
					u := startUsage()
					for b.Loop() {
						if err := call(input, len(encoded)); err != nil {
							b.Fatal(err)
						}
					}
					u.report(b)
				})
			}
		}
	}
}

// startRawWazero calls the Airlock C module's airlock_call directly: the
// same copies in and out of guest memory and the same guest work, with
// none of the host's framework.
func startRawWazero(b *testing.B) func(any, int) error {
	return rawWazero(b, wazero.NewRuntimeConfig())
}

// startRawWazeroClose is the raw call with wazero's WithCloseOnContextDone,
// which Airlock needs to stop a guest that never yields.
func startRawWazeroClose(b *testing.B) func(any, int) error {
	return rawWazero(b, wazero.NewRuntimeConfig().WithCloseOnContextDone(true))
}

func rawWazero(b *testing.B, cfg wazero.RuntimeConfig) func(any, int) error {
	call := rawWazeroModule(b, cfg, wasmBins.airlockWasm)
	return func(input any, want int) error {
		data, err := json.Marshal(input)
		if err != nil {
			return err
		}
		out, err := call("echo", string(data))
		if err == nil && len(out) != want+len(`{"result":}`) {
			err = fmt.Errorf("raw echo returned %d bytes", len(out))
		}
		return err
	}
}

// rawWazeroModule instantiates an Airlock C module under raw wazero and
// returns a function calling its airlock_call with a function's name and
// input, returning the envelope it answers.
func rawWazeroModule(b *testing.B, cfg wazero.RuntimeConfig, wasm []byte) func(name, input string) ([]byte, error) {
	ctx := context.Background()
	rt := wazero.NewRuntimeWithConfig(ctx, cfg)
	b.Cleanup(func() { rt.Close(ctx) })
	wasi_snapshot_preview1.MustInstantiate(ctx, rt)
	noop := api.GoModuleFunc(func(context.Context, api.Module, []uint64) {})
	rt.NewHostModuleBuilder("airlock").
		NewFunctionBuilder().WithGoModuleFunction(noop, []api.ValueType{api.ValueTypeI32, api.ValueTypeI32, api.ValueTypeI32, api.ValueTypeI32}, []api.ValueType{api.ValueTypeI32}).Export("host_call").
		NewFunctionBuilder().WithGoModuleFunction(noop, []api.ValueType{api.ValueTypeI32}, nil).Export("host_result").
		Instantiate(ctx)
	mod, err := rt.InstantiateWithConfig(ctx, wasm, wazero.NewModuleConfig().WithStartFunctions("_initialize"))
	if err != nil {
		b.Fatal(err)
	}
	alloc, free, call := mod.ExportedFunction("airlock_alloc"), mod.ExportedFunction("airlock_free"), mod.ExportedFunction("airlock_call")
	in := func(data []byte, fn api.Function) ([]byte, error) {
		res, err := alloc.Call(ctx, uint64(len(data)))
		if err != nil {
			return nil, err
		}
		mod.Memory().Write(uint32(res[0]), data)
		res, err = fn.Call(ctx, res[0], uint64(len(data)))
		if err != nil {
			return nil, err
		}
		ptr, n := uint32(res[0]>>32), uint32(res[0])
		view, _ := mod.Memory().Read(ptr, n)
		out := append([]byte(nil), view...)
		_, err = free.Call(ctx, uint64(ptr), uint64(n))
		return out, err
	}
	if _, err := in([]byte(`{"protocols":[1],"config":{}}`), mod.ExportedFunction("airlock_init")); err != nil {
		b.Fatal(err)
	}
	var buf []byte
	return func(name, input string) ([]byte, error) {
		buf = append(buf[:0], `{"name":"`...)
		buf = append(buf, name...)
		buf = append(buf, `","input":`...)
		buf = append(buf, input...)
		buf = append(buf, '}')
		return in(buf, call)
	}
}

func startAirlockWasm(b *testing.B) func(any, int) error {
	ctx := context.Background()
	h := airlockHost(b, wasmBins.airlockDir)
	return func(input any, want int) error {
		out, err := h.Call(ctx, "wasmecho", "echo", input)
		if err == nil && len(out) != want {
			err = fmt.Errorf("airlock echo returned %d bytes", len(out))
		}
		return err
	}
}

// airlockHost returns a host with the wasm plugin in dir loaded.
func airlockHost(b *testing.B, dir string) *airlock.Host {
	ctx := context.Background()
	h, err := airlock.New(airlock.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), WasmCacheDir: filepath.Join(bins.dir, "wasm-cache")})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { h.Close(ctx) })
	if _, err := h.Load(ctx, airlock.PluginConfig{Path: dir}); err != nil {
		b.Fatal(err)
	}
	return h
}

// BenchmarkWasmCompute runs compute-bound guest code (a tight loop,
// recursion without loops, memory-heavy sorting) through Airlock, whose
// module is instrumented to be stoppable, against raw wazero on the
// original module with no termination checks (WORK/airlock); and raw
// wazero with its own checks (WithCloseOnContextDone) against the same
// (WORK/raw-wazero-closeonctx). Each pair runs in turns within every
// iteration (paired): the ratio metrics are the ones to read, the
// benchmark's own ns/op is the time of both. Each call does milliseconds
// of work, so the ratio is the cost of being stoppable, not of the call.
// Every call's answer is checked against the work's known result.
func BenchmarkWasmCompute(b *testing.B) {
	buildWasm(b)
	for _, work := range []struct{ name, n, want string }{
		{"loop", "20", "2547686853"}, {"recurse", "27", "196418"}, {"memory", "2500", "3509172401"},
	} {
		for _, other := range []string{"airlock", "raw-wazero-closeonctx"} {
			b.Run(work.name+"/"+other, func(b *testing.B) {
				base := computeContender(b, "raw-wazero", work.name, work.n, work.want)
				paired(b, 1, base, computeContender(b, other, work.name, work.n, work.want))
			})
		}
	}
}

// computeContender starts a contender of BenchmarkWasmCompute on the
// compute module (a host of its own, or a raw wazero runtime of its own)
// and returns its call of fn(n), which fails unless the answer is want.
func computeContender(b *testing.B, name, fn, n, want string) contender {
	var call func() ([]byte, error)
	switch name {
	case "raw-wazero", "raw-wazero-closeonctx":
		cfg := wazero.NewRuntimeConfig().WithCloseOnContextDone(name == "raw-wazero-closeonctx")
		raw := rawWazeroModule(b, cfg, wasmBins.computeWasm)
		call = func() ([]byte, error) { return raw(fn, n) }
		want = `{"result":` + want + `}`
	case "airlock":
		h := airlockHost(b, wasmBins.computeDir)
		call = func() ([]byte, error) { return h.Call(context.Background(), "wasmcompute", fn, json.RawMessage(n)) }
	default:
		b.Fatalf("no compute contender %q", name)
	}
	return contender{name, func() error {
		out, err := call()
		if err == nil && string(out) != want {
			err = fmt.Errorf("%s(%s) = %s, want %s", fn, n, out, want)
		}
		return err
	}}
}

// goWasm is the Go SDK's echo guest (bench/plugins/wasmgoecho), built
// for wasip1 on first use.
var goWasm struct {
	once sync.Once
	err  error
	dir  string // the plugin's directory
	wasm []byte
}

func buildGoWasm(b *testing.B) (dir string, wasm []byte) {
	goWasm.once.Do(func() {
		dir := filepath.Join(bins.dir, "wasmgoecho")
		os.MkdirAll(dir, 0o755)
		module := filepath.Join(dir, "wasmgoecho.wasm")
		cmd := exec.Command("go", "build", "-buildmode=c-shared", "-o", module, "./plugins/wasmgoecho")
		cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
		if out, err := cmd.CombinedOutput(); err != nil {
			goWasm.err = fmt.Errorf("build wasmgoecho: %v\n%s", err, out)
			return
		}
		manifest, _ := os.ReadFile("plugins/wasmgoecho/plugin.toml")
		os.WriteFile(filepath.Join(dir, "plugin.toml"), manifest, 0o644)
		goWasm.dir = dir
		goWasm.wasm, goWasm.err = os.ReadFile(module)
	})
	if goWasm.err != nil {
		b.Fatal(goWasm.err)
	}
	return goWasm.dir, goWasm.wasm
}

// BenchmarkWasmGoCallPaired makes the 64 B call (the plain string,
// encoded with each call, the answer checked) to the Go SDK's echo
// guest, through Airlock against raw wazero calling the same module with
// the same copies, no termination checks and no deadline in the call's
// params, in turns within every iteration (paired), blocks of 20 calls:
// what being stoppable, and the SDK's deadline, cost a guest whose
// runtime makes many small calls of its own.
func BenchmarkWasmGoCallPaired(b *testing.B) {
	dir, wasm := buildGoWasm(b)
	input := payload(64)
	encoded, err := json.Marshal(input)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("airlock", func(b *testing.B) {
		raw := rawWazeroModule(b, wazero.NewRuntimeConfig(), wasm)
		h := airlockHost(b, dir)
		paired(b, 20,
			contender{"raw-wazero", func() error {
				data, err := json.Marshal(input)
				if err != nil {
					return err
				}
				out, err := raw("echo", string(data))
				if err == nil && !bytes.Contains(out, encoded) {
					err = fmt.Errorf("raw echo returned %s", out)
				}
				return err
			}},
			contender{"airlock", func() error {
				out, err := h.Call(context.Background(), "wasmgoecho", "echo", input)
				if err == nil && !bytes.Equal(out, encoded) {
					err = fmt.Errorf("airlock echo returned %s", out)
				}
				return err
			}})
	})
}

// BenchmarkWasmCallPaired makes BenchmarkWasm's 64 B call (the plain
// string, encoded with each call, the answer's length checked) through
// Airlock against raw wazero calling the same module with the same copies
// and no termination checks (/airlock), and raw wazero with
// WithCloseOnContextDone against the same (/raw-wazero-closeonctx), in
// turns within every iteration (paired), blocks of 100 calls each: the
// ratio metrics are the ones to read.
func BenchmarkWasmCallPaired(b *testing.B) {
	buildWasm(b)
	input := payload(64)
	encoded, err := json.Marshal(input)
	if err != nil {
		b.Fatal(err)
	}
	want := len(encoded)
	for _, other := range []struct {
		name  string
		start func(b *testing.B) func(input any, want int) error
	}{{"airlock", startAirlockWasm}, {"raw-wazero-closeonctx", startRawWazeroClose}} {
		b.Run(other.name, func(b *testing.B) {
			base, call := startRawWazero(b), other.start(b)
			paired(b, 100,
				contender{"raw-wazero", func() error { return base(input, want) }},
				contender{other.name, func() error { return call(input, want) }})
		})
	}
}

// startExtism runs extism as its SDK is configured by default: without a
// timeout, so with no termination checks (a spinning guest cannot be
// stopped).
func startExtism(b *testing.B) func(any, int) error { return extismWith(b, 0) }

// startExtismTimeout sets extism's Manifest.Timeout, which is what turns
// its termination checks on (wazero's WithCloseOnContextDone): the peer
// configured to stop a guest that never yields, as Airlock always does.
func startExtismTimeout(b *testing.B) func(any, int) error { return extismWith(b, 30_000) }

func extismWith(b *testing.B, timeoutMS uint64) func(any, int) error {
	ctx := context.Background()
	p, err := extism.NewPlugin(ctx, extism.Manifest{Wasm: []extism.Wasm{extism.WasmData{Data: wasmBins.extWasm}}, Timeout: timeoutMS}, extism.PluginConfig{EnableWasi: true}, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { p.Close(ctx) })
	return func(input any, want int) error {
		data, err := json.Marshal(input)
		if err != nil {
			return err
		}
		_, out, err := p.Call("echo", data)
		if err == nil && len(out) != want {
			err = fmt.Errorf("extism echo returned %d bytes", len(out))
		}
		return err
	}
}

// BenchmarkWasmStart loads a Go-built wasm plugin (the slow kind to
// compile) with an empty compilation cache, then with a warm one.
func BenchmarkWasmStart(b *testing.B) {
	dir := filepath.Join(bins.dir, "hello-wasm-go")
	module := filepath.Join(dir, "bin", "hello-wasm-go.wasm")
	if _, err := os.Stat(module); err != nil {
		cmd := exec.Command("go", "build", "-buildmode=c-shared", "-o", module, "../examples/plugins/hello-wasm-go")
		cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("build: %v\n%s", err, out)
		}
		manifest, _ := os.ReadFile("../examples/plugins/hello-wasm-go/plugin.toml")
		os.WriteFile(filepath.Join(dir, "plugin.toml"), manifest, 0o644)
	}
	// load times the load alone: the host is made before and closed
	// after, with the timer stopped.
	load := func(b *testing.B, cache string) {
		ctx := context.Background()
		b.StopTimer()
		h, err := airlock.New(airlock.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), WasmCacheDir: cache})
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if _, err := h.Load(ctx, airlock.PluginConfig{Path: dir, Grants: []string{"log"}}); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		h.Close(ctx)
		b.StartTimer()
	}
	b.Run("cold", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			load(b, filepath.Join(b.TempDir(), fmt.Sprint("cache", i)))
		}
	})
	b.Run("warm", func(b *testing.B) {
		cache := filepath.Join(b.TempDir(), "cache")
		load(b, cache)
		b.ResetTimer()
		for range b.N {
			load(b, cache)
		}
	})
}

// BenchmarkWasmMemory reports the host's heap per loaded wasm plugin (one
// instance each).
func BenchmarkWasmMemory(b *testing.B) {
	buildWasm(b)
	const n = 10
	for b.Loop() {
		var hosts []*airlock.Host
		before := heap()
		for range n {
			h, err := airlock.New(airlock.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), WasmCacheDir: filepath.Join(bins.dir, "wasm-cache")})
			if err != nil {
				b.Fatal(err)
			}
			if _, err := h.Load(context.Background(), airlock.PluginConfig{Path: wasmBins.airlockDir}); err != nil {
				b.Fatal(err)
			}
			hosts = append(hosts, h)
		}
		b.ReportMetric(float64(heap()-before)/n, "host-bytes/plugin")
		for _, h := range hosts {
			if err := h.Close(context.Background()); err != nil {
				b.Fatal(err)
			}
		}
	}
}
