// Command broken is a process plugin for the tests of airlock check. It
// speaks the protocol by hand (docs/PROTOCOL.md) and follows it, except
// for the one rule that its first argument names:
//
//	good            breaks nothing: every check passes
//	wrong-code      answers a call for an unknown name with -32601, not -32004
//	ignore-cancel   "wait" never answers, even after $/cancel
//	stdout          prints a debug line on standard output at every call
//	banner          prints a banner on standard output when it starts
//	no-exit         keeps running after the end of its input
//	wrong-name      says in the handshake that it is someone else
//	small-limit     exits on a message over 1 MiB (the limit is 4 MiB)
//	drops-calls     handles one call at a time and, while it waits for a
//	                host call's answer, drops the calls that arrive
//	picky-settings  refuses any greeting but the default
//
// The arguments after the mode are the hooks and functions it implements,
// among greet (define: {"name"} → {"message"}, logging through the
// host), echo (calls log, returns its input) and wait (answers only when
// cancelled).
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"time"
)

type rpcError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

type message struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id,omitempty"`
	Method  string          `json:"method,omitempty"`
	Params  json.RawMessage `json:"params,omitempty"`
	Result  json.RawMessage `json:"result,omitempty"`
	Error   *rpcError       `json:"error,omitempty"`
}

var (
	mode  string
	names []string
	in    = bufio.NewReaderSize(os.Stdin, 64<<10)

	outMu sync.Mutex
	out   = bufio.NewWriter(os.Stdout)

	mu       sync.Mutex
	greeting = "hello"
	running  = map[string]context.CancelFunc{} // the host's calls in progress, by id
	waiting  = map[string]chan message{}       // our host calls, by id
	nextID   int
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: broken MODE NAME...")
		os.Exit(2)
	}
	mode, names = os.Args[1], os.Args[2:]
	if mode == "banner" {
		fmt.Fprintln(out, "broken 1.0.0 starting up")
		out.Flush()
	}
	for {
		handle(readLine())
	}
}

// readLine returns the next message; at the end of the input the plugin
// exits, as the protocol requires (except in mode no-exit).
func readLine() []byte {
	line, err := in.ReadBytes('\n')
	if err != nil {
		if mode == "no-exit" {
			fmt.Fprintln(os.Stderr, "broken: end of input, but staying")
			for {
				time.Sleep(time.Hour)
			}
		}
		os.Exit(0)
	}
	if mode == "small-limit" && len(line) > 1<<20 {
		fmt.Fprintf(os.Stderr, "broken: message of %d bytes is over my 1 MiB limit\n", len(line))
		os.Exit(1)
	}
	return line
}

func send(m message) {
	m.JSONRPC = "2.0"
	b, err := json.Marshal(m)
	if err != nil {
		panic(err)
	}
	outMu.Lock()
	defer outMu.Unlock()
	out.Write(b)
	out.WriteByte('\n')
	out.Flush()
}

func reply(id json.RawMessage, result any) {
	b, err := json.Marshal(result)
	if err != nil {
		panic(err)
	}
	send(message{ID: id, Result: b})
}

func replyError(id json.RawMessage, code int, format string, args ...any) {
	send(message{ID: id, Error: &rpcError{Code: code, Message: fmt.Sprintf(format, args...)}})
}

func handle(line []byte) {
	var m message
	if err := json.Unmarshal(line, &m); err != nil {
		fmt.Fprintln(os.Stderr, "broken: bad message from the host:", err)
		os.Exit(2)
	}
	switch m.Method {
	case "":
		mu.Lock()
		ch := waiting[string(m.ID)]
		delete(waiting, string(m.ID))
		mu.Unlock()
		if ch != nil {
			ch <- m
		}
	case "initialize":
		initialize(m)
	case "call":
		if mode == "drops-calls" {
			call(m)
		} else {
			go call(m)
		}
	case "$/cancel":
		var p struct {
			ID json.RawMessage `json:"id"`
		}
		json.Unmarshal(m.Params, &p)
		mu.Lock()
		cancel := running[string(p.ID)]
		mu.Unlock()
		if cancel != nil && mode != "ignore-cancel" {
			cancel()
		}
	case "shutdown":
		reply(m.ID, nil)
	default:
		if m.ID != nil {
			replyError(m.ID, -32601, "method %q not found", m.Method)
		}
	}
}

func initialize(m message) {
	var p struct {
		Config map[string]any `json:"config"`
	}
	json.Unmarshal(m.Params, &p)
	g, _ := p.Config["greeting"].(string)
	if mode == "picky-settings" && g != "hello" {
		replyError(m.ID, -32000, "greeting must be \"hello\", not %q", g)
		return
	}
	mu.Lock()
	greeting = g
	mu.Unlock()
	name := "broken"
	if mode == "wrong-name" {
		name = "someone-else"
	}
	reply(m.ID, map[string]any{"protocol": 1, "name": name, "version": "1.0.0", "hooks": names})
}

func call(m message) {
	var p struct {
		Name  string          `json:"name"`
		Input json.RawMessage `json:"input"`
	}
	json.Unmarshal(m.Params, &p)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	mu.Lock()
	running[string(m.ID)] = cancel
	mu.Unlock()
	defer func() {
		mu.Lock()
		delete(running, string(m.ID))
		mu.Unlock()
	}()
	if mode == "stdout" {
		outMu.Lock()
		fmt.Fprintf(out, "debug: handling call %s\n", p.Name)
		out.Flush()
		outMu.Unlock()
	}
	if !slices.Contains(names, p.Name) {
		code := -32004
		if mode == "wrong-code" {
			code = -32601
		}
		replyError(m.ID, code, "broken does not implement %q", p.Name)
		return
	}
	switch p.Name {
	case "greet":
		var in struct {
			Name string `json:"name"`
		}
		json.Unmarshal(p.Input, &in)
		who := strings.TrimSpace(in.Name)
		if who == "" {
			replyError(m.ID, -32000, "greet: name is empty")
			return
		}
		if e := hostCall(ctx, "log", map[string]any{"level": "info", "msg": "greeting " + who}); e != nil {
			replyError(m.ID, e.Code, "greet: %s", e.Message)
			return
		}
		mu.Lock()
		g := greeting
		mu.Unlock()
		reply(m.ID, map[string]string{"message": g + ", " + who})
	case "echo":
		if e := hostCall(ctx, "log", map[string]any{"level": "debug", "msg": "echo"}); e != nil {
			replyError(m.ID, e.Code, "echo: %s", e.Message)
			return
		}
		send(message{ID: m.ID, Result: p.Input})
	case "wait":
		if mode == "ignore-cancel" {
			for {
				time.Sleep(time.Hour)
			}
		}
		<-ctx.Done()
		replyError(m.ID, -32002, "wait: cancelled")
	}
}

// hostCall calls a host function and waits for its answer, or for the
// call that made it to be cancelled.
func hostCall(ctx context.Context, fn string, params any) *rpcError {
	raw, _ := json.Marshal(params)
	mu.Lock()
	nextID++
	id := fmt.Sprintf(`"b%d"`, nextID)
	ch := make(chan message, 1)
	waiting[id] = ch
	mu.Unlock()
	send(message{ID: json.RawMessage(id), Method: fn, Params: raw})
	if mode == "drops-calls" {
		// The mistake: reading the answer here, on the only reader, and
		// throwing away whatever else arrives meanwhile.
		for {
			var r message
			json.Unmarshal(readLine(), &r)
			if r.Method == "" && string(r.ID) == id {
				return r.Error
			}
			fmt.Fprintf(os.Stderr, "broken: dropped %q while waiting for %s\n", r.Method, fn)
		}
	}
	select {
	case r := <-ch:
		return r.Error
	case <-ctx.Done():
		send(message{Method: "$/cancel", Params: json.RawMessage(`{"id":` + id + `}`)})
		return &rpcError{Code: -32002, Message: "cancelled"}
	}
}
