package commitlog

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"path/filepath"

	"github.com/commitlog-go/commitlog/internal/storage"
)

// Producer ids identify idempotent producers in the batches they write, so
// an id must never be handed out twice by one directory, across restarts
// and crashes included: a partition that still remembers the old
// producer's batches would take the new producer's first batch for a
// retry and acknowledge it without storing it. The Log hands ids out in
// blocks: the file <dir>/producer-ids holds the first id no block has
// covered yet, and is replaced atomically (writeFileAtomic) before any id
// of a new block is used. A crash therefore skips the rest of a block,
// never reuses it.
//
// The file is created with the Log, so a Log holding topics without it
// is damaged, as is one whose file fails its checks: Open refuses both
// with a *CorruptionError, unless Options.Repair.ProducerIDs. As a second
// line, ids are always taken above every id the partitions' idempotence
// state remembers (producerIDFloor), which is what the repair relies on.
//
// On a replicated Log an id must also never be handed out by two nodes:
// a partition's idempotence state replicates with its data, so a
// producer on the node that leads a partition after a failover would
// otherwise meet the state of an earlier producer, on the old leader,
// that had the same id. Each node therefore hands out ids from a range of
// its own, [NodeID<<producerIDNodeShift, (NodeID+1)<<producerIDNodeShift):
// 2^40 ids a node, for NodeIDs up to maxReplicatedNodeID (Options.validate
// refuses larger ones). A single-node Log has the whole non-negative
// range, so its ids are what they were before replication existed.
//
// Format, 16 bytes, big-endian: magic "CLPI" | next i64 | crc32c u32 over
// the preceding 12 bytes.
const (
	producerIDFileName  = "producer-ids"
	producerIDMagic     = "CLPI"
	producerIDFileSize  = 16
	producerIDBlock     = 1000
	producerIDNodeShift = 40
	maxReplicatedNodeID = 1<<(63-producerIDNodeShift) - 1
)

// producerIDRange returns the ids this Log may hand out, [lo, hi).
func (l *Log) producerIDRange() (lo, hi int64) {
	if l.opts.Controller == nil {
		return 0, math.MaxInt64
	}
	lo = int64(l.opts.NodeID) << producerIDNodeShift
	return lo, lo + 1<<producerIDNodeShift
}

// loadProducerIDs checks the producer-ids file as the Log opens, after
// its partitions, and sets the floor of the ids to hand out. A new Log
// (no topics) gets the file here; a damaged one, or a missing one in a
// Log with topics, is damage, repaired only with
// Options.Repair.ProducerIDs.
func (l *Log) loadProducerIDs() error {
	l.pidFloor = l.producerIDFloor()
	path := filepath.Join(l.dir, producerIDFileName)
	next, err := readProducerIDFile(l, path)
	switch {
	case err == nil:
		if lo, hi := l.producerIDRange(); next >= lo && next < hi && next < l.pidFloor {
			l.opts.Logger.Warn("the producer-ids file is behind the producer ids the partitions remember; handing out ids above them",
				"file", path, "next", next, "floor", l.pidFloor)
		}
		return nil
	case !isNotExist(err) && !errors.Is(err, ErrCorrupt):
		return err
	case isNotExist(err) && len(l.topics) == 0:
		// A new Log: the file is created with it.
	case !l.opts.Repair.ProducerIDs:
		what := "is missing"
		if !isNotExist(err) {
			what = "is damaged (" + err.Error() + ")"
		}
		return &CorruptionError{Path: path, Offset: -1,
			Reason: "the producer-ids file " + what + "; without it idempotent producers could get ids already used, and their batches be taken for retries and dropped",
			Remedy: "restore it from a backup, or open with Options.Repair.ProducerIDs to recreate it above every id the partitions remember"}
	default:
		l.opts.Logger.Warn("recreating the producer-ids file above every producer id the partitions remember (Options.Repair.ProducerIDs)",
			"file", path, "next", l.pidFloor, "reason", err)
	}
	if l.opts.ReadOnly {
		return nil // a read-only Log hands out no producer ids
	}
	if err := storage.WriteFileAtomic(l.fs, path, marshalProducerIDs(l.pidFloor)); err != nil {
		return fmt.Errorf("commitlog: create %s: %w", path, err)
	}
	return nil
}

// producerIDFloor returns 1 + the largest producer id of this Log's
// range any partition's idempotence state remembers (the range's start
// when none).
func (l *Log) producerIDFloor() int64 {
	lo, hi := l.producerIDRange()
	floor := lo
	for _, t := range l.topics {
		for _, p := range t.local() {
			floor = max(floor, p.store.ProducerIDFloor(lo, hi))
		}
	}
	return floor
}

// newProducerID returns an id no other producer of this directory, nor
// of another node of its cluster, has had or will have.
func (l *Log) newProducerID() (int64, error) {
	l.pidMu.Lock()
	defer l.pidMu.Unlock()
	if l.pidNext == l.pidLimit {
		path := filepath.Join(l.dir, producerIDFileName)
		next, err := readProducerIDFile(l, path)
		if err != nil {
			return 0, err
		}
		lo, hi := l.producerIDRange()
		if next < lo || next >= hi {
			// Written under another NodeID, or before the Log joined a
			// cluster: only this node's range counts.
			next = lo
		}
		next = max(next, l.pidFloor)
		if hi-next < producerIDBlock {
			return 0, fmt.Errorf("commitlog: node %d has handed out every producer id of its range [%d, %d): give the Log a NodeID not used before", l.opts.NodeID, lo, hi)
		}
		if err := storage.WriteFileAtomic(l.fs, path, marshalProducerIDs(next+producerIDBlock)); err != nil {
			return 0, storage.DiskFull(fmt.Errorf("commitlog: allocate producer ids: %w", err))
		}
		l.pidNext, l.pidLimit = next, next+producerIDBlock
	}
	id := l.pidNext
	l.pidNext++
	return id, nil
}

// readProducerIDFile returns the first id not yet allocated, an error
// matching os.ErrNotExist when the file does not exist, or a
// *CorruptionError when it fails its checks.
func readProducerIDFile(l *Log, path string) (int64, error) {
	b, err := storage.ReadFile(l.fs, path)
	switch {
	case isNotExist(err):
		return 0, err
	case errors.Is(err, storage.ErrFileTooLarge):
		return 0, &CorruptionError{Path: path, Offset: -1, Reason: err.Error()}
	case err != nil:
		return 0, fmt.Errorf("commitlog: read %s: %w", path, err)
	}
	next, err := unmarshalProducerIDs(b)
	if err != nil {
		return 0, &CorruptionError{Path: path, Offset: -1, Reason: err.Error()}
	}
	return next, nil
}

func marshalProducerIDs(next int64) []byte {
	b := make([]byte, producerIDFileSize)
	copy(b, producerIDMagic)
	binary.BigEndian.PutUint64(b[4:], uint64(next))
	binary.BigEndian.PutUint32(b[12:], crc32.Checksum(b[:12], castagnoli))
	return b
}

// unmarshalProducerIDs decodes a producer-ids file. It allocates nothing
// but its error, at most 64 bytes.
func unmarshalProducerIDs(b []byte) (int64, error) {
	if len(b) != producerIDFileSize || string(b[:4]) != producerIDMagic {
		return 0, errors.New("producer id file has the wrong size or magic")
	}
	if crc32.Checksum(b[:12], castagnoli) != binary.BigEndian.Uint32(b[12:]) {
		return 0, errors.New("producer id file fails its checksum")
	}
	next := int64(binary.BigEndian.Uint64(b[4:]))
	if next < 0 {
		return 0, errors.New("producer id file holds a negative id")
	}
	return next, nil
}
