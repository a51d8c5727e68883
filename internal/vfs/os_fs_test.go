package vfs

import (
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
)

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestOSFileOps(t *testing.T) {
	fs := Default
	dir := t.TempDir()
	sub := filepath.Join(dir, "a", "b")
	must(t, fs.MkdirAll(sub, 0o755))

	name := filepath.Join(sub, "f")
	f, err := fs.Create(name)
	must(t, err)
	if f.Fd() == InvalidFd {
		t.Fatal("OS file has InvalidFd")
	}
	if _, err := f.WriteAt([]byte("hello"), 0); err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("world"), 10); err != nil {
		t.Fatal(err)
	}
	must(t, f.Sync())
	if n, err := f.Size(); err != nil || n != 15 {
		t.Fatalf("Size = %d, %v; want 15", n, err)
	}
	buf := make([]byte, 20)
	n, err := f.ReadAt(buf, 0)
	if n != 15 || err != io.EOF {
		t.Fatalf("ReadAt = %d, %v; want 15, EOF", n, err)
	}
	if want := []byte("hello\x00\x00\x00\x00\x00world"); !bytes.Equal(buf[:n], want) {
		t.Fatalf("read %q, want %q", buf[:n], want)
	}
	must(t, f.Truncate(5))
	must(t, f.Close())
	if f.Fd() != InvalidFd {
		t.Fatal("closed file has a valid Fd")
	}
	if err := f.Sync(); !errors.Is(err, os.ErrClosed) {
		t.Fatalf("Sync after Close = %v, want ErrClosed", err)
	}
	must(t, fs.SyncDir(sub))

	ro, err := fs.Open(name)
	must(t, err)
	if _, err := ro.WriteAt([]byte("x"), 0); err == nil {
		t.Fatal("WriteAt on a read-only file succeeded")
	}
	must(t, ro.Sync()) // syncing a read-only descriptor is allowed
	must(t, ro.Close())

	rw, err := fs.OpenReadWrite(name)
	must(t, err)
	if n, _ := rw.Size(); n != 5 {
		t.Fatalf("size after reopen = %d, want 5", n)
	}
	must(t, rw.Close())

	fi, err := fs.Stat(name)
	must(t, err)
	if fi.Size() != 5 || fi.IsDir() || fi.Name() != "f" {
		t.Fatalf("Stat = %v %v %v", fi.Name(), fi.Size(), fi.IsDir())
	}

	renamed := filepath.Join(dir, "a", "g")
	must(t, fs.Rename(name, renamed))
	must(t, fs.SyncDir(sub))
	must(t, fs.SyncDir(filepath.Join(dir, "a")))
	if _, err := fs.Stat(name); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Stat of old name = %v, want ErrNotExist", err)
	}
	names, err := fs.List(filepath.Join(dir, "a"))
	must(t, err)
	if !slices.Equal(names, []string{"b", "g"}) {
		t.Fatalf("List = %v", names)
	}
	if _, err := fs.List(filepath.Join(dir, "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("List(missing) = %v, want ErrNotExist", err)
	}
	if _, err := fs.OpenReadWrite(filepath.Join(dir, "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("OpenReadWrite(missing) = %v, want ErrNotExist", err)
	}
	if err := fs.SyncDir(renamed); !errors.Is(err, syscall.ENOTDIR) {
		t.Fatalf("SyncDir(file) = %v, want ENOTDIR", err)
	}
	if err := fs.SyncDir(filepath.Join(dir, "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("SyncDir(missing) = %v, want ErrNotExist", err)
	}
	must(t, fs.Remove(renamed))
	must(t, fs.Remove(sub))
	must(t, fs.RemoveAll(filepath.Join(dir, "a")))
	must(t, fs.RemoveAll(filepath.Join(dir, "a")))
	if names, err := fs.List(dir); err != nil || len(names) != 0 {
		t.Fatalf("List after RemoveAll = %v, %v", names, err)
	}
}

func TestOSLockInProcess(t *testing.T) {
	name := filepath.Join(t.TempDir(), "LOCK")
	l1, err := Default.Lock(name)
	must(t, err)
	l2, err := Default.Lock(name)
	if !errors.Is(err, ErrLocked) || l2 != nil {
		t.Fatalf("second Lock = %v, %v; want ErrLocked", l2, err)
	}
	if !strings.Contains(err.Error(), name) {
		t.Fatalf("error %q does not name the path", err)
	}
	must(t, l1.Close())
	l3, err := Default.Lock(name)
	must(t, err)
	must(t, l3.Close())
}

// TestOSLockChild is the child half of TestOSLockAcrossProcesses; it does
// nothing unless started by it.
func TestOSLockChild(t *testing.T) {
	name := os.Getenv("VFS_LOCK_CHILD")
	if name == "" {
		t.Skip("helper process for TestOSLockAcrossProcesses")
	}
	l, err := Default.Lock(name)
	switch {
	case errors.Is(err, ErrLocked):
		os.Stdout.WriteString("\nRESULT=LOCKED\n")
	case err != nil:
		os.Stdout.WriteString("\nRESULT=ERROR " + err.Error() + "\n")
	default:
		os.Stdout.WriteString("\nRESULT=ACQUIRED\n")
		_ = l.Close()
	}
}

func TestOSLockAcrossProcesses(t *testing.T) {
	if runtime.GOOS == "aix" || runtime.GOOS == "plan9" || runtime.GOOS == "js" || runtime.GOOS == "wasip1" {
		t.Skip("Lock is exclusive only within the process on " + runtime.GOOS)
	}
	exe, err := os.Executable()
	must(t, err)
	name := filepath.Join(t.TempDir(), "LOCK")
	child := func() string {
		t.Helper()
		cmd := exec.Command(exe, "-test.run=^TestOSLockChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), "VFS_LOCK_CHILD="+name)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("child: %v\n%s", err, out)
		}
		for _, line := range strings.Split(string(out), "\n") {
			if r, ok := strings.CutPrefix(line, "RESULT="); ok {
				return r
			}
		}
		t.Fatalf("child printed no result:\n%s", out)
		return ""
	}
	l, err := Default.Lock(name)
	must(t, err)
	if got := child(); got != "LOCKED" {
		t.Fatalf("child while parent holds the lock: %s, want LOCKED", got)
	}
	must(t, l.Close())
	if got := child(); got != "ACQUIRED" {
		t.Fatalf("child after parent released the lock: %s, want ACQUIRED", got)
	}
}

func TestOSErrorsKeepErrno(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "f")
	must(t, os.WriteFile(f, nil, 0o644))
	_, err := Default.Create(filepath.Join(f, "x"))
	var pe *os.PathError
	if !errors.As(err, &pe) || !errors.Is(err, syscall.ENOTDIR) {
		t.Fatalf("Create under a file = %#v, want *PathError with ENOTDIR", err)
	}
}
