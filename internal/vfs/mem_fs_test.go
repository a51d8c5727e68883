package vfs

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// ---- Functional parity with the OS file system ----

// parityEnv runs one step sequence on one FS rooted at root.
type parityEnv struct {
	fs    FS
	root  string
	files map[string]File
	locks map[string]io.Closer
}

func (e *parityEnv) p(name string) string { return filepath.Join(e.root, name) }

// errClass describes err without paths, so OS and MemFS errors compare.
func errClass(err error) string {
	var errno syscall.Errno
	var pe *os.PathError
	switch {
	case err == nil:
		return "ok"
	case err == io.EOF:
		return "EOF"
	case errors.Is(err, ErrLocked):
		return "locked"
	case errors.Is(err, os.ErrClosed):
		return "closed"
	case errors.As(err, &errno):
		return "errno:" + errno.Error()
	case errors.As(err, &pe):
		return pe.Err.Error()
	}
	return "other:" + err.Error()
}

type parityStep struct {
	name string
	do   func(e *parityEnv) string
}

func pOpen(key, name string, how string) parityStep {
	return parityStep{how + " " + name, func(e *parityEnv) string {
		var f File
		var err error
		switch how {
		case "create":
			f, err = e.fs.Create(e.p(name))
		case "openrw":
			f, err = e.fs.OpenReadWrite(e.p(name))
		case "open":
			f, err = e.fs.Open(e.p(name))
		}
		if err == nil {
			e.files[key] = f
		}
		return errClass(err)
	}}
}

func pWrite(key string, off int64, s string) parityStep {
	return parityStep{fmt.Sprintf("write %s@%d %q", key, off, s), func(e *parityEnv) string {
		n, err := e.files[key].WriteAt([]byte(s), off)
		return fmt.Sprintf("%d %s", n, errClass(err))
	}}
}

func pRead(key string, off int64, n int) parityStep {
	return parityStep{fmt.Sprintf("read %s@%d+%d", key, off, n), func(e *parityEnv) string {
		buf := make([]byte, n)
		m, err := e.files[key].ReadAt(buf, off)
		return fmt.Sprintf("%q %s", buf[:m], errClass(err))
	}}
}

func pFile(key, what string, arg int64) parityStep {
	return parityStep{fmt.Sprintf("%s %s %d", what, key, arg), func(e *parityEnv) string {
		f := e.files[key]
		switch what {
		case "truncate":
			return errClass(f.Truncate(arg))
		case "sync":
			return errClass(f.Sync())
		case "close":
			return errClass(f.Close())
		case "allocate":
			return errClass(f.Allocate(0, arg))
		case "size":
			n, err := f.Size()
			return fmt.Sprintf("%d %s", n, errClass(err))
		}
		panic(what)
	}}
}

func pFS(what string, args ...string) parityStep {
	return parityStep{what + " " + strings.Join(args, " "), func(e *parityEnv) string {
		switch what {
		case "mkdirall":
			return errClass(e.fs.MkdirAll(e.p(args[0]), 0o755))
		case "remove":
			return errClass(e.fs.Remove(e.p(args[0])))
		case "removeall":
			return errClass(e.fs.RemoveAll(e.p(args[0])))
		case "rename":
			return errClass(e.fs.Rename(e.p(args[0]), e.p(args[1])))
		case "syncdir":
			return errClass(e.fs.SyncDir(e.p(args[0])))
		case "list":
			names, err := e.fs.List(e.p(args[0]))
			return fmt.Sprintf("%v %s", names, errClass(err))
		case "stat":
			fi, err := e.fs.Stat(e.p(args[0]))
			if err != nil {
				return errClass(err)
			}
			if fi.IsDir() {
				return fmt.Sprintf("%s dir", fi.Name())
			}
			return fmt.Sprintf("%s %d %v", fi.Name(), fi.Size(), fi.Mode().IsRegular())
		case "lock":
			l, err := e.fs.Lock(e.p(args[0]))
			if err == nil {
				e.locks[args[1]] = l
			}
			return errClass(err)
		case "unlock":
			return errClass(e.locks[args[0]].Close())
		}
		panic(what)
	}}
}

func TestMemFSParityWithOS(t *testing.T) {
	steps := []parityStep{
		pFS("mkdirall", "a/b"),
		pFS("mkdirall", "a/b"),
		pOpen("h1", "a/b/f", "create"),
		pWrite("h1", 0, "hello"),
		pWrite("h1", 10, "world"),
		pWrite("h1", 3, ""),
		pFile("h1", "size", 0),
		pRead("h1", 0, 15),
		pRead("h1", 12, 10),
		pRead("h1", 15, 1),
		pRead("h1", 100, 0),
		pRead("h1", 100, 3),
		pRead("h1", -1, 3),
		pWrite("h1", -1, "x"),
		pFile("h1", "allocate", 1<<20),
		pFile("h1", "size", 0), // unchanged: space is reserved, not written
		pRead("h1", 0, 20),
		pFile("h1", "allocate", 0),
		pFile("h1", "allocate", -1),
		pFS("stat", "a/b/f"),
		pFS("stat", "a/b"),
		pFS("list", "a/b"),
		pFS("list", "a"),
		pFS("list", "a/missing"),
		pFS("list", "a/b/f"),
		pFS("stat", "a/b/f/x"),
		pFS("stat", "a/missing/x"),
		pOpen("h2", "a/b/f", "open"),
		pWrite("h2", 0, "x"),
		pFile("h2", "allocate", 10),
		pRead("h2", 0, 5),
		pFile("h2", "truncate", 1),
		pFile("h2", "sync", 0),
		pFile("h1", "truncate", 3),
		pRead("h2", 0, 15),
		pFile("h1", "truncate", 8),
		pRead("h2", 0, 15),
		pFile("h1", "truncate", -1),
		pFile("h1", "size", 0),
		pRead("h1", 0, 20),
		pFile("h1", "sync", 0),
		pFS("rename", "a/b/f", "a/g"),
		pFS("stat", "a/b/f"),
		pFS("stat", "a/g"),
		pWrite("h1", 8, "!"), // the open file follows the inode
		pRead("h2", 0, 20),
		pOpen("h3", "a/h", "create"),
		pWrite("h3", 0, "replacement"),
		pFS("rename", "a/h", "a/g"),
		pFS("list", "a"),
		pOpen("h4", "a/g", "openrw"),
		pRead("h4", 0, 20),
		pRead("h2", 0, 20), // still the replaced inode
		pFS("rename", "a/g", "a/b"),
		pFS("rename", "a/b", "a/g"),
		pFS("rename", "a", "a/b/c"),
		pFS("rename", "a/missing", "a/x"),
		pFS("rename", "a/g", "a/missing/x"),
		pFS("rename", "a/g", "a/g"),
		pOpen("long", "a/"+strings.Repeat("n", 255), "create"), // NAME_MAX
		pFile("long", "close", 0),
		pOpen("x", "a/"+strings.Repeat("n", 256), "create"),
		pOpen("x", "a/"+strings.Repeat("n", 256), "open"),
		pFS("mkdirall", "a/"+strings.Repeat("d", 256)+"/x"),
		pFS("stat", "a/"+strings.Repeat("n", 256)),
		pFS("rename", "a/"+strings.Repeat("n", 255), "a/"+strings.Repeat("n", 256)),
		pFS("remove", "a/"+strings.Repeat("n", 255)),
		pFS("mkdirall", "c"),
		pFS("rename", "a/b", "c/b"), // directory move across parents
		pFS("list", "c/b"),
		pFS("list", "a"),
		pFS("rename", "c/b", "a/b"),
		pFS("remove", "a"),
		pFS("remove", "a/missing"),
		pFS("remove", "c"),
		pFS("remove", "c"),
		pOpen("x", "a/missing", "openrw"),
		pOpen("x", "a/missing", "open"),
		pOpen("x", "a/g/x", "open"),
		pOpen("x", "a/g/x", "create"),
		pOpen("x", "a/b", "create"),
		pOpen("x", "a/b", "openrw"),
		pOpen("x", "nodir/f", "create"),
		pOpen("d", "a/b", "open"),
		pRead("d", 0, 4),
		pFile("d", "close", 0),
		pOpen("h5", "a/g", "create"), // truncates the existing file
		pFile("h5", "size", 0),
		pRead("h4", 0, 4),
		pFS("mkdirall", "a/g/x"),
		pFS("mkdirall", "a/g"),
		pFS("syncdir", "a"),
		pFS("syncdir", "a/g"),
		pFS("syncdir", "a/missing"),
		pFS("lock", "LOCK", "l1"),
		pFS("lock", "LOCK", "l2"),
		pFS("stat", "LOCK"),
		pFS("unlock", "l1"),
		pFS("lock", "LOCK", "l3"),
		pFS("unlock", "l3"),
		pFS("lock", "a", "l4"),
		pFile("h1", "close", 0),
		pFile("h1", "close", 0),
		pRead("h1", 0, 1),
		pWrite("h1", 0, "x"),
		pFile("h1", "sync", 0),
		pFile("h1", "truncate", 0),
		pFile("h1", "allocate", 10),
		pFile("h1", "size", 0),
		pFS("removeall", "a/g/x"),
		pFS("removeall", "a"),
		pFS("stat", "a"),
		pFS("removeall", "a"),
		pFS("removeall", ""),
		pFS("list", ""),
	}
	osEnv := &parityEnv{fs: Default, root: t.TempDir(), files: map[string]File{}, locks: map[string]io.Closer{}}
	memEnv := &parityEnv{fs: NewMem(), root: "/", files: map[string]File{}, locks: map[string]io.Closer{}}
	for i, s := range steps {
		if s.name == "removeall " {
			// os.RemoveAll("") is a no-op; with a root prefix it would remove
			// the whole temp dir, so compare the bare call.
			osEnv.root, memEnv.root = "", ""
		}
		want, got := s.do(osEnv), s.do(memEnv)
		if os.Getenv("PARITY_DEBUG") != "" {
			t.Logf("%-30s %s", s.name, want)
		}
		if want != got {
			t.Errorf("step %d %s: OS %q, MemFS %q", i, s.name, want, got)
		}
	}
	for _, f := range osEnv.files {
		_ = f.Close()
	}
}

// ---- Crash model ----

// snapshot renders the whole tree of a MemFS: one line per entry.
func snapshot(t testing.TB, m *MemFS) string {
	t.Helper()
	var sb strings.Builder
	var walk func(dir string)
	walk = func(dir string) {
		names, err := m.List(dir)
		must(t, err)
		for _, n := range names {
			p := filepath.Join(dir, n)
			fi, err := m.Stat(p)
			must(t, err)
			if fi.IsDir() {
				fmt.Fprintf(&sb, "%s/\n", p)
				walk(p)
				continue
			}
			b, err := m.ReadFile(p)
			must(t, err)
			fmt.Fprintf(&sb, "%s %q\n", p, b)
		}
	}
	walk("/")
	return sb.String()
}

// readOrMissing returns the contents of name, or "<missing>".
func readOrMissing(t testing.TB, m *MemFS, name string) string {
	t.Helper()
	b, err := m.ReadFile(name)
	if errors.Is(err, os.ErrNotExist) {
		return "<missing>"
	}
	must(t, err)
	return string(b)
}

// durableFile creates name with contents and makes file and entry durable
// through the FS interface (not WriteFile).
func durableFile(t testing.TB, m *MemFS, name, contents string) File {
	t.Helper()
	f, err := m.Create(name)
	must(t, err)
	if contents != "" {
		_, err = f.WriteAt([]byte(contents), 0)
		must(t, err)
	}
	must(t, f.Sync())
	must(t, m.SyncDir(filepath.Dir(name)))
	return f
}

func crash(m *MemFS, p float64, seed int64) *MemFS {
	return m.CrashClone(CrashOptions{Seed: seed, KeepUnsynced: p})
}

func TestCrashSyncedDataSurvives(t *testing.T) {
	m := NewMem()
	must(t, m.MkdirAll("d", 0o755))
	must(t, m.SyncDir("/"))
	durableFile(t, m, "d/f", "synced")
	for seed := range int64(5) {
		if got := readOrMissing(t, crash(m, 0, seed), "d/f"); got != "synced" {
			t.Fatalf("seed %d: %q", seed, got)
		}
	}
}

func TestCrashUnsyncedData(t *testing.T) {
	m := NewMem()
	f := durableFile(t, m, "f", "AAAA")
	_, err := f.WriteAt([]byte("BB"), 2)
	must(t, err)
	_, err = f.WriteAt([]byte("CC"), 4)
	must(t, err)
	if got := readOrMissing(t, m, "f"); got != "AABBCC" {
		t.Fatalf("live = %q", got)
	}
	if got := readOrMissing(t, crash(m, 0, 1), "f"); got != "AAAA" {
		t.Fatalf("p=0: %q, want AAAA", got)
	}
	if got := readOrMissing(t, crash(m, 1, 1), "f"); got != "AABBCC" {
		t.Fatalf("p=1: %q, want AABBCC", got)
	}
	must(t, f.Sync())
	if got := readOrMissing(t, crash(m, 0, 1), "f"); got != "AABBCC" {
		t.Fatalf("p=0 after Sync: %q", got)
	}
	if n := m.UnsyncedOps(); n != 0 {
		t.Fatalf("UnsyncedOps after syncing everything = %d", n)
	}
}

func TestCrashUnsyncedDirectoryEntry(t *testing.T) {
	m := NewMem()
	must(t, m.MkdirAll("d", 0o755))
	must(t, m.SyncDir("/"))
	f, err := m.Create("d/f")
	must(t, err)
	_, err = f.WriteAt([]byte("data"), 0)
	must(t, err)
	must(t, f.Sync())
	// Data synced, entry not: the file is gone at p=0, present at p=1.
	if got := readOrMissing(t, crash(m, 0, 1), "d/f"); got != "<missing>" {
		t.Fatalf("p=0 without SyncDir: %q", got)
	}
	if got := readOrMissing(t, crash(m, 1, 1), "d/f"); got != "data" {
		t.Fatalf("p=1 without SyncDir: %q", got)
	}
	must(t, m.SyncDir("d"))
	if got := readOrMissing(t, crash(m, 0, 1), "d/f"); got != "data" {
		t.Fatalf("p=0 after SyncDir: %q", got)
	}
}

func TestCrashNewDirectoryNeedsParentSync(t *testing.T) {
	m := NewMem()
	must(t, m.MkdirAll("x/y", 0o755))
	durableFile(t, m, "x/y/f", "data") // syncs x/y, but not x or the root
	if got := readOrMissing(t, crash(m, 0, 1), "x/y/f"); got != "<missing>" {
		t.Fatalf("p=0: %q, want missing (x and y are not durable)", got)
	}
	must(t, m.SyncDir("x"))
	if got := readOrMissing(t, crash(m, 0, 1), "x/y/f"); got != "<missing>" {
		t.Fatalf("p=0 after SyncDir(x): %q, want missing (x is not durable)", got)
	}
	must(t, m.SyncDir("/"))
	if got := readOrMissing(t, crash(m, 0, 1), "x/y/f"); got != "data" {
		t.Fatalf("p=0 after syncing the chain: %q", got)
	}
}

func TestCrashRename(t *testing.T) {
	m := NewMem()
	durableFile(t, m, "old", "contents")
	must(t, m.Rename("old", "new"))
	c0, c1 := crash(m, 0, 1), crash(m, 1, 1)
	if a, b := readOrMissing(t, c0, "old"), readOrMissing(t, c0, "new"); a != "contents" || b != "<missing>" {
		t.Fatalf("p=0: old=%q new=%q", a, b)
	}
	if a, b := readOrMissing(t, c1, "old"), readOrMissing(t, c1, "new"); a != "<missing>" || b != "contents" {
		t.Fatalf("p=1: old=%q new=%q", a, b)
	}
	must(t, m.SyncDir("/"))
	if a, b := readOrMissing(t, crash(m, 0, 1), "old"), readOrMissing(t, crash(m, 0, 1), "new"); a != "<missing>" || b != "contents" {
		t.Fatalf("p=0 after SyncDir: old=%q new=%q", a, b)
	}
}

func TestCrashRenameDataTravelsWithInode(t *testing.T) {
	// Unsynced data written before a durable rename is still unsynced at the
	// new name; synced data is durable at the new name.
	m := NewMem()
	f := durableFile(t, m, "a", "synced")
	_, err := f.WriteAt([]byte("+unsynced"), 6)
	must(t, err)
	must(t, m.Rename("a", "b"))
	must(t, m.SyncDir("/"))
	if got := readOrMissing(t, crash(m, 0, 1), "b"); got != "synced" {
		t.Fatalf("p=0: %q", got)
	}
	if got := readOrMissing(t, crash(m, 1, 1), "b"); got != "synced+unsynced" {
		t.Fatalf("p=1: %q", got)
	}
}

func TestCrashRenameOverIsAtomicPerName(t *testing.T) {
	m := NewMem()
	durableFile(t, m, "current", "old generation")
	tmp, err := m.Create("current.tmp")
	must(t, err)
	_, err = tmp.WriteAt([]byte("new generation"), 0)
	must(t, err)
	must(t, tmp.Sync())
	must(t, m.Rename("current.tmp", "current"))
	seen := map[string]bool{}
	for seed := range int64(200) {
		c := crash(m, 0.5, seed)
		got := readOrMissing(t, c, "current")
		if got != "old generation" && got != "new generation" {
			t.Fatalf("seed %d: current = %q", seed, got)
		}
		seen[got] = true
		if tmpGot := readOrMissing(t, c, "current.tmp"); tmpGot != "<missing>" && tmpGot != "new generation" {
			t.Fatalf("seed %d: tmp = %q", seed, tmpGot)
		}
	}
	if len(seen) != 2 {
		t.Fatalf("saw only %v", seen)
	}
}

func TestCrashAppliesNamespaceOpsInOrder(t *testing.T) {
	m := NewMem()
	durableFile(t, m, "a", "old")
	must(t, m.Remove("a"))
	f, err := m.Create("a") // a new inode under the same name
	must(t, err)
	_, err = f.WriteAt([]byte("new"), 0)
	must(t, err)
	must(t, f.Sync())
	want := []string{"old", "<missing>", "new", "new"} // by mask: remove=1, create=2
	for mask, w := range want {
		c := m.CrashClone(CrashOptions{Keep: func(i int) bool { return mask&(1<<i) != 0 }})
		if got := readOrMissing(t, c, "a"); got != w {
			t.Errorf("mask %b: %q, want %q", mask, got, w)
		}
	}
}

func TestCrashRemove(t *testing.T) {
	m := NewMem()
	durableFile(t, m, "f", "x")
	must(t, m.Remove("f"))
	if got := readOrMissing(t, crash(m, 0, 1), "f"); got != "x" {
		t.Fatalf("p=0: %q", got)
	}
	if got := readOrMissing(t, crash(m, 1, 1), "f"); got != "<missing>" {
		t.Fatalf("p=1: %q", got)
	}
	must(t, m.SyncDir("/"))
	if got := readOrMissing(t, crash(m, 0, 1), "f"); got != "<missing>" {
		t.Fatalf("p=0 after SyncDir: %q", got)
	}
}

func TestCrashRemoveAllSubsets(t *testing.T) {
	m := NewMem()
	must(t, m.MkdirAll("d", 0o755))
	must(t, m.SyncDir("/"))
	durableFile(t, m, "d/a", "a")
	durableFile(t, m, "d/b", "b")
	must(t, m.RemoveAll("d"))
	if n := m.UnsyncedOps(); n != 3 {
		t.Fatalf("UnsyncedOps = %d, want 3 (two files, then the directory)", n)
	}
	states := map[string]bool{}
	for mask := range 8 {
		c := m.CrashClone(CrashOptions{Keep: func(i int) bool { return mask&(1<<i) != 0 }})
		states[snapshot(t, c)] = true
	}
	// Removing d removes everything below it whatever happened to a and b.
	if len(states) != 5 {
		t.Fatalf("got %d distinct states, want 5:\n%v", len(states), states)
	}
}

func TestCrashCreateExistingTruncates(t *testing.T) {
	m := NewMem()
	durableFile(t, m, "f", "previous")
	f, err := m.Create("f")
	must(t, err)
	if got := readOrMissing(t, crash(m, 0, 1), "f"); got != "previous" {
		t.Fatalf("p=0: %q", got)
	}
	if got := readOrMissing(t, crash(m, 1, 1), "f"); got != "" {
		t.Fatalf("p=1: %q", got)
	}
	must(t, f.Sync())
	if got := readOrMissing(t, crash(m, 0, 1), "f"); got != "" {
		t.Fatalf("p=0 after Sync: %q", got)
	}
}

func TestMemFileAllocate(t *testing.T) {
	m := NewMem()
	f := durableFile(t, m, "f", "0123456789")
	reserved := func() int64 {
		t.Helper()
		n, err := m.Reserved("f")
		must(t, err)
		return n
	}
	must(t, f.Allocate(8, 100)) // from inside the data to 98 bytes past it
	if got := reserved(); got != 98 {
		t.Fatalf("Reserved = %d, want 98", got)
	}
	if n, _ := f.Size(); n != 10 {
		t.Fatalf("Size = %d, want 10: Allocate must not change it", n)
	}
	if got := readOrMissing(t, m, "f"); got != "0123456789" {
		t.Fatalf("contents after Allocate: %q", got)
	}
	must(t, f.Allocate(0, 50)) // inside what is reserved: no change
	if got := reserved(); got != 98 {
		t.Fatalf("Reserved after a smaller Allocate = %d, want 98", got)
	}
	_, err := f.WriteAt([]byte("abcdefghij"), 10) // writes use reserved space
	must(t, err)
	if got := reserved(); got != 88 {
		t.Fatalf("Reserved after a write = %d, want 88", got)
	}
	if got := readOrMissing(t, crash(m, 1, 1), "f"); got != "0123456789abcdefghij" {
		t.Fatalf("crash keeping the write: %q", got)
	}
	must(t, f.Truncate(20)) // the same size gives back what lies past it
	if got := reserved(); got != 0 {
		t.Fatalf("Reserved after Truncate = %d, want 0", got)
	}
	must(t, f.Allocate(20, 30))
	if n, err := crash(m, 1, 1).Reserved("f"); err != nil || n != 0 {
		t.Fatalf("Reserved after a crash = %d, %v; want 0: a crash keeps no reservation", n, err)
	}
	if _, err := m.Reserved("missing"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Reserved of a missing file = %v, want ErrNotExist", err)
	}
	if err := f.Allocate(maxMemFileSize, 1); !errors.Is(err, syscall.EFBIG) {
		t.Fatalf("Allocate past the size limit = %v, want EFBIG", err)
	}
}

func TestCrashTruncate(t *testing.T) {
	m := NewMem()
	f := durableFile(t, m, "f", "0123456789")
	must(t, f.Truncate(4))
	if got := readOrMissing(t, crash(m, 0, 1), "f"); got != "0123456789" {
		t.Fatalf("shrink p=0: %q", got)
	}
	if got := readOrMissing(t, crash(m, 1, 1), "f"); got != "0123" {
		t.Fatalf("shrink p=1: %q", got)
	}
	must(t, f.Sync())
	must(t, f.Truncate(8)) // extending reads as zeros, also after a crash
	if got := readOrMissing(t, m, "f"); got != "0123\x00\x00\x00\x00" {
		t.Fatalf("live extend: %q", got)
	}
	if got := readOrMissing(t, crash(m, 0, 1), "f"); got != "0123" {
		t.Fatalf("extend p=0: %q", got)
	}
	if got := readOrMissing(t, crash(m, 1, 1), "f"); got != "0123\x00\x00\x00\x00" {
		t.Fatalf("extend p=1: %q", got)
	}
	// Truncation and writes apply in order: write, shrink, write beyond.
	_, err := f.WriteAt([]byte("ABCD"), 4)
	must(t, err)
	must(t, f.Truncate(2))
	_, err = f.WriteAt([]byte("Z"), 5)
	must(t, err)
	if got := readOrMissing(t, m, "f"); got != "01\x00\x00\x00Z" {
		t.Fatalf("live: %q", got)
	}
	got := map[string]bool{}
	for mask := range 16 { // Truncate(8), write, Truncate(2), write
		c := m.CrashClone(CrashOptions{Keep: func(i int) bool { return mask&(1<<i) != 0 }})
		got[readOrMissing(t, c, "f")] = true
	}
	want := []string{"0123", "0123\x00\x00\x00\x00", "0123ABCD", "01", "0123\x00Z", "0123\x00Z\x00\x00", "0123AZCD", "01\x00\x00\x00Z"}
	for _, s := range want {
		if !got[s] {
			t.Errorf("state %q not produced", s)
		}
	}
	if len(got) != len(want) {
		t.Errorf("got %d states, want %d: %v", len(got), len(want), got)
	}
}

func TestCrashReordersAppends(t *testing.T) {
	m := NewMem()
	f := durableFile(t, m, "log", "")
	first := bytes.Repeat([]byte{'1'}, 1000)
	second := bytes.Repeat([]byte{'2'}, 1000)
	_, err := f.WriteAt(first, 0)
	must(t, err)
	_, err = f.WriteAt(second, 1000)
	must(t, err)
	zeros := make([]byte, 1000)
	outcomes := map[string]string{
		"":                             "neither",
		string(first):                  "first only",
		string(zeros) + string(second): "second only",
		string(first) + string(second): "both",
	}
	seen := map[string]int{}
	for seed := range int64(64) {
		got := readOrMissing(t, crash(m, 0.5, seed), "log")
		name, ok := outcomes[got]
		if !ok {
			t.Fatalf("seed %d: unexpected contents (len %d)", seed, len(got))
		}
		seen[name]++
	}
	if len(seen) != 4 {
		t.Fatalf("outcomes seen: %v, want all four", seen)
	}
}

func TestCrashTear(t *testing.T) {
	const off = 100
	data := make([]byte, 5000)
	for i := range data {
		data[i] = byte(i%251) + 1
	}
	m := NewMem()
	f := durableFile(t, m, "f", "")
	_, err := f.WriteAt(data, off)
	must(t, err)
	full, torn, empty := 0, 0, 0
	lengths := map[int]bool{}
	for seed := range int64(400) {
		got := []byte(readOrMissing(t, m.CrashClone(CrashOptions{Seed: seed, KeepUnsynced: 1, Tear: true}), "f"))
		if len(got) == 0 {
			empty++
			continue
		}
		k := len(got) - off
		if k <= 0 || !bytes.Equal(got[:off], make([]byte, off)) || !bytes.Equal(got[off:], data[:k]) {
			t.Fatalf("seed %d: not a zero gap followed by a prefix of the write (len %d)", seed, len(got))
		}
		switch {
		case k == len(data):
			full++
		case (off+k)%512 == 0:
			torn++
			lengths[k] = true
		default:
			t.Fatalf("seed %d: torn at file offset %d, not a 512-byte boundary", seed, off+k)
		}
	}
	// Boundaries inside the write: 512, 1024, ..., 4608 (9 of them).
	if full == 0 || torn == 0 || empty == 0 || len(lengths) != 9 {
		t.Fatalf("full=%d torn=%d empty=%d distinct tears=%d", full, torn, empty, len(lengths))
	}
	// Without Tear, a kept write is always whole.
	for seed := range int64(20) {
		if got := readOrMissing(t, m.CrashClone(CrashOptions{Seed: seed, KeepUnsynced: 1}), "f"); len(got) != off+len(data) {
			t.Fatalf("seed %d: len %d without Tear", seed, len(got))
		}
	}
}

func TestCrashTearLen(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		off := rng.Int64N(3000)
		l := rng.IntN(3000)
		k := tearLen(rng, off, l)
		if k < 0 || k > l || (k != 0 && k != l && (off+int64(k))%512 != 0) {
			t.Fatalf("tearLen(%d, %d) = %d", off, l, k)
		}
	}
}

func TestCrashFailedSyncLosesData(t *testing.T) {
	m := NewMem()
	durableFile(t, m, "f", "base")
	fs := WithInjector(m, OnIndex(0, func(op Op) bool { return op == OpSync }, syscall.EIO), InjectOptions{})
	f, err := fs.OpenReadWrite("f")
	must(t, err)
	_, err = f.WriteAt([]byte("-lost"), 4)
	must(t, err)
	if err := f.Sync(); !errors.Is(err, syscall.EIO) {
		t.Fatalf("Sync = %v, want EIO", err)
	}
	// The page cache still shows the data...
	if got := readOrMissing(t, m, "f"); got != "base-lost" {
		t.Fatalf("live after failed sync: %q", got)
	}
	_, err = f.WriteAt([]byte("+kept"), 9)
	must(t, err)
	must(t, f.Sync()) // ...and a successful Sync does not resurrect it.
	for _, p := range []float64{0, 1} {
		if got := readOrMissing(t, crash(m, p, 1), "f"); got != "base\x00\x00\x00\x00\x00+kept" {
			t.Fatalf("p=%v: %q", p, got)
		}
	}
}

func TestCrashDeterministic(t *testing.T) {
	m := NewMem()
	must(t, m.MkdirAll("p0", 0o755))
	must(t, m.MkdirAll("p1", 0o755))
	must(t, m.SyncDir("/"))
	rng := rand.New(rand.NewPCG(7, 7))
	var files []File
	for i := range 6 {
		f, err := m.Create(fmt.Sprintf("p%d/%020d.log", i%2, i))
		must(t, err)
		files = append(files, f)
	}
	for i := range 200 {
		f := files[rng.IntN(len(files))]
		n, _ := f.Size()
		_, err := f.WriteAt(bytes.Repeat([]byte{byte(i)}, 1+rng.IntN(1500)), n)
		must(t, err)
		if i%37 == 0 {
			must(t, f.Sync())
		}
		if i%53 == 0 {
			must(t, m.SyncDir("p0"))
		}
	}
	must(t, m.Rename("p1/00000000000000000001.log", "p1/renamed"))
	before := snapshot(t, m)
	distinct := map[string]bool{}
	for seed := range int64(5) {
		opts := CrashOptions{Seed: seed, KeepUnsynced: 0.5, Tear: true}
		a, b := snapshot(t, m.CrashClone(opts)), snapshot(t, m.CrashClone(opts))
		if a != b {
			t.Fatalf("seed %d: two clones differ", seed)
		}
		distinct[a] = true
	}
	if len(distinct) < 2 {
		t.Fatal("different seeds produced identical clones")
	}
	if snapshot(t, m) != before {
		t.Fatal("CrashClone changed the receiver")
	}
}

func TestCrashCloneIsIndependent(t *testing.T) {
	m := NewMem()
	f := durableFile(t, m, "f", "original")
	c := crash(m, 1, 1)
	cf, err := c.OpenReadWrite("f")
	must(t, err)
	_, err = cf.WriteAt([]byte("CLONE"), 0)
	must(t, err)
	must(t, cf.Truncate(20))
	_, err = f.WriteAt([]byte("ORIG"), 0)
	must(t, err)
	if got := readOrMissing(t, m, "f"); got != "ORIGinal" {
		t.Fatalf("receiver: %q", got)
	}
	if got := readOrMissing(t, c, "f"); got != "CLONEnal"+string(make([]byte, 12)) {
		t.Fatalf("clone: %q", got)
	}
	// The clone's durable state is the crash state, not what was written to it since.
	if got := readOrMissing(t, crash(c, 0, 1), "f"); got != "original" {
		t.Fatalf("crash of clone: %q", got)
	}
	// Locks are not carried over.
	l, err := m.Lock("LOCK")
	must(t, err)
	defer l.Close()
	c2 := crash(m, 1, 1)
	l2, err := c2.Lock("LOCK")
	must(t, err)
	must(t, l2.Close())
}

func TestCrashOpenFileAfterRemove(t *testing.T) {
	m := NewMem()
	f := durableFile(t, m, "f", "still readable")
	must(t, m.Remove("f"))
	must(t, m.SyncDir("/"))
	buf := make([]byte, 14)
	if _, err := f.ReadAt(buf, 0); err != nil || string(buf) != "still readable" {
		t.Fatalf("ReadAt after Remove = %q, %v", buf, err)
	}
	if got := readOrMissing(t, crash(m, 1, 1), "f"); got != "<missing>" {
		t.Fatalf("crash: %q", got)
	}
}

func TestCrashCrossDirectoryRename(t *testing.T) {
	m := NewMem()
	must(t, m.MkdirAll("a", 0o755))
	must(t, m.MkdirAll("b", 0o755))
	must(t, m.SyncDir("/"))
	durableFile(t, m, "a/f", "x")
	must(t, m.Rename("a/f", "b/g"))
	for _, p := range []float64{0, 1} {
		c := crash(m, p, 1)
		a, b := readOrMissing(t, c, "a/f"), readOrMissing(t, c, "b/g")
		if (p == 0) != (a == "x" && b == "<missing>") || (p == 1) != (a == "<missing>" && b == "x") {
			t.Fatalf("p=%v: a/f=%q b/g=%q", p, a, b)
		}
	}
	must(t, m.SyncDir("b")) // either parent makes the whole rename durable
	c := crash(m, 0, 1)
	if a, b := readOrMissing(t, c, "a/f"), readOrMissing(t, c, "b/g"); a != "<missing>" || b != "x" {
		t.Fatalf("after SyncDir(b): a/f=%q b/g=%q", a, b)
	}
}

func TestSyncDirKeepsPerNameOrder(t *testing.T) {
	// Create b/n, then move it to a/m. Syncing a makes the move durable, and
	// with it the earlier creation of b/n, so no crash can resurrect b/n.
	m := NewMem()
	must(t, m.MkdirAll("a", 0o755))
	must(t, m.MkdirAll("b", 0o755))
	must(t, m.SyncDir("/"))
	f, err := m.Create("b/n")
	must(t, err)
	must(t, f.Sync())
	must(t, m.Rename("b/n", "a/m"))
	must(t, m.SyncDir("a"))
	if n := m.UnsyncedOps(); n != 0 {
		t.Fatalf("UnsyncedOps = %d, want 0", n)
	}
	c := crash(m, 1, 1)
	if got := readOrMissing(t, c, "b/n"); got != "<missing>" {
		t.Fatalf("b/n resurrected: %q", got)
	}
	if got := readOrMissing(t, c, "a/m"); got != "" {
		t.Fatalf("a/m: %q", got)
	}
}

func TestCrashExhaustiveSubsets(t *testing.T) {
	m := NewMem()
	f := durableFile(t, m, "f", "")
	_, err := f.WriteAt([]byte("a"), 0)
	must(t, err)
	_, err = f.WriteAt([]byte("b"), 1)
	must(t, err)
	_, err = m.Create("g")
	must(t, err)
	n := m.UnsyncedOps()
	if n != 3 {
		t.Fatalf("UnsyncedOps = %d", n)
	}
	states := map[string]bool{}
	for mask := range 1 << n {
		states[snapshot(t, m.CrashClone(CrashOptions{Keep: func(i int) bool { return mask&(1<<i) != 0 }}))] = true
	}
	if len(states) != 8 {
		t.Fatalf("%d distinct states, want 8", len(states))
	}
}

func TestMemFSWriteFileIsDurable(t *testing.T) {
	m := NewMem()
	must(t, m.MkdirAll("d", 0o755))
	_, err := m.Create("d/other")
	must(t, err)
	must(t, m.WriteFile("d/f", []byte("edited")))
	c := crash(m, 0, 1)
	if got := readOrMissing(t, c, "d/f"); got != "<missing>" {
		// d itself is not durable yet.
		t.Fatalf("d/f without durable d: %q", got)
	}
	must(t, m.SyncDir("/"))
	c = crash(m, 0, 1)
	if got := readOrMissing(t, c, "d/f"); got != "edited" {
		t.Fatalf("d/f: %q", got)
	}
	if got := readOrMissing(t, c, "d/other"); got != "<missing>" {
		t.Fatalf("WriteFile made an unrelated entry durable: %q", got)
	}
	if err := m.WriteFile("missing/f", nil); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("WriteFile under a missing dir = %v", err)
	}
}

func TestMemFSSyncOfDirectoryHandle(t *testing.T) {
	m := NewMem()
	f, err := m.Create("f")
	must(t, err)
	must(t, f.Sync())
	d, err := m.Open("/")
	must(t, err)
	must(t, d.Sync()) // fsync of a directory descriptor = SyncDir
	if got := readOrMissing(t, crash(m, 0, 1), "f"); got != "" {
		t.Fatalf("f after syncing the root handle: %q", got)
	}
}

func TestMemFSLock(t *testing.T) {
	m := NewMem()
	l, err := m.Lock("LOCK")
	must(t, err)
	if _, err := m.Lock("/LOCK"); !errors.Is(err, ErrLocked) {
		t.Fatalf("second Lock = %v", err)
	}
	must(t, l.Close())
	if err := l.Close(); !errors.Is(err, os.ErrClosed) {
		t.Fatalf("second Close = %v", err)
	}
	l, err = m.Lock("LOCK")
	must(t, err)
	must(t, l.Close())
}

func TestMemFSPaths(t *testing.T) {
	m := NewMem()
	must(t, m.MkdirAll("a/b", 0o755))
	must(t, m.WriteFile("/a/b/f", []byte("x")))
	for _, p := range []string{"a/b/f", "/a/b/f", "a/./b/f", "a/b/../b/f", "a//b/f"} {
		if got := readOrMissing(t, m, p); got != "x" {
			t.Errorf("%s: %q", p, got)
		}
	}
	if _, err := m.Stat("../a"); err == nil {
		t.Error("Stat(../a) succeeded")
	}
	if _, err := m.Stat(""); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Stat(\"\") = %v", err)
	}
	f, err := m.Open("a/b/f")
	must(t, err)
	if f.Fd() != InvalidFd {
		t.Error("MemFS Fd is not InvalidFd")
	}
	if _, err := m.Create("/"); !errors.Is(err, syscall.EISDIR) {
		t.Errorf("Create(/) = %v", err)
	}
	if err := m.Remove("/"); err == nil {
		t.Error("Remove(/) succeeded")
	}
}

// ---- Concurrency and cost ----

func TestMemFSConcurrentReadersAndAppender(t *testing.T) {
	m := NewMem()
	f := durableFile(t, m, "log", "")
	const chunk, chunks = 256, 400
	var wg sync.WaitGroup
	stop := make(chan struct{})
	errc := make(chan error, 8)
	for r := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, chunk)
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				size, err := f.Size()
				if err != nil {
					errc <- err
					return
				}
				if size < chunk {
					continue
				}
				idx := (int64(i*7+r) % (size / chunk))
				if _, err := f.ReadAt(buf, idx*chunk); err != nil {
					errc <- err
					return
				}
				if buf[0] != byte(idx) || buf[chunk-1] != byte(idx) {
					errc <- fmt.Errorf("chunk %d reads %d", idx, buf[0])
					return
				}
			}
		}()
	}
	wg.Add(1)
	go func() { // crash clones taken while the appender runs
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			c := crash(m, 0.5, int64(i))
			if _, err := c.ReadFile("log"); err != nil {
				errc <- err
				return
			}
		}
	}()
	for i := range chunks {
		if _, err := f.WriteAt(bytes.Repeat([]byte{byte(i)}, chunk), int64(i*chunk)); err != nil {
			t.Fatal(err)
		}
		if i%10 == 0 {
			must(t, f.Sync())
		}
	}
	close(stop)
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Error(err)
	}
}

func TestCrashCloneCost(t *testing.T) {
	// ~300 KiB written in 1 KiB appends, synced every 16 appends, with an
	// unsynced tail: many clones must stay cheap.
	m := NewMem()
	f := durableFile(t, m, "log", "")
	buf := make([]byte, 1024)
	for i := range 300 {
		_, err := f.WriteAt(buf, int64(i*len(buf)))
		must(t, err)
		if i%16 == 15 && i < 280 {
			must(t, f.Sync())
		}
	}
	n := 2000
	if testing.Short() || raceEnabled {
		n = 300
	}
	for seed := range int64(n) {
		c := m.CrashClone(CrashOptions{Seed: seed, KeepUnsynced: 0.5, Tear: true})
		if size, err := c.Stat("log"); err != nil || size.Size() < 16*1024*17 {
			t.Fatalf("seed %d: %v %v", seed, size, err)
		}
	}
}

func TestMemFSSizeLimit(t *testing.T) {
	m := NewMem()
	f, err := m.Create("f")
	must(t, err)
	if err := f.Truncate(maxMemFileSize + 1); !errors.Is(err, syscall.EFBIG) {
		t.Fatalf("huge Truncate = %v", err)
	}
	if _, err := f.WriteAt([]byte("x"), maxMemFileSize); !errors.Is(err, syscall.EFBIG) {
		t.Fatalf("huge WriteAt = %v", err)
	}
}
