package vfs

import (
	"os"

	"golang.org/x/sys/unix"
)

// fdatasync makes f's data and size durable with fdatasync(2), which skips
// the metadata (such as mtime) that reading the data back does not need.
func fdatasync(f *os.File) error {
	return fdCall(f, "fdatasync", func(fd int) error { return unix.Fdatasync(fd) })
}

// fdCall runs call on f's descriptor, again while it fails with EINTR, and
// returns its error as an *os.PathError for op.
func fdCall(f *os.File, op string, call func(fd int) error) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return &os.PathError{Op: op, Path: f.Name(), Err: err}
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		for {
			serr = call(int(fd))
			if serr != unix.EINTR {
				return
			}
		}
	}); err != nil {
		// Control fails only when the file is closed.
		return &os.PathError{Op: op, Path: f.Name(), Err: os.ErrClosed}
	}
	if serr != nil {
		return &os.PathError{Op: op, Path: f.Name(), Err: serr}
	}
	return nil
}
