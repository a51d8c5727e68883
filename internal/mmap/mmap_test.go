//go:build unix

package mmap

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

func tempFile(t *testing.T, size int64) *os.File {
	t.Helper()
	f, err := os.OpenFile(filepath.Join(t.TempDir(), "f"), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.Close() })
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	return f
}

func TestReadOnlyMappingSeesPwrite(t *testing.T) {
	const size = 3 * 4096
	f := tempFile(t, size)
	b, err := Map(f.Fd(), size, false)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := Unmap(b); err != nil {
			t.Fatal(err)
		}
	}()
	if len(b) != size {
		t.Fatalf("len = %d, want %d", len(b), size)
	}
	want := []byte("written through pwrite")
	if _, err := f.WriteAt(want, 5000); err != nil {
		t.Fatal(err)
	}
	if got := b[5000 : 5000+len(want)]; !bytes.Equal(got, want) {
		t.Fatalf("mapping shows %q, want %q", got, want)
	}
	if err := AdviseRandom(b); err != nil {
		t.Fatal(err)
	}
}

func TestWritableMappingReachesFile(t *testing.T) {
	const size = 8192
	f := tempFile(t, size)
	b, err := Map(f.Fd(), size, true)
	if err != nil {
		t.Fatal(err)
	}
	want := []byte("written through the mapping")
	copy(b[4090:], want) // straddles a page boundary
	if err := Sync(b); err != nil {
		t.Fatal(err)
	}
	if err := Unmap(b); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(want))
	if _, err := f.ReadAt(got, 4090); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("file has %q, want %q", got, want)
	}
}

func TestMapPastEndOfFile(t *testing.T) {
	// The mapping may be longer than the file (index files grow into it).
	f := tempFile(t, 100)
	b, err := Map(f.Fd(), 1<<20, false)
	if err != nil {
		t.Fatal(err)
	}
	if b[99] != 0 {
		t.Fatalf("b[99] = %d", b[99])
	}
	if err := Unmap(b); err != nil {
		t.Fatal(err)
	}
}

func TestMapErrors(t *testing.T) {
	f := tempFile(t, 4096)
	for _, n := range []int{0, -1} {
		if b, err := Map(f.Fd(), n, false); err == nil || b != nil {
			t.Fatalf("Map(length %d) = %v, %v; want an error", n, b, err)
		} else if !errors.Is(err, syscall.EINVAL) {
			t.Fatalf("Map(length %d) error %v does not match EINVAL", n, err)
		}
	}
	if _, err := Map(^uintptr(0), 4096, false); !errors.Is(err, syscall.EBADF) {
		t.Fatalf("Map(invalid fd) error = %v, want EBADF", err)
	}
	// Writable mapping of a read-only descriptor is refused (EACCES).
	ro, err := os.Open(f.Name())
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	if _, err := Map(ro.Fd(), 4096, true); !errors.Is(err, syscall.EACCES) {
		t.Fatalf("writable Map of read-only fd: error = %v, want EACCES", err)
	}

	b, err := Map(f.Fd(), 4096, false)
	if err != nil {
		t.Fatal(err)
	}
	if err := AdviseRandom(b[1:]); !errors.Is(err, syscall.EINVAL) {
		t.Fatalf("madvise of unaligned range: error = %v, want EINVAL", err)
	}
	if err := Unmap(b[:10]); err == nil {
		t.Fatal("Unmap of a subslice succeeded")
	}
	if err := Unmap(b); err != nil {
		t.Fatal(err)
	}
	if err := Unmap(b); err == nil {
		t.Fatal("second Unmap succeeded")
	}
	if err := Unmap(nil); err == nil {
		t.Fatal("Unmap(nil) succeeded")
	}
}

func TestAdviseEmptyIsNoop(t *testing.T) {
	for _, advise := range []func([]byte) error{AdviseRandom, Sync} {
		if err := advise(nil); err != nil {
			t.Fatal(err)
		}
	}
}
