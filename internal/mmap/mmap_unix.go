//go:build unix

package mmap

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// Map maps length bytes of the file descriptor fd, from offset 0, MAP_SHARED,
// with PROT_READ, or PROT_READ|PROT_WRITE when writable (fd must then be open
// read-write). The mapping may extend past the file's current size; the caller
// must never touch bytes past the file's size (SIGBUS). A length of zero or
// less is an error. The mapping stays valid after fd is closed, until Unmap.
func Map(fd uintptr, length int, writable bool) ([]byte, error) {
	if length <= 0 {
		return nil, fmt.Errorf("mmap: invalid length %d: %w", length, unix.EINVAL)
	}
	prot := unix.PROT_READ
	if writable {
		prot |= unix.PROT_WRITE
	}
	b, err := unix.Mmap(int(fd), 0, length, prot, unix.MAP_SHARED)
	if err != nil {
		return nil, os.NewSyscallError("mmap", err)
	}
	return b, nil
}

// Unmap removes a mapping returned by Map. b must be the whole slice Map
// returned; it must not be used afterwards.
func Unmap(b []byte) error {
	if err := unix.Munmap(b); err != nil {
		return os.NewSyscallError("munmap", err)
	}
	return nil
}

// Sync writes the dirty pages of the mapping b (or of a page-aligned
// subslice of it) to the file and waits for completion (msync MS_SYNC).
func Sync(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	if err := unix.Msync(b, unix.MS_SYNC); err != nil {
		return os.NewSyscallError("msync", err)
	}
	return nil
}

// AdviseRandom tells the kernel that b will be read in random order (madvise
// MADV_RANDOM), disabling read-ahead. b must start on a page boundary, as a
// mapping does. An empty b is a no-op.
func AdviseRandom(b []byte) error { return advise(b, unix.MADV_RANDOM) }

func advise(b []byte, advice int) error {
	if len(b) == 0 {
		return nil
	}
	if err := unix.Madvise(b, advice); err != nil {
		return os.NewSyscallError("madvise", err)
	}
	return nil
}
