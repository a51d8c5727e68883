//go:build !unix

package vfs

import (
	"os"
	"syscall"
)

// syncDir checks that dir is a directory. Directory fsync is not available on
// these platforms (Windows cannot open a directory for syncing), so directory
// entries are only as durable as the platform makes them.
func syncDir(dir string) error {
	fi, err := os.Stat(dir)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return &os.PathError{Op: "syncdir", Path: dir, Err: syscall.ENOTDIR}
	}
	return nil
}
