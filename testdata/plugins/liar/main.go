// Command liar is a process plugin for the host's hostile-protocol tests
// (hostile_protocol_test.go). It speaks the protocol by hand and does, for
// each call, what the call's input scripts: write raw bytes (with $ID
// replaced by the call's id), then answer, stay silent, exit, close its
// output, or flood the host with host calls. A file "handshake" in its
// directory, if there is one, holds the bytes to write in place of its
// handshake answer.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"
)

type msg struct {
	ID     json.RawMessage `json:"id"`
	Method string          `json:"method"`
	Params struct {
		Input  script `json:"input"`
		Plugin string `json:"plugin"`
		Phase  string `json:"phase"`
	} `json:"params"`
	Result json.RawMessage `json:"result"`
	Error  *struct {
		Code int `json:"code"`
	} `json:"error"`
}

// script is a call's input: what to do.
type script struct {
	Write []byte `json:"write"` // raw bytes to write first ($ID: the call's id)
	Then  string `json:"then"`  // ok, none, deaf, fail, exit0, crash, closeout, calls, call1, late
	// calls: N host calls of Method with Params, from Par goroutines
	// (notifications if Notify).
	N, Par  int
	Method  string
	Params  json.RawMessage
	Notify  bool
	DelayMS int `json:"delay_ms"`
	// Pad, if not 0, is the length of an answer to write (without its
	// newline), padded with an unknown member.
	Pad int
	// Deaf stops the reading of the input before anything else (the
	// next line read is the last).
	Deaf bool
}

var (
	wmu sync.Mutex
	out = bufio.NewWriterSize(os.Stdout, 1<<20)

	// deaf, once closed (goDeaf), stops the reading of the input for good.
	deaf     = make(chan struct{})
	deafOnce sync.Once

	pmu     sync.Mutex
	pending = map[string]chan *msg{}
	nextID  int
)

func write(b []byte) {
	wmu.Lock()
	defer wmu.Unlock()
	out.Write(b)
	out.Flush()
}

func main() {
	in := bufio.NewReaderSize(os.Stdin, 1<<20)
	for {
		select {
		case <-deaf:
			time.Sleep(time.Hour)
		default:
		}
		line, err := in.ReadBytes('\n')
		if err != nil {
			os.Exit(0)
		}
		var m msg
		if err := json.Unmarshal(line, &m); err != nil {
			fmt.Fprintln(os.Stderr, "liar: bad input:", err)
			os.Exit(2)
		}
		switch m.Method {
		case "":
			pmu.Lock()
			ch := pending[string(m.ID)]
			delete(pending, string(m.ID))
			pmu.Unlock()
			if ch != nil {
				ch <- &m
			}
		case "initialize":
			if b, err := os.ReadFile("handshake"); err == nil {
				write([]byte(strings.ReplaceAll(string(b), "$ID", string(m.ID))))
				continue
			}
			write(fmt.Appendf(nil, `{"jsonrpc":"2.0","id":%s,"result":{"protocol":1,"name":%q,"version":"1.0.0","hooks":["poke"]}}`+"\n", m.ID, m.Params.Plugin))
		case "call":
			if m.Params.Phase == "after" {
				// An after handler failing with a long message, which the
				// host logs.
				m.Params.Input = script{Then: "fail"}
			}
			go run(m.ID, m.Params.Input)
		case "shutdown":
			write(fmt.Appendf(nil, `{"jsonrpc":"2.0","id":%s,"result":null}`+"\n", m.ID))
		}
	}
}

// goDeaf stops the reading of the input for good.
func goDeaf() { deafOnce.Do(func() { close(deaf) }) }

func run(id json.RawMessage, s script) {
	if s.Deaf {
		goDeaf()
	}
	if len(s.Write) > 0 {
		write([]byte(strings.ReplaceAll(string(s.Write), "$ID", string(id))))
	}
	if s.Pad > 0 {
		head := fmt.Sprintf(`{"jsonrpc":"2.0","id":%s,"result":"ok","pad":"`, id)
		write([]byte(head + strings.Repeat("x", s.Pad-len(head)-2) + "\"}\n"))
	}
	answer := func(result string) {
		write(fmt.Appendf(nil, `{"jsonrpc":"2.0","id":%s,"result":%s}`+"\n", id, result))
	}
	switch s.Then {
	case "ok", "":
		answer(`"ok"`)
	case "none":
	case "deaf":
		// Answer, then never read again: the host's answers to the
		// requests written above fill the pipe.
		goDeaf()
		answer(`"deaf"`)
	case "fail":
		// An error with a 900 KiB message.
		write(fmt.Appendf(nil, `{"jsonrpc":"2.0","id":%s,"error":{"code":-32000,"message":"%s"}}`+"\n", id, strings.Repeat("e", 900<<10)))
	case "late":
		time.Sleep(time.Duration(s.DelayMS) * time.Millisecond)
		answer(`"late"`)
	case "exit0":
		out.Flush()
		os.Exit(0)
	case "crash":
		fmt.Fprintln(os.Stderr, "liar: crashing on purpose")
		os.Exit(3)
	case "closeout":
		os.Stdout.Close()
		time.Sleep(time.Hour)
	case "call1":
		// One host call; the answer is its result, or its error's code.
		r := hostCall(s)
		if r.Error != nil {
			answer(fmt.Sprint(r.Error.Code))
		} else {
			answer(string(r.Result))
		}
	case "calls":
		codes := hostCalls(s)
		b, _ := json.Marshal(codes)
		answer(string(b))
	}
}

// hostCalls makes s.N host calls from s.Par goroutines and counts their
// answers by error code (0: a result).
func hostCalls(s script) map[int]int {
	var mu sync.Mutex
	codes := map[int]int{}
	var wg sync.WaitGroup
	per := s.N / max(s.Par, 1)
	for range max(s.Par, 1) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range per {
				if s.Notify {
					write(fmt.Appendf(nil, `{"jsonrpc":"2.0","method":%q,"params":%s}`+"\n", s.Method, s.Params))
					continue
				}
				code := 0
				if r := hostCall(s); r.Error != nil {
					code = r.Error.Code
				}
				mu.Lock()
				codes[code]++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return codes
}

// hostCall makes one host call of s.Method with s.Params and returns the
// answer.
func hostCall(s script) *msg {
	ch := make(chan *msg, 1)
	pmu.Lock()
	nextID++
	id := fmt.Sprintf(`"c%d"`, nextID)
	pending[id] = ch
	pmu.Unlock()
	write(fmt.Appendf(nil, `{"jsonrpc":"2.0","id":%s,"method":%q,"params":%s}`+"\n", id, s.Method, s.Params))
	return <-ch
}
