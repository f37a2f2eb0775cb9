package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/airlock-go/airlock/sdk/go/plugin"
)

// escapeInput says which escape to try, and on what.
type escapeInput struct {
	Attack string `json:"attack"`
	PID    int    `json:"pid"`  // a victim process of the same user
	Path   string `json:"path"` // a file or socket path
	Tag    string `json:"tag"`  // marks a child process for the test to find
	Target string `json:"target"`
}

// escape registers "escape": the containment suite's attacks, one class
// of escape each (containment_linux_test.go). Each returns how far it
// got: Count is a success count or a value the kernel returned, Error
// what stopped it.
func escape(p *plugin.Plugin) {
	plugin.Handle(p, "escape", func(ctx context.Context, _ *plugin.Host, in escapeInput) (result, error) {
		fn, ok := escapes[in.Attack]
		if !ok {
			return result{}, fmt.Errorf("no attack %q", in.Attack)
		}
		return fn(in), nil
	})
}

var escapes = map[string]func(escapeInput) result{
	// Class 0: taking every PID of the machine with threads, which need
	// no spawn grant (the host's bound is max_tasks).
	"threadbomb": threadBomb,
	// ... and leaving the pids cgroup that bounds them (root hosts).
	"leave-pids-cgroup": leavePidsCgroup,

	// Class 1: system calls through a foreign ABI.
	"i386-socket": func(escapeInput) result {
		return rawResult(int80(i386Socket, unix.AF_INET, unix.SOCK_DGRAM, 0))
	},
	"i386-fork": func(escapeInput) result { return rawResult(int80fork()) },
	"i386-keyctl": func(escapeInput) result {
		const getKeyringID, userKeyring = 0, 0xfffffffc // KEY_SPEC_USER_KEYRING, as a 32-bit int
		return rawResult(int80(i386Keyctl, getKeyringID, userKeyring, 0))
	},
	"x32-socket": func(escapeInput) result {
		r, _, e := syscall.RawSyscall(unix.SYS_SOCKET|0x40000000, unix.AF_INET, unix.SOCK_DGRAM, 0)
		if e != 0 {
			return result{Error: e.Error()}
		}
		return result{Count: int(r)}
	},

	// Class 2: acting on processes it does not own, without a signal.
	"prlimit": func(in escapeInput) result {
		lim := unix.Rlimit{Cur: 1, Max: 1}
		return errResult(unix.Prlimit(in.PID, unix.RLIMIT_CPU, &lim, nil))
	},
	"setpriority": func(in escapeInput) result {
		return errResult(unix.Setpriority(unix.PRIO_PROCESS, in.PID, 19))
	},
	"setpriority-user": func(in escapeInput) result {
		return errResult(unix.Setpriority(unix.PRIO_USER, 0, 19))
	},
	"setpriority-group": func(in escapeInput) result {
		return errResult(unix.Setpriority(unix.PRIO_PGRP, in.PID, 19))
	},
	"sched-setaffinity": func(in escapeInput) result {
		var set unix.CPUSet
		set.Set(0)
		return errResult(unix.SchedSetaffinity(in.PID, &set))
	},
	"sched-setscheduler": func(in escapeInput) result {
		const schedIdle = 5
		var prio int32
		_, _, e := unix.Syscall(unix.SYS_SCHED_SETSCHEDULER, uintptr(in.PID), schedIdle, uintptr(unsafe.Pointer(&prio)))
		return errnoResult(e)
	},
	"ioprio": func(in escapeInput) result {
		const whoProcess, idleClass = 1, 3 << 13
		_, _, e := unix.Syscall(unix.SYS_IOPRIO_SET, whoProcess, uintptr(in.PID), idleClass)
		return errnoResult(e)
	},
	"ioprio-user": func(in escapeInput) result {
		const whoUser, idleClass = 3, 3 << 13
		_, _, e := unix.Syscall(unix.SYS_IOPRIO_SET, whoUser, uintptr(os.Getuid()), idleClass)
		return errnoResult(e)
	},
	"kill": func(in escapeInput) result { return errResult(unix.Kill(in.PID, unix.SIGKILL)) },
	"pidfd-kill": func(in escapeInput) result {
		fd, err := unix.PidfdOpen(in.PID, 0)
		if err != nil {
			return errResult(err)
		}
		defer unix.Close(fd)
		return errResult(unix.PidfdSendSignal(fd, unix.SIGKILL, nil, 0))
	},
	"oom-score": func(in escapeInput) result {
		return errResult(os.WriteFile(fmt.Sprintf("/proc/%d/oom_score_adj", in.PID), []byte("1000"), 0))
	},

	// Class 3: descendants that leave the process group.
	"setsid-child": func(in escapeInput) result {
		self, _ := os.Executable()
		c := exec.Command(self, "-sleeper", "-tag="+in.Tag)
		c.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
		if err := c.Start(); err != nil {
			return errResult(err)
		}
		go c.Wait()
		return result{Count: c.Process.Pid}
	},

	// Class 4: file system metadata.
	"chmod": func(in escapeInput) result { return errResult(os.Chmod(in.Path, 0o777)) },
	"chown": func(in escapeInput) result { return errResult(os.Lchown(in.Path, os.Getuid(), os.Getgid())) },
	"setxattr": func(in escapeInput) result {
		return errResult(unix.Setxattr(in.Path, "user.airlock", []byte("planted"), 0))
	},
	// file_setattr (Linux 6.17, number 469 on every architecture): sets
	// FS_XFLAG_NODUMP, which the file's owner may.
	"file-setattr": func(in escapeInput) result {
		path, err := unix.BytePtrFromString(in.Path)
		if err != nil {
			return errResult(err)
		}
		attr := [24]byte{0x80} // struct file_attr: fa_xflags = FS_XFLAG_NODUMP
		const sysFileSetattr = 469
		atCWD := unix.AT_FDCWD
		_, _, e := unix.Syscall6(sysFileSetattr, uintptr(atCWD), uintptr(unsafe.Pointer(path)), uintptr(unsafe.Pointer(&attr)), uintptr(len(attr)), 0, 0)
		return errnoResult(e)
	},
	"utimes": func(in escapeInput) result {
		return errResult(os.Chtimes(in.Path, time.Unix(1, 0), time.Unix(1, 0)))
	},
	"mknod-char": func(in escapeInput) result {
		return errResult(unix.Mknod(in.Path, unix.S_IFCHR|0o666, int(unix.Mkdev(1, 11)))) // /dev/kmsg
	},
	"mkfifo": func(in escapeInput) result { return errResult(unix.Mkfifo(in.Path, 0o600)) },
	// A hard link into a write grant would make the file's metadata
	// changeable there.
	"link-then-chmod": func(in escapeInput) result {
		if err := os.Link(in.Path, in.Target); err != nil {
			return errResult(err)
		}
		return errResult(os.Chmod(in.Target, 0o777))
	},

	// Class 5: unix sockets by path and by abstract name.
	"unix-connect": func(in escapeInput) result {
		c, err := net.DialTimeout("unix", in.Path, 2*time.Second)
		if err == nil {
			c.Write([]byte("reached"))
			c.Close()
		}
		return errResult(err)
	},
	// A datagram socket made by socketpair, which needs no grant, sending
	// to a socket by path.
	"unix-dgram-sendto": func(in escapeInput) result {
		fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return errResult(err)
		}
		defer unix.Close(fds[0])
		defer unix.Close(fds[1])
		return errResult(unix.Sendto(fds[0], []byte("reached"), 0, &unix.SockaddrUnix{Name: in.Path}))
	},

	// Class 8: memory outside the data segment that max_memory_bytes caps:
	// each touches sharedBytes of shared memory, then frees it.
	"shared-anon-memory": func(escapeInput) result {
		b, err := unix.Mmap(-1, 0, sharedBytes, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_ANONYMOUS)
		if err != nil {
			return errResult(err)
		}
		defer unix.Munmap(b)
		return touch(b)
	},
	"memfd-memory": func(escapeInput) result {
		// Several memfds, each below max_file_bytes, mapped and closed.
		const part = 32 << 20
		var maps [][]byte
		defer func() {
			for _, m := range maps {
				unix.Munmap(m)
			}
		}()
		for len(maps)*part < sharedBytes {
			fd, err := unix.MemfdCreate("airlock-escape", unix.MFD_CLOEXEC)
			if err != nil {
				return errResult(err)
			}
			b, err := mapFile(fd, part)
			unix.Close(fd)
			if err != nil {
				return errResult(err)
			}
			maps = append(maps, b)
			touch(b)
		}
		return result{Count: len(maps) * part}
	},
	// Pipes grown to 1 MiB each and filled, up to pipeBytes: kernel
	// memory, which no rlimit counts.
	"pipe-memory": func(escapeInput) result {
		chunk := make([]byte, 64<<10)
		var r result
		for r.Count < pipeBytes {
			var p [2]int
			if err := unix.Pipe2(p[:], unix.O_NONBLOCK|unix.O_CLOEXEC); err != nil {
				r.Error = err.Error()
				return r
			}
			defer unix.Close(p[0])
			defer unix.Close(p[1])
			if _, err := unix.FcntlInt(uintptr(p[1]), unix.F_SETPIPE_SZ, 1<<20); err != nil {
				r.Error = err.Error()
				return r
			}
			for {
				n, err := unix.Write(p[1], chunk)
				if err != nil || n <= 0 {
					break
				}
				r.Count += n
			}
		}
		return r
	},
	// A POSIX message queue named by the test, left behind.
	"mq-create": func(in escapeInput) result {
		name, err := unix.BytePtrFromString(strings.TrimPrefix(in.Path, "/"))
		if err != nil {
			return errResult(err)
		}
		fd, _, e := unix.Syscall6(unix.SYS_MQ_OPEN, uintptr(unsafe.Pointer(name)), unix.O_RDWR|unix.O_CREAT|unix.O_CLOEXEC, 0o600, 0, 0, 0)
		if e != 0 {
			return errResult(e)
		}
		unix.Close(int(fd))
		return result{Count: 1}
	},
	// The user's inotify instances, kept until the plugin ends.
	"inotify-instances": func(escapeInput) result {
		var r result
		for r.Count < 200 {
			fd, err := unix.InotifyInit1(unix.IN_CLOEXEC)
			if err != nil {
				r.Error = err.Error()
				return r
			}
			inotifyHeld = append(inotifyHeld, fd)
			r.Count++
		}
		return r
	},
	"sysv-shm-memory": func(escapeInput) result {
		id, err := unix.SysvShmGet(unix.IPC_PRIVATE, sharedBytes, unix.IPC_CREAT|0o600)
		if err != nil {
			return errResult(err)
		}
		defer unix.SysvShmCtl(id, unix.IPC_RMID, nil)
		b, err := unix.SysvShmAttach(id, 0, 0)
		if err != nil {
			return errResult(err)
		}
		defer unix.SysvShmDetach(b)
		return touch(b)
	},
	// The host's System V shared memory, by its id (PID carries it).
	"sysv-shm-read": func(in escapeInput) result {
		b, err := unix.SysvShmAttach(in.PID, 0, unix.SHM_RDONLY)
		if err != nil {
			return errResult(err)
		}
		defer unix.SysvShmDetach(b)
		return result{Count: len(b), Data: strings.TrimRight(string(b[:min(len(b), 64)]), "\x00")}
	},

	// Class 9: the terminal the host was started from (terminal_linux.go).
	"terminal": terminal,

	// Class 6: what a root host's plugin keeps.
	"capabilities": func(escapeInput) result {
		data, err := os.ReadFile("/proc/self/status")
		if err != nil {
			return errResult(err)
		}
		var caps []string
		for _, line := range strings.Split(string(data), "\n") {
			if strings.HasPrefix(line, "Cap") {
				caps = append(caps, line)
			}
		}
		return result{Count: os.Getuid(), Data: strings.Join(caps, "\n")}
	},
	"open-device": func(in escapeInput) result {
		fd, err := unix.Open(in.Path, unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
		if err == nil {
			unix.Close(fd)
		}
		return errResult(err)
	},
	// Writes back what it reads: a kernel setting rewritten to its own
	// value shows the plugin could set it, and changes nothing.
	"write-back": func(in escapeInput) result {
		b, err := os.ReadFile(in.Path)
		if err != nil {
			return errResult(err)
		}
		f, err := os.OpenFile(in.Path, os.O_WRONLY, 0)
		if err != nil {
			return errResult(err)
		}
		defer f.Close()
		n, err := f.Write(b)
		return result{Count: n, Error: errString(err)}
	},
	"sethostname": func(escapeInput) result { return errResult(unix.Sethostname([]byte("airlock-pwned"))) },
	"raw-socket": func(escapeInput) result {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_RAW, unix.IPPROTO_ICMP)
		if err == nil {
			unix.Close(fd)
		}
		return errResult(err)
	},
}

// sharedBytes is what the shared memory attacks touch: above the cap of
// the containment suite's cases.
const sharedBytes = 192 << 20

// inotifyHeld are the inotify instances the attack keeps.
var inotifyHeld []int

// pipeBytes is what the pipe attack holds: below the kernel's default
// pipe quota of a user (64 MiB), so that the control case shows the
// attack, not the quota.
const pipeBytes = 48 << 20

// touch writes to every page of b, so that the kernel must back it.
func touch(b []byte) result {
	for i := 0; i < len(b); i += 4096 {
		b[i] = 1
	}
	return result{Count: len(b)}
}

func mapFile(fd, n int) ([]byte, error) {
	if err := unix.Ftruncate(fd, int64(n)); err != nil {
		return nil, err
	}
	return unix.Mmap(fd, 0, n, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
}

func errResult(err error) result {
	if err != nil {
		return result{Error: err.Error()}
	}
	return result{Count: 1}
}

func errnoResult(e syscall.Errno) result {
	if e != 0 {
		return result{Error: e.Error()}
	}
	return result{Count: 1}
}

// rawResult reads a raw system call's return: a value, or a negative
// errno.
func rawResult(r uintptr) result {
	if v := int32(r); v < 0 && v > -4096 {
		return result{Count: -1, Error: syscall.Errno(-v).Error()}
	}
	return result{Count: int(int32(r))}
}

// threadStack is the stack every thread of the thread bomb is started
// on: they never use it (they only make system calls, with every signal
// blocked), as the attack's own code would not.
var threadStack [4096]byte

// threadBombSize is how many threads the bomb tries to start: enough to
// show a bound of 64 holding, few enough to harm no machine when the
// control case (sandbox off) starts them all.
const threadBombSize = 400

// threadBomb starts threads that only wait, until threadBombSize or an
// error; they end with the process.
func threadBomb(escapeInput) result {
	if !haveCloneThread {
		return result{Error: "not on this architecture"}
	}
	top := uintptr(unsafe.Pointer(&threadStack[len(threadStack)-64]))
	var r result
	for r.Count < threadBombSize {
		if tid := int(cloneThread(top)); tid < 0 {
			r.Error = syscall.Errno(-tid).Error()
			return r
		}
		r.Count++
	}
	return r
}

// leavePidsCgroup tries to lift the bound of the pids cgroup the plugin is
// in (pids.max) and to move itself to the cgroup above. It acts only in a
// group the host made for it (airlock-*), and reports how many writes
// worked and its cgroups afterwards.
func leavePidsCgroup(escapeInput) result {
	own, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return result{Count: -1, Error: err.Error()}
	}
	var dir string
	for _, line := range strings.Split(string(own), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) == 3 && strings.Contains(parts[2], "/airlock-") {
			for _, root := range []string{"/sys/fs/cgroup/pids", "/sys/fs/cgroup"} {
				if _, err := os.Stat(root + parts[2] + "/pids.max"); err == nil {
					dir = root + parts[2]
				}
			}
		}
	}
	if dir == "" {
		return result{Count: -1, Error: "not in a pids cgroup of the host's: " + string(own)}
	}
	var r result
	var errs []string
	for _, w := range []struct{ file, data string }{
		{dir + "/pids.max", "max"},
		{dir[:strings.LastIndex(dir, "/")] + "/cgroup.procs", "0"}, // 0: the writer itself
	} {
		if err := os.WriteFile(w.file, []byte(w.data), 0); err != nil {
			errs = append(errs, err.Error())
		} else {
			r.Count++
		}
	}
	after, _ := os.ReadFile("/proc/self/cgroup")
	r.Data, r.Error = string(after), strings.Join(errs, "; ")
	return r
}
