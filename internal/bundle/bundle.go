// Package bundle makes and reads plugin packages: a gzip-compressed tar
// archive with plugin.toml at its root, the code and the assets.
// docs/PACKAGES.md describes the format.
package bundle

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/airlock-go/airlock/internal/manifest"
	"github.com/airlock-go/airlock/internal/signing"
)

// Limits bound what a package may expand to (threat: decompression bombs
// and archives built to exhaust the host's memory). Zero fields take the
// defaults.
type Limits struct {
	MaxFiles     int   // default 1000
	MaxFileBytes int64 // default 64 MiB
	MaxTotal     int64 // expanded bytes in all, default 256 MiB
}

func (l Limits) withDefaults() Limits {
	if l.MaxFiles <= 0 {
		l.MaxFiles = 1000
	}
	if l.MaxFileBytes <= 0 {
		l.MaxFileBytes = 64 << 20
	}
	if l.MaxTotal <= 0 {
		l.MaxTotal = 256 << 20
	}
	return l
}

// Bundle is a package read and checked in memory.
type Bundle struct {
	Manifest *manifest.Manifest
	// Files maps each file's slash-separated path to its bytes.
	Files map[string][]byte
	// Modes holds each file's permission bits (0755 or 0644).
	Modes map[string]fs.FileMode
	// Digest is the hex sha256 of the package's bytes, as signed.
	Digest string
}

// Error is a package that cannot be used; Entry names the archive entry at
// fault, if any.
type Error struct {
	Entry  string
	Reason string
}

func (e *Error) Error() string {
	if e.Entry == "" {
		return "package: " + e.Reason
	}
	return fmt.Sprintf("package entry %q: %s", e.Entry, e.Reason)
}

func refuse(entry, format string, args ...any) error {
	return &Error{Entry: entry, Reason: fmt.Sprintf(format, args...)}
}

// skipped are the files pack leaves out.
var skipped = map[string]bool{".git": true, ".hg": true, ".svn": true, "__pycache__": true, ".DS_Store": true}

// Pack makes a package of the plugin directory dir. The same files give
// the same bytes: entries sorted, times, owners and modes normalised, a
// fixed gzip header.
func Pack(dir string) ([]byte, error) {
	man, err := manifest.Load(dir)
	if err != nil {
		return nil, err
	}
	files := map[string]string{}
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if skipped[d.Name()] {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			return nil
		}
		if !d.Type().IsRegular() {
			return fmt.Errorf("pack %s: %s is not a regular file (links and devices cannot be packed)", dir, p)
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		files[filepath.ToSlash(rel)] = p
		return nil
	})
	if err != nil {
		return nil, err
	}
	if man.Tier != manifest.TierBuiltin {
		if entry := man.RunHere().Entry; files[entry] == "" {
			return nil, fmt.Errorf("pack %s: entry %s does not exist (build it first: airlock build %s)", man.Name, entry, dir)
		}
	}
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)

	var buf bytes.Buffer
	gz, _ := gzip.NewWriterLevel(&buf, gzip.DefaultCompression)
	gz.Header = gzip.Header{OS: 255} // no name, no time
	tw := tar.NewWriter(gz)
	for _, name := range names {
		data, err := os.ReadFile(files[name])
		if err != nil {
			return nil, err
		}
		st, err := os.Stat(files[name])
		if err != nil {
			return nil, err
		}
		mode := int64(0o644)
		if st.Mode().Perm()&0o111 != 0 || slices.Contains(entries(man), name) && man.Tier == manifest.TierProcess && len(man.RunHere().Interpreter) == 0 {
			mode = 0o755
		}
		hdr := &tar.Header{
			Typeflag: tar.TypeReg,
			Name:     name,
			Mode:     mode,
			Size:     int64(len(data)),
			ModTime:  time.Unix(0, 0),
			Format:   tar.FormatPAX,
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, err
		}
		if _, err := tw.Write(data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	if err := gz.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// entries returns the plugin's entries for every platform its manifest
// names, and the default one.
func entries(m *manifest.Manifest) []string {
	if m.Tier == manifest.TierBuiltin {
		return nil
	}
	seen := map[string]bool{m.Entry: true}
	out := []string{m.Entry}
	for _, p := range m.Platform {
		if p.Entry != "" && !seen[p.Entry] {
			seen[p.Entry] = true
			out = append(out, p.Entry)
		}
	}
	return out
}

// Open reads a package from memory and checks it: every entry a regular
// file with a clean relative name, no duplicates, sizes within limits, a
// valid manifest whose entries are present and of its tier.
func Open(data []byte, limits Limits) (*Bundle, error) {
	limits = limits.withDefaults()
	var r io.Reader = bytes.NewReader(data)
	if len(data) >= 2 && data[0] == 0x1f && data[1] == 0x8b {
		gz, err := gzip.NewReader(r)
		if err != nil {
			return nil, refuse("", "not a gzip stream: %v", err)
		}
		gz.Multistream(false)
		r = gz
	}
	// Threat: a decompression bomb. The expanded stream is cut at the
	// total limit plus room for headers, whatever the headers claim.
	expanded := &capReader{r: r, left: limits.MaxTotal + int64(limits.MaxFiles+2)*2048}
	tr := tar.NewReader(expanded)
	b := &Bundle{Files: map[string][]byte{}, Modes: map[string]fs.FileMode{}, Digest: signing.Digest(data)}
	folded := map[string]string{}
	var total int64
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			if expanded.hit {
				return nil, refuse("", "expands to more than %d bytes", limits.MaxTotal)
			}
			return nil, refuse("", "not a valid tar archive: %v", err)
		}
		name, err := checkEntry(hdr)
		if err != nil {
			return nil, err
		}
		if hdr.Typeflag == tar.TypeDir {
			continue
		}
		// Threat: one name hiding another on a case-insensitive file
		// system (Windows, macOS), or a second copy replacing the first.
		key := strings.ToLower(name)
		if prev, dup := folded[key]; dup {
			return nil, refuse(name, "duplicate of %q", prev)
		}
		folded[key] = name
		if len(b.Files) >= limits.MaxFiles {
			return nil, refuse(name, "more than %d files", limits.MaxFiles)
		}
		if hdr.Size > limits.MaxFileBytes {
			return nil, refuse(name, "%d bytes, over the limit of %d", hdr.Size, limits.MaxFileBytes)
		}
		content, err := io.ReadAll(io.LimitReader(tr, limits.MaxFileBytes+1))
		if err != nil {
			if expanded.hit {
				return nil, refuse("", "expands to more than %d bytes", limits.MaxTotal)
			}
			return nil, refuse(name, "unreadable: %v", err)
		}
		if int64(len(content)) > limits.MaxFileBytes {
			return nil, refuse(name, "over the limit of %d bytes", limits.MaxFileBytes)
		}
		total += int64(len(content))
		if total > limits.MaxTotal {
			return nil, refuse(name, "the package expands to more than %d bytes", limits.MaxTotal)
		}
		b.Files[name] = content
		b.Modes[name] = 0o644
		if hdr.Mode&0o111 != 0 {
			b.Modes[name] = 0o755
		}
	}
	if expanded.hit {
		return nil, refuse("", "expands to more than %d bytes", limits.MaxTotal)
	}
	return b, b.checkManifest()
}

func checkEntry(hdr *tar.Header) (string, error) {
	name := hdr.Name
	switch hdr.Typeflag {
	case tar.TypeReg, tar.TypeDir:
	case tar.TypeSymlink, tar.TypeLink:
		return "", refuse(name, "links are not allowed (it points to %q)", hdr.Linkname)
	case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
		return "", refuse(name, "devices and pipes are not allowed")
	default:
		return "", refuse(name, "entry type %q is not allowed", hdr.Typeflag)
	}
	// Threat: path traversal ("zip slip") when the package is unpacked.
	switch {
	case name == "" || !utf8.ValidString(name) || strings.ContainsAny(name, "\x00\\:"):
		return "", refuse(name, "not a valid file name")
	case strings.HasPrefix(name, "/"):
		return "", refuse(name, "absolute paths are not allowed")
	}
	for _, part := range strings.Split(strings.TrimSuffix(name, "/"), "/") {
		if part == ".." {
			return "", refuse(name, "\"..\" is not allowed")
		}
	}
	clean := path.Clean(name)
	if clean == "." {
		return "", refuse(name, "not a valid file name")
	}
	return clean, nil
}

// checkManifest checks that the package holds a valid manifest whose
// entries are present and of its tier.
func (b *Bundle) checkManifest() error {
	data, ok := b.Files[manifest.FileName]
	if !ok {
		return refuse("", "no %s at its root", manifest.FileName)
	}
	m, err := manifest.Parse("package:"+manifest.FileName, data)
	if err != nil {
		return err
	}
	if m.Tier == manifest.TierBuiltin {
		return refuse(manifest.FileName, "a builtin plugin cannot come in a package")
	}
	// The entry for this platform must be there; entries for other
	// platforms are checked where they run.
	e := m.RunHere().Entry
	content, ok := b.Files[e]
	if !ok {
		return refuse(e, "the manifest's entry for %s/%s is not in the package", runtime.GOOS, runtime.GOARCH)
	}
	for _, other := range entries(m) {
		if c, ok := b.Files[other]; ok && m.Tier == manifest.TierWasm && !bytes.HasPrefix(c, []byte("\x00asm")) {
			return refuse(other, "tier is wasm but the entry is not a WebAssembly module")
		}
	}
	if m.Tier == manifest.TierWasm && !bytes.HasPrefix(content, []byte("\x00asm")) {
		return refuse(e, "tier is wasm but the entry is not a WebAssembly module")
	}
	b.Manifest = m
	return nil
}

// Entry returns the bytes of the plugin's entry for this platform.
func (b *Bundle) Entry() []byte {
	return b.Files[b.Manifest.RunFor(runtime.GOOS, runtime.GOARCH).Entry]
}

// capReader reads at most left bytes and records whether it was cut.
type capReader struct {
	r    io.Reader
	left int64
	hit  bool
}

func (c *capReader) Read(p []byte) (int, error) {
	if c.left <= 0 {
		c.hit = true
		return 0, errors.New("expanded size limit reached")
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.r.Read(p)
	c.left -= int64(n)
	return n, err
}
