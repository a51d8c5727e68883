package vfs

import (
	"errors"
	"path/filepath"
	"syscall"
	"testing"
)

// Allocate reserves blocks past the end without changing the size, and
// truncating to the size gives them back.
func TestOSAllocateReservesWithoutResizing(t *testing.T) {
	name := filepath.Join(t.TempDir(), "f")
	f, err := Default.Create(name)
	must(t, err)
	defer f.Close()
	_, err = f.WriteAt([]byte("hello"), 0)
	must(t, err)
	const reserve = 1 << 20
	if err := f.Allocate(0, reserve); errors.Is(err, errors.ErrUnsupported) {
		t.Skipf("the file system of %s cannot reserve space: %v", name, err)
	} else {
		must(t, err)
	}
	if n, err := f.Size(); err != nil || n != 5 {
		t.Fatalf("Size after Allocate = %d, %v; want 5", n, err)
	}
	if b := allocatedBytes(t, name); b < reserve {
		t.Fatalf("%d bytes allocated after reserving %d", b, reserve)
	}
	must(t, f.Truncate(5))
	if b := allocatedBytes(t, name); b >= reserve {
		t.Fatalf("%d bytes still allocated after truncating to the size", b)
	}
	if err := f.Allocate(-1, 10); !errors.Is(err, syscall.EINVAL) {
		t.Fatalf("Allocate(-1) = %v, want EINVAL", err)
	}
}

func allocatedBytes(t *testing.T, name string) int64 {
	t.Helper()
	var st syscall.Stat_t
	must(t, syscall.Stat(name, &st))
	return st.Blocks * 512
}
