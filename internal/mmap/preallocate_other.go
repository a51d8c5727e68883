//go:build !linux

package mmap

// Preallocate is a no-op where fallocate is not available: the file stays
// sparse, and a write through a mapping on a full disk raises SIGBUS.
func Preallocate(fd uintptr, size int64) error { return nil }
