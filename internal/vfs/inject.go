package vfs

import (
	"fmt"
	"io"
	"os"
	"sync/atomic"
)

// Op identifies an FS or File operation for an Injector.
type Op uint8

const (
	OpCreate   Op = iota // FS.Create
	OpOpen               // FS.Open, FS.OpenReadWrite
	OpRead               // File.ReadAt
	OpWrite              // File.WriteAt
	OpSync               // File.Sync
	OpTruncate           // File.Truncate
	OpClose              // File.Close
	OpRemove             // FS.Remove, FS.RemoveAll
	OpRename             // FS.Rename
	OpMkdir              // FS.MkdirAll
	OpList               // FS.List
	OpStat               // FS.Stat, File.Size
	OpLock               // FS.Lock
	OpSyncDir            // FS.SyncDir
	OpAllocate           // File.Allocate
	numOps
)

var opNames = [numOps]string{
	OpCreate:   "create",
	OpOpen:     "open",
	OpRead:     "read",
	OpWrite:    "write",
	OpSync:     "sync",
	OpTruncate: "truncate",
	OpClose:    "close",
	OpRemove:   "remove",
	OpRename:   "rename",
	OpMkdir:    "mkdir",
	OpList:     "list",
	OpStat:     "stat",
	OpLock:     "lock",
	OpSyncDir:  "syncdir",
	OpAllocate: "allocate",
}

// String returns the operation's lower-case name, such as "sync".
func (o Op) String() string {
	if o < numOps {
		return opNames[o]
	}
	return fmt.Sprintf("Op(%d)", uint8(o))
}

// Mutating reports whether o changes the file system or its durable state
// (Create, Write, Sync, Truncate, Remove, Rename, Mkdir, SyncDir, Allocate):
// the points where a crash or a failure matters. The method value Op.Mutating can be
// passed to OnIndex as its match function.
func (o Op) Mutating() bool {
	switch o {
	case OpCreate, OpWrite, OpSync, OpTruncate, OpRemove, OpRename, OpMkdir, OpSyncDir, OpAllocate:
		return true
	}
	return false
}

// Injector decides, before each operation of a WithInjector file system,
// whether it fails. A non-nil error makes the operation fail with that error
// (wrapped in an *os.PathError or *os.LinkError) without performing it; see
// WithInjector for the exceptions. MaybeError is called without any lock of
// the file system held, so it may, for example, take a MemFS.CrashClone. It
// must be safe for concurrent use if the file system is used concurrently.
type Injector interface {
	MaybeError(op Op, path string) error
}

// InjectorFunc adapts a function to Injector.
type InjectorFunc func(op Op, path string) error

// MaybeError returns f(op, path).
func (f InjectorFunc) MaybeError(op Op, path string) error { return f(op, path) }

// InjectOptions configures WithInjector.
type InjectOptions struct {
	// ShortWrites makes a failed WriteAt first write a prefix of half its
	// bytes, rounded down to a multiple of 512 (possibly none), and return
	// that count with the error, as a full disk can.
	ShortWrites bool
}

// WithInjector wraps fs so that every FS and File operation first asks inj
// whether to fail. The path passed to inj is the operation's name argument
// (oldname for Rename; the name the file was opened with for File methods).
//
// When inj fails an operation:
//   - WriteAt writes nothing, or a prefix under InjectOptions.ShortWrites.
//   - Sync does not sync; if the wrapped file is a MemFS file, its unsynced
//     changes are dropped from the durable state as a failed fsync drops them
//     on Linux (see MemFS). On the OS file system nothing is dropped.
//   - Close still closes the wrapped file (a descriptor is released even when
//     close(2) fails) and returns the error.
//
// Closing a lock returned by Lock is not subject to injection. Files returned
// by the wrapper report the wrapped file's Fd.
func WithInjector(fs FS, inj Injector, opts InjectOptions) FS {
	return &injectFS{fs: fs, inj: inj, opts: opts}
}

type injectFS struct {
	fs   FS
	inj  Injector
	opts InjectOptions
}

var _ FS = (*injectFS)(nil)

func (f *injectFS) file(file File, err error, name string) (File, error) {
	if err != nil {
		return nil, err
	}
	return &injectFile{f: file, fs: f, name: name}, nil
}

func (f *injectFS) Create(name string) (File, error) {
	if err := f.inj.MaybeError(OpCreate, name); err != nil {
		return nil, pathErr("open", name, err)
	}
	file, err := f.fs.Create(name)
	return f.file(file, err, name)
}

func (f *injectFS) OpenReadWrite(name string) (File, error) {
	if err := f.inj.MaybeError(OpOpen, name); err != nil {
		return nil, pathErr("open", name, err)
	}
	file, err := f.fs.OpenReadWrite(name)
	return f.file(file, err, name)
}

func (f *injectFS) Open(name string) (File, error) {
	if err := f.inj.MaybeError(OpOpen, name); err != nil {
		return nil, pathErr("open", name, err)
	}
	file, err := f.fs.Open(name)
	return f.file(file, err, name)
}

func (f *injectFS) Remove(name string) error {
	if err := f.inj.MaybeError(OpRemove, name); err != nil {
		return pathErr("remove", name, err)
	}
	return f.fs.Remove(name)
}

func (f *injectFS) RemoveAll(name string) error {
	if err := f.inj.MaybeError(OpRemove, name); err != nil {
		return pathErr("RemoveAll", name, err)
	}
	return f.fs.RemoveAll(name)
}

func (f *injectFS) Rename(oldname, newname string) error {
	if err := f.inj.MaybeError(OpRename, oldname); err != nil {
		return &os.LinkError{Op: "rename", Old: oldname, New: newname, Err: err}
	}
	return f.fs.Rename(oldname, newname)
}

func (f *injectFS) MkdirAll(dir string, perm os.FileMode) error {
	if err := f.inj.MaybeError(OpMkdir, dir); err != nil {
		return pathErr("mkdir", dir, err)
	}
	return f.fs.MkdirAll(dir, perm)
}

func (f *injectFS) List(dir string) ([]string, error) {
	if err := f.inj.MaybeError(OpList, dir); err != nil {
		return nil, pathErr("open", dir, err)
	}
	return f.fs.List(dir)
}

func (f *injectFS) Stat(name string) (os.FileInfo, error) {
	if err := f.inj.MaybeError(OpStat, name); err != nil {
		return nil, pathErr("stat", name, err)
	}
	return f.fs.Stat(name)
}

func (f *injectFS) Lock(name string) (io.Closer, error) {
	if err := f.inj.MaybeError(OpLock, name); err != nil {
		return nil, pathErr("lock", name, err)
	}
	return f.fs.Lock(name)
}

func (f *injectFS) SyncDir(dir string) error {
	if err := f.inj.MaybeError(OpSyncDir, dir); err != nil {
		return pathErr("syncdir", dir, err)
	}
	return f.fs.SyncDir(dir)
}

// injectFile is a File of an injectFS.
type injectFile struct {
	f    File
	fs   *injectFS
	name string
}

var _ File = (*injectFile)(nil)

func (f *injectFile) ReadAt(p []byte, off int64) (int, error) {
	if err := f.fs.inj.MaybeError(OpRead, f.name); err != nil {
		return 0, pathErr("read", f.name, err)
	}
	return f.f.ReadAt(p, off)
}

func (f *injectFile) WriteAt(p []byte, off int64) (int, error) {
	if err := f.fs.inj.MaybeError(OpWrite, f.name); err != nil {
		n := 0
		if f.fs.opts.ShortWrites {
			if k := (len(p) / 2) &^ 511; k > 0 {
				n, _ = f.f.WriteAt(p[:k], off)
			}
		}
		return n, pathErr("write", f.name, err)
	}
	return f.f.WriteAt(p, off)
}

func (f *injectFile) Sync() error {
	if err := f.fs.inj.MaybeError(OpSync, f.name); err != nil {
		f.failSync()
		return pathErr("sync", f.name, err)
	}
	return f.f.Sync()
}

// failSync forwards to the wrapped file, so that nested wrappers around a
// MemFS file still model the failure.
func (f *injectFile) failSync() {
	if sf, ok := f.f.(syncFailer); ok {
		sf.failSync()
	}
}

func (f *injectFile) Truncate(size int64) error {
	if err := f.fs.inj.MaybeError(OpTruncate, f.name); err != nil {
		return pathErr("truncate", f.name, err)
	}
	return f.f.Truncate(size)
}

func (f *injectFile) Allocate(off, n int64) error {
	if err := f.fs.inj.MaybeError(OpAllocate, f.name); err != nil {
		return pathErr("allocate", f.name, err)
	}
	return f.f.Allocate(off, n)
}

func (f *injectFile) Size() (int64, error) {
	if err := f.fs.inj.MaybeError(OpStat, f.name); err != nil {
		return 0, pathErr("stat", f.name, err)
	}
	return f.f.Size()
}

func (f *injectFile) Close() error {
	if err := f.fs.inj.MaybeError(OpClose, f.name); err != nil {
		_ = f.f.Close()
		return pathErr("close", f.name, err)
	}
	return f.f.Close()
}

func (f *injectFile) Fd() uintptr { return f.f.Fd() }

// IndexInjector fails exactly one operation: the index-th (0-based) of the
// operations its match function accepts. It is safe for concurrent use.
//
// The usual loop runs a workload with index = 0, 1, 2, ... and stops once
// index >= Count() after a run, at which point every matching operation has
// been failed once.
type IndexInjector struct {
	index int64
	match func(Op) bool
	err   error
	count atomic.Int64
	fired atomic.Bool
}

var _ Injector = (*IndexInjector)(nil)

// OnIndex returns an IndexInjector failing the index-th operation for which
// match returns true (every operation if match is nil) with err. The returned
// error matches both err and ErrInjected under errors.Is; a nil err fails
// with ErrInjected alone.
func OnIndex(index int64, match func(Op) bool, err error) *IndexInjector {
	if err == nil {
		err = ErrInjected
	} else {
		err = injectedError{err}
	}
	return &IndexInjector{index: index, match: match, err: err}
}

// MaybeError implements Injector.
func (i *IndexInjector) MaybeError(op Op, path string) error {
	if i.match != nil && !i.match(op) {
		return nil
	}
	if i.count.Add(1)-1 == i.index {
		i.fired.Store(true)
		return i.err
	}
	return nil
}

// Count returns how many matching operations the injector has seen,
// including the failed one.
func (i *IndexInjector) Count() int64 { return i.count.Load() }

// Fired reports whether the injector has failed an operation.
func (i *IndexInjector) Fired() bool { return i.fired.Load() }

// injectedError is an error chosen by a test and injected by IndexInjector:
// it unwraps to the chosen error and also matches ErrInjected.
type injectedError struct{ err error }

func (e injectedError) Error() string        { return "vfs: injected: " + e.err.Error() }
func (e injectedError) Unwrap() error        { return e.err }
func (e injectedError) Is(target error) bool { return target == ErrInjected }
