package main

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/airlock-go/airlock"
)

// scrape GETs url and returns the body.
func scrape(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %v", url, resp.StatusCode, err)
	}
	return string(body)
}

// A host given the metrics server's provider shows its calls, errors and
// latencies at /metrics, in Prometheus's text format, with their labels.
func TestMetricsEndpointAfterCalls(t *testing.T) {
	m, err := startMetrics("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.close(context.Background()) })
	cfg := &airlock.Config{Plugins: []airlock.PluginConfig{{Path: helloGo(t), Grants: []string{"log"}}}}
	h, err := airlock.Open(t.Context(), cfg, airlock.Options{MeterProvider: m.provider, KVPath: "-"})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close(context.Background())
	if _, err := h.Call(t.Context(), "hello-go", "greet", map[string]string{"name": "ada"}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Call(t.Context(), "hello-go", "greet", 42); err == nil {
		t.Fatal("greet with a number: no error")
	}
	body := scrape(t, "http://"+m.addr+"/metrics")
	for _, want := range []string{
		`airlock_plugin_calls_total{function="greet",otel_scope_name="github.com/airlock-go/airlock",otel_scope_schema_url="",otel_scope_version="",phase="define",plugin="hello-go"} 2`,
		`airlock_plugin_errors_total{error_type="plugin_failed",function="greet"`,
		`airlock_plugin_call_duration_seconds_count{function="greet"`,
		`airlock_plugin_inflight{otel_scope_name="github.com/airlock-go/airlock",otel_scope_schema_url="",otel_scope_version="",plugin="hello-go"} 0`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics has no %s\n%s", want, grepLines(body, "airlock_"))
		}
	}
}

// grepLines returns the lines of s that contain sub.
func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// "airlock run HOST.toml serve --metrics ADDR" serves the loaded plugins'
// metrics until interrupted.
func TestRunServeMetrics(t *testing.T) {
	dir := t.TempDir()
	config := filepath.Join(dir, "host.toml")
	text := "[[plugin]]\npath = " + strconvQuote(helloGo(t)) + "\ngrants = [\"log\"]\n"
	if err := os.WriteFile(config, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errOut lockedBuffer
	c := &cli{stdout: &out, stderr: &errOut, getenv: os.Getenv}
	ctx, cancel := context.WithCancel(t.Context())
	code := make(chan int, 1)
	go func() { code <- c.main(ctx, []string{"run", config, "serve", "--metrics", "127.0.0.1:0", "-q"}) }()
	addr := regexp.MustCompile(`metrics at (http://\S+/metrics)`)
	deadline := time.Now().Add(time.Minute)
	for !strings.Contains(out.String(), "serving 1 plugins") {
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("not serving:\n%s\nstderr:\n%s", out.String(), errOut.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	match := addr.FindStringSubmatch(out.String())
	if match == nil {
		cancel()
		t.Fatalf("no metrics address in the output:\n%s", out.String())
	}
	body := scrape(t, match[1])
	if !strings.Contains(body, `airlock_plugin_inflight{`) || !strings.Contains(body, `plugin="hello-go"} 0`) {
		t.Errorf("/metrics does not show hello-go's calls in flight:\n%s", body)
	}
	cancel()
	if got := <-code; got != 0 {
		t.Errorf("exit %d\n%s", got, errOut.String())
	}
	if _, err := http.Get(match[1]); err == nil {
		t.Errorf("the metrics endpoint still answers after serve ended")
	}
}

// --metrics is refused where nothing stays running to be scraped.
func TestRunMetricsOnlyForServe(t *testing.T) {
	var out, errOut lockedBuffer
	c := &cli{stdout: &out, stderr: &errOut, getenv: os.Getenv}
	if code := c.main(t.Context(), []string{"run", "host.toml", "list", "--metrics", ":0"}); code == 0 || !strings.Contains(errOut.String(), "--metrics is for serve") {
		t.Errorf("exit %d, stderr %q; want a usage error", code, errOut.String())
	}
}
