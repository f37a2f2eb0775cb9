//go:build !linux

package main

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/airlock-go/airlock/sdk/go/plugin"
)

// hostile registers the attack names, so that the handshake matches the
// test manifest; the attacks themselves run only on Linux, where the
// hostile-plugin suite runs.
func hostile(p *plugin.Plugin) {
	// escape is registered here too, on the platforms that lack it.
	for _, name := range []string{"spin", "membomb", "forkbomb", "fdbomb", "stderrflood", "longline", "readfile", "writefile",
		"bigfile", "connect", "udp", "procfd", "environ", "orphan", "sigstop", "killhost", "ptrace", "hostcallflood", "dumpable", "escape"} {
		p.HandleRaw(name, func(context.Context, *plugin.Host, json.RawMessage) (any, error) {
			return nil, errors.New("this attack runs on Linux only")
		})
	}
}

// escape is part of hostile on platforms other than Linux.
func escape(*plugin.Plugin) {}
