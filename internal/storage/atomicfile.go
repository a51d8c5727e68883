package storage

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/commitlog-go/commitlog/internal/vfs"
)

// WriteFileAtomic replaces path with data so that after a crash the file
// holds either its old contents or data, never a mix: write a temporary
// file, fsync it, rename it over path, fsync the directory. The temporary
// file's name is path with its extension replaced by ".tmp" (or ".tmp"
// added), so that it is no longer than path whenever path has an
// extension of four or more bytes: a topic's metadata file with the
// longest topic name fits in 255 bytes, and so does its temporary file.
func WriteFileAtomic(fs vfs.FS, path string, data []byte) error {
	_, err := writeFileAtomic(fs, path, data)
	return err
}

// writeFileAtomic is WriteFileAtomic, reporting whether path was renamed
// over: when it was not, a failure left the old contents in place, and a
// crash cannot bring the new ones.
func writeFileAtomic(fs vfs.FS, path string, data []byte) (renamed bool, err error) {
	tmp := strings.TrimSuffix(path, filepath.Ext(path)) + TmpSuffix
	f, err := fs.Create(tmp)
	if err != nil {
		return false, err
	}
	if _, err := f.WriteAt(data, 0); err != nil {
		return false, errors.Join(err, f.Close(), fs.Remove(tmp))
	}
	if err := f.Sync(); err != nil {
		return false, errors.Join(err, f.Close(), fs.Remove(tmp))
	}
	if err := f.Close(); err != nil {
		return false, errors.Join(err, fs.Remove(tmp))
	}
	if err := fs.Rename(tmp, path); err != nil {
		return false, errors.Join(err, fs.Remove(tmp))
	}
	return true, fs.SyncDir(filepath.Dir(path))
}

// ReadFile returns the whole contents of the metadata file at path.
func ReadFile(fs vfs.FS, path string) ([]byte, error) {
	return ReadFileMax(fs, path, MaxMetadataFileSize)
}

// ReadFileMax returns the whole contents of path, refusing a file larger
// than limit bytes (its size may be damaged).
func ReadFileMax(fs vfs.FS, path string, limit int64) ([]byte, error) {
	f, err := fs.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	size, err := f.Size()
	if err != nil {
		return nil, err
	}
	if size > limit {
		return nil, fmt.Errorf("%w: %d bytes, more than the %d such a file can hold", ErrFileTooLarge, size, limit)
	}
	b := make([]byte, size)
	if _, err := f.ReadAt(b, 0); err != nil && !(isEOF(err) && size == 0) {
		return nil, err
	}
	return b, nil
}

// ErrFileTooLarge marks a metadata file whose size is beyond what it can
// hold: damage, where the other errors of ReadFileMax are I/O errors.
var ErrFileTooLarge = errors.New("file too large")

// MaxMetadataFileSize bounds what ReadFile allocates for a metadata file
// whose size may be damaged.
const MaxMetadataFileSize = 1 << 20

// MkdirAllDurable creates dir and any missing parents, fsyncing the parent
// of each directory it creates, so that the new directories survive a
// crash.
func MkdirAllDurable(fs vfs.FS, dir string) error {
	dir = filepath.Clean(dir)
	if _, err := fs.Stat(dir); err == nil {
		return nil
	} else if !isNotExist(err) {
		return err
	}
	parent := filepath.Dir(dir)
	if parent != dir {
		if err := MkdirAllDurable(fs, parent); err != nil {
			return err
		}
	}
	if err := fs.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return fs.SyncDir(parent)
}
