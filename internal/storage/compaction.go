package storage

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"time"

	"github.com/commitlog-go/commitlog/internal/record"
)

// Compaction keeps the latest record of each key, as Kafka's log cleaner
// (kafka.log.LogCleaner) does.
// A pass over a partition:
//
//  1. Writes a checkpoint, so that the checkpoint and the producer state
//     snapshot name a point after every segment the pass may rewrite.
//  2. Takes the cleanable segments: sealed ones wholly below the high
//     watermark and the durable end, never the active segment, and, among
//     those holding uncompacted (dirty) records, none holding a record
//     younger than MinCompactionLag. The dirty part starts at the cleaner
//     point, which the checkpoint records.
//  3. Maps each key of the dirty part to the offset of its latest record,
//     in an offset map of bounded memory (Options.CompactionMapBytes). When
//     the map fills, the pass covers the dirty part up to there and a later
//     pass goes on.
//  4. Rewrites the segments, from the log start to the end of what was
//     mapped, in groups that fit one segment (small segments merge). A
//     record is kept when it is the latest of its key, or lies beyond what
//     was mapped; keyless records and records below the log start go. A
//     tombstone (nil value) that is kept gets a delete horizon, now plus
//     DeleteRetention, written into its batch (KIP-534); a later pass
//     past the horizon drops it. Batches keep their base and last offsets,
//     codec, timestamps and producer id, epoch and sequence; a run of
//     batches that lost every record is replaced by one empty batch
//     spanning their offsets, so that batch offsets stay contiguous and
//     every check of contiguity still guards against damage. A group in
//     which nothing changes is left alone.
//  5. Swaps each rewritten group in crash-safely: the new files are
//     written as "<base>.log.cleaned" (and .index.cleaned,
//     .timeindex.cleaned) and fsynced with their directory; renamed to
//     ".swap" and the directory fsynced (the commit point); the replaced
//     segments' files removed and the directory fsynced; the ".swap" files
//     renamed over the live names and the directory fsynced. Open
//     completes a swap whose ".log.swap" exists and rolls back one whose
//     ".log.cleaned" still exists (see recoverSwaps). Readers inside a
//     replaced segment finish their read: its files stay open until the
//     last reader lets go.
//  6. Moves the cleaner point to the end of what was mapped, in a new
//     checkpoint.
//
// A pass holds no lock that appends or reads wait for, except during each
// swap (a few renames and directory fsyncs), when fsync rounds wait.

// cleanable is what a compaction pass may work on, taken under the locks.
type cleanable struct {
	segs       []*segment // from the one holding the log start to the last cleanable
	start      int64      // log start offset
	firstDirty int64      // the cleaner point, at or above start
	end        int64      // offset after the last cleanable segment
	cleanBytes int64      // bytes of segments wholly below firstDirty
	dirtyBytes int64      // bytes of the others
}

// dirtyRatio is Kafka's cleanable ratio: dirty bytes over all cleanable
// bytes.
func (c *cleanable) dirtyRatio() float64 {
	if c.dirtyBytes == 0 {
		return 0
	}
	return float64(c.dirtyBytes) / float64(c.cleanBytes+c.dirtyBytes)
}

// cleanableSegments returns the segments a pass may rewrite now.
// withCheckpoint bounds them by the last checkpoint and producer snapshot
// (for a pass about to rewrite them; REQUIRES: syncSem and p.mu); without,
// it is an estimate for statistics and scheduling, which takes no lock.
func (p *PartitionLog) cleanableSegments(now time.Time, withCheckpoint bool) cleanable {
	segs := *p.segments.Load()
	active := segs[len(segs)-1]
	hw, durable, written := p.hw.Load(), p.durable.Load(), p.written.Load()
	c := cleanable{start: p.start.Load()}
	c.firstDirty = max(p.cleanerPoint.Load(), c.start)
	lo := max(0, segmentHolding(segs, c.start))
	lag := p.cfg.MinCompactionLag.Milliseconds()
	hi := lo
	for ; hi < len(segs)-1; hi++ {
		s, next := segs[hi], segs[hi+1]
		if s == active || s == hw.seg || s == durable.seg || s == written.seg ||
			next.base > hw.offset || next.base > durable.offset {
			break
		}
		if withCheckpoint && (next.base > p.checkpointed.segmentBase || next.base > p.snapThrough) {
			break
		}
		dirty := next.base > c.firstDirty
		if dirty && lag > 0 && s.maxTimestamp.Load() > now.UnixMilli()-lag {
			break
		}
		if dirty {
			c.dirtyBytes += s.size.Load()
		} else {
			c.cleanBytes += s.size.Load()
		}
	}
	c.segs = segs[lo:hi:hi]
	c.end = c.firstDirty
	if hi > lo {
		c.end = max(c.firstDirty, segs[hi].base)
	}
	return c
}

// CompactionDue reports whether the Log's cleaner should compact the
// partition now (see compactionDue), and its dirty ratio, by which the
// cleaner orders the partitions due. It takes no lock that appends or
// reads wait for.
func (p *PartitionLog) CompactionDue(now time.Time) (due bool, dirtyRatio float64) {
	if !p.cfg.Compacted {
		return false, 0
	}
	c := p.cleanableSegments(now, false)
	return p.compactionDue(&c, now), c.dirtyRatio()
}

// compactionDue reports whether the Log's cleaner should compact c now:
// its dirty ratio is above MinCleanableDirtyRatio, its oldest dirty
// record has waited MaxCompactionLag, or tombstones it kept have reached
// their delete horizon.
func (p *PartitionLog) compactionDue(c *cleanable, now time.Time) bool {
	if hz := p.tombstoneHorizon.Load(); hz > 0 && now.UnixMilli() >= hz && len(c.segs) > 0 {
		return true
	}
	if c.end <= c.firstDirty || c.dirtyBytes == 0 {
		return false
	}
	if c.dirtyRatio() > p.cfg.MinCleanableDirtyRatio {
		return true
	}
	maxLag := p.cfg.MaxCompactionLag
	if maxLag <= 0 {
		return false
	}
	first, ok := p.firstDirtyTimestamp(c)
	return ok && now.UnixMilli()-first > maxLag.Milliseconds()
}

// firstDirtyTimestamp returns the timestamp of the first dirty batch (its
// base timestamp, Kafka's measure for max.compaction.lag.ms).
func (p *PartitionLog) firstDirtyTimestamp(c *cleanable) (int64, bool) {
	i := segmentHolding(c.segs, c.firstDirty)
	if i < 0 {
		return 0, false
	}
	s := c.segs[i]
	if !s.acquire() {
		return 0, false
	}
	defer s.release()
	_, pos := s.offsets().lookup(c.firstDirty)
	var scratch []byte
	size := s.size.Load()
	for pos < size {
		_, h, err := s.batchAt(&scratch, pos, size)
		if err != nil {
			return 0, false
		}
		if h.NextOffset() > c.firstDirty {
			if h.HasDeleteHorizon() {
				return h.MaxTimestamp, true
			}
			return h.BaseTimestamp, true
		}
		pos += int64(h.Size())
	}
	return 0, false
}

// Compact runs one compaction pass over p; see the comment at the top of
// this file. Whether a pass is due (CompactionDue) is the caller's call.
// It does nothing for a topic that does not compact.
func (p *PartitionLog) Compact(ctx context.Context, now time.Time) error {
	if err := p.refuseReadOnly("Compact"); err != nil {
		return err
	}
	if !p.cfg.Compacted {
		return nil
	}
	start := p.cfg.Now()
	var (
		ev    CompactionEvent
		syncs []SyncEvent // the pass's fsync rounds, reported once cleanMu is released
	)
	p.cleanMu.Lock()
	err := p.compact(ctx, now, &ev, &syncs)
	p.cleanMu.Unlock()
	for _, s := range syncs {
		p.cfg.Events.Sync(s)
	}
	if err != nil {
		return err
	}
	ev.Duration = p.cfg.Now().Sub(start)
	ev.CleanerOffset = p.cleanerPoint.Load()
	lvl := slog.LevelDebug
	if ev.Segments > 0 {
		lvl = slog.LevelInfo
	}
	p.cfg.Logger.Log(ctx, lvl, "compacted partition", "topic", p.cfg.Topic, "partition", p.cfg.Partition,
		"offset", ev.CleanerOffset, "segments", ev.Segments, "new_segments", ev.NewSegments,
		"bytes_before", ev.BytesBefore, "bytes_after", ev.BytesAfter, "records_removed", ev.RecordsRemoved, "duration", ev.Duration)
	if f := p.cfg.Events.Compaction; f != nil {
		f(ev)
	}
	return nil
}

// compact is Compact's pass, holding cleanMu; it adds what it replaces
// to ev, and the fsync rounds it runs to syncs.
func (p *PartitionLog) compact(ctx context.Context, now time.Time, ev *CompactionEvent, syncs *[]SyncEvent) error {
	var (
		c           cleanable
		truncations int64
	)
	err := p.withSyncSemKeeping(ctx, syncs, func() error {
		if err := p.checkpointHeld(); err != nil {
			return err
		}
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.shutErr != nil {
			return p.shutErr
		}
		c = p.cleanableSegments(now, true)
		truncations = p.truncations.Load()
		for i, s := range c.segs {
			if !s.acquire() {
				for _, s := range c.segs[:i] {
					s.release()
				}
				return ErrClosed
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	defer func() {
		for _, s := range c.segs {
			s.release()
		}
	}()
	p.lastCleaning.Store(now.UnixMilli())
	cl := &cleaner{p: p, ctx: ctx, now: now, c: &c, truncations: truncations, paceStart: time.Now(), paceEnds: p.appendedEnds(), ev: ev}
	m := newOffsetMap(p.cfg.CompactionMapBytes, int(min(c.end-c.firstDirty, math.MaxInt32)))
	// With no dirty records the pass still rewrites what has tombstones
	// past their delete horizon: the map stays empty, and every record
	// below the cleaner point is the latest of its key already.
	end := c.firstDirty
	if c.end > c.firstDirty {
		if end, err = cl.buildMap(m); errors.Is(err, ErrSwapStale) {
			return nil // truncated meanwhile: a later pass goes on
		} else if err != nil {
			return err
		}
	}
	cl.m, cl.mapped = m, end
	for _, g := range cl.groups(end) {
		err := cl.rewrite(g)
		if errors.Is(err, ErrSwapStale) {
			// Retention deleted segments of the group meanwhile: what it
			// left is compacted by a later pass.
			return nil
		}
		if err != nil {
			return err
		}
	}
	p.tombstoneHorizon.Store(cl.minHorizon)
	return p.withSyncSemKeeping(ctx, syncs, func() error {
		if p.truncations.Load() != truncations {
			return nil // the log was cut below what was mapped
		}
		if end > p.cleanerPoint.Load() {
			p.cleanerPoint.Store(end)
		}
		return p.checkpointHeld()
	})
}

// cleaner is the state of one compaction pass.
type cleaner struct {
	p      *PartitionLog
	ctx    context.Context
	now    time.Time
	c      *cleanable
	m      *offsetMap
	mapped int64 // offset after the last record in m
	// truncations is the partition's count of truncations when the pass
	// took its segments: once it moves, the pass's work is stale.
	truncations int64

	scratch  []byte
	it       record.Iter
	retainer record.Retainer
	keep     []bool
	recs     []mappedRecord
	filler   []byte
	// minHorizon is the earliest delete horizon of the tombstones the
	// pass kept (0: none).
	minHorizon int64
	// ev counts what the pass replaced, group by group as each is
	// swapped in; removed counts the records the group being rewritten
	// drops.
	ev      *CompactionEvent
	removed int64

	// Pacing (see pace): input bytes since the last look, when that was,
	// and the Log's appended ends then.
	paceBytes int
	paceStart time.Time
	paceEnds  int64
}

// stopped returns why the pass must stop: the context ended, the Log is
// closing, the partition is closed or deleted, or it was truncated
// (ErrSwapStale: the pass's segments changed).
func (cl *cleaner) stopped() error {
	if err := cl.ctx.Err(); err != nil {
		return err
	}
	if cl.p.truncations.Load() != cl.truncations {
		return ErrSwapStale
	}
	select {
	case <-cl.p.done:
		return cl.p.ClosedErr()
	case <-cl.p.cfg.Closing:
		return ErrClosed
	default:
		return nil
	}
}

// appendedEnds calls Config.AppendedEnds, or returns 0 without one.
func (p *PartitionLog) appendedEnds() int64 {
	if p.cfg.AppendedEnds == nil {
		return 0
	}
	return p.cfg.AppendedEnds()
}

// pacingSlice is how much input compaction reads between two looks at
// whether appends are running (about 3 ms of work).
const pacingSlice = 1 << 20

// pace counts n bytes of input read and, after each pacingSlice of it,
// paces the pass: while appends are running anywhere in the Log (some
// partition's end moved since the last look), the pass rests after each
// slice of work for as long as keeps its share of the time at
// Options.CompactionDutyCycle. A pass takes a whole CPU while it works,
// and on a machine with few of them that slows appends down (by a third
// on 2 CPUs); paced, it leaves them their throughput. With nothing
// appended it runs flat out.
func (cl *cleaner) pace(n int) error {
	cl.paceBytes += n
	if cl.paceBytes < pacingSlice {
		return nil
	}
	cl.paceBytes = 0
	now := time.Now()
	worked := now.Sub(cl.paceStart)
	cl.paceStart = now
	ends := cl.p.appendedEnds()
	busy := ends != cl.paceEnds
	cl.paceEnds = ends
	duty := cl.p.cfg.CompactionDutyCycle
	if !busy || duty >= 1 {
		return nil
	}
	rest := time.NewTimer(time.Duration(float64(worked) * (1 - duty) / duty))
	defer rest.Stop()
	select {
	case <-rest.C:
	case <-cl.ctx.Done():
	case <-cl.p.done:
	case <-cl.p.cfg.Closing:
	}
	cl.paceStart = time.Now()
	return cl.stopped()
}

// batches calls fn for each batch of s, in order; fn returning false
// stops the walk.
func (cl *cleaner) batches(s *segment, fn func(b []byte, h *record.Header) (bool, error)) error {
	size := s.size.Load()
	for pos := int64(0); pos < size; {
		b, h, err := s.batchAt(&cl.scratch, pos, size)
		if err != nil {
			return corruptUnlessIO(err, &CorruptionError{Path: s.path, FilePosition: pos, Offset: -1, Reason: "batch read by compaction"})
		}
		pos += int64(len(b))
		more, err := fn(b, &h)
		if err != nil || !more {
			return err
		}
		if err := cl.pace(len(b)); err != nil {
			return err
		}
	}
	return nil
}

// buildMap maps the key of every dirty record to its latest offset, and
// returns the offset after the last record mapped: the end of the
// cleanable part, or the start of the first batch that did not fit.
func (cl *cleaner) buildMap(m *offsetMap) (int64, error) {
	c := cl.c
	end := c.end
	for _, s := range c.segs[max(0, segmentHolding(c.segs, c.firstDirty)):] {
		if err := cl.stopped(); err != nil {
			return 0, err
		}
		full := false
		err := cl.batches(s, func(b []byte, h *record.Header) (bool, error) {
			if h.NextOffset() <= c.firstDirty || h.Control() {
				return true, nil
			}
			if int(h.RecordCount) > m.room() {
				if m.len() == 0 {
					return false, fmt.Errorf("%w: a batch of %d records at offset %d exceeds the compaction map's %d keys; raise Options.CompactionMapBytes",
						ErrInvalidArgument, h.RecordCount, h.BaseOffset, m.capacity())
				}
				end, full = h.BaseOffset, true
				return false, nil
			}
			if err := cl.it.Reset(b, MaxDecompressedBatch); err != nil {
				return false, &CorruptionError{Path: s.path, Offset: h.BaseOffset, Reason: "batch read by compaction", Err: err}
			}
			// Hash and touch every key before putting any, so that the
			// map's cache misses overlap.
			cl.recs = cl.recs[:0]
			for cl.it.Next() {
				if r := cl.it.Record(); r.Key != nil && r.Offset >= c.firstDirty {
					cl.recs = append(cl.recs, mappedRecord{h: m.hash(r.Key), offset: r.Offset})
				}
			}
			if err := cl.it.Err(); err != nil {
				return false, &CorruptionError{Path: s.path, Offset: h.BaseOffset, Reason: "batch read by compaction", Err: err}
			}
			m.touch(cl.recs)
			for i := range cl.recs {
				m.putHash(cl.recs[i].h, cl.recs[i].offset)
			}
			return true, nil
		})
		if err != nil || full {
			return end, err
		}
	}
	return end, nil
}

// groups splits the segments holding records below end into runs that
// fit one segment once rewritten: their data together within
// SegmentBytes, the index entries such data can need within the index
// files, and their offsets within the 32-bit range relative to the first.
func (cl *cleaner) groups(end int64) [][]*segment {
	p := cl.p
	var segs []*segment
	for _, s := range cl.c.segs {
		if s.base >= end {
			break
		}
		segs = append(segs, s)
	}
	interval := max(int64(p.cfg.IndexIntervalBytes), 1)
	maxEntries := p.sf.maxIndex/timeEntrySize - 1 // the time index's entries are the larger
	var out [][]*segment
	for len(segs) > 0 {
		n, size := 1, segs[0].size.Load()
		for n < len(segs) {
			next := size + segs[n].size.Load()
			if next > p.cfg.SegmentBytes || next/interval+2 > maxEntries ||
				segs[n].next.Load()-segs[0].base > math.MaxInt32 {
				break
			}
			size = next
			n++
		}
		out = append(out, segs[:n:n])
		segs = segs[n:]
	}
	return out
}

// retain reports whether compaction keeps record r of a batch with header
// h, and whether keeping it needs h to get a delete horizon.
func (cl *cleaner) retain(r *mappedRecord, h *record.Header) (keep, horizon bool) {
	switch {
	case r.offset < cl.c.start || r.keyless:
		return false, false
	case r.offset >= cl.mapped:
		return true, false
	}
	if latest, ok := cl.m.getHash(r.h); ok && r.offset < latest {
		return false, false
	}
	if !r.tombstone {
		return true, false
	}
	if h.HasDeleteHorizon() {
		return cl.now.UnixMilli() < h.BaseTimestamp, false
	}
	return true, cl.p.cfg.DeleteRetention != Forever
}
