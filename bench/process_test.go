package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"

	"github.com/airlock-go/airlock"
	"github.com/airlock-go/airlock/bench/internal/gp"
)

// The process-tier benchmarks: the same echo call through a raw pipe
// between two Go processes (the physical limit), through Airlock, and
// through hashicorp/go-plugin over gRPC and net/rpc, side by side in one
// run. bench/run turns the results into a table of ratios.

var bins struct {
	dir               string
	raw, rawJSON      string // executables
	goplugin, airlock string
	airlockDir        string // the Airlock plugin's directory
}

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "airlock-bench-")
	if err != nil {
		panic(err)
	}
	bins.dir = dir
	build := func(pkg, out string) string {
		path := filepath.Join(dir, out)
		cmd := exec.Command("go", "build", "-o", path, "./"+pkg)
		if b, err := cmd.CombinedOutput(); err != nil {
			panic(fmt.Sprintf("build %s: %v\n%s", pkg, err, b))
		}
		return path
	}
	bins.raw = build("plugins/rawecho", "rawecho")
	bins.rawJSON = build("plugins/rawjsonecho", "rawjsonecho")
	bins.goplugin = build("plugins/gopluginecho", "gopluginecho")
	bins.airlockDir = filepath.Join(dir, "airlockecho")
	bins.airlock = build("plugins/airlockecho", "airlockecho/bin/airlockecho")
	manifest, err := os.ReadFile("plugins/airlockecho/plugin.toml")
	if err == nil {
		err = os.WriteFile(filepath.Join(bins.airlockDir, "plugin.toml"), manifest, 0o644)
	}
	if err != nil {
		panic(err)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// echoer is one way of making the echo call.
type echoer interface {
	echo(ctx context.Context, m msg) error
	close()
}

// BenchmarkCall makes the echo call with each kind of payload (payloads:
// the plain string, named SIZE/CONTENDER as before the other kinds, an
// escaped string and an object, named KIND/SIZE/CONTENDER) at each size
// through every contender. Each contender is handed the payload as msg
// says, encodes it if it is a Go value, sends it, and checks the length
// of what comes back.
func BenchmarkCall(b *testing.B) {
	for _, pl := range payloads {
		for _, sz := range sizes {
			p, err := valueMsg(pl.make(sz.n))
			if err != nil {
				b.Fatal(err)
			}
			for _, impl := range []struct {
				name  string
				start func(b *testing.B) echoer
			}{
				{"raw-pipe", startRaw},
				{"raw-pipe-blocking", startRawBlocking},
				{"raw-jsonrpc", startRawJSON},
				{"raw-client-sdk-plugin", startRawToSDK},
				{"airlock", startAirlock},
				{"airlock-no-sandbox", func(b *testing.B) echoer { return startAirlockWith(b, "off") }},
				{"goplugin-grpc", func(b *testing.B) echoer { return startGoPlugin(b, "grpc") }},
				{"goplugin-netrpc", func(b *testing.B) echoer { return startGoPlugin(b, "netrpc") }},
			} {
				b.Run(benchName(pl.name, sz.name, impl.name), func(b *testing.B) {
					e := impl.start(b)
					defer e.close()
					ctx := context.Background()
					b.SetBytes(int64(p.size))
					b.ReportAllocs()
					b.ResetTimer()
					use := startUsage()
					for b.Loop() {
						if err := e.echo(ctx, p); err != nil {
							b.Fatal(err)
						}
					}
					use.report(b)
				})
			}
		}
	}
}

// BenchmarkInflight runs N callers at once against one plugin; ns/op is
// the time per call, so throughput is 1/ns-op.
func BenchmarkInflight(b *testing.B) {
	for _, n := range []int{1, 4, 16, 64} {
		for _, impl := range []struct {
			name  string
			start func(b *testing.B) echoer
		}{
			{"airlock", startAirlock},
			{"goplugin-grpc", func(b *testing.B) echoer { return startGoPlugin(b, "grpc") }},
		} {
			b.Run(fmt.Sprintf("%d/%s", n, impl.name), func(b *testing.B) {
				e := impl.start(b)
				defer e.close()
				p := newMsg(64)
				ctx := context.Background()
				var left atomic.Int64
				left.Store(int64(b.N))
				b.ResetTimer()
				use := startUsage()
				defer use.report(b)
				var wg sync.WaitGroup
				for range n {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for left.Add(-1) >= 0 {
							if err := e.echo(ctx, p); err != nil {
								b.Error(err)
								return
							}
						}
					}()
				}
				wg.Wait()
			})
		}
	}
}

// BenchmarkStart measures spawn to ready: a bare spawn until the child's
// first byte, an Airlock process plugin loaded (sandbox and handshake
// included), and a go-plugin client started and dispensed.
func BenchmarkStart(b *testing.B) {
	b.Run("bare-spawn-first-byte", func(b *testing.B) {
		for b.Loop() {
			e := startRaw(b)
			if err := e.echo(context.Background(), newMsg(64)); err != nil {
				b.Fatal(err)
			}
			e.close()
		}
	})
	b.Run("airlock", func(b *testing.B) {
		for b.Loop() {
			startAirlock(b).close()
		}
	})
	b.Run("airlock-no-sandbox", func(b *testing.B) {
		for b.Loop() {
			startAirlockWith(b, "off").close()
		}
	})
	b.Run("goplugin-grpc", func(b *testing.B) {
		for b.Loop() {
			startGoPlugin(b, "grpc").close()
		}
	})
}

func heap() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// BenchmarkMemory reports the host's heap per loaded process plugin.
func BenchmarkMemory(b *testing.B) {
	const n = 20
	for b.Loop() {
		idle := runtime.NumGoroutine()
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		var es []echoer
		for range n {
			es = append(es, startAirlock(b))
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/n, "host-bytes/plugin")
		for _, e := range es {
			e.close()
		}
		// The next round's "before" must not count these plugins' memory:
		// wait until the goroutines that hold it have ended.
		for deadline := time.Now().Add(10 * time.Second); runtime.NumGoroutine() > idle && time.Now().Before(deadline); {
			time.Sleep(time.Millisecond)
		}
	}
}

// --- raw pipe ---

type rawEcho struct {
	cmd *exec.Cmd
	w   io.WriteCloser
	r   *bufio.Reader
	buf []byte
}

func startRaw(b *testing.B) echoer { e := spawnRaw(b, bins.raw, false); return &e }

// spawnRaw starts a raw child; the client reads its answers through Go's
// poller (an *os.File pipe), or with blocking reads.
func spawnRaw(b *testing.B, path string, blocking bool) rawEcho {
	cmd := exec.Command(path)
	w, _ := cmd.StdinPipe()
	pr, pw, err := os.Pipe()
	if err != nil {
		b.Fatal(err)
	}
	cmd.Stdout = pw
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	pw.Close()
	var r io.Reader = pr
	if blocking {
		r = blockingReader{pr, int(pr.Fd())} // Fd puts the descriptor in blocking mode
	}
	return rawEcho{cmd: cmd, w: w, r: bufio.NewReaderSize(r, 1<<20)}
}

// echo sends the same JSON-RPC request the host would, the payload
// encoded if it is a Go value, and reads one line, with no decoding: the
// floor any process-tier call stands on. The answer is the request itself
// (the child echoes the line): its length is checked.
func (e *rawEcho) echo(_ context.Context, m msg) error {
	in, err := m.encoded()
	if err != nil {
		return err
	}
	e.buf = append(e.buf[:0], `{"jsonrpc":"2.0","id":1,"method":"call","params":{"name":"echo","timeout_ms":30000,"input":`...)
	e.buf = append(e.buf, in...)
	e.buf = append(e.buf, "}}\n"...)
	if _, err := e.w.Write(e.buf); err != nil {
		return err
	}
	line, err := e.r.ReadSlice('\n')
	if err == nil && len(line) != len(e.buf) {
		err = fmt.Errorf("raw echo returned %d bytes, want %d", len(line), len(e.buf))
	}
	return err
}

func (e *rawEcho) close() {
	e.w.Close()
	e.cmd.Wait()
}

// --- raw pipe, blocking reads ---

// blockingReader reads a pipe with blocking read(2) calls, outside the Go
// runtime's poller: the kernel wakes the reading thread itself. It keeps
// the *os.File, whose finalizer would otherwise close the descriptor.
type blockingReader struct {
	f  *os.File
	fd int
}

func (r blockingReader) Read(p []byte) (int, error) {
	for {
		n, err := syscall.Read(r.fd, p)
		switch {
		case err == syscall.EINTR:
			continue
		case err != nil:
			return 0, err
		case n == 0:
			return 0, io.EOF
		}
		return n, nil
	}
}

// startRawBlocking is startRaw with the answer read by blocking reads.
func startRawBlocking(b *testing.B) echoer { e := spawnRaw(b, bins.raw, true); return &e }

// --- raw JSON-RPC ---

// rawJSONEcho is the least a JSON-RPC call over a pipe must do: encode
// the request, and decode the answer and the request on each side, with
// the JSON library Airlock uses; no deadline, no concurrency.
type rawJSONEcho struct {
	rawEcho
	id int64
}

func startRawJSON(b *testing.B) echoer {
	return &rawJSONEcho{rawEcho: spawnRaw(b, bins.rawJSON, false)}
}

type rawResponse struct {
	ID     int64           `json:"id"`
	Result json.RawMessage `json:"result"`
}

func (e *rawJSONEcho) echo(_ context.Context, m msg) error {
	in, err := m.encoded()
	if err != nil {
		return err
	}
	e.id++
	e.buf = append(e.buf[:0], `{"jsonrpc":"2.0","id":`...)
	e.buf = strconv.AppendInt(e.buf, e.id, 10)
	e.buf = append(e.buf, `,"method":"call","params":{"name":"echo","timeout_ms":30000,"input":`...)
	e.buf = append(e.buf, in...)
	e.buf = append(e.buf, "}}\n"...)
	if _, err := e.w.Write(e.buf); err != nil {
		return err
	}
	var line, long []byte
	for {
		frag, err := e.r.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			long = append(long, frag...)
			continue
		}
		if err != nil {
			return err
		}
		line = frag
		if long != nil {
			line = append(long, frag...)
		}
		break
	}
	var res rawResponse
	if err := jsonv2.Unmarshal(line, &res); err != nil {
		return err
	}
	if res.ID != e.id || len(res.Result) != len(in) {
		return fmt.Errorf("answer %d with %d bytes, want %d with %d", res.ID, len(res.Result), e.id, len(in))
	}
	return nil
}

// startRawToSDK is the raw JSON-RPC client calling the Airlock echo
// plugin, started by hand without a sandbox: what the plugin SDK costs,
// with none of the host's machinery.
func startRawToSDK(b *testing.B) echoer {
	e := &rawJSONEcho{rawEcho: spawnRaw(b, bins.airlock, false)}
	if _, err := io.WriteString(e.w, `{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocols":[1],"plugin":"airlockecho"}}`+"\n"); err != nil {
		b.Fatal(err)
	}
	if line, err := e.r.ReadSlice('\n'); err != nil || !strings.Contains(string(line), `"result"`) {
		b.Fatalf("initialize: %s, %v", line, err)
	}
	return e
}

// --- airlock ---

type airlockEcho struct {
	h    *airlock.Host
	name string
}

func startAirlock(b *testing.B) echoer { return startAirlockWith(b, "") }

func startAirlockWith(b *testing.B, sandbox airlock.SandboxMode) echoer {
	h, err := airlock.New(airlock.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := h.Load(context.Background(), airlock.PluginConfig{Path: bins.airlockDir, Sandbox: sandbox}); err != nil {
		b.Fatal(err)
	}
	return &airlockEcho{h: h, name: "airlockecho"}
}

// echo hands Host.Call the payload's Go value, which Airlock encodes.
func (e *airlockEcho) echo(ctx context.Context, m msg) error {
	res, err := e.h.Call(ctx, e.name, "echo", m.value)
	if err == nil && len(res) != m.size {
		err = fmt.Errorf("echo returned %d bytes, want %d", len(res), m.size)
	}
	return err
}

func (e *airlockEcho) close() { e.h.Close(context.Background()) }

// --- go-plugin ---

type goPluginEcho struct {
	client *plugin.Client
	echoer gp.Echo
}

func startGoPlugin(b *testing.B, transport string) echoer {
	protocols := []plugin.Protocol{plugin.ProtocolNetRPC}
	if transport == "grpc" {
		protocols = []plugin.Protocol{plugin.ProtocolGRPC}
	}
	client := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  gp.Handshake,
		Plugins:          gp.Plugins(nil),
		Cmd:              exec.Command(bins.goplugin, transport),
		AllowedProtocols: protocols,
		Logger:           hclog.NewNullLogger(),
		StartTimeout:     10 * time.Second,
	})
	rpcClient, err := client.Client()
	if err != nil {
		client.Kill()
		b.Fatal(err)
	}
	raw, err := rpcClient.Dispense(transport)
	if err != nil {
		client.Kill()
		b.Fatal(err)
	}
	return &goPluginEcho{client: client, echoer: raw.(gp.Echo)}
}

// echo passes a string as its bytes and any other kind as JSON bytes
// (msg.bytes), as go-plugin's users do: the plugin returns the bytes as
// they are, without decoding them.
func (e *goPluginEcho) echo(_ context.Context, m msg) error {
	in, err := m.bytes()
	if err != nil {
		return err
	}
	out, err := e.echoer.Echo(in)
	if err == nil && len(out) != len(in) {
		err = fmt.Errorf("echo returned %d bytes, want %d", len(out), len(in))
	}
	return err
}

func (e *goPluginEcho) close() { e.client.Kill() }
