//go:build !unix

package mmap

// Map returns ErrUnsupported on this platform.
func Map(fd uintptr, length int, writable bool) ([]byte, error) { return nil, ErrUnsupported }

// Unmap returns ErrUnsupported on this platform.
func Unmap(b []byte) error { return ErrUnsupported }

// Sync returns ErrUnsupported on this platform.
func Sync(b []byte) error { return ErrUnsupported }

// AdviseRandom returns ErrUnsupported on this platform.
func AdviseRandom(b []byte) error { return ErrUnsupported }
