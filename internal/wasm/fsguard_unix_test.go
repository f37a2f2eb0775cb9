//go:build unix

package wasm

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/airlock-go/airlock/internal/tier"
)

// A named pipe in a granted directory is refused at once: opening it
// would block the host until a writer came, past any deadline.
func TestGrantedPipeIsRefused(t *testing.T) {
	dir := t.TempDir()
	fifo, file := filepath.Join(dir, "fifo"), filepath.Join(dir, "file")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skip("mkfifo:", err)
	}
	os.WriteFile(file, []byte("x"), 0o600)
	s := newStarter(t)
	inst, _, err := start(t, s, evilManifest, evil(t), []string{"fs.read:" + dir}, tier.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	open := func(path string) (int, error) { return openIn(inst, filepath.Base(path)) }
	if errno, err := open(file); errno != 0 || err != nil {
		t.Fatalf("a granted regular file: errno %d, %v", errno, err)
	}
	type result struct {
		errno int
		err   error
	}
	done := make(chan result, 1)
	go func() {
		errno, err := open(fifo)
		done <- result{errno, err}
	}()
	select {
	case r := <-done:
		const eacces = 2
		if r.errno != eacces || r.err != nil {
			t.Errorf("the pipe: errno %d, %v; want EACCES", r.errno, r.err)
		}
	case <-time.After(5 * time.Second):
		t.Error("opening a granted named pipe blocked the call past its deadline")
		w, err := os.OpenFile(fifo, os.O_WRONLY, 0) // let it go
		if err == nil {
			w.Write([]byte("x"))
			w.Close()
		}
		<-done
	}
}

// A guest cannot leave its grant through a symbolic link: it may not make
// one (wazero would let it link to "../secret" and the host's open would
// follow), and a link already there that leads out does not open.
func TestGrantCannotLinkOut(t *testing.T) {
	root := t.TempDir()
	granted := filepath.Join(root, "granted")
	os.Mkdir(granted, 0o700)
	os.WriteFile(filepath.Join(root, "secret"), []byte("the host's secret"), 0o600)
	s := newStarter(t)
	inst, _, err := start(t, s, evilManifest, evil(t), []string{"fs.write:" + granted}, tier.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	// [errno of path_symlink, errno of path_open, bytes read]
	const eperm, eacces, enoent = 63, 2, 44
	out, err := call(inst, "linkout", nil, 5*time.Second)
	if want := fmt.Sprintf("[%d,%d,0]", eperm, enoent); err != nil || string(out) != want {
		t.Errorf("making a link out of the grant: %s, %v; want %s", out, err, want)
	}
	// The same link, made by someone else.
	if err := os.Symlink("../secret", filepath.Join(granted, "link")); err != nil {
		t.Fatal(err)
	}
	out, err = call(inst, "linkout", nil, 5*time.Second)
	if want := fmt.Sprintf("[%d,%d,0]", eperm, eacces); err != nil || string(out) != want {
		t.Errorf("opening a link out of the grant: %s, %v; want %s", out, err, want)
	}
	// A link that stays inside still works.
	os.WriteFile(filepath.Join(granted, "inside"), []byte("fine"), 0o600)
	os.Symlink("inside", filepath.Join(granted, "ok"))
	if errno, err := openIn(inst, "ok"); errno != 0 || err != nil {
		t.Errorf("a link inside the grant: errno %d, %v", errno, err)
	}
}

// openIn opens file in the guest's first granted directory and returns
// the errno.
func openIn(inst tier.Instance, file string) (int, error) {
	out, err := call(inst, "openfile", map[string]string{"file": file}, 2*time.Second)
	var errno int
	if err == nil {
		err = json.Unmarshal(out, &errno)
	}
	return errno, err
}
