package wasm

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/airlock-go/airlock/internal/tier"
)

// A guest cannot hold more files open than max_open_files, all its
// instances together: an open past the bound fails with EAGAIN, and the
// host's own descriptors stay within it. Closing the instance (here, a
// trap discards it) gives the places back. Threat: a guest opening its
// files in a loop, never closing them, until the host has no
// descriptor left.
func TestOpenFilesBounded(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "file"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	const limit, eagain = 20, 6
	s := newStarter(t)
	inst, _, err := start(t, s, evilManifest, evil(t), []string{"fs.read:" + dir}, tier.Limits{MaxOpenFiles: limit})
	if err != nil {
		t.Fatal(err)
	}
	openMany := func() (opened, errno int) {
		t.Helper()
		var res [2]int
		callInto(t, inst, "openmany", &res)
		return res[0], res[1]
	}
	before := hostDescriptors()
	opened, errno := openMany()
	t.Logf("opened %d files, then errno %d; the host's descriptors %d -> %d", opened, errno, before, hostDescriptors())
	// The directory the guest opens the file in may hold a place too.
	if opened > limit || opened < limit-2 || errno != eagain {
		t.Fatalf("opened %d files, then errno %d; want about %d, then EAGAIN (%d)", opened, errno, limit, eagain)
	}
	if grew := hostDescriptors() - before; before >= 0 && grew > limit {
		t.Errorf("the host holds %d more descriptors, with a bound of %d", grew, limit)
	}
	if again, _ := openMany(); again != 0 {
		t.Errorf("the instance opened %d more files with every place held", again)
	}
	if _, err := call(inst, "trap", nil, 5*time.Second); !errors.Is(err, tier.ErrCrashed) {
		t.Fatalf("trap: %v", err)
	}
	if reopened, _ := openMany(); reopened != opened {
		t.Errorf("after the instance was discarded, a new one opened %d files, want %d", reopened, opened)
	}
}

// hostDescriptors counts the process's open descriptors, or -1 where
// /proc/self/fd does not list them.
func hostDescriptors() int {
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return -1
	}
	return len(fds)
}

// A guest granted a directory to write cannot make a file larger than
// max_file_bytes: a write past it is cut short, the next one fails with
// EIO, and so does setting the size past it. Threat: a guest filling
// the host's disk with one file.
func TestFileSizeBounded(t *testing.T) {
	dir := t.TempDir()
	const limit, eio = 2<<20 + 12345, 29
	s := newStarter(t)
	inst, _, err := start(t, s, evilManifest, evil(t), []string{"fs.write:" + dir}, tier.Limits{MaxFileBytes: limit, MaxMemory: 64 << 20})
	if err != nil {
		t.Fatal(err)
	}
	var res [3]int
	callInto(t, inst, "bigwrite", &res)
	if res != [3]int{limit, eio, eio} {
		t.Errorf("written %d bytes, then errno %d, and errno %d setting the size; want %d, EIO (%d) and EIO", res[0], res[1], res[2], limit, eio)
	}
	if st, err := os.Stat(filepath.Join(dir, "out")); err != nil || st.Size() != limit {
		t.Errorf("the file: %v, %v; want %d bytes", st, err, limit)
	}
}

// callInto runs attack on inst and decodes its result into v, failing t
// if either fails.
func callInto(t *testing.T, inst tier.Instance, attack string, v any) {
	t.Helper()
	out, err := call(inst, attack, nil, 10*time.Second)
	if err == nil {
		err = json.Unmarshal(out, v)
	}
	if err != nil {
		t.Fatalf("%s: %s, %v", attack, out, err)
	}
}
