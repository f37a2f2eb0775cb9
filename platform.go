package airlock

import (
	"debug/elf"
	"debug/macho"
	"debug/pe"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"

	"github.com/airlock-go/airlock/internal/manifest"
	"github.com/airlock-go/airlock/internal/regfile"
)

// executablePlatform reads the platform an executable was built for from
// the first bytes of its header: "linux/amd64", "windows/arm64",
// "darwin/arm64". It returns "" for what it does not recognise (a script,
// a universal binary, an unknown format), which the host leaves to the
// operating system to judge. Only the fixed-position fields are read, so
// the start of the file is enough.
func executablePlatform(head []byte) string {
	switch {
	case len(head) >= 20 && string(head[:4]) == "\x7fELF":
		var order binary.ByteOrder = binary.LittleEndian
		if elf.Data(head[5]) == elf.ELFDATA2MSB {
			order = binary.BigEndian
		}
		return "linux/" + elfArch(elf.Machine(order.Uint16(head[18:])), elf.Class(head[4]))
	case len(head) >= 0x40 && string(head[:2]) == "MZ":
		off := int(binary.LittleEndian.Uint32(head[0x3c:]))
		if off < 0 || off+6 > len(head) || string(head[off:off+4]) != "PE\x00\x00" {
			return ""
		}
		return "windows/" + peArch(binary.LittleEndian.Uint16(head[off+4:]))
	case len(head) >= 8 && binary.LittleEndian.Uint32(head) == macho.Magic64:
		return "darwin/" + machoArch(macho.Cpu(binary.LittleEndian.Uint32(head[4:])))
	}
	return ""
}

func elfArch(m elf.Machine, c elf.Class) string {
	switch {
	case m == elf.EM_X86_64:
		return "amd64"
	case m == elf.EM_386:
		return "386"
	case m == elf.EM_AARCH64:
		return "arm64"
	case m == elf.EM_ARM:
		return "arm"
	case m == elf.EM_RISCV && c == elf.ELFCLASS64:
		return "riscv64"
	case m == elf.EM_PPC64:
		return "ppc64le"
	case m == elf.EM_S390:
		return "s390x"
	}
	return m.String()
}

func peArch(m uint16) string {
	switch m {
	case pe.IMAGE_FILE_MACHINE_AMD64:
		return "amd64"
	case pe.IMAGE_FILE_MACHINE_I386:
		return "386"
	case pe.IMAGE_FILE_MACHINE_ARM64:
		return "arm64"
	}
	return fmt.Sprintf("machine 0x%x", m)
}

func machoArch(c macho.Cpu) string {
	switch c {
	case macho.CpuAmd64:
		return "amd64"
	case macho.CpuArm64:
		return "arm64"
	}
	return c.String()
}

// hostPlatform is the platform a plugin's executable must be built for:
// this host's, where ELF stands for every ELF system (Linux, Android and
// the BSDs all load it; the OS checks the rest).
func hostPlatform() string {
	goos := runtime.GOOS
	switch goos {
	case "windows", "darwin", "ios":
		if goos == "ios" {
			goos = "darwin"
		}
	default:
		goos = "linux"
	}
	return goos + "/" + runtime.GOARCH
}

// checkPlatform refuses a process plugin whose executable was built for
// another platform, with an error that says which, instead of the
// operating system's "exec format error" at start. head is the start of
// the executable (4 KiB is plenty).
func checkPlatform(man *manifest.Manifest, head []byte) error {
	run := man.RunHere()
	if len(run.Interpreter) > 0 || len(head) == 0 {
		return nil
	}
	built := executablePlatform(head)
	if built == "" || built == hostPlatform() {
		return nil
	}
	return fmt.Errorf("%w: %s is built for %s, and this host is %s/%s (add a [platform.%s] entry to the manifest, or build it for this platform)",
		ErrPlatform, run.Entry, built, runtime.GOOS, runtime.GOARCH, runtime.GOOS)
}

// entryHead reads the start of a directory plugin's executable. A missing
// entry is refused here, as the start would refuse it, so that Discover
// reports an unbuilt plugin.
func entryHead(dir string, man *manifest.Manifest) ([]byte, error) {
	run := man.RunHere()
	// Threat: a pipe as the entry would block this read, and Load, for
	// ever; only a regular file opens (internal/regfile).
	f, err := regfile.Open(filepath.Join(dir, filepath.FromSlash(run.Entry)), true)
	if errors.Is(err, os.ErrNotExist) {
		hint := ""
		if man.Build != nil {
			hint = " (build it first: airlock build " + dir + ")"
		}
		return nil, fmt.Errorf("%w: entry %s not found%s", ErrStart, run.Entry, hint)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: entry %s: %v", ErrStart, run.Entry, err)
	}
	defer f.Close()
	if len(run.Interpreter) > 0 {
		return nil, nil // a script: the interpreter's platform is the host's
	}
	head := make([]byte, 4<<10)
	n, err := io.ReadFull(f, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%w: entry %s: %v", ErrStart, run.Entry, err)
	}
	return head[:n], nil
}

// checkPlatform checks a process plugin's executable, from its directory
// or its verified package, against this host's platform.
func (s *source) checkPlatform(conf PluginConfig) error {
	if s.manifest.Tier != manifest.TierProcess || conf.Entry != "" {
		return nil // an operator's entry is the operator's to get right
	}
	var head []byte
	switch {
	case s.dir != "":
		var err error
		if head, err = entryHead(s.dir, s.manifest); err != nil {
			return err
		}
	case s.starter != nil:
		if fs, ok := s.starter.(*freshStarter); ok {
			head = fs.bundle.Entry()
			head = head[:min(len(head), 4<<10)]
		}
	}
	return checkPlatform(s.manifest, head)
}
