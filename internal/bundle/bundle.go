// Package bundle makes and reads plugin packages: a gzip-compressed tar
// archive with plugin.toml at its root, the code and the assets.
// docs/PACKAGES.md describes the format.
package bundle

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
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
	"testing/fstest"
	"time"
	"unicode/utf8"

	"github.com/airlock-go/airlock/internal/manifest"
	"github.com/airlock-go/airlock/internal/regfile"
	"github.com/airlock-go/airlock/internal/signing"
)

// Limits bound what a package may expand to and the work of reading it
// (threat: decompression bombs, and archives built to exhaust the host's
// memory or time: a 1.2 KB package with one 900 KiB path once took 109 s
// and 313 MB to unpack). Each is checked as the archive is read, from an
// entry's header, before the host reads the entry's contents or creates
// anything on disk. Zero fields take the defaults.
type Limits struct {
	MaxFiles     int   // regular files, default 1000
	MaxEntries   int   // archive entries of any type, directories included, default 2000
	MaxFileBytes int64 // one file, default 64 MiB
	MaxTotal     int64 // expanded bytes in all, default 256 MiB
	MaxPathBytes int   // one entry's path, default 1024 bytes
	MaxNameBytes int   // one component of a path, default 255 bytes (NAME_MAX)
	MaxDepth     int   // components in one path, default 32
}

func (l Limits) withDefaults() Limits {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&l.MaxFiles, 1000)
	def(&l.MaxEntries, 2000)
	def(&l.MaxPathBytes, 1024)
	def(&l.MaxNameBytes, 255)
	def(&l.MaxDepth, 32)
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
	limits := Limits{}.withDefaults()
	if len(names) > limits.MaxFiles {
		return nil, fmt.Errorf("pack %s: %d files, over the limit of %d", dir, len(names), limits.MaxFiles)
	}
	var total int64
	for _, name := range names {
		// Threat: a file planted in a directory the host packs to check
		// (a pinned directory) that claims a terabyte: a sparse file
		// costs no disk, and reading it whole would kill the host. Sizes
		// are checked before reading, and the read is capped.
		st, err := os.Lstat(files[name])
		if err != nil {
			return nil, err
		}
		if total += st.Size(); st.Size() > limits.MaxFileBytes || total > limits.MaxTotal {
			return nil, fmt.Errorf("pack %s: %s: %d bytes, over the limit of %d for a file and %d in all", dir, name, st.Size(), limits.MaxFileBytes, limits.MaxTotal)
		}
		data, err := regfile.ReadCapped(files[name], limits.MaxFileBytes, false)
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
// file or directory with a clean relative name of bounded length and
// depth, no duplicates, counts and sizes within limits, a valid manifest
// whose entries are present and of its tier. It is OpenContext without a
// deadline.
func Open(data []byte, limits Limits) (*Bundle, error) {
	return OpenContext(context.Background(), data, limits)
}

// OpenContext is Open that gives up when ctx ends (the host gives it the
// plugin's start timeout).
func OpenContext(ctx context.Context, data []byte, limits Limits) (*Bundle, error) {
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
	expanded := &capReader{ctx: ctx, r: r, left: limits.MaxTotal + int64(limits.MaxEntries+2)*2048}
	o := &opener{limits: limits, tr: tar.NewReader(expanded), expanded: expanded, folded: map[string]string{}, dirs: map[string]string{},
		b: &Bundle{Files: map[string][]byte{}, Modes: map[string]fs.FileMode{}, Digest: signing.Digest(data)}}
	for {
		done, err := o.next()
		if err != nil {
			return nil, err
		}
		if done {
			break
		}
	}
	if expanded.hit {
		return nil, refuse("", "expands to more than %d bytes", limits.MaxTotal)
	}
	return o.b, o.b.checkManifest()
}

// opener is the state of one Open.
type opener struct {
	limits   Limits
	tr       *tar.Reader
	expanded *capReader
	b        *Bundle
	folded   map[string]string // folded name (foldName) to name
	dirs     map[string]string // folded directory to a name beneath it
	entries  int
	total    int64
}

// next reads one entry; done is true at the end of the archive.
func (o *opener) next() (done bool, err error) {
	hdr, err := o.tr.Next()
	if errors.Is(err, io.EOF) {
		return true, nil
	}
	if err != nil {
		return false, o.readError("", "not a valid tar archive", err)
	}
	o.entries++
	if o.entries > o.limits.MaxEntries {
		return false, refuse("", "more than %d entries", o.limits.MaxEntries)
	}
	name, err := checkEntry(hdr, o.limits)
	if err != nil || hdr.Typeflag == tar.TypeDir {
		return false, err
	}
	if err := o.admit(name, hdr.Size); err != nil {
		return false, err
	}
	content, err := io.ReadAll(io.LimitReader(o.tr, o.limits.MaxFileBytes+1))
	if err != nil {
		return false, o.readError(name, "unreadable", err)
	}
	if int64(len(content)) > o.limits.MaxFileBytes {
		return false, refuse(name, "over the limit of %d bytes", o.limits.MaxFileBytes)
	}
	o.total += int64(len(content))
	if o.total > o.limits.MaxTotal {
		return false, refuse(name, "the package expands to more than %d bytes", o.limits.MaxTotal)
	}
	o.b.Files[name] = content
	o.b.Modes[name] = 0o644
	if hdr.Mode&0o111 != 0 {
		o.b.Modes[name] = 0o755
	}
	return false, nil
}

// admit checks a file from its header, before its contents are read.
func (o *opener) admit(name string, size int64) error {
	// Threat: one name hiding another on a case-insensitive file
	// system (Windows, macOS), or a second copy replacing the first; or
	// a file that another entry needs as a directory (unpacking would
	// fail, or on some systems one would replace the other).
	key := foldName(name)
	if prev, dup := o.folded[key]; dup {
		return refuse(name, "duplicate of %q", prev)
	}
	if prev, dir := o.dirs[key]; dir {
		return refuse(name, "is a directory holding %q", prev)
	}
	for i := range len(key) {
		if key[i] != '/' {
			continue
		}
		if prev, file := o.folded[key[:i]]; file {
			return refuse(name, "%q is a file, not a directory", prev)
		}
		o.dirs[key[:i]] = name
	}
	o.folded[key] = name
	if len(o.b.Files) >= o.limits.MaxFiles {
		return refuse(name, "more than %d files", o.limits.MaxFiles)
	}
	if size > o.limits.MaxFileBytes {
		return refuse(name, "%d bytes, over the limit of %d", size, o.limits.MaxFileBytes)
	}
	if o.total+size > o.limits.MaxTotal {
		return refuse(name, "declares %d bytes: the package expands to more than %d bytes", size, o.limits.MaxTotal)
	}
	return nil
}

// readError explains a failure to read the archive: the deadline, the
// expansion limit, or a malformed archive.
func (o *opener) readError(entry, what string, err error) error {
	switch {
	case o.expanded.ctx.Err() != nil:
		return refuse(entry, "not read in the time allowed (%v)", o.expanded.ctx.Err())
	case o.expanded.hit:
		return refuse("", "expands to more than %d bytes", o.limits.MaxTotal)
	}
	return refuse(entry, "%s: %v", what, err)
}

// checkEntry checks an entry's type and name and returns the clean name.
func checkEntry(hdr *tar.Header, limits Limits) (string, error) {
	switch hdr.Typeflag {
	case tar.TypeReg, tar.TypeDir:
	case tar.TypeSymlink, tar.TypeLink:
		return "", refuse(shortName(hdr.Name), "links are not allowed (it points to %q)", shortName(hdr.Linkname))
	case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
		return "", refuse(shortName(hdr.Name), "devices and pipes are not allowed")
	default:
		return "", refuse(shortName(hdr.Name), "entry type %q is not allowed", hdr.Typeflag)
	}
	return checkPath(hdr.Name, limits)
}

// checkPath checks an entry's path and returns it cleaned. Threats: path
// traversal ("zip slip") when the package is unpacked; and paths so long
// or deep that creating their directories costs the host minutes (each
// level of a deep path is a mkdir, and each mkdir walks the whole path).
func checkPath(name string, limits Limits) (string, error) {
	if len(name) > limits.MaxPathBytes {
		return "", refuse(shortName(name), "path of %d bytes, over the limit of %d", len(name), limits.MaxPathBytes)
	}
	switch {
	case name == "" || !utf8.ValidString(name) || strings.ContainsAny(name, "\x00\\:"):
		return "", refuse(name, "not a valid file name")
	case strings.HasPrefix(name, "/"):
		return "", refuse(name, "absolute paths are not allowed")
	}
	parts := strings.Split(strings.TrimSuffix(name, "/"), "/")
	if len(parts) > limits.MaxDepth {
		return "", refuse(name, "%d levels deep, over the limit of %d", len(parts), limits.MaxDepth)
	}
	for _, part := range parts {
		if part == ".." {
			return "", refuse(name, "\"..\" is not allowed")
		}
		if len(part) > limits.MaxNameBytes {
			return "", refuse(name, "a path component of %d bytes, over the limit of %d", len(part), limits.MaxNameBytes)
		}
		if why := portablePart(part); why != "" {
			return "", refuse(name, "%q: %s", part, why)
		}
	}
	clean := path.Clean(name)
	if clean == "." {
		return "", refuse(name, "not a valid file name")
	}
	return clean, nil
}

// shortName cuts a name for an error message: an over-long name is what
// some errors are about, and must not make the error itself huge.
func shortName(name string) string {
	const max = 64
	if len(name) <= max {
		return name
	}
	return strings.ToValidUTF8(name[:max], "") + fmt.Sprintf("…(%d bytes)", len(name))
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

// FS is the package's files as a read-only file system: the verified
// bytes held in memory, for a wasm guest to read its own assets.
func (b *Bundle) FS() fs.FS {
	m := make(fstest.MapFS, len(b.Files))
	for name, data := range b.Files {
		m[name] = &fstest.MapFile{Data: data, Mode: 0o444}
	}
	return m
}

// capReader reads at most left bytes, records whether it was cut, and
// stops when ctx ends.
type capReader struct {
	ctx  context.Context
	r    io.Reader
	left int64
	hit  bool
}

func (c *capReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
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
