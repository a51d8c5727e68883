//go:build !linux

package vfs

import (
	"errors"
	"os"
)

// allocate reports that reserving space is not supported: only Linux's
// fallocate(2) reserves without changing the file's size.
func allocate(f *os.File, off, n int64) error {
	return &os.PathError{Op: "fallocate", Path: f.Name(), Err: errors.ErrUnsupported}
}
