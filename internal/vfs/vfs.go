// Package vfs is the file-system seam of the commit log: every file the log
// touches is reached through FS, so tests can substitute MemFS (an in-memory
// file system that can simulate a power failure at any instant, see
// MemFS.CrashClone) and WithInjector (which fails chosen operations).
//
// # Durability contract
//
// The contract is POSIX's, made explicit so that MemFS can enforce it:
//
//   - File contents and size become durable only through File.Sync.
//   - Directory entries (creating a file, Rename, Remove, MkdirAll) become
//     durable only through SyncDir of the parent directory. A file whose data
//     was synced but whose directory entry was not may vanish after a crash.
//   - A failed Sync may have lost the data written since the previous
//     successful Sync, and a later successful Sync does not bring it back
//     (Linux marks the pages clean after an fsync error). Callers must treat
//     a Sync error as fatal for the unsynced data and never retry-then-ack.
//
// Errors keep the underlying *os.PathError, *os.LinkError and syscall.Errno
// reachable through errors.Is and errors.As, so callers can detect, for
// example, syscall.ENOSPC or os.ErrNotExist.
package vfs

import (
	"errors"
	"io"
	"os"
	"syscall"
)

// InvalidFd is returned by File.Fd for files that are not backed by an OS
// file descriptor (MemFS files). Callers that want to mmap a file must check
// for it and fall back to reading into memory.
const InvalidFd uintptr = ^uintptr(0)

// ErrLocked is returned (wrapped; test with errors.Is) by FS.Lock when the
// lock is already held, whether by another process or by an earlier Lock call
// in this process that has not been closed.
var ErrLocked = errors.New("vfs: lock held by another opener")

// ErrInjected is the error an IndexInjector created with a nil error returns,
// and every error returned by an IndexInjector matches it under errors.Is, so
// a test can tell an injected failure from a real one. Injectors may also
// return syscall errors such as syscall.ENOSPC or syscall.EIO directly.
var ErrInjected = errors.New("vfs: injected error")

// File is an open file.
//
// ReadAt and WriteAt follow the io.ReaderAt and io.WriterAt contracts; ReadAt
// returns io.EOF when it reads fewer than len(p) bytes because the file ends.
// A File is safe for concurrent use: concurrent ReadAt calls, and ReadAt
// concurrent with WriteAt to disjoint ranges, are allowed. After Close every
// method returns an error matching os.ErrClosed.
type File interface {
	io.ReaderAt
	io.WriterAt
	io.Closer

	// Sync makes the file's data and size durable (fdatasync on Linux,
	// os.File.Sync, which is fsync or F_FULLFSYNC, elsewhere). It does not make
	// the file's directory entry durable; use FS.SyncDir for that. After a
	// Sync error, data written since the last successful Sync may be lost even
	// if a later Sync succeeds.
	Sync() error

	// Truncate sets the file's size; extending reads as zeros. The new size is
	// durable only after Sync.
	Truncate(size int64) error

	// Size returns the file's current size.
	Size() (int64, error)

	// Allocate reserves disk space for the n bytes at off without changing
	// the file's size or contents (fallocate(2) with FALLOC_FL_KEEP_SIZE on
	// Linux), so that later writes there need no block allocation. Space
	// reserved past the size stays reserved until Truncate, which gives it
	// back. After a crash, reserved space holds no data and the size is what
	// it was. The error matches errors.ErrUnsupported where the platform or
	// the file system cannot reserve space, and syscall.ENOSPC when the disk
	// is full (some of the space may then be reserved).
	Allocate(off, n int64) error

	// Fd returns the OS file descriptor, or InvalidFd when the file is not an
	// OS file. The descriptor is valid only until Close.
	Fd() uintptr
}

// FS is the set of file-system operations the log uses. Paths are slash- or
// OS-separated as package filepath produces them. All methods are safe for
// concurrent use. Errors are *os.PathError (*os.LinkError for Rename) with the
// syscall.Errno reachable through errors.Is.
type FS interface {
	// Create creates name, or truncates it if it exists, and opens it
	// read-write. Creating a new name is durable only after SyncDir of its
	// parent directory.
	Create(name string) (File, error)

	// OpenReadWrite opens an existing file read-write without truncating it.
	// The error matches os.ErrNotExist if name does not exist.
	OpenReadWrite(name string) (File, error)

	// Open opens an existing file read-only. The error matches os.ErrNotExist
	// if name does not exist.
	Open(name string) (File, error)

	// Remove removes a file or an empty directory. Durable only after SyncDir
	// of the parent.
	Remove(name string) error

	// RemoveAll removes name and everything below it. It returns nil if name
	// does not exist. Durable only after SyncDir of the parent.
	RemoveAll(name string) error

	// Rename atomically replaces newname with oldname (a file; or a directory
	// when newname does not exist). Durable only after SyncDir of both parents.
	Rename(oldname, newname string) error

	// MkdirAll creates dir and any missing parents. Each created directory is
	// durable only after SyncDir of its parent.
	MkdirAll(dir string, perm os.FileMode) error

	// List returns the base names of the entries of dir, sorted. The error
	// matches os.ErrNotExist if dir does not exist.
	List(dir string) ([]string, error)

	// Stat describes name. The error matches os.ErrNotExist if name does not
	// exist.
	Stat(name string) (os.FileInfo, error)

	// Lock takes an exclusive lock on name, creating the file if it is
	// missing. It does not block: if the lock is held, the error matches
	// ErrLocked. An earlier Lock call in this process on the same FS that
	// has not been closed always holds it. Default's lock also excludes
	// other processes on Unix systems other than AIX (flock(2)) and on
	// Windows (LockFileEx); on AIX, Plan 9, js/wasm and wasip1 it excludes
	// only within this process. Closing the returned Closer releases the
	// lock.
	Lock(name string) (io.Closer, error)

	// SyncDir makes dir's entries (creates, renames, removes in dir) durable.
	SyncDir(dir string) error
}

// Default is the operating system's file system.
var Default FS = osFS{}

// syncFailer is implemented by files that can model a failed Sync (MemFS
// files, and injector files wrapping them): the data written since the last
// successful Sync is dropped from the durable state and will not be made
// durable by a later Sync.
type syncFailer interface {
	failSync()
}

// IsNoSpace reports whether err says the file system ran out of space:
// syscall.ENOSPC, or a disk quota reached (EDQUOT where it exists).
func IsNoSpace(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errQuota != nil && errors.Is(err, errQuota)
}
