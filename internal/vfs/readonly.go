package vfs

import (
	"errors"
	"io"
	"os"
)

// ErrReadOnly is the error (wrapped in an *os.PathError or *os.LinkError;
// test with errors.Is) of every operation of a ReadOnly file system that
// would change it.
var ErrReadOnly = errors.New("vfs: read-only file system")

// ReadOnly returns fs restricted to reading: Create, OpenReadWrite,
// Remove, RemoveAll, Rename, MkdirAll and SyncDir fail with ErrReadOnly
// and change nothing, and so do WriteAt, Truncate, Sync and Allocate on
// the files Open returns. List, Stat, Open and reads pass through, and
// Fd still returns the descriptor, for read-only mappings (a writable
// mapping of a file opened for reading fails).
//
// Lock takes the same exclusive lock as fs's Lock, so that a read-only
// opener and a writer exclude each other, but never creates the lock
// file: on the operating system's file system it opens it for reading
// only; on others it first checks that it exists. A missing lock file is
// an error matching os.ErrNotExist.
//
// It is the backstop of a read-only Log: code that meant to write
// nothing and writes all the same fails loudly instead of changing the
// directory.
func ReadOnly(fs FS) FS {
	if r, ok := fs.(readOnlyFS); ok {
		return r
	}
	return readOnlyFS{fs: fs}
}

type readOnlyFS struct {
	fs FS
}

var _ FS = readOnlyFS{}

func refused(op, name string) error { return &os.PathError{Op: op, Path: name, Err: ErrReadOnly} }

func (r readOnlyFS) Create(name string) (File, error)        { return nil, refused("create", name) }
func (r readOnlyFS) OpenReadWrite(name string) (File, error) { return nil, refused("open", name) }
func (r readOnlyFS) Remove(name string) error                { return refused("remove", name) }
func (r readOnlyFS) RemoveAll(name string) error             { return refused("removeall", name) }
func (r readOnlyFS) MkdirAll(dir string, _ os.FileMode) error {
	return refused("mkdir", dir)
}
func (r readOnlyFS) SyncDir(dir string) error { return refused("syncdir", dir) }

func (r readOnlyFS) Rename(oldname, newname string) error {
	return &os.LinkError{Op: "rename", Old: oldname, New: newname, Err: ErrReadOnly}
}

func (r readOnlyFS) Open(name string) (File, error) {
	f, err := r.fs.Open(name)
	if err != nil {
		return nil, err
	}
	return readOnlyFile{File: f, name: name}, nil
}

func (r readOnlyFS) List(dir string) ([]string, error)     { return r.fs.List(dir) }
func (r readOnlyFS) Stat(name string) (os.FileInfo, error) { return r.fs.Stat(name) }

func (r readOnlyFS) Lock(name string) (io.Closer, error) {
	if l, ok := r.fs.(interface {
		lockReadOnly(string) (io.Closer, error)
	}); ok {
		return l.lockReadOnly(name)
	}
	if _, err := r.fs.Stat(name); err != nil {
		return nil, err
	}
	return r.fs.Lock(name)
}

// readOnlyFile is a file of a ReadOnly file system.
type readOnlyFile struct {
	File
	name string
}

func (f readOnlyFile) WriteAt([]byte, int64) (int, error) { return 0, refused("write", f.name) }
func (f readOnlyFile) Truncate(int64) error               { return refused("truncate", f.name) }
func (f readOnlyFile) Sync() error                        { return refused("sync", f.name) }
func (f readOnlyFile) Allocate(int64, int64) error        { return refused("allocate", f.name) }
