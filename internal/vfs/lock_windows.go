package vfs

import (
	"errors"
	"io"
	"os"
	"sync"

	"golang.org/x/sys/windows"
)

// The lock covers the whole file (and any length it could grow to): offset 0
// (the Overlapped passed to LockFileEx), length 2^64-1.
const (
	lockReserved = 0
	lockAllBytes = ^uint32(0)
)

// osLock is a lock taken with LockFileEx on a file opened by lockFile. It
// excludes other processes. Windows file locks belong to the file handle, so
// a second handle in this process conflicts as well; the process-wide table
// of lock_table.go makes that so regardless of how the handle was opened.
type osLock struct {
	f    *os.File
	key  string
	once sync.Once
}

// Close releases the lock: it unlocks the range explicitly, because Windows
// may release the locks of a closed handle only some time after the close,
// then closes the file.
func (l *osLock) Close() error {
	err := os.ErrClosed
	l.once.Do(func() {
		var uerr error
		rc, cerr := l.f.SyscallConn()
		if cerr == nil {
			cerr = rc.Control(func(fd uintptr) {
				uerr = windows.UnlockFileEx(windows.Handle(fd), lockReserved, lockAllBytes, lockAllBytes, new(windows.Overlapped))
			})
		}
		if uerr == nil {
			uerr = cerr
		}
		err = l.f.Close()
		unlockHeld(l.key)
		if uerr != nil {
			err = errors.Join(&os.PathError{Op: "unlock", Path: l.f.Name(), Err: uerr}, err)
		}
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
	heldLocksMu.Lock()
	defer heldLocksMu.Unlock()
	if err := lockHeldLocked(name, key); err != nil {
		return nil, err
	}
	l, err := lockFileEx(name, readOnly)
	if err != nil {
		delete(heldLocks, key)
		return nil, err
	}
	l.key = key
	return l, nil
}

// lockFileEx opens name and takes an exclusive LockFileEx lock on it without
// waiting.
func lockFileEx(name string, readOnly bool) (*osLock, error) {
	f, err := openLocked(name, readOnly, func(fd uintptr) error {
		// os.OpenFile opens the file for synchronous I/O, so with
		// LOCKFILE_FAIL_IMMEDIATELY the call returns at once; the
		// Overlapped only carries the start offset of the range (0).
		return windows.LockFileEx(windows.Handle(fd),
			windows.LOCKFILE_EXCLUSIVE_LOCK|windows.LOCKFILE_FAIL_IMMEDIATELY,
			lockReserved, lockAllBytes, lockAllBytes, new(windows.Overlapped))
	}, func(err error) bool { return errors.Is(err, windows.ERROR_LOCK_VIOLATION) })
	if err != nil {
		return nil, err
	}
	return &osLock{f: f}, nil
}
