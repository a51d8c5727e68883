//go:build !unix || aix

package vfs

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
)

// heldLocks is the process-wide table of the paths locked through lockFile,
// by absolute path. It is the whole lock where the platform has no usable
// file lock, and it keeps a second Lock in this process failing wherever the
// platform lock might let it through.
var (
	heldLocksMu sync.Mutex
	heldLocks   = map[string]bool{}
)

// lockKey returns the table key of name.
func lockKey(name string) (string, error) {
	key, err := filepath.Abs(name)
	if err != nil {
		return "", &os.PathError{Op: "lock", Path: name, Err: err}
	}
	return key, nil
}

// lockHeldLocked takes key in the table, or returns an error matching ErrLocked if
// it is already held. REQUIRES: heldLocksMu held.
func lockHeldLocked(name, key string) error {
	if heldLocks[key] {
		return &os.PathError{Op: "lock", Path: name, Err: fmt.Errorf("%w", ErrLocked)}
	}
	heldLocks[key] = true
	return nil
}

// unlockHeld releases key in the table.
func unlockHeld(key string) {
	heldLocksMu.Lock()
	delete(heldLocks, key)
	heldLocksMu.Unlock()
}
