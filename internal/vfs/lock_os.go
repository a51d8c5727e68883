//go:build (unix && !aix) || windows

package vfs

import (
	"fmt"
	"os"
)

// openLocked opens name, creating it unless readOnly (which opens it for
// reading only, and fails with os.ErrNotExist when it is missing), and
// takes the operating system's lock on it with lock, which must not wait:
// the steps the flock and LockFileEx locks share. held reports whether lock's error means another holder has
// the lock; the error returned then matches ErrLocked as well as the
// system's error. On any failure the file is closed.
func openLocked(name string, readOnly bool, lock func(fd uintptr) error, held func(error) bool) (*os.File, error) {
	flag := os.O_RDWR | os.O_CREATE
	if readOnly {
		flag = os.O_RDONLY
	}
	f, err := os.OpenFile(name, flag, 0o644)
	if err != nil {
		return nil, err
	}
	rc, err := f.SyscallConn()
	if err != nil {
		_ = f.Close()
		return nil, &os.PathError{Op: "lock", Path: name, Err: err}
	}
	var lerr error
	if err := rc.Control(func(fd uintptr) { lerr = lock(fd) }); err != nil {
		lerr = err
	}
	if lerr != nil {
		_ = f.Close()
		if held(lerr) {
			// Keep both ErrLocked and the errno reachable through errors.Is.
			lerr = fmt.Errorf("%w: %w", ErrLocked, lerr)
		}
		return nil, &os.PathError{Op: "lock", Path: name, Err: lerr}
	}
	return f, nil
}
