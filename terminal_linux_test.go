package airlock_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/airlock-go/airlock"
)

// terminalMarker is what the test plugin's "terminal" attack types into
// the host's terminal (testdata/plugins/testplugin/terminal_linux.go).
const terminalMarker = "airlock-typed-this"

// TestHostTerminalOutOfReach: a host started from a shell shares its
// terminal with the shell, and a plugin must get none of it (class 9 of
// docs/SECURITY.md): not through /dev/tty, where it could type commands
// that the user's shell runs once the host exits (TIOCSTI) or take the
// foreground and read what the user types; not by the terminal's name,
// where it could read the user's keystrokes.
//
// Each mode's host is a copy of this test binary (TestHelperTerminalHost)
// in a session of its own whose controlling terminal is a
// pseudo-terminal the test holds, as a shell would start it. Whatever
// the plugin typed there would echo on the test's side. In every mode,
// the sandbox off included, the plugin has no controlling terminal (the
// process tier starts it in a session of its own); sandboxed, it cannot
// open the terminal by name either, which the control ("off") can.
func TestHostTerminalOutOfReach(t *testing.T) {
	plugin := testPlugin(t)
	for _, mode := range sandboxModes {
		t.Run(mode.name, func(t *testing.T) {
			master, slave, name := openPTY(t)
			r := runTerminalHost(t, plugin, mode, slave, name)
			t.Logf("attack: %s", r.Data)
			echoed := readPTY(t, master)
			steps := terminalSteps(r.Data)
			if _, ok := steps["open /dev/tty"]; !ok {
				t.Fatalf("the attack reported no steps: %+v", r)
			}
			// Sandboxed, Landlock may refuse first.
			if got := steps["open /dev/tty"]; got == "ok" || mode.off && got != syscall.ENXIO.Error() {
				t.Errorf("open /dev/tty: %s; want %q (no controlling terminal)", got, syscall.ENXIO.Error())
			}
			byName := steps["open "+name]
			switch {
			case !mode.off && byName == "ok":
				t.Errorf("the sandboxed plugin opened the host's terminal %s (%s)", name, r.Data)
			case mode.off && byName != "ok":
				t.Errorf("control: the terminal did not open by name without the sandbox (%s): the test shows nothing", byName)
			case mode.off && os.Geteuid() == 0:
				// Unsandboxed, a root host's plugin keeps CAP_SYS_ADMIN,
				// which types into any terminal.
				return
			case mode.off && steps["type into "+name] != syscall.EPERM.Error():
				t.Errorf("control: typing into the terminal by name: %s; want %q (not the plugin's controlling terminal)",
					steps["type into "+name], syscall.EPERM.Error())
			}
			if strings.Contains(echoed, terminalMarker) {
				t.Errorf("the plugin typed into the host's terminal: %q", echoed)
			}
		})
	}
}

// terminalSteps splits the attack's report into step and outcome.
func terminalSteps(data string) map[string]string {
	steps := map[string]string{}
	for _, s := range strings.Split(data, "; ") {
		if step, outcome, ok := strings.Cut(s, ": "); ok {
			steps[step] = outcome
		}
	}
	return steps
}

// openPTY opens a pseudo-terminal: its master side, its slave side (not
// made the test's controlling terminal) and the slave's name.
func openPTY(t *testing.T) (master, slave *os.File, name string) {
	t.Helper()
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("no pseudo-terminal: %v", err)
	}
	t.Cleanup(func() { master.Close() })
	raw, err := master.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var n int
	var ioErr error
	raw.Control(func(fd uintptr) {
		if ioErr = unix.IoctlSetPointerInt(int(fd), unix.TIOCSPTLCK, 0); ioErr == nil {
			n, ioErr = unix.IoctlGetInt(int(fd), unix.TIOCGPTN)
		}
	})
	if ioErr != nil {
		t.Fatalf("unlock the pseudo-terminal: %v", ioErr)
	}
	name = fmt.Sprintf("/dev/pts/%d", n)
	slave, err = os.OpenFile(name, os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { slave.Close() })
	return master, slave, name
}

// readPTY reads what the terminal's master side has to read, waiting a
// little for it.
func readPTY(t *testing.T, master *os.File) string {
	t.Helper()
	if err := master.SetReadDeadline(time.Now().Add(300 * time.Millisecond)); err != nil {
		t.Fatalf("the pseudo-terminal cannot be polled: %v", err)
	}
	var b strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := master.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			if !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Logf("read the terminal: %v", err)
			}
			return b.String()
		}
	}
}

// runTerminalHost runs TestHelperTerminalHost with the terminal as its
// controlling terminal and returns the attack's result.
func runTerminalHost(t *testing.T, plugin string, mode sandboxMode, tty *os.File, name string) attackResult {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperTerminalHost$", "-test.v")
	cmd.Env = append(os.Environ(), "AIRLOCK_HELPER_TTY_PLUGIN="+plugin, "AIRLOCK_HELPER_TTY_MODE="+mode.name, "AIRLOCK_HELPER_TTY="+name)
	cmd.Stdin = tty
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	cmd.WaitDelay = time.Second
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("helper host: %v\n%s", err, out)
	}
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		if line, ok := strings.CutPrefix(sc.Text(), "terminal attack: "); ok {
			var r attackResult
			if err := json.Unmarshal([]byte(line), &r); err != nil {
				t.Fatal(err)
			}
			return r
		}
	}
	t.Fatalf("the helper host printed no result:\n%s", out)
	return attackResult{}
}

// TestHelperTerminalHost is the host TestHostTerminalOutOfReach starts on
// a terminal; it does nothing in a normal run.
func TestHelperTerminalHost(t *testing.T) {
	dir := os.Getenv("AIRLOCK_HELPER_TTY_PLUGIN")
	if dir == "" {
		return
	}
	// The test is only worth something if this host has the terminal.
	if fd, err := unix.Open("/dev/tty", unix.O_RDWR|unix.O_NOCTTY, 0); err != nil {
		t.Fatalf("the helper host has no controlling terminal: %v", err)
	} else {
		unix.Close(fd)
	}
	h, err := airlock.New(airlock.Options{Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close(context.Background())
	mode := os.Getenv("AIRLOCK_HELPER_TTY_MODE")
	namespaces := mode == "namespaces"
	conf := airlock.PluginConfig{Path: dir, Namespaces: &namespaces}
	if mode == "off" {
		conf.Sandbox = "off"
	}
	ctx := ctxT(t, 20*time.Second)
	if _, err := h.Load(ctx, conf); err != nil {
		t.Fatal(err)
	}
	r, err := airlock.CallFunc[attackResult](ctx, h, "testplugin", "escape", map[string]any{"attack": "terminal", "path": os.Getenv("AIRLOCK_HELPER_TTY")})
	if err != nil {
		t.Fatal(err)
	}
	line, _ := json.Marshal(r)
	fmt.Printf("terminal attack: %s\n", line)
}
