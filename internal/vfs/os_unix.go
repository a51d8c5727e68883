//go:build unix

package vfs

import (
	"os"
	"syscall"
)

// syncDir fsyncs the directory dir.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	fi, err := d.Stat()
	if err == nil && !fi.IsDir() {
		err = &os.PathError{Op: "syncdir", Path: dir, Err: syscall.ENOTDIR}
	}
	if err == nil {
		err = d.Sync()
	}
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
