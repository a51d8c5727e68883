package cluster

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"

	"github.com/commitlog-go/commitlog"
	"github.com/commitlog-go/commitlog/internal/controller"
)

// snapshotVersion is the version of the metadata snapshot encoding: the
// first byte of a Raft snapshot's data. A change of its fields or their
// meaning comes with a new version.
const snapshotVersion = 1

// metadataImage is the metadata as a snapshot holds it: the state
// machine (controller.Cluster's own encoding) and the last command
// applied from each proposer, which deduplication needs.
type metadataImage struct {
	Cluster json.RawMessage `json:"cluster"`
	LastSeq []proposerSeq   `json:"last_seq"`
}

type proposerSeq struct {
	Node commitlog.NodeID `json:"node"`
	Seq  uint64           `json:"seq"`
}

// encode returns the metadata as snapshot data: snapshotVersion, then
// its JSON, deterministic (proposers ascending), so that every node's
// snapshot of the same index has the same bytes.
func (m *metadata) encode() ([]byte, error) {
	cl, err := m.cluster.Encode()
	if err != nil {
		return nil, err
	}
	img := metadataImage{Cluster: cl, LastSeq: []proposerSeq{}}
	for _, n := range slices.Sorted(maps.Keys(m.lastSeq)) {
		img.LastSeq = append(img.LastSeq, proposerSeq{Node: n, Seq: m.lastSeq[n]})
	}
	b, err := json.Marshal(img)
	if err != nil {
		return nil, fmt.Errorf("cluster: encode a metadata snapshot: %w", err)
	}
	return append([]byte{snapshotVersion}, b...), nil
}

// decodeMetadata reads what encode wrote. It never panics.
func decodeMetadata(data []byte) (*metadata, error) {
	if len(data) == 0 || data[0] != snapshotVersion {
		return nil, fmt.Errorf("cluster: a metadata snapshot of an unknown version (%d bytes)", len(data))
	}
	var img metadataImage
	if err := json.Unmarshal(data[1:], &img); err != nil {
		return nil, fmt.Errorf("cluster: decode a metadata snapshot: %w", err)
	}
	cl, err := controller.Decode(img.Cluster)
	if err != nil {
		return nil, fmt.Errorf("cluster: decode a metadata snapshot: %w", err)
	}
	m := &metadata{cluster: cl, lastSeq: map[commitlog.NodeID]uint64{}}
	for _, p := range img.LastSeq {
		m.lastSeq[p.Node] = p.Seq
	}
	return m, nil
}
