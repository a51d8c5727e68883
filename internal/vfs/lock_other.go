//go:build !unix || aix

package vfs

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
)

// On platforms without flock, Lock is exclusive only within this process: the
// held paths are kept in a process-wide table. Cross-process exclusion is not
// provided.
var (
	heldLocksMu sync.Mutex
	heldLocks   = map[string]bool{}
)

type osLock struct {
	f    *os.File
	key  string
	once sync.Once
}

// Close releases the lock.
func (l *osLock) Close() error {
	err := os.ErrClosed
	l.once.Do(func() {
		heldLocksMu.Lock()
		delete(heldLocks, l.key)
		heldLocksMu.Unlock()
		err = l.f.Close()
	})
	return err
}

func lockFile(name string) (io.Closer, error) {
	key, err := filepath.Abs(name)
	if err != nil {
		return nil, &os.PathError{Op: "lock", Path: name, Err: err}
	}
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	heldLocksMu.Lock()
	defer heldLocksMu.Unlock()
	if heldLocks[key] {
		_ = f.Close()
		return nil, &os.PathError{Op: "lock", Path: name, Err: fmt.Errorf("%w", ErrLocked)}
	}
	heldLocks[key] = true
	return &osLock{f: f, key: key}, nil
}
