package vfs

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// TestReadOnlyRefusesEveryChange runs every mutating operation through
// ReadOnly, on the OS file system and on MemFS, and checks that each fails
// with ErrReadOnly and that nothing changed, while reads still work.
func TestReadOnlyRefusesEveryChange(t *testing.T) {
	for _, tc := range []struct {
		name string
		fs   func(t *testing.T) (FS, string)
	}{
		{"os", func(t *testing.T) (FS, string) { return Default, t.TempDir() }},
		{"mem", func(t *testing.T) (FS, string) { return NewMem(), "/d" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			base, dir := tc.fs(t)
			must(t, base.MkdirAll(filepath.Join(dir, "sub"), 0o755))
			name := filepath.Join(dir, "f")
			f, err := base.Create(name)
			must(t, err)
			_, err = f.WriteAt([]byte("hello"), 0)
			must(t, err)
			must(t, f.Sync())
			must(t, f.Close())
			must(t, base.SyncDir(dir))

			ro := ReadOnly(base)
			refusals := map[string]error{}
			_, refusals["create"] = ro.Create(filepath.Join(dir, "new"))
			_, refusals["openrw"] = ro.OpenReadWrite(name)
			refusals["remove"] = ro.Remove(name)
			refusals["removeall"] = ro.RemoveAll(filepath.Join(dir, "sub"))
			refusals["rename"] = ro.Rename(name, filepath.Join(dir, "g"))
			refusals["mkdir"] = ro.MkdirAll(filepath.Join(dir, "x"), 0o755)
			refusals["syncdir"] = ro.SyncDir(dir)
			rf, err := ro.Open(name)
			must(t, err)
			_, refusals["write"] = rf.WriteAt([]byte("HELLO"), 0)
			refusals["truncate"] = rf.Truncate(0)
			refusals["sync"] = rf.Sync()
			refusals["allocate"] = rf.Allocate(0, 4096)
			for op, err := range refusals {
				if !errors.Is(err, ErrReadOnly) {
					t.Errorf("%s: got %v, want ErrReadOnly", op, err)
				}
			}
			buf := make([]byte, 5)
			if _, err := rf.ReadAt(buf, 0); err != nil || string(buf) != "hello" {
				t.Fatalf("read through ReadOnly: %q, %v", buf, err)
			}
			if size, err := rf.Size(); err != nil || size != 5 {
				t.Fatalf("size through ReadOnly: %d, %v", size, err)
			}
			must(t, rf.Close())
			names, err := ro.List(dir)
			must(t, err)
			if len(names) != 2 || names[0] != "f" || names[1] != "sub" {
				t.Fatalf("directory changed: %v", names)
			}
			g, err := base.Open(name)
			must(t, err)
			defer g.Close()
			size, _ := g.Size()
			got := make([]byte, size)
			_, err = g.ReadAt(got, 0)
			must(t, err)
			if !bytes.Equal(got, []byte("hello")) {
				t.Fatalf("file changed: %q", got)
			}
		})
	}
}

// TestReadOnlyLock checks that ReadOnly's Lock excludes a writer's Lock
// and the other way around, and never creates the lock file.
func TestReadOnlyLock(t *testing.T) {
	for _, tc := range []struct {
		name string
		fs   func(t *testing.T) (FS, string)
	}{
		{"os", func(t *testing.T) (FS, string) { return Default, t.TempDir() }},
		{"mem", func(t *testing.T) (FS, string) {
			m := NewMem()
			must(t, m.MkdirAll("/d", 0o755))
			return m, "/d"
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			base, dir := tc.fs(t)
			ro := ReadOnly(base)
			lockName := filepath.Join(dir, "LOCK")
			if _, err := ro.Lock(lockName); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("read-only lock of a missing file: %v, want os.ErrNotExist", err)
			}
			if _, err := base.Stat(lockName); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("read-only lock created the lock file: %v", err)
			}
			w, err := base.Lock(lockName)
			must(t, err)
			if _, err := ro.Lock(lockName); !errors.Is(err, ErrLocked) {
				t.Fatalf("read-only lock while a writer holds it: %v, want ErrLocked", err)
			}
			must(t, w.Close())
			r, err := ro.Lock(lockName)
			must(t, err)
			if _, err := base.Lock(lockName); !errors.Is(err, ErrLocked) {
				t.Fatalf("writer's lock while a read-only opener holds it: %v, want ErrLocked", err)
			}
			must(t, r.Close())
			w, err = base.Lock(lockName)
			must(t, err)
			must(t, w.Close())
		})
	}
}
