// Command raw is a process plugin for the host's tests that speaks the
// protocol by hand, so that it can break it in the ways its first argument
// names.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"
)

type msg struct {
	ID     json.RawMessage `json:"id"`
	Method string          `json:"method"`
}

func main() {
	mode := ""
	if len(os.Args) > 1 {
		mode = os.Args[1]
	}
	out := bufio.NewWriter(os.Stdout)
	send := func(s string) {
		out.WriteString(s)
		out.WriteString("\n")
		out.Flush()
	}
	switch mode {
	case "garbage-before-handshake":
		send("Starting up, please wait...")
	case "exit-during-handshake":
		fmt.Fprintln(os.Stderr, "fatal: cannot open the configuration")
		os.Exit(7)
	}
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 1<<20)
	for in.Scan() {
		var m msg
		if err := json.Unmarshal(in.Bytes(), &m); err != nil {
			fmt.Fprintln(os.Stderr, "raw: bad input:", err)
			os.Exit(2)
		}
		switch m.Method {
		case "initialize":
			switch mode {
			case "hang-handshake":
				continue
			case "wrong-name":
				send(fmt.Sprintf(`{"jsonrpc":"2.0","id":%s,"result":{"protocol":1,"name":"someone-else","version":"1.0.0","hooks":["poke"]}}`, m.ID))
				continue
			case "extra-hook":
				send(fmt.Sprintf(`{"jsonrpc":"2.0","id":%s,"result":{"protocol":1,"name":"raw","version":"1.0.0","hooks":["poke","steal"]}}`, m.ID))
				continue
			}
			send(fmt.Sprintf(`{"jsonrpc":"2.0","id":%s,"result":{"protocol":1,"name":"raw","version":"1.0.0","hooks":["poke"]}}`, m.ID))
		case "call":
			misbehave(mode, m.ID, send, out)
		case "shutdown":
			if mode == "stubborn" {
				continue
			}
			send(fmt.Sprintf(`{"jsonrpc":"2.0","id":%s,"result":null}`, m.ID))
		}
	}
	if mode == "stubborn" {
		// Ignores the end of its input too, writing nothing: only being
		// killed ends it.
		time.Sleep(time.Hour)
	}
}

func misbehave(mode string, id json.RawMessage, send func(string), out *bufio.Writer) {
	switch mode {
	case "oversize":
		send(fmt.Sprintf(`{"jsonrpc":"2.0","id":%s,"result":"%s"}`, id, strings.Repeat("x", 2<<20)))
	case "unknown-id":
		send(`{"jsonrpc":"2.0","id":99999,"result":"who asked?"}`)
	case "invalid-json":
		send(`{"jsonrpc":"2.0","id":` + string(id) + `,"result":`)
	case "invalid-utf8":
		send(fmt.Sprintf(`{"jsonrpc":"2.0","id":%s,"result":"%s"}`, id, "\xff\xfe"))
	case "duplicate-id":
		// Answer the handshake's id (1) again instead of this call's.
		send(`{"jsonrpc":"2.0","id":1,"result":"again"}`)
	case "flood-no-newline":
		chunk := strings.Repeat("a", 64<<10)
		for {
			if _, err := out.WriteString(chunk); err != nil {
				return
			}
			if out.Flush() != nil {
				return
			}
		}
	case "deep-json":
		send(fmt.Sprintf(`{"jsonrpc":"2.0","id":%s,"result":%s%s}`, id, strings.Repeat("[", 100000), strings.Repeat("]", 100000)))
	case "slow-ok":
		time.Sleep(50 * time.Millisecond)
		send(fmt.Sprintf(`{"jsonrpc":"2.0","id":%s,"result":"ok"}`, id))
	default:
		send(fmt.Sprintf(`{"jsonrpc":"2.0","id":%s,"result":"ok"}`, id))
	}
}
