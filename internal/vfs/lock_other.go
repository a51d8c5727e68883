//go:build (!unix || aix) && !windows

package vfs

import (
	"io"
	"os"
	"sync"
)

// On these platforms (AIX, Plan 9, js/wasm, wasip1) Lock is exclusive only
// within this process: the held paths are kept in the process-wide table of
// lock_table.go. Another process can take the same lock. (AIX is here because
// golang.org/x/sys/unix has no flock for it, only fcntl record locks, which
// belong to the process and so do not exclude a second lock within it.)
type osLock struct {
	f    *os.File
	key  string
	once sync.Once
}

// Close releases the lock.
func (l *osLock) Close() error {
	err := os.ErrClosed
	l.once.Do(func() {
		unlockHeld(l.key)
		err = l.f.Close()
	})
	return err
}

// lockFile takes the lock on name; readOnly opens the file for reading
// only and never creates it.
func lockFile(name string, readOnly bool) (io.Closer, error) {
	key, err := lockKey(name)
	if err != nil {
		return nil, err
	}
	flag := os.O_RDWR | os.O_CREATE
	if readOnly {
		flag = os.O_RDONLY
	}
	f, err := os.OpenFile(name, flag, 0o644)
	if err != nil {
		return nil, err
	}
	heldLocksMu.Lock()
	defer heldLocksMu.Unlock()
	if err := lockHeldLocked(name, key); err != nil {
		_ = f.Close()
		return nil, err
	}
	return &osLock{f: f, key: key}, nil
}
