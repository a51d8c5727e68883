package vfs

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
)

func TestOpStrings(t *testing.T) {
	seen := map[string]bool{}
	for op := OpCreate; op < numOps; op++ {
		s := op.String()
		if s == "" || strings.HasPrefix(s, "Op(") || seen[s] {
			t.Errorf("%d: %q", op, s)
		}
		seen[s] = true
	}
	if got := Op(200).String(); got != "Op(200)" {
		t.Errorf("Op(200) = %q", got)
	}
	var mutating []string
	for op := OpCreate; op < numOps; op++ {
		if op.Mutating() {
			mutating = append(mutating, op.String())
		}
	}
	if got := strings.Join(mutating, ","); got != "create,write,sync,truncate,remove,rename,mkdir,syncdir,allocate" {
		t.Errorf("mutating ops: %s", got)
	}
}

// recorder is an Injector that records every operation and fails none.
type recorder struct {
	mu  sync.Mutex
	ops []string
}

func (r *recorder) MaybeError(op Op, path string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ops = append(r.ops, op.String()+" "+path)
	return nil
}

func TestInjectorSeesEveryOperation(t *testing.T) {
	rec := &recorder{}
	fs := WithInjector(NewMem(), rec, InjectOptions{})
	must(t, fs.MkdirAll("d", 0o755))
	f, err := fs.Create("d/f")
	must(t, err)
	_, err = f.WriteAt([]byte("x"), 0)
	must(t, err)
	_, err = f.ReadAt(make([]byte, 1), 0)
	must(t, err)
	must(t, f.Truncate(1))
	must(t, f.Allocate(1, 10))
	_, err = f.Size()
	must(t, err)
	must(t, f.Sync())
	must(t, f.Close())
	f, err = fs.Open("d/f")
	must(t, err)
	must(t, f.Close())
	f, err = fs.OpenReadWrite("d/f")
	must(t, err)
	must(t, f.Close())
	_, err = fs.Stat("d/f")
	must(t, err)
	_, err = fs.List("d")
	must(t, err)
	must(t, fs.Rename("d/f", "d/g"))
	must(t, fs.SyncDir("d"))
	l, err := fs.Lock("LOCK")
	must(t, err)
	must(t, l.Close())
	must(t, fs.Remove("d/g"))
	must(t, fs.RemoveAll("d"))
	want := []string{
		"mkdir d", "create d/f", "write d/f", "read d/f", "truncate d/f", "allocate d/f", "stat d/f", "sync d/f",
		"close d/f", "open d/f", "close d/f", "open d/f", "close d/f", "stat d/f", "list d", "rename d/f", "syncdir d",
		"lock LOCK", "remove d/g", "remove d",
	}
	if got := strings.Join(rec.ops, "\n"); got != strings.Join(want, "\n") {
		t.Fatalf("ops:\n%s\nwant:\n%s", got, strings.Join(want, "\n"))
	}
}

// workload performs a fixed sequence of operations and stops at the first
// error, returning it.
func workload(fs FS) error {
	if err := fs.MkdirAll("d", 0o755); err != nil {
		return err
	}
	f, err := fs.Create("d/f")
	if err != nil {
		return err
	}
	defer f.Close()
	for i := range 3 {
		if _, err := f.WriteAt([]byte("abc"), int64(3*i)); err != nil {
			return err
		}
		if err := f.Sync(); err != nil {
			return err
		}
	}
	if err := fs.Rename("d/f", "d/g"); err != nil {
		return err
	}
	return fs.SyncDir("d")
}

func TestOnIndexFailsEachPointOnce(t *testing.T) {
	// Mutating ops of the workload: mkdir, create, 3x(write, sync), rename, syncdir.
	wantOps := []Op{OpMkdir, OpCreate, OpWrite, OpSync, OpWrite, OpSync, OpWrite, OpSync, OpRename, OpSyncDir}
	var index int64
	for ; ; index++ {
		var failedOp Op
		inj := OnIndex(index, Op.Mutating, syscall.ENOSPC)
		wrapped := InjectorFunc(func(op Op, path string) error {
			err := inj.MaybeError(op, path)
			if err != nil {
				failedOp = op
			}
			return err
		})
		err := workload(WithInjector(NewMem(), wrapped, InjectOptions{}))
		if index >= inj.Count() {
			if err != nil || inj.Fired() {
				t.Fatalf("index %d past the end: err=%v fired=%v", index, err, inj.Fired())
			}
			break
		}
		if !inj.Fired() {
			t.Fatalf("index %d: did not fire", index)
		}
		if !errors.Is(err, syscall.ENOSPC) || !errors.Is(err, ErrInjected) {
			t.Fatalf("index %d: err = %v, want injected ENOSPC", index, err)
		}
		if failedOp != wantOps[index] {
			t.Fatalf("index %d failed %v, want %v", index, failedOp, wantOps[index])
		}
		// The workload stops at the failure, so the count is the index + 1.
		if inj.Count() != index+1 {
			t.Fatalf("index %d: Count = %d", index, inj.Count())
		}
	}
	if index != int64(len(wantOps)) {
		t.Fatalf("loop ended at %d, want %d", index, len(wantOps))
	}
}

func TestOnIndexCountsOnlyMatching(t *testing.T) {
	inj := OnIndex(1, func(op Op) bool { return op == OpWrite }, nil)
	for _, op := range []Op{OpSync, OpWrite, OpRead, OpSync} {
		if err := inj.MaybeError(op, "x"); err != nil {
			t.Fatalf("%v failed", op)
		}
	}
	if inj.Fired() || inj.Count() != 1 {
		t.Fatalf("fired=%v count=%d", inj.Fired(), inj.Count())
	}
	if err := inj.MaybeError(OpWrite, "x"); err != ErrInjected {
		t.Fatalf("second write: %v", err)
	}
	if err := inj.MaybeError(OpWrite, "x"); err != nil || inj.Count() != 3 || !inj.Fired() {
		t.Fatalf("third write: %v count=%d", err, inj.Count())
	}
	all := OnIndex(2, nil, nil) // nil match counts everything
	var errs int
	for _, op := range []Op{OpStat, OpList, OpOpen, OpRead} {
		if all.MaybeError(op, "") != nil {
			errs++
		}
	}
	if errs != 1 || all.Count() != 4 {
		t.Fatalf("errs=%d count=%d", errs, all.Count())
	}
}

func TestOnIndexConcurrent(t *testing.T) {
	inj := OnIndex(500, nil, nil)
	var wg sync.WaitGroup
	var mu sync.Mutex
	fails := 0
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 200 {
				if inj.MaybeError(OpWrite, "") != nil {
					mu.Lock()
					fails++
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	if fails != 1 || inj.Count() != 1600 {
		t.Fatalf("fails=%d count=%d", fails, inj.Count())
	}
}

func TestShortWrites(t *testing.T) {
	data := bytes.Repeat([]byte{'x'}, 3000)
	for _, tc := range []struct {
		short bool
		len   int
		want  int
	}{
		{true, 3000, 1024}, // half is 1500, rounded down to 512s
		{true, 1000, 0},    // half is 500 < 512
		{false, 3000, 0},
	} {
		m := NewMem()
		fs := WithInjector(m, OnIndex(0, func(op Op) bool { return op == OpWrite }, syscall.ENOSPC), InjectOptions{ShortWrites: tc.short})
		f, err := fs.Create("f")
		must(t, err)
		n, err := f.WriteAt(data[:tc.len], 100)
		if n != tc.want || !errors.Is(err, syscall.ENOSPC) {
			t.Fatalf("%+v: WriteAt = %d, %v", tc, n, err)
		}
		var pe *os.PathError
		if !errors.As(err, &pe) || pe.Path != "f" {
			t.Fatalf("%+v: error %v is not a PathError naming the file", tc, err)
		}
		got, _ := m.ReadFile("f")
		wantSize := 0
		if tc.want > 0 {
			wantSize = 100 + tc.want
		}
		if len(got) != wantSize || (tc.want > 0 && !bytes.Equal(got[100:], data[:tc.want])) {
			t.Fatalf("%+v: file has %d bytes, want %d", tc, len(got), wantSize)
		}
	}
}

func TestInjectedErrorsKeepErrno(t *testing.T) {
	for _, errno := range []syscall.Errno{syscall.ENOSPC, syscall.EIO, syscall.EDQUOT} {
		fs := WithInjector(NewMem(), OnIndex(0, nil, errno), InjectOptions{})
		err := fs.MkdirAll("d", 0o755)
		if !errors.Is(err, errno) || !errors.Is(err, ErrInjected) {
			t.Fatalf("%v: got %v", errno, err)
		}
		if _, err := fs.Stat("d"); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("%v: the failed MkdirAll was performed: %v", errno, err)
		}
	}
	// InjectorFunc errors are passed through as they are.
	fs := WithInjector(NewMem(), InjectorFunc(func(op Op, path string) error {
		if op == OpRename {
			return syscall.EXDEV
		}
		return nil
	}), InjectOptions{})
	f, err := fs.Create("a")
	must(t, err)
	must(t, f.Close())
	err = fs.Rename("a", "b")
	var le *os.LinkError
	if !errors.As(err, &le) || !errors.Is(err, syscall.EXDEV) || errors.Is(err, ErrInjected) {
		t.Fatalf("Rename = %v", err)
	}
}

func TestInjectCloseStillCloses(t *testing.T) {
	fs := WithInjector(NewMem(), OnIndex(0, func(op Op) bool { return op == OpClose }, syscall.EIO), InjectOptions{})
	f, err := fs.Create("f")
	must(t, err)
	if err := f.Close(); !errors.Is(err, syscall.EIO) {
		t.Fatalf("Close = %v", err)
	}
	if _, err := f.WriteAt([]byte("x"), 0); !errors.Is(err, os.ErrClosed) {
		t.Fatalf("WriteAt after failed Close = %v, want ErrClosed", err)
	}
}

func TestInjectPreservesFd(t *testing.T) {
	fs := WithInjector(Default, InjectorFunc(func(Op, string) error { return nil }), InjectOptions{})
	name := filepath.Join(t.TempDir(), "f")
	f, err := fs.Create(name)
	must(t, err)
	if f.Fd() == InvalidFd {
		t.Fatal("wrapped OS file lost its Fd")
	}
	must(t, f.Close())
	mf, err := WithInjector(NewMem(), InjectorFunc(func(Op, string) error { return nil }), InjectOptions{}).Create("f")
	must(t, err)
	if mf.Fd() != InvalidFd {
		t.Fatal("wrapped MemFS file has an Fd")
	}
}

func TestInjectNestedFailSync(t *testing.T) {
	// A failed Sync reaches the MemFS through two wrappers.
	m := NewMem()
	durableFile(t, m, "f", "")
	inner := WithInjector(m, InjectorFunc(func(Op, string) error { return nil }), InjectOptions{})
	outer := WithInjector(inner, OnIndex(0, func(op Op) bool { return op == OpSync }, nil), InjectOptions{})
	f, err := outer.OpenReadWrite("f")
	must(t, err)
	_, err = f.WriteAt([]byte("lost"), 0)
	must(t, err)
	if err := f.Sync(); !errors.Is(err, ErrInjected) {
		t.Fatalf("Sync = %v", err)
	}
	must(t, f.Sync())
	if got := readOrMissing(t, crash(m, 1, 1), "f"); got != "" {
		t.Fatalf("crash after failed sync: %q", got)
	}
}

func TestInjectorCanCrashClone(t *testing.T) {
	// A crash at the k-th mutating op, taken from inside the injector (as
	// crash tests do), must not deadlock, and sees the state before op k.
	m := NewMem()
	must(t, m.MkdirAll("d", 0o755))
	must(t, m.SyncDir("/"))
	var clones []*MemFS
	fs := WithInjector(m, InjectorFunc(func(op Op, path string) error {
		if op.Mutating() {
			clones = append(clones, m.CrashClone(CrashOptions{Seed: 1}))
		}
		return nil
	}), InjectOptions{})
	must(t, workload(fs))
	clones = append(clones, m.CrashClone(CrashOptions{Seed: 1}))
	if len(clones) != 11 {
		t.Fatalf("%d crash points", len(clones))
	}
	for k, c := range clones {
		f, g := readOrMissing(t, c, "d/f"), readOrMissing(t, c, "d/g")
		// Only the final SyncDir makes the (created, then renamed) file durable.
		if (k < 10 && (f != "<missing>" || g != "<missing>")) || (k == 10 && (f != "<missing>" || g != "abcabcabc")) {
			t.Fatalf("crash before op %d: d/f=%q d/g=%q", k, f, g)
		}
	}
}
