package vfs

import (
	"os"

	"golang.org/x/sys/unix"
)

// allocate reserves space for the n bytes at off with fallocate(2) and
// FALLOC_FL_KEEP_SIZE, which leaves the file's size alone. File systems
// without fallocate fail with EOPNOTSUPP, which matches
// errors.ErrUnsupported.
func allocate(f *os.File, off, n int64) error {
	return fdCall(f, "fallocate", func(fd int) error { return unix.Fallocate(fd, unix.FALLOC_FL_KEEP_SIZE, off, n) })
}
