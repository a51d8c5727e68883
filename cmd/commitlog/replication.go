package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/commitlog-go/commitlog"
	"github.com/commitlog-go/commitlog/cluster"
)

// replicationFlags are the flags with which stats and topics describe
// show a cluster node's replication offline: the node's Raft directory,
// whose committed metadata names each partition's leader, leader epoch,
// in-sync replicas and replicas, and the directories of replicas, whose
// end offsets give each replica's lag behind the leader.
type replicationFlags struct {
	metadata string
	replicas []string // NODE=DIR
}

func (f *replicationFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.metadata, "metadata", "", "the node's Raft directory (cluster.RaftConfig.Dir): show leaders, epochs, ISRs and replicas as it committed them")
	cmd.Flags().StringArrayVar(&f.replicas, "replica-dir", nil, "`NODE=DIR`: a replica's Log directory, to show its lag behind the leader (repeatable; needs --metadata)")
}

// replicationView is what the flags loaded: the metadata and every
// given replica's end offsets. The zero value shows nothing.
type replicationView struct {
	md   *cluster.Metadata
	ends map[commitlog.NodeID]map[commitlog.TopicPartition]int64
}

// load reads the metadata and opens each replica directory read-only
// to take its end offsets.
func (f *replicationFlags) load(stderr io.Writer) (replicationView, error) {
	var v replicationView
	if f.metadata == "" {
		if len(f.replicas) > 0 {
			return v, errors.New("--replica-dir needs --metadata: the leader of each partition comes from the metadata")
		}
		return v, nil
	}
	md, err := cluster.ReadMetadata(f.metadata)
	if errors.Is(err, os.ErrNotExist) {
		return v, fmt.Errorf("--metadata %s: no Raft state there (give the node's cluster.RaftConfig.Dir)", f.metadata)
	}
	if err != nil {
		return v, err
	}
	v.md = md
	v.ends = map[commitlog.NodeID]map[commitlog.TopicPartition]int64{}
	for _, arg := range f.replicas {
		id, dir, err := parseReplicaDir(arg)
		if err != nil {
			return v, err
		}
		if _, dup := v.ends[id]; dup {
			return v, fmt.Errorf("--replica-dir %s: node %d is given twice", arg, id)
		}
		ends, err := replicaEnds(dir, stderr)
		if err != nil {
			return v, fmt.Errorf("--replica-dir %s: %w", arg, err)
		}
		v.ends[id] = ends
	}
	return v, nil
}

func parseReplicaDir(arg string) (commitlog.NodeID, string, error) {
	node, dir, ok := strings.Cut(arg, "=")
	id, err := strconv.ParseInt(node, 10, 32)
	if !ok || err != nil || id < 0 || dir == "" {
		return 0, "", fmt.Errorf("--replica-dir %q: want NODE=DIR, NODE a node id (0, 1, ...)", arg)
	}
	return commitlog.NodeID(id), dir, nil
}

// replicaEnds returns the end offset of every partition in the Log at
// dir, opened read-only.
func replicaEnds(dir string, stderr io.Writer) (ends map[commitlog.TopicPartition]int64, err error) {
	l, err := openLog(dir, readOnly, stderr)
	if err != nil {
		return nil, err
	}
	defer closeLog(l, &err)
	ends = map[commitlog.TopicPartition]int64{}
	for _, s := range partitionStats(l) {
		ends[commitlog.TopicPartition{Topic: s.Topic, Partition: s.Partition}] = s.EndOffset
	}
	return ends, nil
}

// replicaLagJSON is a replica's progress in topics describe and stats.
type replicaLagJSON struct {
	Node      int32 `json:"node"`
	EndOffset int64 `json:"end_offset"`
	// Lag is the leader's end offset minus the replica's; absent when the
	// leader's directory was not given.
	Lag *int64 `json:"lag,omitempty"`
}

// annotate adds to d what the view knows of its partition: its
// replication state from the metadata, when the directory's own Log
// knows none (a Log opened offline does not), and its replicas' lag.
func (v replicationView) annotate(d *partitionDescriptionJSON) {
	if v.md == nil {
		return
	}
	t, ok := v.md.Topic(d.Topic)
	if !ok || int(d.Partition) >= len(t.Partitions) {
		return
	}
	p := t.Partitions[d.Partition]
	if d.Leader == nil {
		leader, epoch := int32(p.Leader), p.LeaderEpoch
		d.Leader, d.LeaderEpoch = &leader, &epoch
		d.ISR = convertNodes(p.ISR)
	}
	pe := p.PartitionEpoch
	d.PartitionEpoch = &pe
	d.Replicas = convertNodes(p.Replicas)
	tp := commitlog.TopicPartition{Topic: d.Topic, Partition: d.Partition}
	leaderEnd, leaderKnown := v.ends[p.Leader][tp]
	for _, n := range p.Replicas {
		end, ok := v.ends[n][tp]
		if !ok {
			continue
		}
		r := replicaLagJSON{Node: int32(n), EndOffset: end}
		if leaderKnown {
			lag := max(leaderEnd-end, 0)
			r.Lag = &lag
		}
		d.ReplicaLag = append(d.ReplicaLag, r)
	}
}

func convertNodes(ns []commitlog.NodeID) []int32 {
	out := make([]int32, len(ns))
	for i, n := range ns {
		out[i] = int32(n)
	}
	return out
}

// lagString is a partition's LAG column: node:lag for every replica
// whose directory was given ("?" for a lag unknown without the leader's
// directory), "-" for none.
func lagString(rs []replicaLagJSON) string {
	if len(rs) == 0 {
		return "-"
	}
	parts := make([]string, len(rs))
	for i, r := range rs {
		lag := "?"
		if r.Lag != nil {
			lag = strconv.FormatInt(*r.Lag, 10)
		}
		parts[i] = fmt.Sprintf("%d:%s", r.Node, lag)
	}
	return strings.Join(parts, ",")
}

// nodesString joins node ids with commas, "-" for none.
func nodesString(ns []int32) string {
	if len(ns) == 0 {
		return "-"
	}
	parts := make([]string, len(ns))
	for i, n := range ns {
		parts[i] = strconv.Itoa(int(n))
	}
	return strings.Join(parts, ",")
}
