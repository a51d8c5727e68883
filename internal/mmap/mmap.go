// Package mmap maps files into memory for the fixed-width indexes of the log.
//
// A mapping is MAP_SHARED: stores through a writable mapping reach the file
// (and other mappings of it) without a system call, and become durable only
// after Sync (msync) or a sync of the file. Touching bytes of a mapping past
// the end of the file raises SIGBUS, which crashes the program unless the
// goroutine set debug.SetPanicOnFault; callers must never shrink a mapped
// file or read past its size.
//
// On platforms without mmap every function returns ErrUnsupported.
package mmap

import "errors"

// ErrUnsupported is returned on platforms without mmap support.
var ErrUnsupported = errors.New("mmap: not supported on this platform")
