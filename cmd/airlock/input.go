package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"unicode/utf8"

	"github.com/airlock-go/airlock"
	"github.com/airlock-go/airlock/internal/capability"
)

// stdin is what "--input -" reads. It is a variable so that tests can
// give the commands an input; the commands read it at most once.
var stdin io.Reader = os.Stdin

// maxInput bounds a JSON value read from a file or from standard input. It
// is far above the protocol's default message limit (4 MiB), which the
// host enforces itself with a clearer error.
const maxInput = 256 << 20

// inputHelp describes the forms a JSON-valued flag takes, for flag help.
const inputHelp = "inline JSON, @FILE to read a file, or - to read standard input"

// readJSONArg returns the JSON that a flag's value names: the value itself
// (inline JSON), the contents of a file (@FILE) or standard input (-).
// flagName names the flag in errors; anything that is not valid JSON, or a
// file that cannot be read, is a usage error.
func readJSONArg(flagName, value string) (json.RawMessage, error) {
	var data []byte
	from := ""
	switch {
	case value == "-":
		from = "standard input"
		var err error
		if data, err = readBounded(stdin, from); err != nil {
			return nil, usagef("%s -: %v", flagName, err)
		}
	case strings.HasPrefix(value, "@"):
		path := value[1:]
		if path == "" {
			return nil, usagef("%s @: want a file name after @", flagName)
		}
		from = path
		f, err := os.Open(path)
		if err != nil {
			return nil, usagef("%s %s: %v", flagName, value, err)
		}
		defer f.Close()
		if data, err = readBounded(f, path); err != nil {
			return nil, usagef("%s %s: %v", flagName, value, err)
		}
	default:
		data = []byte(value)
	}
	var raw json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		where := fmt.Sprintf("%s is not valid JSON", flagName)
		if from != "" {
			where = fmt.Sprintf("%s: %s is not valid JSON", flagName, from)
		}
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return nil, usagef("%s: %v (at byte %d): %s", where, err, se.Offset, excerpt(data))
		}
		return nil, usagef("%s: %v: %s", where, err, excerpt(data))
	}
	return json.RawMessage(data), nil
}

// readBounded reads all of r, up to maxInput bytes.
func readBounded(r io.Reader, what string) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxInput+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxInput {
		return nil, fmt.Errorf("%s is larger than %d bytes", what, maxInput)
	}
	return data, nil
}

// excerpt quotes the start of data for an error message.
func excerpt(data []byte) string {
	const max = 80
	if len(data) <= max {
		return fmt.Sprintf("%q", data)
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(data[cut]) {
		cut--
	}
	return fmt.Sprintf("%q... (%d bytes)", data[:cut], len(data))
}

// namedJSON is a NAME=VALUE flag whose value is JSON in any of the forms
// readJSONArg takes: --sample greet='{"name":"ada"}', --stub fn=@out.json.
type namedJSON struct {
	name  string
	value json.RawMessage
}

func parseNamedJSON(flagName, arg string) (namedJSON, error) {
	name, value, ok := strings.Cut(arg, "=")
	if !ok || name == "" {
		return namedJSON{}, usagef("%s %q: want NAME=VALUE, the value being %s", flagName, arg, inputHelp)
	}
	raw, err := readJSONArg(flagName+" "+name, value)
	if err != nil {
		return namedJSON{}, err
	}
	return namedJSON{name: name, value: raw}, nil
}

// stub is a stand-in for a host application's function, for --stub: it
// answers every call with the same value, and only plugins granted its
// capability may call it, as with the real function.
type stub struct {
	name, cap string
	value     json.RawMessage
}

// parseStub parses --stub FN=VALUE or --stub FN:CAP=VALUE. The capability
// guarding the stub is CAP, or FN itself when none is given.
func parseStub(arg string) (stub, error) {
	nv, err := parseNamedJSON("--stub", arg)
	if err != nil {
		return stub{}, err
	}
	fn, cap, ok := strings.Cut(nv.name, ":")
	if !ok {
		cap = fn
	}
	if _, err := capability.Parse(cap); err != nil {
		return stub{}, usagef("--stub %s: %v", nv.name, err)
	}
	s := stub{name: fn, cap: cap, value: nv.value}
	if _, err := s.function(); err != nil {
		return stub{}, usagef("--stub %s: %v", nv.name, err)
	}
	return s, nil
}

// function returns the stub as a host function for airlock.Options.
// airlock.NewRawFunc panics on a malformed name (host functions are
// normally constants in the host's code); here the name comes from the
// command line, so the panic becomes an error.
func (s stub) function() (f airlock.Function, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%v", r)
		}
	}()
	value := s.value
	return airlock.NewRawFunc(s.name, s.cap, func(context.Context, airlock.Caller, json.RawMessage) (any, error) {
		return value, nil
	}), nil
}

// helpFlags defines -h and --help on fs, so that a command can print its
// help on standard output itself (main prints usage on standard error, as
// for a mistake).
func helpFlags(fs *flag.FlagSet) *bool {
	help := fs.Bool("help", false, "show this help on standard output")
	fs.BoolVar(help, "h", false, "show this help on standard output")
	return help
}

// printHelp prints a command's usage, summary and options on w.
func printHelp(w io.Writer, name, usage, summary, more string, fs *flag.FlagSet) {
	fmt.Fprintf(w, "Usage: airlock %s %s\n\n%s\n", name, usage, summary)
	if more != "" {
		fmt.Fprintf(w, "\n%s", more)
	}
	var b strings.Builder
	fs.SetOutput(&b)
	fs.PrintDefaults()
	fs.SetOutput(io.Discard)
	if b.Len() > 0 {
		fmt.Fprintf(w, "\nOptions:\n%s", b.String())
	}
}
