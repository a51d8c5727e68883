package cluster

import (
	"errors"
	"fmt"
	"io"
	"path"
	"slices"

	"github.com/commitlog-go/commitlog"
	"github.com/commitlog-go/commitlog/internal/vfs"
	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"
)

// Metadata is the cluster's metadata as one node's Raft directory
// commits it: what the node's controller had applied when it stopped,
// read without running it. Tools use it to show a stopped node's view of
// the cluster (cmd/commitlog's stats and topics describe).
type Metadata struct {
	// Nodes are the cluster's nodes (the Raft voters), sorted, and Live
	// those registered (up, heartbeating) at the last committed entry.
	Nodes, Live []commitlog.NodeID
	// Term and Index are the Raft term and index of the last committed
	// entry.
	Term, Index uint64
	// Topics are the topics and their partitions' leaders, leader and
	// partition epochs, in-sync replicas and replicas, sorted by name.
	Topics []commitlog.TopicMetadata
}

// Topic returns the named topic's metadata, or false.
func (m *Metadata) Topic(name string) (commitlog.TopicMetadata, bool) {
	i, ok := slices.BinarySearchFunc(m.Topics, name, func(t commitlog.TopicMetadata, n string) int {
		switch {
		case t.Name < n:
			return -1
		case t.Name > n:
			return 1
		}
		return 0
	})
	if !ok {
		return commitlog.TopicMetadata{}, false
	}
	return m.Topics[i], true
}

// ReadMetadata reads the committed metadata of the Raft directory dir
// (a RaftConfig.Dir). It only reads: a torn tail left by a crash is
// ignored, as the controller's open would cut it, and nothing is
// written, so it may read a copy, a read-only mount or the directory of
// a stopped node. It must not be used on the directory of a running
// controller, whose file may be rewritten under it.
//
// Errors: one matching os.ErrNotExist when dir holds no Raft state,
// ErrCorruptStorage when the state is damaged or a committed entry does
// not decode, and the file system's.
func ReadMetadata(dir string) (*Metadata, error) {
	return readMetadata(vfs.Default, dir)
}

func readMetadata(fs vfs.FS, dir string) (*Metadata, error) {
	name := path.Join(dir, storageFile)
	f, err := fs.Open(name)
	if err != nil {
		return nil, fmt.Errorf("cluster: read the metadata of %s: %w", dir, err)
	}
	defer f.Close()
	size, err := f.Size()
	if err != nil {
		return nil, fmt.Errorf("cluster: read the metadata of %s: %w", dir, err)
	}
	data := make([]byte, size)
	if _, err := f.ReadAt(data, 0); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("cluster: read the metadata of %s: %w", dir, err)
	}
	s := &diskStorage{fs: fs, dir: dir, mem: raft.NewMemoryStorage(), hs: &pb.HardState{}}
	if _, err := s.load(name, data); err != nil {
		return nil, err
	}
	snap, _ := s.mem.Snapshot() // never fails
	var md *metadata
	if len(snap.GetData()) > 0 {
		if md, err = decodeMetadata(snap.GetData()); err != nil {
			return nil, fmt.Errorf("%w: %s: the snapshot at index %d: %w", ErrCorruptStorage, name, snap.GetMetadata().GetIndex(), err)
		}
	}
	first, commit := snap.GetMetadata().GetIndex()+1, s.hs.GetCommit()
	var ents []*pb.Entry
	if commit >= first {
		if ents, err = s.mem.Entries(first, commit+1, ^uint64(0)); err != nil {
			return nil, fmt.Errorf("%w: %s: committed entries [%d, %d]: %w", ErrCorruptStorage, name, first, commit, err)
		}
	}
	out := &Metadata{Term: snap.GetMetadata().GetTerm(), Index: snap.GetMetadata().GetIndex()}
	return replayMetadata(name, out, md, snap.GetMetadata().GetConfState(), ents)
}

// replayMetadata applies committed entries the way a controller does,
// to md (a snapshot's, nil for none) and the voters of conf, and
// returns the result in out.
func replayMetadata(name string, out *Metadata, md *metadata, conf *pb.ConfState, ents []*pb.Entry) (*Metadata, error) {
	voters := map[uint64]bool{}
	for _, id := range conf.GetVoters() {
		voters[id] = true
	}
	// Without a snapshot, the metadata starts with the voters of the
	// bootstrap's configuration changes, the first entries.
	start := func() error {
		if md != nil {
			return nil
		}
		var nodes []commitlog.NodeID
		for id := range voters {
			nodes = append(nodes, commitlog.NodeID(id-1))
		}
		var err error
		if md, err = newMetadata(nodes); err != nil {
			return fmt.Errorf("%w: %s: the voters: %w", ErrCorruptStorage, name, err)
		}
		return nil
	}
	for _, e := range ents {
		out.Term, out.Index = e.GetTerm(), e.GetIndex()
		cc, cmd, ok, err := decodeEntry(e)
		switch {
		case err != nil:
			return nil, fmt.Errorf("%w: %s: %w", ErrCorruptStorage, name, err)
		case cc != nil && !ok:
			applyConfChange(voters, cc) // the bootstrap's
			continue
		case !ok:
			continue // a new leader's empty entry
		}
		if err := start(); err != nil {
			return nil, err
		}
		// A command's own error (a topic that exists, a stale AlterISR)
		// went back to its proposer; the metadata it leaves is the same
		// on every node. A refused membership change changes no voter.
		if _, dup, err := md.apply(cmd); cc != nil && !dup && err == nil {
			applyConfChange(voters, cc)
		}
	}
	if err := start(); err != nil {
		return nil, err
	}
	out.Nodes = convertIDs[commitlog.NodeID](md.cluster.Nodes())
	for _, n := range out.Nodes {
		if md.cluster.Live(controllerID(n)) {
			out.Live = append(out.Live, n)
		}
	}
	out.Topics = md.snapshot().Topics
	return out, nil
}

// applyConfChange adds and removes the voters cc names.
func applyConfChange(voters map[uint64]bool, cc *pb.ConfChangeV2) {
	for _, ch := range cc.GetChanges() {
		switch ch.GetType() {
		case pb.ConfChangeAddNode:
			voters[ch.GetNodeId()] = true
		case pb.ConfChangeRemoveNode:
			delete(voters, ch.GetNodeId())
		}
	}
}
