package cluster

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path"

	"github.com/commitlog-go/commitlog/internal/vfs"
	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// The durable Raft state of a node: one file, raft.log, in the node's
// Raft directory, holding records appended in the order Raft's Ready
// hands them over. raft.MemoryStorage sits in front of it for Raft's
// reads; the file is only written, and read back at open.
//
//	file   = header record*
//	header = "CLRAFT" uint16(version 1)                    8 bytes
//	record = uint32 length  uint32 crc  uint8 kind  payload[length]
//
// Integers are big-endian. crc is CRC-32C (Castagnoli) of kind and
// payload. kind 1 is a snapshot (raftpb.Snapshot), 2 an entry
// (raftpb.Entry), 3 the hard state (raftpb.HardState), each encoded by
// protobuf's deterministic marshalling. Replaying the records in order
// rebuilds the state: a snapshot replaces the log, an entry of index i
// replaces every entry from i on (Raft's rule for conflicting entries),
// the last hard state wins.
//
// Fsync order. save appends one Ready's snapshot, entries and hard state
// in that order with one write and one fsync, before the Ready's
// messages are sent and its committed entries applied. A crash keeps a
// prefix of what was synced plus any part of the unsynced tail, possibly
// with holes (a file system may persist later writes before earlier
// ones): open reads records up to the first that is short or fails its
// checksum, truncates the file there and fsyncs it. Everything before
// that point was acknowledged by an fsync or is a prefix of one unsynced
// batch; nothing after it was ever relied on, because no message is sent
// before the fsync that covers what it depends on.
//
// Compaction rewrites the file: the snapshot, the entries after it and
// the hard state go to raft.log.tmp, which is fsynced, renamed over
// raft.log, and the directory fsynced. A crash leaves either file
// whole; open removes a stale raft.log.tmp.
const (
	storageFile    = "raft.log"
	storageTmpFile = "raft.log.tmp"
	storageMagic   = "CLRAFT"
	storageVersion = 1
	storageHeader  = len(storageMagic) + 2
	recordHeader   = 9
	// maxRecordBytes bounds a record, so that a damaged length in the
	// unsynced tail reads as the end of the log, not as an allocation.
	maxRecordBytes = 64 << 20

	recordSnapshot  = 1
	recordEntry     = 2
	recordHardState = 3
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// ErrCorruptStorage is returned by a RaftController's open when its
// durable Raft state cannot be what this package wrote: a bad header, or
// records that contradict each other. The state is left as it is.
var ErrCorruptStorage = errors.New("cluster: corrupt raft storage")

// diskStorage is a node's durable Raft log and snapshot. Not safe for
// concurrent use: the controller's loop owns it (raft.MemoryStorage,
// which Raft reads, is safe).
type diskStorage struct {
	fs   vfs.FS
	dir  string
	f    vfs.File
	size int64
	mem  *raft.MemoryStorage
	hs   *pb.HardState
	buf  []byte
}

// openStorage opens, or creates, the Raft state in dir, replays it into
// a MemoryStorage and cuts off a torn tail.
//
// Errors: ErrCorruptStorage, and the file system's.
func openStorage(fs vfs.FS, dir string) (*diskStorage, error) {
	s := &diskStorage{fs: fs, dir: dir, mem: raft.NewMemoryStorage(), hs: &pb.HardState{}}
	if err := fs.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("cluster: raft storage %s: %w", dir, err)
	}
	if err := fs.RemoveAll(path.Join(dir, storageTmpFile)); err != nil {
		return nil, fmt.Errorf("cluster: raft storage %s: remove an interrupted compaction: %w", dir, err)
	}
	name := path.Join(dir, storageFile)
	f, err := fs.OpenReadWrite(name)
	if errors.Is(err, os.ErrNotExist) {
		// The directory and its parents may be new: their entries must be
		// durable before the file in them can be.
		for d := dir; ; {
			parent := path.Dir(d)
			if err := fs.SyncDir(parent); err != nil {
				return nil, fmt.Errorf("cluster: raft storage %s: sync the directory %s: %w", dir, parent, err)
			}
			if parent == d || parent == "." || parent == "/" {
				break
			}
			d = parent
		}
		if err := s.rewrite(nil); err != nil {
			return nil, err
		}
		return s, nil
	}
	if err != nil {
		return nil, fmt.Errorf("cluster: raft storage %s: %w", name, err)
	}
	s.f = f
	if err := s.replay(); err != nil {
		f.Close()
		return nil, err
	}
	return s, nil
}

// replay reads s.f into s.mem and s.hs and truncates it after its last
// whole record.
func (s *diskStorage) replay() error {
	name := path.Join(s.dir, storageFile)
	size, err := s.f.Size()
	if err != nil {
		return fmt.Errorf("cluster: raft storage %s: %w", name, err)
	}
	data := make([]byte, size)
	if _, err := s.f.ReadAt(data, 0); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("cluster: raft storage %s: read: %w", name, err)
	}
	off, err := s.load(name, data)
	if err != nil {
		return err
	}
	if int64(off) != size {
		if err := s.f.Truncate(int64(off)); err != nil {
			return fmt.Errorf("cluster: raft storage %s: cut the torn tail: %w", name, err)
		}
		if err := s.f.Sync(); err != nil {
			return fmt.Errorf("cluster: raft storage %s: sync: %w", name, err)
		}
	}
	s.size = int64(off)
	return nil
}

// load replays data, the contents of the file called name, into s.mem
// and s.hs, and returns the length of its whole records: where a torn
// tail starts, or len(data). It writes nothing.
func (s *diskStorage) load(name string, data []byte) (int, error) {
	if len(data) < storageHeader || string(data[:len(storageMagic)]) != storageMagic ||
		binary.BigEndian.Uint16(data[len(storageMagic):]) != storageVersion {
		return 0, fmt.Errorf("%w: %s: no %s version %d header", ErrCorruptStorage, name, storageMagic, storageVersion)
	}
	off := storageHeader
	for {
		kind, payload, n := readRecord(data[off:])
		if n == 0 {
			break
		}
		if err := s.replayRecord(kind, payload); err != nil {
			return 0, fmt.Errorf("%w: %s: record at byte %d: %w", ErrCorruptStorage, name, off, err)
		}
		off += n
	}
	snap, _ := s.mem.Snapshot() // never fails
	first, last := snap.GetMetadata().GetIndex(), s.lastIndex()
	switch {
	case s.hs.GetCommit() > last:
		return 0, fmt.Errorf("%w: %s: the hard state commits index %d beyond the log's last entry %d", ErrCorruptStorage, name, s.hs.GetCommit(), last)
	case s.hs.GetCommit() < first:
		// A snapshot survived without the hard state saved after it: it
		// holds only committed entries.
		s.hs.Commit = proto.Uint64(first)
	}
	if err := s.mem.SetHardState(s.hs); err != nil {
		return 0, fmt.Errorf("%w: %s: %w", ErrCorruptStorage, name, err)
	}
	return off, nil
}

// readRecord decodes the record at the start of b, returning its length
// n, or n == 0 when b holds no whole record with a good checksum there.
func readRecord(b []byte) (kind byte, payload []byte, n int) {
	if len(b) < recordHeader {
		return 0, nil, 0
	}
	length := binary.BigEndian.Uint32(b)
	if length > maxRecordBytes || uint64(len(b)-recordHeader) < uint64(length) {
		return 0, nil, 0
	}
	body := b[8 : recordHeader+int(length)]
	if crc32.Checksum(body, castagnoli) != binary.BigEndian.Uint32(b[4:]) {
		return 0, nil, 0
	}
	return body[0], body[1:], recordHeader + int(length)
}

func (s *diskStorage) replayRecord(kind byte, payload []byte) error {
	switch kind {
	case recordSnapshot:
		snap := &pb.Snapshot{}
		if err := proto.Unmarshal(payload, snap); err != nil {
			return fmt.Errorf("snapshot: %w", err)
		}
		if err := s.mem.ApplySnapshot(snap); err != nil {
			return fmt.Errorf("snapshot at index %d: %w", snap.GetMetadata().GetIndex(), err)
		}
	case recordEntry:
		e := &pb.Entry{}
		if err := proto.Unmarshal(payload, e); err != nil {
			return fmt.Errorf("entry: %w", err)
		}
		first, _ := s.mem.FirstIndex() // never fails
		if e.GetIndex() < first || e.GetIndex() > s.lastIndex()+1 {
			return fmt.Errorf("entry %d does not follow the log [%d, %d]", e.GetIndex(), first, s.lastIndex())
		}
		if err := s.mem.Append([]*pb.Entry{e}); err != nil {
			return fmt.Errorf("entry %d: %w", e.GetIndex(), err)
		}
	case recordHardState:
		hs := &pb.HardState{}
		if err := proto.Unmarshal(payload, hs); err != nil {
			return fmt.Errorf("hard state: %w", err)
		}
		s.hs = hs
	default:
		return fmt.Errorf("record kind %d is not one of version %d's", kind, storageVersion)
	}
	return nil
}

func (s *diskStorage) lastIndex() uint64 {
	last, _ := s.mem.LastIndex() // never fails
	return last
}

// appendRecord appends one record of m to s.buf.
func (s *diskStorage) appendRecord(kind byte, m proto.Message) error {
	at := len(s.buf)
	s.buf = append(s.buf, make([]byte, recordHeader)...)
	s.buf[at+8] = kind
	var err error
	s.buf, err = proto.MarshalOptions{Deterministic: true}.MarshalAppend(s.buf, m)
	if err != nil {
		s.buf = s.buf[:at]
		return fmt.Errorf("cluster: raft storage: encode: %w", err)
	}
	length := len(s.buf) - at - recordHeader
	if length > maxRecordBytes {
		s.buf = s.buf[:at]
		return fmt.Errorf("cluster: raft storage: a record of %d bytes; the limit is %d", length, maxRecordBytes)
	}
	binary.BigEndian.PutUint32(s.buf[at:], uint32(length))
	binary.BigEndian.PutUint32(s.buf[at+4:], crc32.Checksum(s.buf[at+8:], castagnoli))
	return nil
}

// save makes one Ready's snapshot, entries and hard state durable (one
// write, one fsync), then hands them to the MemoryStorage. Empty ones
// are skipped. After an error the storage must not be used again: what
// reached the file is unknown until the next open replays it.
func (s *diskStorage) save(hs *pb.HardState, entries []*pb.Entry, snap *pb.Snapshot) error {
	s.buf = s.buf[:0]
	hasSnap := snap != nil && !raft.IsEmptySnap(snap)
	hasHS := hs != nil && !raft.IsEmptyHardState(hs)
	if hasSnap {
		if err := s.appendRecord(recordSnapshot, snap); err != nil {
			return err
		}
	}
	for _, e := range entries {
		if err := s.appendRecord(recordEntry, e); err != nil {
			return err
		}
	}
	if hasHS {
		if err := s.appendRecord(recordHardState, hs); err != nil {
			return err
		}
	}
	if len(s.buf) == 0 {
		return nil
	}
	name := path.Join(s.dir, storageFile)
	if _, err := s.f.WriteAt(s.buf, s.size); err != nil {
		return fmt.Errorf("cluster: raft storage %s: write: %w", name, err)
	}
	if err := s.f.Sync(); err != nil {
		return fmt.Errorf("cluster: raft storage %s: sync: %w", name, err)
	}
	s.size += int64(len(s.buf))
	if hasSnap {
		if err := s.mem.ApplySnapshot(snap); err != nil {
			return fmt.Errorf("cluster: raft storage: snapshot at index %d: %w", snap.GetMetadata().GetIndex(), err)
		}
	}
	if len(entries) > 0 {
		if err := s.mem.Append(entries); err != nil {
			return fmt.Errorf("cluster: raft storage: entries from %d: %w", entries[0].GetIndex(), err)
		}
	}
	if hasHS {
		s.hs = proto.Clone(hs).(*pb.HardState)
		if err := s.mem.SetHardState(s.hs); err != nil {
			return fmt.Errorf("cluster: raft storage: %w", err)
		}
	}
	return nil
}

// compact snapshots the state machine at index (applied, so committed),
// with data its encoding and cs the configuration, drops the entries up
// to index and rewrites the file without them.
func (s *diskStorage) compact(index uint64, cs *pb.ConfState, data []byte) error {
	snap, err := s.mem.CreateSnapshot(index, cs, data)
	if errors.Is(err, raft.ErrSnapOutOfDate) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("cluster: raft storage: snapshot at %d: %w", index, err)
	}
	if err := s.mem.Compact(index); err != nil && !errors.Is(err, raft.ErrCompacted) {
		return fmt.Errorf("cluster: raft storage: compact to %d: %w", index, err)
	}
	return s.rewrite(snap)
}

// rewrite replaces the file with the header, snap (when not nil), the
// MemoryStorage's entries after it and the hard state, through a
// temporary file that is fsynced and renamed into place.
func (s *diskStorage) rewrite(snap *pb.Snapshot) error {
	s.buf = append(s.buf[:0], storageMagic...)
	s.buf = binary.BigEndian.AppendUint16(s.buf, storageVersion)
	if snap != nil {
		if err := s.appendRecord(recordSnapshot, snap); err != nil {
			return err
		}
	}
	first, _ := s.mem.FirstIndex() // never fails
	if last := s.lastIndex(); last >= first {
		ents, err := s.mem.Entries(first, last+1, ^uint64(0))
		if err != nil {
			return fmt.Errorf("cluster: raft storage: entries [%d, %d]: %w", first, last, err)
		}
		for _, e := range ents {
			if err := s.appendRecord(recordEntry, e); err != nil {
				return err
			}
		}
	}
	if !raft.IsEmptyHardState(s.hs) {
		if err := s.appendRecord(recordHardState, s.hs); err != nil {
			return err
		}
	}
	tmp, name := path.Join(s.dir, storageTmpFile), path.Join(s.dir, storageFile)
	f, err := s.fs.Create(tmp)
	if err != nil {
		return fmt.Errorf("cluster: raft storage %s: %w", tmp, err)
	}
	if _, err := f.WriteAt(s.buf, 0); err != nil {
		f.Close()
		return fmt.Errorf("cluster: raft storage %s: write: %w", tmp, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("cluster: raft storage %s: sync: %w", tmp, err)
	}
	if err := s.fs.Rename(tmp, name); err != nil {
		f.Close()
		return fmt.Errorf("cluster: raft storage: rename %s to %s: %w", tmp, name, err)
	}
	if err := s.fs.SyncDir(s.dir); err != nil {
		f.Close()
		return fmt.Errorf("cluster: raft storage %s: sync the directory: %w", s.dir, err)
	}
	if s.f != nil {
		s.f.Close()
	}
	s.f, s.size = f, int64(len(s.buf))
	return nil
}

// close closes the file.
func (s *diskStorage) close() error {
	if s.f == nil {
		return nil
	}
	err := s.f.Close()
	s.f = nil
	return err
}
