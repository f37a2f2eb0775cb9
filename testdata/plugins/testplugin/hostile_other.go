//go:build !linux

package main

import "github.com/airlock-go/airlock/sdk/go/plugin"

// hostile registers nothing where the hostile suite does not run.
func hostile(*plugin.Plugin) {}
