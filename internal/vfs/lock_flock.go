//go:build unix && !aix

package vfs

import (
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// osLock is a lock taken with flock(2) on a file opened by lockFile. flock
// locks belong to the open file description, so a second lockFile on the same
// path in this process conflicts with the first, as another process would.
type osLock struct {
	f *os.File
}

// Close releases the lock by closing the descriptor that holds it.
func (l *osLock) Close() error { return l.f.Close() }

func lockFile(name string) (io.Closer, error) {
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	rc, err := f.SyscallConn()
	if err != nil {
		_ = f.Close()
		return nil, &os.PathError{Op: "lock", Path: name, Err: err}
	}
	var lerr error
	if err := rc.Control(func(fd uintptr) {
		for {
			lerr = unix.Flock(int(fd), unix.LOCK_EX|unix.LOCK_NB)
			if lerr != unix.EINTR {
				return
			}
		}
	}); err != nil {
		lerr = err
	}
	if lerr != nil {
		_ = f.Close()
		if lerr == unix.EWOULDBLOCK {
			// Keep both ErrLocked and the errno reachable through errors.Is.
			lerr = fmt.Errorf("%w: %w", ErrLocked, lerr)
		}
		return nil, &os.PathError{Op: "lock", Path: name, Err: lerr}
	}
	return &osLock{f: f}, nil
}
