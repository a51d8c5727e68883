//go:build !linux

package vfs

import "os"

// fdatasync makes f's data and size durable with os.File.Sync (fsync, or
// F_FULLFSYNC on Darwin).
func fdatasync(f *os.File) error { return f.Sync() }
