package vfs

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// allocate reserves disk space for n bytes of f at off with fallocate(2),
// keeping the file's size.
func allocate(f *os.File, off, n int64) error {
	err := fdCall(f, "fallocate", func(fd int) error { return unix.Fallocate(fd, unix.FALLOC_FL_KEEP_SIZE, off, n) })
	var pe *os.PathError
	if errors.As(err, &pe) && (errors.Is(pe.Err, unix.EOPNOTSUPP) || errors.Is(pe.Err, unix.ENOSYS)) {
		pe.Err = fmt.Errorf("%w: %w", errors.ErrUnsupported, pe.Err)
	}
	return err
}
