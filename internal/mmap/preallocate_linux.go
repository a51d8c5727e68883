//go:build linux

package mmap

import (
	"errors"

	"golang.org/x/sys/unix"
)

// Preallocate reserves disk blocks for the first size bytes of the file,
// so that writes through a mapping of that range never need the file
// system to allocate: on a full disk such a write would raise SIGBUS
// instead of returning an error. File systems without fallocate support
// are left sparse.
func Preallocate(fd uintptr, size int64) error {
	err := unix.Fallocate(int(fd), 0, 0, size)
	if errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.ENOSYS) {
		return nil
	}
	return err
}
