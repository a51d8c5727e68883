//go:build !linux

package vfs

import (
	"errors"
	"os"
)

// allocate reports errors.ErrUnsupported: reserving space without changing
// the file's size is a Linux fallocate(2) mode.
func allocate(f *os.File, off, n int64) error {
	return &os.PathError{Op: "fallocate", Path: f.Name(), Err: errors.ErrUnsupported}
}
