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
	rc, err := f.SyscallConn()
	if err != nil {
		return &os.PathError{Op: "fallocate", Path: f.Name(), Err: err}
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		for {
			serr = unix.Fallocate(int(fd), unix.FALLOC_FL_KEEP_SIZE, off, n)
			if serr != unix.EINTR {
				return
			}
		}
	}); err != nil {
		// Control fails only when the file is closed.
		return &os.PathError{Op: "fallocate", Path: f.Name(), Err: os.ErrClosed}
	}
	switch {
	case serr == nil:
		return nil
	case errors.Is(serr, unix.EOPNOTSUPP) || errors.Is(serr, unix.ENOSYS):
		return &os.PathError{Op: "fallocate", Path: f.Name(), Err: fmt.Errorf("%w: %w", errors.ErrUnsupported, serr)}
	default:
		return &os.PathError{Op: "fallocate", Path: f.Name(), Err: serr}
	}
}
