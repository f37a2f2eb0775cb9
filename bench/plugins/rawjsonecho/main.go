// Command rawjsonecho is the least a JSON-RPC plugin must do, for the
// benchmarks: read a request line, decode it (with the JSON library
// Airlock uses), and write a response carrying its input back. No
// deadlines, no concurrency, no host calls, no checks beyond decoding.
package main

import (
	"bufio"
	"encoding/json"
	"os"

	jsonv2 "github.com/go-json-experiment/json"
)

type request struct {
	ID     json.RawMessage `json:"id"`
	Method string          `json:"method"`
	Params struct {
		Name  string          `json:"name"`
		Input json.RawMessage `json:"input"`
	} `json:"params"`
}

func main() {
	r := bufio.NewReaderSize(os.Stdin, 64<<10)
	w := bufio.NewWriterSize(os.Stdout, 64<<10)
	var long []byte
	for {
		line, err := r.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			long = append(long, line...)
			continue
		}
		if err != nil {
			return
		}
		if long != nil {
			line = append(long, line...)
			long = nil
		}
		var req request
		if err := jsonv2.Unmarshal(line, &req); err != nil {
			os.Exit(1)
		}
		w.WriteString(`{"jsonrpc":"2.0","id":`)
		w.Write(req.ID)
		w.WriteString(`,"result":`)
		w.Write(req.Params.Input)
		w.WriteString("}\n")
		w.Flush()
	}
}
