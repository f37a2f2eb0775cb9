// Command airlockecho is the Airlock Echo plugin of the benchmarks.
package main

import (
	"context"
	"encoding/json"

	"github.com/airlock-go/airlock/sdk/go/plugin"
)

func main() {
	p := plugin.New("airlockecho", "1.0.0")
	plugin.Handle(p, "echo", func(_ context.Context, _ *plugin.Host, in json.RawMessage) (json.RawMessage, error) {
		return in, nil
	})
	p.Main()
}
