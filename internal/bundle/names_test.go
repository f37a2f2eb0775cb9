package bundle

import (
	"archive/tar"
	"errors"
	"strings"
	"testing"
)

// Names that one file system or another takes for another file, or for a
// device. Threat: a package whose files, unpacked on a Windows or macOS
// host, land on one another or on a device (CON, COM1: writing there
// talks to the console or a serial port), so that what runs is not what
// was verified, or the host hangs. Packages are portable: such names are
// refused on every platform, at load, naming the entry.
func TestAliasingNamesRefused(t *testing.T) {
	man := reg("plugin.toml")
	entry := reg("run.sh")
	cases := []struct {
		name    string
		extra   []any
		entry   string
		say     string
		heldNow bool // refused before this test was written (a regression case)
	}{
		{"backslash", []any{reg(`assets\..\..\evil`), "x"}, `assets\..\..\evil`, "not a valid file name", true},
		{"drive letter", []any{reg("C:/evil"), "x"}, "C:/evil", "not a valid file name", true},
		{"alternate data stream", []any{reg("run.sh:evil"), "x"}, "run.sh:evil", "not a valid file name", true},
		{"dot slash duplicate", []any{reg("./run.sh"), "y"}, "run.sh", "duplicate", true},
		{"double slash duplicate", []any{reg("a//b"), "1", reg("a/b"), "2"}, "a/b", "duplicate", true},
		{"hard link to another entry", []any{&tar.Header{Typeflag: tar.TypeLink, Name: "h", Linkname: "run.sh"}, ""}, "h", "links are not allowed", true},
		{"symlinked dir then a file through it", []any{&tar.Header{Typeflag: tar.TypeSymlink, Name: "d", Linkname: "/etc"}, "", reg("d/cron"), "x"}, "d", "links are not allowed", true},
		{"fifo", []any{&tar.Header{Typeflag: tar.TypeFifo, Name: "p"}, ""}, "p", "devices and pipes", true},
		{"gnu sparse", []any{&tar.Header{Typeflag: tar.TypeGNUSparse, Name: "s"}, ""}, "", "not a valid tar archive", true},
		{"reserved device name", []any{reg("CON"), "x"}, "CON", "reserved", false},
		{"reserved name with extension", []any{reg("assets/com1.txt"), "x"}, "assets/com1.txt", "reserved", false},
		{"reserved directory", []any{reg("nul/x"), "x"}, "nul/x", "reserved", false},
		{"trailing dot", []any{reg("run.sh."), "y"}, "run.sh.", "dot or space", false},
		{"trailing space", []any{reg("assets /x"), "y"}, "assets /x", "dot or space", false},
		{"case fold beyond ToLower (long s)", []any{reg("run.\u017fh"), "y"}, "run.\u017fh", "duplicate", false},
		{"unicode normalisation (NFD)", []any{reg("caf\u00e9"), "1", reg("cafe\u0301"), "2"}, "cafe\u0301", "duplicate", false},
		{"a file and a directory of one name", []any{reg("run.sh/x"), "y"}, "run.sh/x", "is a file", false},
		{"a directory and then a file of its name", []any{reg("a/x"), "1", reg("A"), "2"}, "A", "is a directory", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			data := archive(t, append([]any{man, manifestText, entry, "x"}, c.extra...)...)
			_, err := Open(data, Limits{})
			var pe *Error
			if !errors.As(err, &pe) || !strings.Contains(err.Error(), c.say) || pe.Entry != c.entry {
				t.Errorf("err = %v (entry %q), want entry %q and %q", err, entryOf(pe), c.entry, c.say)
			}
		})
	}
}
