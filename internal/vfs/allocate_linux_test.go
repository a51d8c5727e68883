package vfs

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// allocatedBytes returns the disk space the file at name occupies.
func allocatedBytes(t *testing.T, name string) int64 {
	t.Helper()
	var st syscall.Stat_t
	must(t, syscall.Stat(name, &st))
	return st.Blocks * 512
}

func TestOSFileAllocateKeepsSizeAndTruncateGivesBack(t *testing.T) {
	name := filepath.Join(t.TempDir(), "f")
	f, err := Default.Create(name)
	must(t, err)
	defer f.Close()
	_, err = f.WriteAt([]byte("hello"), 0)
	must(t, err)
	const reserve = 4 << 20
	if err := f.Allocate(5, reserve); errors.Is(err, errors.ErrUnsupported) {
		t.Skipf("the file system of %s cannot reserve space: %v", name, err)
	} else {
		must(t, err)
	}
	if n, err := f.Size(); err != nil || n != 5 {
		t.Fatalf("Size after Allocate = %d, %v; want 5", n, err)
	}
	if got := allocatedBytes(t, name); got < reserve {
		t.Fatalf("file occupies %d bytes after reserving %d", got, reserve)
	}
	must(t, f.Truncate(5)) // the same size: gives back what lies past it
	if got := allocatedBytes(t, name); got >= reserve {
		t.Fatalf("file still occupies %d bytes after Truncate to its size", got)
	}
	if n, err := f.Size(); err != nil || n != 5 {
		t.Fatalf("Size after Truncate = %d, %v; want 5", n, err)
	}
	must(t, f.Close())
	if err := f.Allocate(0, 10); !errors.Is(err, os.ErrClosed) {
		t.Fatalf("Allocate after Close = %v", err)
	}
}
