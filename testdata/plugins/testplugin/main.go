// Command testplugin is a process plugin for the host's tests, written
// with the Go SDK. Each function exercises one behaviour; flags given as
// plugin arguments change how it starts.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/airlock-go/airlock/sdk/go/plugin"
)

func main() {
	touch := flag.String("touch", "", "create this file at start")
	name := flag.String("name", "testplugin", "the name to give in the handshake")
	version := flag.String("version", "1.0.0", "the version to give in the handshake")
	sleeper := flag.Bool("sleeper", false, "just sleep (as a child process)")
	flag.String("tag", "", "a mark on a sleeper's command line, for the tests to find it")
	flag.Parse()
	if *sleeper {
		time.Sleep(time.Hour)
		return
	}
	if *touch != "" {
		if err := os.WriteFile(*touch, []byte("started"), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "touch:", err)
		}
	}
	p := plugin.New(*name, *version)
	plugin.Handle(p, "echo", func(_ context.Context, _ *plugin.Host, in json.RawMessage) (json.RawMessage, error) {
		return in, nil
	})
	plugin.Handle(p, "greet", func(ctx context.Context, h *plugin.Host, in struct{ Name string }) (map[string]string, error) {
		return map[string]string{"message": h.String("greeting") + ", " + in.Name}, nil
	})
	plugin.Handle(p, "config", func(_ context.Context, h *plugin.Host, _ any) (map[string]any, error) {
		return h.Config(), nil
	})
	plugin.Handle(p, "settings", func(_ context.Context, h *plugin.Host, _ any) (typedSettings, error) {
		return plugin.Settings[typedSettings](h)
	})
	plugin.Handle(p, "grants", func(_ context.Context, h *plugin.Host, _ any) ([]string, error) {
		return h.Grants(), nil
	})
	// traceparent returns the trace context the SDK put in the handler's
	// context (telemetry_test.go).
	plugin.Handle(p, "traceparent", func(ctx context.Context, _ *plugin.Host, _ any) (map[string]string, error) {
		sc := trace.SpanContextFromContext(ctx)
		return map[string]string{"trace_id": sc.TraceID().String(), "span_id": sc.SpanID().String(), "remote": fmt.Sprint(sc.IsRemote())}, nil
	})
	plugin.Handle(p, "fail", func(context.Context, *plugin.Host, any) (any, error) {
		return nil, errors.New("this plugin always fails")
	})
	plugin.Handle(p, "crash", func(context.Context, *plugin.Host, any) (any, error) {
		fmt.Fprintln(os.Stderr, "testplugin: crashing on purpose")
		os.Exit(3)
		return nil, nil
	})
	plugin.Handle(p, "hang", func(context.Context, *plugin.Host, any) (any, error) {
		select {} // ignores its context on purpose
	})
	plugin.Handle(p, "sleep", func(ctx context.Context, _ *plugin.Host, ms int) (string, error) {
		select {
		case <-time.After(time.Duration(ms) * time.Millisecond):
			return "slept", nil
		case <-ctx.Done():
			return "", ctx.Err()
		}
	})
	plugin.Handle(p, "callhost", func(ctx context.Context, h *plugin.Host, in struct {
		Fn    string          `json:"fn"`
		Input json.RawMessage `json:"input"`
	}) (map[string]any, error) {
		var out json.RawMessage
		err := h.Call(ctx, in.Fn, in.Input, &out)
		var pe *plugin.Error
		if errors.As(err, &pe) {
			return map[string]any{"error": pe.Message, "code": pe.Code, "denied": errors.Is(err, plugin.ErrDenied)}, nil
		}
		if err != nil {
			return nil, err
		}
		return map[string]any{"result": out}, nil
	})
	plugin.Handle(p, "info", func(context.Context, *plugin.Host, any) (map[string]any, error) {
		wd, _ := os.Getwd()
		return map[string]any{"pid": os.Getpid(), "env": os.Environ(), "wd": wd, "args": os.Args[1:]}, nil
	})
	plugin.Handle(p, "fds", func(context.Context, *plugin.Host, any) ([]string, error) {
		entries, err := os.ReadDir("/proc/self/fd")
		if err != nil {
			return nil, err
		}
		var fds []string
		for _, e := range entries {
			target, _ := os.Readlink("/proc/self/fd/" + e.Name())
			fds = append(fds, e.Name()+" -> "+target)
		}
		return fds, nil
	})
	hostile(p)
	escape(p)
	plugin.Handle(p, "print", func(context.Context, *plugin.Host, any) (string, error) {
		fmt.Println("a stray print to stdout must not corrupt the protocol")
		os.Stdout.WriteString("{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":\"forged\"}\n")
		return "printed", nil
	})
	plugin.Handle(p, "spawn", func(_ context.Context, _ *plugin.Host, tag string) (int, error) {
		self, err := os.Executable()
		if err != nil {
			return 0, err
		}
		child := exec.Command(self, "-sleeper", "-tag="+tag)
		if err := child.Start(); err != nil {
			return 0, err
		}
		return child.Process.Pid, nil
	})
	p.Main()
}

// typedSettings are the test manifest's settings, decoded by the SDK.
type typedSettings struct {
	Greeting string  `json:"greeting"`
	Retries  float64 `json:"retries"`
	Workers  int     `json:"workers"`
}
