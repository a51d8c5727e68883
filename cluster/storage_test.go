package cluster

import (
	"encoding/binary"
	"fmt"
	"testing"

	"github.com/commitlog-go/commitlog/internal/vfs"
	"github.com/stretchr/testify/require"
	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

func ent(index, term uint64, data string) *pb.Entry {
	return &pb.Entry{Index: proto.Uint64(index), Term: proto.Uint64(term), Type: pb.EntryNormal.Enum(), Data: []byte(data)}
}

func hardState(term, vote, commit uint64) *pb.HardState {
	return &pb.HardState{Term: proto.Uint64(term), Vote: proto.Uint64(vote), Commit: proto.Uint64(commit)}
}

// storageView is what a storage holds, in comparable form.
type storageView struct {
	Term, Vote, Commit uint64
	SnapIndex          uint64
	SnapData           string
	Entries            []string // "index/term/data", in index order
}

func viewOf(t testing.TB, s *diskStorage) storageView {
	t.Helper()
	hs, _, err := s.mem.InitialState()
	require.NoError(t, err)
	snap, err := s.mem.Snapshot()
	require.NoError(t, err)
	v := storageView{Term: hs.GetTerm(), Vote: hs.GetVote(), Commit: hs.GetCommit(),
		SnapIndex: snap.GetMetadata().GetIndex(), SnapData: string(snap.GetData())}
	first, _ := s.mem.FirstIndex()
	last, _ := s.mem.LastIndex()
	if last >= first {
		ents, err := s.mem.Entries(first, last+1, ^uint64(0))
		require.NoError(t, err)
		for _, e := range ents {
			v.Entries = append(v.Entries, fmt.Sprintf("%d/%d/%s", e.GetIndex(), e.GetTerm(), e.GetData()))
		}
	}
	return v
}

// batch is one Ready's worth of state to save.
type batch struct {
	hs   *pb.HardState
	ents []*pb.Entry
	snap *pb.Snapshot
}

// sampleBatches is a history with an election, a conflicting overwrite of
// uncommitted entries and a snapshot received from a leader.
func sampleBatches() []batch {
	return []batch{
		{hs: hardState(1, 1, 0)},
		{ents: []*pb.Entry{ent(1, 1, "a"), ent(2, 1, "b"), ent(3, 1, "c")}},
		{hs: hardState(1, 1, 2)},
		{hs: hardState(2, 2, 2), ents: []*pb.Entry{ent(3, 2, "C"), ent(4, 2, "D")}}, // 3 of term 1 replaced
		{hs: hardState(2, 2, 4)},
		{snap: &pb.Snapshot{Data: []byte("state at 6"), Metadata: &pb.SnapshotMetadata{Index: proto.Uint64(6), Term: proto.Uint64(3),
			ConfState: &pb.ConfState{Voters: []uint64{1, 2, 3}}}}, hs: hardState(3, 0, 6)},
		{ents: []*pb.Entry{ent(7, 3, "g")}, hs: hardState(3, 0, 7)},
	}
}

// TestStorageReopen: what save made durable, open replays: the
// MemoryStorage of a reopened storage equals the live one after every
// batch.
func TestStorageReopen(t *testing.T) {
	fs := vfs.NewMem()
	s, err := openStorage(fs, "node/raft")
	require.NoError(t, err)
	for i, b := range sampleBatches() {
		require.NoError(t, s.save(b.hs, b.ents, b.snap))
		want := viewOf(t, s)
		r, err := openStorage(fs.CrashClone(vfs.CrashOptions{}), "node/raft")
		require.NoError(t, err, "batch %d", i)
		require.Equal(t, want, viewOf(t, r), "batch %d", i)
		require.NoError(t, r.close())
	}
	require.Equal(t, storageView{Term: 3, Commit: 7, SnapIndex: 6, SnapData: "state at 6", Entries: []string{"7/3/g"}}, viewOf(t, s))
	require.NoError(t, s.close())
}

// TestStorageCompact: compaction keeps the entries after the snapshot and
// the hard state, durably, and what follows it appends to the new file.
func TestStorageCompact(t *testing.T) {
	fs := vfs.NewMem()
	s, err := openStorage(fs, "raft")
	require.NoError(t, err)
	for _, b := range sampleBatches()[:5] {
		require.NoError(t, s.save(b.hs, b.ents, b.snap))
	}
	require.NoError(t, s.compact(2, &pb.ConfState{Voters: []uint64{1}}, []byte("state at 2")))
	require.NoError(t, s.save(hardState(2, 2, 5), []*pb.Entry{ent(5, 2, "E")}, nil))
	want := storageView{Term: 2, Vote: 2, Commit: 5, SnapIndex: 2, SnapData: "state at 2", Entries: []string{"3/2/C", "4/2/D", "5/2/E"}}
	require.Equal(t, want, viewOf(t, s))
	r, err := openStorage(fs.CrashClone(vfs.CrashOptions{}), "raft")
	require.NoError(t, err)
	require.Equal(t, want, viewOf(t, r))
	require.NoError(t, s.compact(1, &pb.ConfState{}, nil), "a snapshot older than the current one is no change")
	require.Equal(t, want, viewOf(t, s))
}

// crashFS is a MemFS that calls at before every Sync, SyncDir and
// Rename: the instants at which a crash loses what is not yet durable.
type crashFS struct {
	*vfs.MemFS
	at func()
}

func (c *crashFS) Create(name string) (vfs.File, error) {
	f, err := c.MemFS.Create(name)
	return c.wrap(f, err)
}

func (c *crashFS) OpenReadWrite(name string) (vfs.File, error) {
	f, err := c.MemFS.OpenReadWrite(name)
	return c.wrap(f, err)
}

func (c *crashFS) wrap(f vfs.File, err error) (vfs.File, error) {
	if err != nil {
		return nil, err
	}
	return crashFile{File: f, at: c.at}, nil
}

func (c *crashFS) SyncDir(dir string) error { c.at(); return c.MemFS.SyncDir(dir) }

func (c *crashFS) Rename(o, n string) error { c.at(); return c.MemFS.Rename(o, n) }

type crashFile struct {
	vfs.File
	at func()
}

func (f crashFile) Sync() error { f.at(); return f.File.Sync() }

// crashStates returns crash states of fs at this instant: nothing
// unsynced kept, everything kept, and seeded mixtures with torn writes.
func crashStates(fs *vfs.MemFS) []*vfs.MemFS {
	out := []*vfs.MemFS{
		fs.CrashClone(vfs.CrashOptions{}),
		fs.CrashClone(vfs.CrashOptions{KeepUnsynced: 1}),
	}
	for seed := range int64(6) {
		out = append(out, fs.CrashClone(vfs.CrashOptions{Seed: seed, KeepUnsynced: 0.5, Tear: true}))
	}
	return out
}

// replayPrefixes returns the views a crash during the save of b may
// leave: before's state with the first k of b's records applied, for
// every k.
func replayPrefixes(t *testing.T, before *diskStorage, b batch) []storageView {
	t.Helper()
	var recs []struct {
		kind byte
		m    proto.Message
	}
	if b.snap != nil {
		recs = append(recs, struct {
			kind byte
			m    proto.Message
		}{recordSnapshot, b.snap})
	}
	for _, e := range b.ents {
		recs = append(recs, struct {
			kind byte
			m    proto.Message
		}{recordEntry, e})
	}
	if b.hs != nil {
		recs = append(recs, struct {
			kind byte
			m    proto.Message
		}{recordHardState, b.hs})
	}
	var views []storageView
	for k := 0; k <= len(recs); k++ {
		m := &diskStorage{mem: raft.NewMemoryStorage(), hs: proto.Clone(before.hs).(*pb.HardState)}
		if snap, _ := before.mem.Snapshot(); !raft.IsEmptySnap(snap) {
			require.NoError(t, m.mem.ApplySnapshot(snap))
		}
		v := viewOf(t, before)
		for _, e := range v.Entries {
			var i, term uint64
			var data string
			_, err := fmt.Sscanf(e, "%d/%d/%s", &i, &term, &data)
			if err != nil { // empty data
				_, err = fmt.Sscanf(e, "%d/%d/", &i, &term)
				require.NoError(t, err)
			}
			require.NoError(t, m.mem.Append([]*pb.Entry{ent(i, term, data)}))
		}
		for _, r := range recs[:k] {
			b, err := proto.Marshal(r.m)
			require.NoError(t, err)
			require.NoError(t, m.replayRecord(r.kind, b))
		}
		if snap, _ := m.mem.Snapshot(); m.hs.GetCommit() < snap.GetMetadata().GetIndex() {
			m.hs.Commit = proto.Uint64(snap.GetMetadata().GetIndex())
		}
		require.NoError(t, m.mem.SetHardState(m.hs))
		views = append(views, viewOf(t, m))
	}
	return views
}

// TestStorageCrash crashes the storage at every Sync, SyncDir and Rename
// of a history of saves and compactions, in several crash states each:
// every crash state opens, holds what the last completed save or
// compaction made durable plus at most a prefix of the one in progress,
// and takes further saves that a reopen finds.
func TestStorageCrash(t *testing.T) {
	mem := vfs.NewMem()
	var candidates []storageView // the views a crash now may leave
	checked := 0
	fs := &crashFS{MemFS: mem}
	fs.at = func() {
		for i, c := range crashStates(mem) {
			r, err := openStorage(c, "raft")
			if candidates == nil { // the storage's creation: nothing is promised yet
				if err == nil {
					require.NoError(t, r.close())
				}
				continue
			}
			require.NoError(t, err, "crash state %d", i)
			require.Contains(t, candidates, viewOf(t, r), "crash state %d", i)
			// The reopened storage takes a save and keeps it.
			last, _ := r.mem.LastIndex()
			term := r.hs.GetTerm() + 1
			require.NoError(t, r.save(hardState(term, 1, r.hs.GetCommit()), []*pb.Entry{ent(last+1, term, "after")}, nil))
			want := viewOf(t, r)
			again, err := openStorage(c.CrashClone(vfs.CrashOptions{}), "raft")
			require.NoError(t, err)
			require.Equal(t, want, viewOf(t, again))
			checked++
		}
	}
	s, err := openStorage(fs, "raft")
	require.NoError(t, err)
	candidates = []storageView{viewOf(t, s)}
	for i, b := range sampleBatches() {
		candidates = replayPrefixes(t, s, b)
		require.NoError(t, s.save(b.hs, b.ents, b.snap))
		require.Equal(t, candidates[len(candidates)-1], viewOf(t, s))
		if i == 4 {
			before := viewOf(t, s)
			after := before
			after.SnapIndex, after.SnapData, after.Entries = 3, "state at 3", before.Entries[3:]
			candidates = []storageView{before, after}
			require.NoError(t, s.compact(3, &pb.ConfState{Voters: []uint64{1}}, []byte("state at 3")))
			require.Equal(t, after, viewOf(t, s))
		}
		candidates = []storageView{viewOf(t, s)}
	}
	require.Greater(t, checked, 50)
}

// TestStorageCorrupt: a file that is not this package's, or whose
// records contradict each other, is refused with ErrCorruptStorage and
// left as it is.
func TestStorageCorrupt(t *testing.T) {
	t.Run("header", func(t *testing.T) {
		fs := vfs.NewMem()
		require.NoError(t, fs.MkdirAll("raft", 0o755))
		require.NoError(t, fs.WriteFile("raft/raft.log", []byte("not a raft log")))
		_, err := openStorage(fs, "raft")
		require.ErrorIs(t, err, ErrCorruptStorage)
		b, err := fs.ReadFile("raft/raft.log")
		require.NoError(t, err)
		require.Equal(t, "not a raft log", string(b))
	})
	t.Run("gap", func(t *testing.T) {
		fs := vfs.NewMem()
		s, err := openStorage(fs, "raft")
		require.NoError(t, err)
		require.NoError(t, s.save(nil, []*pb.Entry{ent(1, 1, "a")}, nil))
		s.mem = raft.NewMemoryStorage() // so that save writes entry 3 after entry 1
		require.NoError(t, s.mem.Append([]*pb.Entry{ent(1, 1, "a"), ent(2, 1, "b")}))
		require.NoError(t, s.save(nil, []*pb.Entry{ent(3, 1, "c")}, nil))
		_, err = openStorage(fs, "raft")
		require.ErrorIs(t, err, ErrCorruptStorage)
		require.ErrorContains(t, err, "entry 3 does not follow")
	})
	t.Run("commit beyond the log", func(t *testing.T) {
		fs := vfs.NewMem()
		s, err := openStorage(fs, "raft")
		require.NoError(t, err)
		require.NoError(t, s.save(hardState(1, 1, 5), nil, nil))
		_, err = openStorage(fs, "raft")
		require.ErrorIs(t, err, ErrCorruptStorage)
	})
}

// TestStorageTornTail: a damaged last record is cut off, durably, and
// the records before it kept.
func TestStorageTornTail(t *testing.T) {
	for name, damage := range map[string]func(b []byte, last int) []byte{
		"truncated":    func(b []byte, _ int) []byte { return b[:len(b)-1] },
		"bad checksum": func(b []byte, _ int) []byte { b[len(b)-1] ^= 1; return b },
		"huge length": func(b []byte, last int) []byte {
			binary.BigEndian.PutUint32(b[last:], maxRecordBytes+1)
			return b
		},
		"zeros": func(b []byte, _ int) []byte { return append(b, make([]byte, 100)...) },
	} {
		t.Run(name, func(t *testing.T) {
			fs := vfs.NewMem()
			s, err := openStorage(fs, "raft")
			require.NoError(t, err)
			require.NoError(t, s.save(nil, []*pb.Entry{ent(1, 1, "a")}, nil))
			good, err := fs.ReadFile("raft/raft.log")
			require.NoError(t, err)
			require.NoError(t, s.save(nil, []*pb.Entry{ent(2, 1, "b")}, nil))
			b, err := fs.ReadFile("raft/raft.log")
			require.NoError(t, err)
			last := len(good)
			if name == "zeros" {
				good = b
			}
			require.NoError(t, fs.WriteFile("raft/raft.log", damage(b, last)))
			r, err := openStorage(fs, "raft")
			require.NoError(t, err)
			want := []string{"1/1/a"}
			if name == "zeros" {
				want = []string{"1/1/a", "2/1/b"}
			}
			require.Equal(t, want, viewOf(t, r).Entries)
			after, err := fs.CrashClone(vfs.CrashOptions{}).ReadFile("raft/raft.log")
			require.NoError(t, err)
			require.Equal(t, good, after, "the cut is durable")
		})
	}
}

// TestStorageSnapshotCommits: a snapshot that survived without the hard
// state saved after it commits its index, as Raft requires of a restart
// (hard state commit at least the snapshot's index).
func TestStorageSnapshotCommits(t *testing.T) {
	fs := vfs.NewMem()
	s, err := openStorage(fs, "raft")
	require.NoError(t, err)
	require.NoError(t, s.save(hardState(1, 1, 0), nil, nil))
	require.NoError(t, s.save(nil, nil, &pb.Snapshot{Data: []byte("s"), Metadata: &pb.SnapshotMetadata{Index: proto.Uint64(4), Term: proto.Uint64(1),
		ConfState: &pb.ConfState{Voters: []uint64{1}}}}))
	r, err := openStorage(fs, "raft")
	require.NoError(t, err)
	require.Equal(t, storageView{Term: 1, Vote: 1, Commit: 4, SnapIndex: 4, SnapData: "s"}, viewOf(t, r))
}
