package storage

import (
	"fmt"
	"path/filepath"
	"slices"

	"github.com/commitlog-go/commitlog/internal/record"
)

// A partition's producer state (producer_state.go) lives in memory and is
// persisted as one snapshot file, so that Open need not read the whole log
// to rebuild it. The file's name says through which offset it is valid:
// "<V>.snapshot" holds the state after every batch below V. Its contents
// were captured at some offset S <= V (the offset inside the file), and no
// batch of an idempotent producer lies in [S, V): when a checkpoint finds
// the state unchanged since the capture, it renames the file forward
// instead of rewriting it. Open loads the newest valid snapshot at or
// below the log's end and replays the batch headers from V to the end.
//
// Every checkpoint first captures the state with the written end W (under
// the append lock), then makes the data durable (so W <= the recovery
// point), then writes or renames the snapshot to W, and only then writes
// the checkpoint. A crash anywhere leaves either the old snapshot, still
// valid through its own name, or the new one. A missing or damaged
// snapshot only costs a replay from the log's start.

// producerCapture is the producer state taken with the written end, for a
// checkpoint to persist.
type producerCapture struct {
	through int64           // the written end when captured: the snapshot's name
	state   *producerStates // a copy, or nil when unchanged since the last snapshot
	changes uint64
}

// maxProducerSnapshot bounds what Open reads of a snapshot file: about a
// million producers.
const maxProducerSnapshot = 128 << 20

// captureProducers takes what the next snapshot must hold. REQUIRES:
// syncSem (it reads snapChanges).
func (p *PartitionLog) captureProducers() producerCapture {
	p.mu.Lock()
	defer p.mu.Unlock()
	c := producerCapture{through: p.written.Load().offset, changes: p.producers.changes}
	if c.changes != p.snapChanges || p.snapThrough < 0 {
		c.state = p.producers.clone()
	}
	return c
}

// persistProducers writes (or renames forward) the snapshot for c. The
// data below c.through must be durable. REQUIRES: syncSem.
func (p *PartitionLog) persistProducers(c producerCapture) error {
	fs := p.cfg.FS
	if c.through == p.snapThrough && c.state == nil {
		return nil
	}
	path := filepath.Join(p.dir, SnapshotFileName(c.through))
	if c.state == nil {
		// Unchanged since the snapshot was taken: it is valid through the
		// new end too.
		if err := fs.Rename(filepath.Join(p.dir, SnapshotFileName(p.snapThrough)), path); err != nil {
			return err
		}
		if err := fs.SyncDir(p.dir); err != nil {
			return err
		}
		p.snapThrough = c.through
		return nil
	}
	if err := WriteFileAtomic(fs, path, encodeProducerSnapshot(c.through, c.state)); err != nil {
		return err
	}
	old := p.snapThrough
	p.snapThrough, p.snapChanges = c.through, c.changes
	if old >= 0 && old != c.through {
		// A leftover older snapshot is harmless: Open takes the newest.
		if err := fs.Remove(filepath.Join(p.dir, SnapshotFileName(old))); err != nil && !isNotExist(err) {
			return err
		}
	}
	return nil
}

// recoverProducers rebuilds the producer state on Open, after the segments
// are recovered: from the newest valid snapshot at or below the end, plus
// the batches after it. Snapshots past the end or damaged are removed
// (they are derived data, like indexes) and logged.
func (p *PartitionLog) recoverProducers() error {
	fs := p.cfg.FS
	end := p.written.Load().offset
	names, err := fs.List(p.dir)
	if err != nil {
		return err
	}
	var offsets []int64
	for _, n := range names {
		if off, ok := ParseSnapshotFileName(n); ok {
			offsets = append(offsets, off)
		}
	}
	slices.Sort(offsets)
	slices.Reverse(offsets)
	state, from, through := newProducerStates(), p.start.Load(), int64(-1)
	removed := false
	for _, v := range offsets {
		path := filepath.Join(p.dir, SnapshotFileName(v))
		reason := ""
		if through >= 0 {
			reason = "superseded by a newer snapshot"
		} else if v > end {
			reason = fmt.Sprintf("valid through offset %d, past the log's end %d", v, end)
		} else if b, err := ReadFileMax(fs, path, maxProducerSnapshot); err != nil {
			reason = err.Error()
		} else if at, st, err := decodeProducerSnapshot(b); err != nil {
			reason = err.Error()
		} else if at > v {
			reason = fmt.Sprintf("taken at offset %d, past the offset %d its name says", at, v)
		} else {
			state, through = st, v
			from = max(v, from)
			continue
		}
		if through < 0 {
			p.cfg.Logger.Warn("removing producer state snapshot; rebuilding it from the log", "topic", p.cfg.Topic, "partition", p.cfg.Partition, "offset", v, "file", path, "reason", reason)
		}
		if p.cfg.ReadOnly {
			continue // ignored, in memory
		}
		if err := fs.Remove(path); err != nil {
			return err
		}
		removed = true
	}
	if removed {
		if err := fs.SyncDir(p.dir); err != nil {
			return err
		}
	}
	if err := p.replayProducers(state, from, p.written.Load()); err != nil {
		return err
	}
	p.producers = state
	// A decoded state starts with no changes: if the replay changed it, the
	// next checkpoint writes a new snapshot, else renames this one forward.
	p.snapThrough, p.snapChanges = through, 0
	return nil
}

// replayProducers applies the headers of the batches from offset from up
// to end to st. Recovery (or the append) has already checked them.
func (p *PartitionLog) replayProducers(st *producerStates, from int64, end *Position) error {
	return walkHeaders(*p.segments.Load(), from, end, func(_ *segment, _ int64, h *record.Header) bool {
		if h.ProducerID >= 0 {
			st.update(h.ProducerID, h.ProducerEpoch, producerBatch{
				firstSeq:        h.BaseSequence,
				lastSeq:         NextSequence(h.BaseSequence, h.LastOffsetDelta),
				baseOffset:      h.BaseOffset,
				lastOffsetDelta: h.LastOffsetDelta,
			}, h.MaxTimestamp)
		}
		return true
	})
}

// ExpireProducers forgets producers idle for longer than
// Config.ProducerIDExpiration at nowMs (Unix milliseconds).
func (p *PartitionLog) ExpireProducers(nowMs int64) {
	maxIdle := p.cfg.ProducerIDExpiration.Milliseconds()
	p.mu.Lock()
	n := p.producers.expire(nowMs, maxIdle)
	p.mu.Unlock()
	if n > 0 {
		p.cfg.Logger.Debug("expired idle producer ids", "topic", p.cfg.Topic, "partition", p.cfg.Partition, "count", n)
	}
}

// ProducerIDFloor returns 1 + the largest producer id in [lo, hi) the
// partition's idempotence state remembers, or lo when it remembers none
// there. A replicated partition remembers the ids of producers on every
// node; the range picks out those one node handed out.
func (p *PartitionLog) ProducerIDFloor(lo, hi int64) int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	floor := lo
	for pid := range p.producers.entries {
		if pid >= lo && pid < hi {
			floor = max(floor, pid+1)
		}
	}
	return floor
}
