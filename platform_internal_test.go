package airlock

import (
	"encoding/binary"
	"os"
	"testing"
)

func TestExecutablePlatform(t *testing.T) {
	elfHead := func(machine uint16, class byte) []byte {
		h := make([]byte, 64)
		copy(h, "\x7fELF")
		h[4], h[5] = class, 1
		binary.LittleEndian.PutUint16(h[18:], machine)
		return h
	}
	peHead := func(machine uint16) []byte {
		h := make([]byte, 0x100)
		copy(h, "MZ")
		binary.LittleEndian.PutUint32(h[0x3c:], 0x80)
		copy(h[0x80:], "PE\x00\x00")
		binary.LittleEndian.PutUint16(h[0x84:], machine)
		return h
	}
	machoHead := make([]byte, 32)
	binary.LittleEndian.PutUint32(machoHead, 0xfeedfacf)
	binary.LittleEndian.PutUint32(machoHead[4:], 0x0100000c) // arm64
	badPE := peHead(0x8664)
	binary.LittleEndian.PutUint32(badPE[0x3c:], 0xffffff00) // e_lfanew out of range
	cases := []struct {
		name string
		head []byte
		want string
	}{
		{"elf amd64", elfHead(62, 2), "linux/amd64"},
		{"elf arm64", elfHead(183, 2), "linux/arm64"},
		{"elf 386", elfHead(3, 1), "linux/386"},
		{"pe amd64", peHead(0x8664), "windows/amd64"},
		{"pe arm64", peHead(0xaa64), "windows/arm64"},
		{"macho arm64", machoHead, "darwin/arm64"},
		{"script", []byte("#!/bin/sh\necho hi\n"), ""},
		{"truncated elf", []byte("\x7fELF\x02"), ""},
		{"pe offset out of range", badPE, ""},
		{"empty", nil, ""},
	}
	for _, c := range cases {
		if got := executablePlatform(c.head); got != c.want {
			t.Errorf("%s: got %q, want %q", c.name, got, c.want)
		}
	}
	// The test binary itself is built for this platform.
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(self)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	head := make([]byte, 4<<10)
	n, _ := f.Read(head)
	if got := executablePlatform(head[:n]); got != hostPlatform() {
		t.Errorf("this test binary: got %q, want %q", got, hostPlatform())
	}
}
