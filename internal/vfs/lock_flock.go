//go:build unix && !aix

package vfs

import (
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

// lockFile takes the lock on name; readOnly opens the file for reading
// only and never creates it (flock works on any descriptor).
func lockFile(name string, readOnly bool) (io.Closer, error) {
	f, err := openLocked(name, readOnly, func(fd uintptr) error {
		for {
			if err := unix.Flock(int(fd), unix.LOCK_EX|unix.LOCK_NB); err != unix.EINTR {
				return err
			}
		}
	}, func(err error) bool { return err == unix.EWOULDBLOCK })
	if err != nil {
		return nil, err
	}
	return &osLock{f: f}, nil
}
