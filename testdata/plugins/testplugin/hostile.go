//go:build linux

package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/airlock-go/airlock/sdk/go/plugin"
)

// result is what an attack reports: how far it got, and the error that
// stopped it.
type result struct {
	Count int    `json:"count"`
	Data  string `json:"data,omitempty"`
	Error string `json:"error,omitempty"`
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

var sink [][]byte

// hostile registers the attacks the host's hostile-plugin suite runs.
func hostile(p *plugin.Plugin) {
	plugin.Handle(p, "spin", func(context.Context, *plugin.Host, any) (any, error) {
		x := 0
		for {
			x++ // burns CPU and ignores its context
		}
	})
	plugin.Handle(p, "membomb", func(context.Context, *plugin.Host, any) (result, error) {
		for i := 0; ; i++ {
			b := make([]byte, 16<<20)
			for j := range b {
				b[j] = byte(j)
			}
			sink = append(sink, b)
		}
	})
	plugin.Handle(p, "forkbomb", func(context.Context, *plugin.Host, any) (result, error) {
		self, _ := os.Executable()
		var r result
		for r.Count < 10000 {
			c := exec.Command(self, "-sleeper")
			if err := c.Start(); err != nil {
				r.Error = err.Error()
				return r, nil
			}
			r.Count++
		}
		return r, nil
	})
	plugin.Handle(p, "fdbomb", func(context.Context, *plugin.Host, any) (result, error) {
		var r result
		var files []*os.File
		defer func() {
			for _, f := range files {
				f.Close()
			}
		}()
		for r.Count < 1000000 {
			f, err := os.Open(os.DevNull)
			if err != nil {
				r.Error = err.Error()
				return r, nil
			}
			files = append(files, f)
			r.Count++
		}
		return r, nil
	})
	plugin.Handle(p, "stderrflood", func(_ context.Context, _ *plugin.Host, lines int) (result, error) {
		line := strings.Repeat("spam ", 20) + "\n"
		for i := 0; i < lines; i++ {
			os.Stderr.WriteString(line)
		}
		return result{Count: lines}, nil
	})
	plugin.Handle(p, "longline", func(_ context.Context, _ *plugin.Host, n int) (result, error) {
		os.Stderr.WriteString(strings.Repeat("x", n) + "\n")
		return result{Count: n}, nil
	})
	plugin.Handle(p, "readfile", func(_ context.Context, _ *plugin.Host, path string) (result, error) {
		data, err := os.ReadFile(path)
		return result{Count: len(data), Data: string(data), Error: errString(err)}, nil
	})
	plugin.Handle(p, "writefile", func(_ context.Context, _ *plugin.Host, path string) (result, error) {
		err := os.WriteFile(path, []byte("written by a plugin"), 0o644)
		return result{Error: errString(err)}, nil
	})
	plugin.Handle(p, "bigfile", func(_ context.Context, _ *plugin.Host, path string) (result, error) {
		f, err := os.Create(path)
		if err != nil {
			return result{Error: err.Error()}, nil
		}
		defer f.Close()
		chunk := make([]byte, 1<<20)
		var r result
		for r.Count < 1024 {
			if _, err := f.Write(chunk); err != nil {
				r.Error = err.Error()
				return r, nil
			}
			r.Count++
		}
		return r, nil
	})
	plugin.Handle(p, "connect", func(_ context.Context, _ *plugin.Host, addr string) (result, error) {
		c, err := net.DialTimeout("tcp", addr, 2*time.Second)
		if err == nil {
			c.Close()
		}
		return result{Error: errString(err)}, nil
	})
	plugin.Handle(p, "udp", func(_ context.Context, _ *plugin.Host, addr string) (result, error) {
		c, err := net.Dial("udp", addr)
		if err == nil {
			_, err = c.Write([]byte("exfiltrate"))
			c.Close()
		}
		return result{Error: errString(err)}, nil
	})
	plugin.Handle(p, "procfd", func(_ context.Context, _ *plugin.Host, pid int) (result, error) {
		entries, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
		if err != nil {
			return result{Error: err.Error()}, nil
		}
		// Try to open the host's end of a pipe through /proc.
		for _, e := range entries {
			f, err := os.Open(fmt.Sprintf("/proc/%d/fd/%s", pid, e.Name()))
			if err == nil {
				f.Close()
				return result{Count: len(entries), Data: "opened " + e.Name()}, nil
			}
		}
		return result{Count: len(entries)}, nil
	})
	plugin.Handle(p, "environ", func(_ context.Context, _ *plugin.Host, pid int) (result, error) {
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
		return result{Count: len(data), Data: string(data), Error: errString(err)}, nil
	})
	plugin.Handle(p, "orphan", func(_ context.Context, _ *plugin.Host, tag string) (int, error) {
		self, _ := os.Executable()
		c := exec.Command(self, "-sleeper", "-tag="+tag)
		c.SysProcAttr = &syscall.SysProcAttr{}
		if err := c.Start(); err != nil {
			return 0, err
		}
		go func() {
			time.Sleep(100 * time.Millisecond)
			os.Exit(0) // leave the child behind
		}()
		return c.Process.Pid, nil
	})
	plugin.Handle(p, "dumpable", func(context.Context, *plugin.Host, any) (int, error) {
		v, err := unix.PrctlRetInt(unix.PR_GET_DUMPABLE, 0, 0, 0, 0)
		return v, err
	})
	plugin.Handle(p, "sigstop", func(context.Context, *plugin.Host, any) (any, error) {
		err := syscall.Kill(os.Getpid(), syscall.SIGSTOP)
		time.Sleep(time.Second) // the stop lands on another thread; give it time
		return nil, err
	})
	plugin.Handle(p, "killhost", func(_ context.Context, _ *plugin.Host, pid int) (result, error) {
		return result{Error: errString(syscall.Kill(pid, syscall.SIGTERM))}, nil
	})
	plugin.Handle(p, "ptrace", func(_ context.Context, _ *plugin.Host, pid int) (result, error) {
		return result{Error: errString(syscall.PtraceAttach(pid))}, nil
	})
	plugin.Handle(p, "hostcallflood", func(ctx context.Context, h *plugin.Host, n int) (result, error) {
		var r result
		for i := 0; i < n; i++ {
			if err := h.Call(ctx, "kv.get", map[string]string{"key": "k"}, nil); err != nil {
				r.Error = err.Error()
				return r, nil
			}
			r.Count++
		}
		return r, nil
	})
}
