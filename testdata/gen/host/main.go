// Command host is a host program declaring the contract of
// testdata/gen/hostdef, for "airlock contract" and "airlock gen PACKAGE"
// in cmd/airlock's tests. It makes its Host and exits.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/airlock-go/airlock"
	"github.com/airlock-go/airlock/testdata/gen/hostdef"
)

func main() {
	h, err := airlock.New(hostdef.Options())
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	h.Close(context.Background())
}
