package bundle

import (
	"strings"

	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"
)

// foldName is the key under which case-insensitive, normalising file
// systems (Windows, macOS) see a name: Unicode NFC and full case folding
// (strings.ToLower misses some, such as "ſ" for "s"). Threat: two entries
// that are one file there, so that one replaces the other.
func foldName(name string) string {
	return cases.Fold().String(norm.NFC.String(name))
}

// windowsDevices are names Windows takes for devices in any directory and
// with any extension (CON, con.txt).
var windowsDevices = map[string]bool{"CON": true, "PRN": true, "AUX": true, "NUL": true, "CONIN$": true, "CONOUT$": true}

func init() {
	for _, d := range []string{"COM", "LPT"} {
		for _, n := range []string{"0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "¹", "²", "³"} {
			windowsDevices[d+n] = true
		}
	}
}

// portablePart returns why a path component cannot name the same file on
// every platform, or "" if it can. Threat: a component Windows strips
// (trailing dots and spaces: "run.exe." is "run.exe") or takes for a
// device (writing to COM1 talks to a serial port, and may block).
func portablePart(part string) string {
	if part == "." {
		return ""
	}
	if strings.HasSuffix(part, ".") || strings.HasSuffix(part, " ") {
		return "a name ending in a dot or space is another name on Windows"
	}
	base, _, _ := strings.Cut(part, ".")
	if windowsDevices[strings.ToUpper(strings.TrimRight(base, " "))] {
		return "a name reserved for a device on Windows"
	}
	return ""
}
