package vfs

import (
	"bytes"
	"cmp"
	"errors"
	"io"
	"maps"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// maxMemFileSize bounds the size of a MemFS file; larger sizes fail with
// EFBIG instead of exhausting memory.
const maxMemFileSize = min(1<<32, math.MaxInt)

// tearBoundary is the granularity at which CrashOptions.Tear tears writes.
const tearBoundary = 512

// maxNameLength is the longest name of a file or directory, in bytes:
// NAME_MAX of Linux's file systems (and of most others). Longer names fail
// with ENAMETOOLONG, as they do there.
const maxNameLength = 255

// MemFS is an in-memory FS that records, besides the current contents, what
// is durable, so that CrashClone can produce the states a real file system
// could be in after a power failure.
//
// Model. Files are inodes referenced by directory entries. For every file
// inode MemFS keeps the durable contents and the ordered list of changes
// (WriteAt, Truncate, the truncation done by Create of an existing name) made
// since its last successful Sync. For every directory it keeps the durable
// entries, and MemFS keeps one ordered list of the namespace operations
// (entry created, removed, renamed) not yet made durable by SyncDir. Renaming
// moves the inode, so the data and its sync state travel with it. A Sync that
// fails through WithInjector drops the file's unsynced changes without making
// them durable, as Linux does (see WithInjector). CrashClone documents which
// states a crash can produce.
//
// A MemFS is safe for concurrent use. All paths are relative to the MemFS
// root: "/a/b", "a/b" and "a/./b" name the same file; ".." may not leave the
// root; a name longer than 255 bytes fails with ENAMETOOLONG. Files have
// Fd() == InvalidFd. Sizes above 4 GiB (2 GiB on 32-bit
// platforms) fail with EFBIG.
type MemFS struct {
	mu      sync.RWMutex
	root    *inode
	nextID  uint64
	pending []*nsOp             // unsynced namespace operations, oldest first
	dirty   map[*inode]struct{} // file inodes with unsynced extents
	locks   map[*inode]struct{} // inodes locked through Lock
}

var _ FS = (*MemFS)(nil)

// inode is a file or directory. All fields except id and dir are guarded by
// MemFS.mu.
type inode struct {
	id  uint64 // unique within a MemFS and its clones; orders crash decisions
	dir bool

	// Regular files.
	data    []byte   // live contents; len(data) is the live size
	durable []byte   // contents that survive any crash
	shared  bool     // data and durable share a backing array: copy data before changing it
	pending []extent // changes since the last successful Sync, oldest first
	// reserved is where space reserved with Allocate ends, when that is
	// past the live size; Truncate gives it back. Not kept by a crash:
	// it models blocks, not contents.
	reserved int64

	// Directories.
	children  map[string]*inode // live entries
	dchildren map[string]*inode // durable entries
}

// extent is one unsynced change of a file's contents or size.
type extent struct {
	off   int64  // write offset, or the new size for a truncation
	data  []byte // written bytes (a private copy); nil for a truncation
	trunc bool
}

type nsKind uint8

const (
	nsLink   nsKind = iota // dir[name] = node
	nsUnlink               // delete dir[name]
	nsRename               // delete dir[name]; toDir[toName] = node
)

// nsOp is one unsynced namespace operation.
type nsOp struct {
	kind   nsKind
	dir    *inode
	name   string
	node   *inode
	toDir  *inode
	toName string
}

// nameKey identifies a directory entry independently of paths.
type nameKey struct {
	dir  *inode
	name string
}

func (op *nsOp) touches(d *inode) bool { return op.dir == d || (op.kind == nsRename && op.toDir == d) }

func (op *nsOp) names(f func(nameKey)) {
	f(nameKey{op.dir, op.name})
	if op.kind == nsRename {
		f(nameKey{op.toDir, op.toName})
	}
}

// apply performs op on the entry maps returned by entries.
func (op *nsOp) apply(entries func(*inode) map[string]*inode) {
	switch op.kind {
	case nsLink:
		entries(op.dir)[op.name] = op.node
	case nsUnlink:
		delete(entries(op.dir), op.name)
	case nsRename:
		delete(entries(op.dir), op.name)
		entries(op.toDir)[op.toName] = op.node
	}
}

// NewMem returns an empty MemFS whose root directory exists and is durable.
func NewMem() *MemFS {
	m := &MemFS{dirty: map[*inode]struct{}{}, locks: map[*inode]struct{}{}}
	m.root = m.newInode(true)
	return m
}

// REQUIRES: m.mu held for writing, or m not yet shared.
func (m *MemFS) newInode(dir bool) *inode {
	n := &inode{id: m.nextID, dir: dir}
	m.nextID++
	if dir {
		n.children = map[string]*inode{}
		n.dchildren = map[string]*inode{}
	}
	return n
}

// CrashOptions selects one of the states a CrashClone may produce.
type CrashOptions struct {
	// Seed is the source of all randomness: the same MemFS state and the same
	// options always produce the same clone.
	Seed int64
	// KeepUnsynced is the probability in [0,1] that each unsynced change (a
	// file extent or a namespace operation) survives the crash. 0 keeps only
	// durable state; 1 keeps everything (minus what a failed Sync dropped).
	KeepUnsynced float64
	// Tear lets a surviving write be torn: with probability 1/2 it survives
	// whole, otherwise only a prefix ending at a 512-byte boundary of the file
	// offset survives, chosen uniformly among those boundaries and the empty
	// prefix.
	Tear bool
	// Keep, if non-nil, replaces KeepUnsynced: unsynced change i survives if
	// and only if Keep(i) returns true. Changes are numbered 0 to
	// UnsyncedOps()-1 in the order CrashClone considers them (namespace
	// operations first, oldest first; then each file's extents, oldest first,
	// files in creation order). Enumerating all Keep functions over a small
	// number of changes explores every crash state exhaustively. Keep is
	// called with the MemFS read-locked and must not call its methods.
	Keep func(i int) bool
}

// UnsyncedOps returns the number of unsynced changes a CrashClone decides
// about (see CrashOptions.Keep).
func (m *MemFS) UnsyncedOps() int {
	m.mu.RLock()
	defer m.mu.RUnlock()
	n := len(m.pending)
	for ino := range m.dirty {
		n += len(ino.pending)
	}
	return n
}

// CrashClone returns a new MemFS holding a state the file system could be in
// after a power failure at this instant:
//
//   - Each unsynced namespace operation survives independently (see
//     CrashOptions); the surviving ones are applied in their original order
//     to the durable directory entries, so for each name the last surviving
//     operation wins. A file whose entry does not survive is absent, whatever
//     the state of its data; a file whose rename does not survive is at its
//     old name.
//   - Each unsynced extent of each file survives independently, possibly torn,
//     and the survivors are applied in their original order to the durable
//     contents. Later writes may therefore survive while earlier ones do not
//     (reordering); bytes within the resulting size that no surviving write
//     covers read as zeros.
//
// Everything in the clone is durable. The receiver is unchanged and stays
// usable; its open files and locks are not carried over. The cost is
// proportional to the data held plus the number of unsynced changes.
func (m *MemFS) CrashClone(opts CrashOptions) *MemFS {
	m.mu.RLock()
	defer m.mu.RUnlock()

	rng := rand.New(rand.NewPCG(uint64(opts.Seed), 0x9e3779b97f4a7c15))
	next := 0
	keep := func() bool {
		i := next
		next++
		if opts.Keep != nil {
			return opts.Keep(i)
		}
		return rng.Float64() < opts.KeepUnsynced
	}

	// Directory entries after the crash: durable entries plus surviving ops.
	view := map[*inode]map[string]*inode{}
	entries := func(d *inode) map[string]*inode {
		e, ok := view[d]
		if !ok {
			e = maps.Clone(d.dchildren)
			if e == nil {
				e = map[string]*inode{}
			}
			view[d] = e
		}
		return e
	}
	for _, op := range m.pending {
		if keep() {
			op.apply(entries)
		}
	}

	children := func(d *inode) map[string]*inode {
		if e, ok := view[d]; ok {
			return e
		}
		return d.dchildren
	}
	reachable := map[*inode]bool{}
	var mark func(n *inode)
	mark = func(n *inode) {
		if reachable[n] {
			return
		}
		reachable[n] = true
		if n.dir {
			for _, k := range children(n) {
				mark(k)
			}
		}
	}
	mark(m.root)

	// File contents after the crash. Every unsynced extent takes its random
	// decisions in a fixed order (for determinism and stable Keep indexes),
	// but only files present after the crash have their contents built.
	dirty := slices.SortedFunc(maps.Keys(m.dirty), func(a, b *inode) int { return cmp.Compare(a.id, b.id) })
	contents := make(map[*inode][]byte, len(dirty))
	for _, ino := range dirty {
		var b []byte
		if reachable[ino] {
			b = slices.Clone(ino.durable)
		}
		for _, e := range ino.pending {
			if !keep() {
				continue
			}
			n := len(e.data)
			if !e.trunc && opts.Tear {
				n = tearLen(rng, e.off, n)
			}
			if reachable[ino] && (e.trunc || n > 0) {
				b = applyExtent(b, e, n)
			}
		}
		if reachable[ino] {
			contents[ino] = b
		}
	}

	c := &MemFS{nextID: m.nextID, dirty: map[*inode]struct{}{}, locks: map[*inode]struct{}{}}
	built := map[*inode]*inode{}
	var build func(old *inode) *inode
	build = func(old *inode) *inode {
		if n, ok := built[old]; ok {
			return n
		}
		n := &inode{id: old.id, dir: old.dir}
		built[old] = n
		if old.dir {
			kids := children(old)
			n.children = make(map[string]*inode, len(kids))
			n.dchildren = make(map[string]*inode, len(kids))
			for name, k := range kids {
				nk := build(k)
				n.children[name] = nk
				n.dchildren[name] = nk
			}
			return n
		}
		b, ok := contents[old]
		if !ok {
			b = slices.Clone(old.durable)
		}
		n.data, n.durable, n.shared = b, b, true
		return n
	}
	c.root = build(m.root)
	return c
}

// tearLen picks how many of the l bytes written at off survive a torn write:
// all of them with probability 1/2, otherwise uniformly one of the empty
// prefix and the prefixes ending at a tearBoundary multiple of the file offset.
func tearLen(rng *rand.Rand, off int64, l int) int {
	if l == 0 || rng.IntN(2) == 0 {
		return l
	}
	// The first boundary strictly inside the write, as a length.
	first := int((tearBoundary - off%tearBoundary) % tearBoundary)
	if first == 0 {
		first = tearBoundary
	}
	cuts := 0 // boundaries strictly inside (0, l)
	if first < l {
		cuts = (l-1-first)/tearBoundary + 1
	}
	j := rng.IntN(cuts + 1)
	if j == 0 {
		return 0
	}
	return first + (j-1)*tearBoundary
}

// resize returns b with length n, zeroing any bytes it exposes.
func resize(b []byte, n int64) []byte {
	if n <= int64(len(b)) {
		return b[:n]
	}
	if n <= int64(cap(b)) {
		old := len(b)
		b = b[:n]
		clear(b[old:])
		return b
	}
	nb := make([]byte, n, max(n, 2*int64(cap(b))))
	copy(nb, b)
	return nb
}

// applyExtent applies the first n bytes of e (all of e for a truncation) to b.
func applyExtent(b []byte, e extent, n int) []byte {
	if e.trunc {
		return resize(b, e.off)
	}
	if end := e.off + int64(n); end > int64(len(b)) {
		b = resize(b, end)
	}
	copy(b[e.off:], e.data[:n])
	return b
}

// REQUIRES: m.mu held for writing.
func (m *MemFS) unshare(ino *inode) {
	if ino.shared {
		ino.data = slices.Clone(ino.data)
		ino.shared = false
	}
}

// REQUIRES: m.mu held for writing.
func (m *MemFS) writeLocked(ino *inode, p []byte, off int64) {
	if len(p) == 0 {
		return
	}
	m.unshare(ino)
	if end := off + int64(len(p)); end > int64(len(ino.data)) {
		ino.data = resize(ino.data, end)
	}
	copy(ino.data[off:], p)
	ino.pending = append(ino.pending, extent{off: off, data: slices.Clone(p)})
	m.dirty[ino] = struct{}{}
}

// REQUIRES: m.mu held for writing.
func (m *MemFS) truncateLocked(ino *inode, size int64) {
	m.unshare(ino)
	ino.data = resize(ino.data, size)
	ino.reserved = 0
	ino.pending = append(ino.pending, extent{off: size, trunc: true})
	m.dirty[ino] = struct{}{}
}

// REQUIRES: m.mu held for writing.
func (m *MemFS) syncLocked(ino *inode) {
	for _, e := range ino.pending {
		ino.durable = applyExtent(ino.durable, e, len(e.data))
	}
	ino.pending = nil
	delete(m.dirty, ino)
}

// makeDurable makes durable every pending namespace operation for which
// match returns true, together with every earlier operation on a name that a
// made-durable operation touches, so that per-name order is preserved.
//
// REQUIRES: m.mu held for writing.
func (m *MemFS) makeDurable(match func(*nsOp) bool) {
	forced := make([]bool, len(m.pending))
	names := map[nameKey]bool{}
	for i := len(m.pending) - 1; i >= 0; i-- {
		op := m.pending[i]
		f := match(op)
		op.names(func(k nameKey) { f = f || names[k] })
		if f {
			forced[i] = true
			op.names(func(k nameKey) { names[k] = true })
		}
	}
	durable := func(d *inode) map[string]*inode { return d.dchildren }
	rest := make([]*nsOp, 0, len(m.pending))
	for i, op := range m.pending {
		if forced[i] {
			op.apply(durable)
		} else {
			rest = append(rest, op)
		}
	}
	clear(m.pending) // drop references for the GC
	m.pending = rest
}

// splitPath returns the components of name below the root.
func splitPath(name string) ([]string, error) {
	if name == "" {
		return nil, syscall.ENOENT
	}
	p := strings.Trim(filepath.ToSlash(filepath.Clean(name)), "/")
	if p == "." || p == "" {
		return nil, nil
	}
	parts := strings.Split(p, "/")
	for _, c := range parts {
		if c == ".." {
			return nil, syscall.EINVAL
		}
		if len(c) > maxNameLength {
			return nil, syscall.ENAMETOOLONG
		}
	}
	return parts, nil
}

// lookup resolves name. It returns the parent directory (nil for the root),
// the last component, and the inode (nil if the parent exists but the entry
// does not).
//
// REQUIRES: m.mu held.
func (m *MemFS) lookup(name string) (parent *inode, base string, node *inode, err error) {
	parts, err := splitPath(name)
	if err != nil {
		return nil, "", nil, err
	}
	if len(parts) == 0 {
		return nil, "", m.root, nil
	}
	d := m.root
	for _, c := range parts[:len(parts)-1] {
		next, ok := d.children[c]
		if !ok {
			return nil, "", nil, syscall.ENOENT
		}
		if !next.dir {
			return nil, "", nil, syscall.ENOTDIR
		}
		d = next
	}
	base = parts[len(parts)-1]
	return d, base, d.children[base], nil
}

func pathErr(op, name string, err error) error { return &os.PathError{Op: op, Path: name, Err: err} }

// REQUIRES: m.mu held for writing.
func (m *MemFS) link(dir *inode, name string, node *inode) {
	dir.children[name] = node
	m.pending = append(m.pending, &nsOp{kind: nsLink, dir: dir, name: name, node: node})
}

// REQUIRES: m.mu held for writing.
func (m *MemFS) unlink(dir *inode, name string) {
	delete(dir.children, name)
	m.pending = append(m.pending, &nsOp{kind: nsUnlink, dir: dir, name: name})
}

// create opens name read-write, creating it if missing; if trunc, an existing
// file is truncated.
//
// REQUIRES: m.mu held for writing.
func (m *MemFS) create(name string, trunc bool) (*inode, error) {
	parent, base, node, err := m.lookup(name)
	if err != nil {
		return nil, pathErr("open", name, err)
	}
	if parent == nil || (node != nil && node.dir) {
		return nil, pathErr("open", name, syscall.EISDIR)
	}
	if node == nil {
		node = m.newInode(false)
		m.link(parent, base, node)
		return node, nil
	}
	if trunc && (len(node.data) > 0 || len(node.durable) > 0 || len(node.pending) > 0) {
		m.truncateLocked(node, 0)
	}
	return node, nil
}

// Create implements FS. Creating a new name is an unsynced operation of its
// parent; truncating an existing file is an unsynced size change of it.
func (m *MemFS) Create(name string) (File, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	node, err := m.create(name, true)
	if err != nil {
		return nil, err
	}
	return &memFile{fs: m, ino: node, name: name}, nil
}

// lookupFile returns the regular file at name. REQUIRES: m.mu held.
func (m *MemFS) lookupFile(name string) (*inode, error) {
	node, err := m.lookupExisting("open", name)
	if err == nil && node.dir {
		err = pathErr("open", name, syscall.EISDIR)
	}
	return node, err
}

// lookupExisting returns the inode at name, or a *PathError for op
// (ENOENT when there is none). REQUIRES: m.mu held.
func (m *MemFS) lookupExisting(op, name string) (*inode, error) {
	_, _, node, err := m.lookup(name)
	if err == nil && node == nil {
		err = syscall.ENOENT
	}
	if err != nil {
		return nil, pathErr(op, name, err)
	}
	return node, nil
}

// OpenReadWrite implements FS.
func (m *MemFS) OpenReadWrite(name string) (File, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	node, err := m.lookupFile(name)
	if err != nil {
		return nil, err
	}
	return &memFile{fs: m, ino: node, name: name}, nil
}

// Open implements FS. Directories can be opened; reading them fails.
func (m *MemFS) Open(name string) (File, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	node, err := m.lookupExisting("open", name)
	if err != nil {
		return nil, err
	}
	return &memFile{fs: m, ino: node, name: name, readOnly: true}, nil
}

// Remove implements FS.
func (m *MemFS) Remove(name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	parent, base, node, err := m.lookup(name)
	switch {
	case err != nil:
	case node == nil:
		err = syscall.ENOENT
	case parent == nil:
		err = syscall.EBUSY
	case node.dir && len(node.children) > 0:
		err = errNotEmpty
	}
	if err != nil {
		return pathErr("remove", name, err)
	}
	m.unlink(parent, base)
	return nil
}

// RemoveAll implements FS. Each removed entry is a separate unsynced
// operation (children before their directory, in name order), so a crash may
// keep any subset of the removals.
func (m *MemFS) RemoveAll(name string) error {
	if name == "" {
		return nil // as os.RemoveAll
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	parent, base, node, err := m.lookup(name)
	if errors.Is(err, syscall.ENOENT) || (err == nil && node == nil) {
		return nil
	}
	if err == nil && parent == nil {
		err = syscall.EINVAL
	}
	if err != nil {
		return pathErr("RemoveAll", name, err)
	}
	var rm func(dir *inode, base string, node *inode)
	rm = func(dir *inode, base string, node *inode) {
		if node.dir {
			for _, k := range slices.Sorted(maps.Keys(node.children)) {
				rm(node, k, node.children[k])
			}
		}
		m.unlink(dir, base)
	}
	rm(parent, base, node)
	return nil
}

// Rename implements FS with the semantics of os.Rename on Unix: a file
// replaces an existing file atomically; an existing directory at newname is an
// error (EEXIST). The rename is one unsynced operation of both parents,
// durable after SyncDir of either of them (as on Linux); a crash keeps it
// entirely or not at all.
func (m *MemFS) Rename(oldname, newname string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	oldParent, oldBase, oldNode, err := m.lookup(oldname)
	if err == nil && oldNode == nil {
		err = syscall.ENOENT
	}
	var newParent, newNode *inode
	var newBase string
	if err == nil {
		newParent, newBase, newNode, err = m.lookup(newname)
	}
	switch {
	case err != nil:
	case oldParent == nil || newParent == nil:
		err = syscall.EBUSY
	case newNode == oldNode:
		return nil // same file: nothing to do
	case newNode != nil && newNode.dir:
		err = syscall.EEXIST
	case oldNode.dir && newNode != nil:
		err = syscall.ENOTDIR
	case oldNode.dir && isUnder(newname, oldname):
		err = syscall.EINVAL
	}
	if err != nil {
		return &os.LinkError{Op: "rename", Old: oldname, New: newname, Err: err}
	}
	delete(oldParent.children, oldBase)
	newParent.children[newBase] = oldNode
	m.pending = append(m.pending, &nsOp{kind: nsRename, dir: oldParent, name: oldBase, node: oldNode, toDir: newParent, toName: newBase})
	return nil
}

// isUnder reports whether path p is strictly below directory dir.
func isUnder(p, dir string) bool {
	pp, _ := splitPath(p)
	dp, _ := splitPath(dir)
	return len(pp) > len(dp) && slices.Equal(pp[:len(dp)], dp)
}

// MkdirAll implements FS. Each directory created is an unsynced operation of
// its parent. perm is ignored.
func (m *MemFS) MkdirAll(dir string, perm os.FileMode) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	parts, err := splitPath(dir)
	if err != nil {
		return pathErr("mkdir", dir, err)
	}
	d := m.root
	for _, c := range parts {
		next, ok := d.children[c]
		if !ok {
			next = m.newInode(true)
			m.link(d, c, next)
		} else if !next.dir {
			return pathErr("mkdir", dir, syscall.ENOTDIR)
		}
		d = next
	}
	return nil
}

// List implements FS.
func (m *MemFS) List(dir string) ([]string, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	node, err := m.lookupExisting("open", dir)
	if err != nil {
		return nil, err
	}
	if !node.dir {
		return nil, pathErr("readdirent", dir, syscall.ENOTDIR)
	}
	return slices.Sorted(maps.Keys(node.children)), nil
}

// Stat implements FS. ModTime is always the zero time.
func (m *MemFS) Stat(name string) (os.FileInfo, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	node, err := m.lookupExisting("stat", name)
	if err != nil {
		return nil, err
	}
	return memFileInfo{name: filepath.Base(name), size: int64(len(node.data)), dir: node.dir}, nil
}

// Lock implements FS. Locks are per inode and exist only in this MemFS; they
// are not carried over to clones.
func (m *MemFS) Lock(name string) (io.Closer, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	node, err := m.create(name, false)
	if err != nil {
		return nil, err
	}
	if _, held := m.locks[node]; held {
		return nil, pathErr("lock", name, ErrLocked)
	}
	m.locks[node] = struct{}{}
	return &memLock{fs: m, ino: node, name: name}, nil
}

// SyncDir implements FS: it makes durable every unsynced operation on an
// entry of dir (and, to keep per-name order, earlier operations on the same
// names).
func (m *MemFS) SyncDir(dir string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, _, node, err := m.lookup(dir)
	if err == nil && node == nil {
		err = syscall.ENOENT
	}
	if err != nil {
		return pathErr("open", dir, err)
	}
	if !node.dir {
		return pathErr("syncdir", dir, syscall.ENOTDIR)
	}
	m.makeDurable(func(op *nsOp) bool { return op.touches(node) })
	return nil
}

// Reserved returns how many bytes of space File.Allocate has reserved past
// the end of the named file that no write or Truncate has used or given
// back since.
func (m *MemFS) Reserved(name string) (int64, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	ino, err := m.lookupExisting("reserved", name)
	if err != nil {
		return 0, err
	}
	return max(0, ino.reserved-int64(len(ino.data))), nil
}

// ReadFile returns a copy of the current (not crash) contents of name.
func (m *MemFS) ReadFile(name string) ([]byte, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	node, err := m.lookupFile(name)
	if err != nil {
		return nil, err
	}
	return bytes.Clone(node.data), nil
}

// WriteFile replaces the contents of name with data (creating it if missing,
// its parent must exist) and makes both the contents and name's directory
// entry durable, without making other unsynced changes durable. It is a test
// helper, for example for corrupting a file.
func (m *MemFS) WriteFile(name string, data []byte) error {
	if int64(len(data)) > maxMemFileSize {
		return pathErr("write", name, errFileTooBig)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	node, err := m.create(name, true)
	if err != nil {
		return err
	}
	m.writeLocked(node, data, 0)
	m.syncLocked(node)
	parent, base, _, _ := m.lookup(name)
	entry := nameKey{parent, base}
	m.makeDurable(func(op *nsOp) bool {
		match := false
		op.names(func(k nameKey) { match = match || k == entry })
		return match
	})
	return nil
}

// memFileInfo implements os.FileInfo for MemFS.
type memFileInfo struct {
	name string
	size int64
	dir  bool
}

func (fi memFileInfo) Name() string { return fi.name }
func (fi memFileInfo) Size() int64  { return fi.size }
func (fi memFileInfo) Mode() os.FileMode {
	if fi.dir {
		return os.ModeDir | 0o755
	}
	return 0o644
}
func (fi memFileInfo) ModTime() time.Time { return time.Time{} }
func (fi memFileInfo) IsDir() bool        { return fi.dir }
func (fi memFileInfo) Sys() any           { return nil }

// memLock is a lock held through MemFS.Lock.
type memLock struct {
	fs     *MemFS
	ino    *inode
	name   string
	closed bool // guarded by fs.mu
}

// Close releases the lock. A second Close returns an error matching
// os.ErrClosed.
func (l *memLock) Close() error {
	l.fs.mu.Lock()
	defer l.fs.mu.Unlock()
	if l.closed {
		return pathErr("close", l.name, os.ErrClosed)
	}
	l.closed = true
	delete(l.fs.locks, l.ino)
	return nil
}

// memFile is an open MemFS file. It keeps its inode after the name is
// removed or renamed, as Unix does.
type memFile struct {
	fs       *MemFS
	ino      *inode
	name     string
	readOnly bool
	closed   atomic.Bool
}

var _ File = (*memFile)(nil)

var errNegativeOffset = errors.New("negative offset")

func (f *memFile) ReadAt(p []byte, off int64) (int, error) {
	if f.closed.Load() {
		return 0, pathErr("read", f.name, os.ErrClosed)
	}
	if off < 0 {
		return 0, pathErr("readat", f.name, errNegativeOffset)
	}
	if f.ino.dir {
		return 0, pathErr("read", f.name, syscall.EISDIR)
	}
	f.fs.mu.RLock()
	defer f.fs.mu.RUnlock()
	if off >= int64(len(f.ino.data)) {
		if len(p) == 0 {
			return 0, nil
		}
		return 0, io.EOF
	}
	n := copy(p, f.ino.data[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (f *memFile) WriteAt(p []byte, off int64) (int, error) {
	switch {
	case f.closed.Load():
		return 0, pathErr("write", f.name, os.ErrClosed)
	case f.readOnly:
		return 0, pathErr("write", f.name, errBadFd)
	case off < 0:
		return 0, pathErr("writeat", f.name, errNegativeOffset)
	case off > maxMemFileSize-int64(len(p)):
		return 0, pathErr("write", f.name, errFileTooBig)
	}
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	f.fs.writeLocked(f.ino, p, off)
	return len(p), nil
}

// Sync makes the file's contents durable; on a directory opened with Open
// it makes the directory's entries durable, like FS.SyncDir (and fsync(2) of
// a directory descriptor).
func (f *memFile) Sync() error {
	if f.closed.Load() {
		return pathErr("sync", f.name, os.ErrClosed)
	}
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if f.ino.dir {
		f.fs.makeDurable(func(op *nsOp) bool { return op.touches(f.ino) })
		return nil
	}
	f.fs.syncLocked(f.ino)
	return nil
}

// failSync models a failed fsync on Linux: the changes since the last
// successful Sync are dropped from the durable state and marked clean, so a
// later Sync does not make them durable. The live contents keep them.
func (f *memFile) failSync() {
	if f.ino.dir {
		return
	}
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	f.ino.pending = nil
	delete(f.fs.dirty, f.ino)
}

func (f *memFile) Truncate(size int64) error {
	switch {
	case f.closed.Load():
		return pathErr("truncate", f.name, os.ErrClosed)
	case f.readOnly || f.ino.dir || size < 0:
		return pathErr("truncate", f.name, syscall.EINVAL)
	case size > maxMemFileSize:
		return pathErr("truncate", f.name, errFileTooBig)
	}
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	f.fs.truncateLocked(f.ino, size)
	return nil
}

// Allocate records space reserved past the file's size, which Reserved
// reports and Truncate gives back. The contents and size do not change.
func (f *memFile) Allocate(off, n int64) error {
	switch {
	case f.closed.Load():
		return pathErr("fallocate", f.name, os.ErrClosed)
	case f.readOnly:
		return pathErr("fallocate", f.name, errBadFd)
	case f.ino.dir || off < 0 || n <= 0:
		return pathErr("fallocate", f.name, syscall.EINVAL)
	case off > maxMemFileSize-n:
		return pathErr("fallocate", f.name, errFileTooBig)
	}
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	f.ino.reserved = max(f.ino.reserved, off+n)
	return nil
}

func (f *memFile) Size() (int64, error) {
	if f.closed.Load() {
		return 0, pathErr("stat", f.name, os.ErrClosed)
	}
	f.fs.mu.RLock()
	defer f.fs.mu.RUnlock()
	return int64(len(f.ino.data)), nil
}

func (f *memFile) Close() error {
	if f.closed.Swap(true) {
		return pathErr("close", f.name, os.ErrClosed)
	}
	return nil
}

// Fd returns InvalidFd: MemFS files have no OS descriptor.
func (f *memFile) Fd() uintptr { return InvalidFd }
