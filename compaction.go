package commitlog

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"time"

	"github.com/commitlog-go/commitlog/internal/record"
	"github.com/commitlog-go/commitlog/internal/vfs"
)

// Compaction keeps the latest record of each key (kafka-semantics.md §4).
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

// Suffixes of the files of a compaction swap.
const (
	cleanedSuffix = ".cleaned"
	swapSuffix    = ".swap"
)

// Compact compacts every partition of the named topics (none named: every
// topic with a compacting CleanupPolicy) and returns once the compacted
// segments are in place. Unlike the Log's cleaner, which compacts a
// partition only once its dirty ratio exceeds MinCleanableDirtyRatio or
// MaxCompactionLag has passed, Compact compacts whatever is cleanable;
// MinCompactionLag and the active segment are respected all the same.
//
// Errors: ErrUnknownTopic, ErrInvalidArgument for a named topic whose
// CleanupPolicy does not compact, ErrClosed, the context's error, or a
// file-system error (joined, one per partition).
func (l *Log) Compact(ctx context.Context, topics ...string) error {
	var parts []*Partition
	if len(topics) == 0 {
		if l.isClosed() {
			return ErrClosed
		}
		for _, p := range l.allPartitions() {
			if p.cfg.CleanupPolicy.compacted() {
				parts = append(parts, p)
			}
		}
	}
	for _, name := range topics {
		t, err := l.Topic(name)
		if err != nil {
			return err
		}
		if !t.cfg.CleanupPolicy.compacted() {
			return fmt.Errorf("%w: Compact: topic %q has cleanup policy %s; only %s and %s topics are compacted",
				ErrInvalidArgument, name, t.cfg.CleanupPolicy, CleanupCompact, CleanupCompactDelete)
		}
		parts = append(parts, t.partitions...)
	}
	var errs []error
	for _, p := range parts {
		if err := p.compact(ctx, l.opts.now()); err != nil {
			errs = append(errs, fmt.Errorf("compact %s-%d: %w", p.topic.name, p.id, err))
		}
	}
	return errors.Join(errs...)
}

// runCleaner is the Log's goroutine compacting, after each checkpoint
// tick, every partition whose compaction is due (compactionDue), the
// dirtiest first. Close stops it: a pass in progress stops at its next
// batch.
func (l *Log) runCleaner() {
	for {
		select {
		case <-l.ctx.Done():
			return
		case <-l.cleanWake:
		}
		now := l.opts.now()
		type due struct {
			p     *Partition
			ratio float64
		}
		var work []due
		for _, p := range l.allPartitions() {
			if !p.cfg.CleanupPolicy.compacted() {
				continue
			}
			if c := p.cleanableSegments(now, false); p.compactionDue(&c, now) {
				work = append(work, due{p, c.dirtyRatio()})
			}
		}
		slices.SortStableFunc(work, func(a, b due) int { return cmp.Compare(b.ratio, a.ratio) })
		for _, w := range work {
			err := w.p.compact(l.ctx, now)
			if err != nil && l.ctx.Err() == nil && !errors.Is(err, ErrClosed) && !errors.Is(err, errSwapStale) {
				l.opts.Logger.Warn("compaction failed", "topic", w.p.topic.name, "partition", w.p.id, "err", err)
			}
		}
	}
}

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
func (p *Partition) cleanableSegments(now time.Time, withCheckpoint bool) cleanable {
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

// compactionDue reports whether the Log's cleaner should compact c now:
// its dirty ratio is above MinCleanableDirtyRatio, its oldest dirty
// record has waited MaxCompactionLag, or tombstones it kept have reached
// their delete horizon.
func (p *Partition) compactionDue(c *cleanable, now time.Time) bool {
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
func (p *Partition) firstDirtyTimestamp(c *cleanable) (int64, bool) {
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

// compact runs one compaction pass over p; see the comment at the top of
// this file. Whether a pass is due (compactionDue) is the caller's call.
func (p *Partition) compact(ctx context.Context, now time.Time) error {
	if !p.cfg.CleanupPolicy.compacted() {
		return nil
	}
	p.cleanMu.Lock()
	defer p.cleanMu.Unlock()
	var c cleanable
	err := p.withSyncSem(ctx, func() error {
		if err := p.checkpointHeld(); err != nil {
			return err
		}
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.shutErr != nil {
			return p.shutErr
		}
		c = p.cleanableSegments(now, true)
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
	cl := &cleaner{p: p, ctx: ctx, now: now, c: &c, paceStart: time.Now(), paceEnds: p.log.appendedEnds()}
	m := newOffsetMap(p.log.opts.CompactionMapBytes, int(min(c.end-c.firstDirty, math.MaxInt32)))
	// With no dirty records the pass still rewrites what has tombstones
	// past their delete horizon: the map stays empty, and every record
	// below the cleaner point is the latest of its key already.
	end := c.firstDirty
	if c.end > c.firstDirty {
		if end, err = cl.buildMap(m); err != nil {
			return err
		}
	}
	cl.m, cl.mapped = m, end
	for _, g := range cl.groups(end) {
		err := cl.rewrite(g)
		if errors.Is(err, errSwapStale) {
			// Retention deleted segments of the group meanwhile: what it
			// left is compacted by a later pass.
			return nil
		}
		if err != nil {
			return err
		}
	}
	p.tombstoneHorizon.Store(cl.minHorizon)
	return p.withSyncSem(ctx, func() error {
		if end > p.cleanerPoint.Load() {
			p.cleanerPoint.Store(end)
		}
		return p.checkpointHeld()
	})
}

// cleaner is the state of one compaction pass.
type cleaner struct {
	p      *Partition
	ctx    context.Context
	now    time.Time
	c      *cleanable
	m      *offsetMap
	mapped int64 // offset after the last record in m

	scratch  []byte
	it       record.Iter
	retainer record.Retainer
	keep     []bool
	recs     []mappedRecord
	filler   []byte
	// minHorizon is the earliest delete horizon of the tombstones the
	// pass kept (0: none).
	minHorizon int64

	// Pacing (see pace): input bytes since the last look, when that was,
	// and the Log's appended ends then.
	paceBytes int
	paceStart time.Time
	paceEnds  int64
}

// stopped returns why the pass must stop: the context ended, the Log is
// closing, or the partition is closed or deleted.
func (cl *cleaner) stopped() error {
	if err := cl.ctx.Err(); err != nil {
		return err
	}
	select {
	case <-cl.p.done:
		return cl.p.closedErr()
	case <-cl.p.log.ctx.Done():
		return ErrClosed
	default:
		return nil
	}
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
	ends := cl.p.log.appendedEnds()
	busy := ends != cl.paceEnds
	cl.paceEnds = ends
	duty := cl.p.log.opts.CompactionDutyCycle
	if !busy || duty >= 1 {
		return nil
	}
	rest := time.NewTimer(time.Duration(float64(worked) * (1 - duty) / duty))
	defer rest.Stop()
	select {
	case <-rest.C:
	case <-cl.ctx.Done():
	case <-cl.p.done:
	case <-cl.p.log.ctx.Done():
	}
	cl.paceStart = time.Now()
	return cl.stopped()
}

// appendedEnds returns the sum of the end offsets of every partition: it
// changes whenever anything is appended.
func (l *Log) appendedEnds() int64 {
	var sum int64
	for _, p := range l.allPartitions() {
		sum += p.written.Load().offset
	}
	return sum
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
			if err := cl.it.Reset(b, maxDecompressedBatch); err != nil {
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

// mappedRecord is what compaction needs of a record to decide on it.
type mappedRecord struct {
	h         keyHash
	offset    int64
	keyless   bool
	tombstone bool
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

// rewrite writes group g anew without what compaction removes and swaps
// it in, unless nothing changes. The new
// files are started at the first change (at once for a merge), with the
// unchanged batches before it copied as they are.
func (cl *cleaner) rewrite(g []*segment) error {
	p := cl.p
	var w *cleanedWriter
	swapped := false
	defer func() {
		if w != nil && !swapped {
			w.discard()
		}
	}()
	// begin starts the new files and copies the batches of g before
	// position pos of segment si.
	begin := func(si int, pos int64) error {
		var err error
		if w, err = newCleanedWriter(p.sf, g[0].base, int64(p.cfg.IndexIntervalBytes)); err != nil {
			return err
		}
		for _, s := range g[:si+1] {
			end := s.size.Load()
			if s == g[si] {
				end = pos
			}
			for q := int64(0); q < end; {
				b, _, err := s.batchAt(&cl.scratch, q, end)
				if err != nil {
					return corruptUnlessIO(err, &CorruptionError{Path: s.path, FilePosition: q, Offset: -1, Reason: "batch read by compaction"})
				}
				if err := w.add(b); err != nil {
					return err
				}
				q += int64(len(b))
			}
		}
		return nil
	}
	if len(g) > 1 {
		if err := begin(0, 0); err != nil {
			return err
		}
	}
	var fill struct {
		on          bool
		base, last  int64
		maxTs       int64
		leaderEpoch int32
	}
	flushFill := func() error {
		if !fill.on {
			return nil
		}
		fill.on = false
		cl.filler = record.AppendFiller(cl.filler[:0], fill.base, fill.last, fill.maxTs, fill.leaderEpoch)
		return w.add(cl.filler)
	}
	for si, s := range g {
		if err := cl.stopped(); err != nil {
			return err
		}
		size := s.size.Load()
		for pos := int64(0); pos < size; {
			b, h, err := s.batchAt(&cl.scratch, pos, size)
			if err != nil {
				return corruptUnlessIO(err, &CorruptionError{Path: s.path, FilePosition: pos, Offset: -1, Reason: "batch read by compaction"})
			}
			out, err := cl.clean(s, b, &h)
			if err != nil {
				return err
			}
			if err := cl.pace(len(b)); err != nil {
				return err
			}
			if w == nil && (out == nil || len(out) != len(b) || &out[0] != &b[0]) {
				// out is nil or the Retainer's: begin's reads cannot clobber it.
				if err := begin(si, pos); err != nil {
					return err
				}
			}
			pos += int64(len(b))
			if w == nil {
				continue // unchanged so far
			}
			if out == nil { // every record goes
				if fill.on && h.LastOffset()-fill.base > math.MaxInt32 {
					if err := flushFill(); err != nil {
						return err
					}
				}
				if !fill.on {
					fill.on, fill.base, fill.maxTs, fill.leaderEpoch = true, h.BaseOffset, h.MaxTimestamp, h.PartitionLeaderEpoch
				}
				fill.last, fill.maxTs = h.LastOffset(), max(fill.maxTs, h.MaxTimestamp)
				continue
			}
			if err := flushFill(); err != nil {
				return err
			}
			if err := w.add(out); err != nil {
				return err
			}
		}
	}
	if w == nil {
		return nil
	}
	if err := flushFill(); err != nil {
		return err
	}
	if err := w.finish(); err != nil {
		return err
	}
	if err := p.swapIn(cl.ctx, g, w); err != nil {
		return err
	}
	swapped = true
	return nil
}

// clean returns batch b as compaction leaves it: b itself when every
// record stays as it is, a rebuilt batch (owned by the cleaner until the
// next call) when some go or a tombstone gets its delete horizon, or nil
// when every record goes.
func (cl *cleaner) clean(s *segment, b []byte, h *record.Header) ([]byte, error) {
	if h.Control() || h.BaseOffset >= cl.mapped && h.BaseOffset >= cl.c.start {
		return b, nil
	}
	if h.NextOffset() <= cl.c.start || h.RecordCount == 0 {
		return nil, nil
	}
	corrupt := func(err error) error {
		return &CorruptionError{Path: s.path, Offset: h.BaseOffset, Reason: "batch read by compaction", Err: err}
	}
	if err := cl.it.Reset(b, maxDecompressedBatch); err != nil {
		return nil, corrupt(err)
	}
	// Hash every key first and look them up after, so that the map's
	// cache misses overlap.
	cl.recs = cl.recs[:0]
	for cl.it.Next() {
		r := cl.it.Record()
		mr := mappedRecord{offset: r.Offset, keyless: r.Key == nil, tombstone: r.Value == nil}
		if !mr.keyless && r.Offset < cl.mapped {
			mr.h = cl.m.hash(r.Key)
		}
		cl.recs = append(cl.recs, mr)
	}
	if err := cl.it.Err(); err != nil {
		return nil, corrupt(err)
	}
	cl.m.touch(cl.recs)
	cl.keep = cl.keep[:0]
	kept, horizon, tombstones := 0, false, false
	for i := range cl.recs {
		r := &cl.recs[i]
		k, hz := cl.retain(r, h)
		cl.keep = append(cl.keep, k)
		if k {
			kept++
			tombstones = tombstones || r.tombstone && r.offset < cl.mapped
		}
		horizon = horizon || hz
	}
	deleteHorizon := int64(-1)
	if horizon {
		deleteHorizon = cl.now.Add(cl.p.cfg.DeleteRetention).UnixMilli()
	}
	if tombstones {
		hz := deleteHorizon
		if h.HasDeleteHorizon() {
			hz = h.BaseTimestamp
		}
		if hz >= 0 && (cl.minHorizon == 0 || hz < cl.minHorizon) {
			cl.minHorizon = hz
		}
	}
	switch {
	case kept == 0:
		return nil, nil
	case kept == len(cl.keep) && !horizon:
		return b, nil
	}
	if err := cl.it.Reset(b, maxDecompressedBatch); err != nil {
		return nil, corrupt(err)
	}
	cl.retainer.Reset(h, deleteHorizon)
	for i := 0; cl.it.Next(); i++ {
		if cl.keep[i] {
			cl.retainer.Keep(&cl.it)
		}
	}
	out, err := cl.retainer.Build()
	if err != nil {
		return nil, fmt.Errorf("rebuild batch at offset %d: %w", h.BaseOffset, err)
	}
	return out, nil
}

// cleanedWriter writes the data and index files of a segment being
// rewritten by compaction, under the ".cleaned" names, building the
// indexes as appends do.
type cleanedWriter struct {
	sf       segmentFiles
	base     int64
	interval int64
	file     vfs.File
	ix       *segmentIndexes
	buf      []byte // data not yet written, ending at size
	size     int64  // bytes added
	st       scanState
}

const cleanedWriteBuffer = 1 << 20

func newCleanedWriter(sf segmentFiles, base, interval int64) (*cleanedWriter, error) {
	w := &cleanedWriter{sf: sf, base: base, interval: interval, st: emptyScanState(base),
		buf: make([]byte, 0, cleanedWriteBuffer+1<<16)}
	f, err := sf.fs.Create(w.path(logSuffix, cleanedSuffix))
	if err != nil {
		return nil, err
	}
	w.file = f
	if w.ix, err = openSegmentIndexes(sf, base, cleanedSuffix, true, true); err != nil {
		f.Close()
		w.removeFiles(cleanedSuffix)
		return nil, err
	}
	return w, nil
}

func (w *cleanedWriter) path(kind, suffix string) string {
	return filepath.Join(w.sf.dir, segmentName(w.base, kind)+suffix)
}

// add appends one batch.
func (w *cleanedWriter) add(batch []byte) error {
	h, err := record.ParseHeader(batch, len(batch))
	if err != nil {
		return err
	}
	if h.BaseOffset != w.st.next {
		return fmt.Errorf("compaction wrote batch at offset %d after one ending at %d", h.BaseOffset, w.st.next)
	}
	pos := w.size
	if h.MaxTimestamp > w.st.maxTimestamp {
		w.st.maxTimestamp, w.st.offsetOfMaxTimestamp = h.MaxTimestamp, h.LastOffset()
	}
	if w.st.bytesSinceIndex > w.interval {
		if err := w.ix.offset.add(h.LastOffset(), pos); err != nil {
			return err
		}
		if err := w.ix.time.maybeAdd(w.st.maxTimestamp, w.st.offsetOfMaxTimestamp); err != nil {
			return err
		}
		w.st.bytesSinceIndex = 0
	}
	w.st.bytesSinceIndex += int64(len(batch))
	w.st.next = h.NextOffset()
	w.size += int64(len(batch))
	w.buf = append(w.buf, batch...)
	if len(w.buf) >= cleanedWriteBuffer {
		return w.flush()
	}
	return nil
}

func (w *cleanedWriter) flush() error {
	if len(w.buf) == 0 {
		return nil
	}
	if _, err := w.file.WriteAt(w.buf, w.size-int64(len(w.buf))); err != nil {
		return err
	}
	w.buf = w.buf[:0]
	return nil
}

// finish writes what is buffered, seals the indexes as a roll does, and
// makes the files and their directory entries durable.
func (w *cleanedWriter) finish() error {
	if err := w.flush(); err != nil {
		return err
	}
	if w.st.maxTimestamp >= 0 {
		if err := w.ix.time.maybeAdd(w.st.maxTimestamp, w.st.offsetOfMaxTimestamp); err != nil {
			return err
		}
	}
	return errors.Join(w.ix.offset.trim(), w.ix.time.trim(),
		w.file.Sync(), w.ix.offset.sync(), w.ix.time.sync(), w.sf.fs.SyncDir(w.sf.dir))
}

// close closes the files, keeping them.
func (w *cleanedWriter) close() error {
	var err error
	if w.ix != nil {
		err = w.ix.close()
		w.ix = nil
	}
	if w.file != nil {
		err = errors.Join(err, w.file.Close())
		w.file = nil
	}
	return err
}

// discard closes and removes the files of an abandoned rewrite. Failures
// are left to Open, which removes ".cleaned" files.
func (w *cleanedWriter) discard() {
	_ = w.close()
	w.removeFiles(cleanedSuffix)
}

func (w *cleanedWriter) removeFiles(suffix string) {
	for _, kind := range []string{logSuffix, indexSuffix, timeIndexSuffix} {
		_ = w.sf.fs.Remove(w.path(kind, suffix))
	}
}

// errSwapStale reports a group of segments that changed while it was
// being rewritten (retention deleted some of them); the rewrite is dropped.
var errSwapStale = errors.New("segments changed during compaction")

// swapIn replaces the segments of group g with the rewritten segment w
// has finished, on disk and then in memory; see the comment at the top of
// this file. A failure after the commit point fails the partition: memory
// and disk disagree until Open completes the swap.
func (p *Partition) swapIn(ctx context.Context, g []*segment, w *cleanedWriter) error {
	if err := w.close(); err != nil {
		return err
	}
	return p.withSyncSem(ctx, func() error {
		p.mu.Lock()
		segs := *p.segments.Load()
		i := slices.Index(segs, g[0])
		err := p.shutErr
		if err == nil {
			err = p.failed
		}
		if err == nil && (i < 0 || i+len(g) > len(segs) || !slices.Equal(segs[i:i+len(g)], g)) {
			err = errSwapStale
		}
		p.mu.Unlock()
		if err != nil {
			return err
		}
		fs := p.log.fs
		rename := func(kind, from, to string) error { return fs.Rename(w.path(kind, from), w.path(kind, to)) }
		// Commit point: the data file under its ".swap" name, durable.
		for _, kind := range []string{indexSuffix, timeIndexSuffix, logSuffix} {
			if err := rename(kind, cleanedSuffix, swapSuffix); err != nil {
				w.removeFiles(swapSuffix)
				return err
			}
		}
		if err := fs.SyncDir(p.dir); err != nil {
			return p.fail("compaction swap", err)
		}
		for _, s := range g[1:] {
			for _, kind := range []string{logSuffix, indexSuffix, timeIndexSuffix} {
				if err := fs.Remove(filepath.Join(p.dir, segmentName(s.base, kind))); err != nil && !isNotExist(err) {
					return p.fail("compaction swap", err)
				}
			}
		}
		if len(g) > 1 {
			if err := fs.SyncDir(p.dir); err != nil {
				return p.fail("compaction swap", err)
			}
		}
		for _, kind := range []string{indexSuffix, timeIndexSuffix, logSuffix} {
			if err := rename(kind, swapSuffix, ""); err != nil {
				return p.fail("compaction swap", err)
			}
		}
		if err := fs.SyncDir(p.dir); err != nil {
			return p.fail("compaction swap", err)
		}
		ns, err := openSegment(p.sf, w.base, false)
		if err != nil {
			return p.fail("compaction swap", err)
		}
		ns.sealed = true
		ns.next.Store(w.st.next)
		ns.maxTimestamp.Store(w.st.maxTimestamp)
		ns.offsetOfMaxTimestamp = w.st.offsetOfMaxTimestamp
		p.mu.Lock()
		segs = *p.segments.Load()
		i = slices.Index(segs, g[0])
		kept := slices.Concat(segs[:i], []*segment{ns}, segs[i+len(g):])
		p.segments.Store(&kept)
		p.mu.Unlock()
		for _, s := range g {
			s.release() // the partition's reference; readers keep theirs
		}
		return nil
	})
}

// recoverSwaps finishes or undoes, on Open, compaction swaps a crash
// interrupted (see the comment at the top of this file), before the
// segments are loaded. For a group based at X:
//
//   - "X.log.swap" exists: the swap passed its commit point. The new index
//     files are wherever they got to (".swap", ".cleaned", or already
//     renamed over the live name); the replaced segments are those whose
//     base lies inside the new segment's offsets. They are removed, and
//     the new files renamed to the live names.
//   - "X.log.cleaned" exists: the swap had not reached its commit point;
//     the new files are removed and the old segments stay.
//   - Neither: the data file was renamed over the live name, so every
//     replaced segment is already gone; leftover ".swap" index files are
//     renamed over the live names, and ".cleaned" ones (from a rewrite
//     that never finished) removed.
func (p *Partition) recoverSwaps(names []string) (changed bool, err error) {
	fs := p.log.fs
	has := make(map[string]bool, len(names))
	bases := map[int64]bool{}
	var logs []int64
	for _, n := range names {
		has[n] = true
		for _, suffix := range []string{cleanedSuffix, swapSuffix} {
			for _, kind := range []string{logSuffix, indexSuffix, timeIndexSuffix} {
				if base, ok := parseSegmentName(n, kind+suffix); ok {
					bases[base] = true
				}
			}
		}
		if base, ok := parseSegmentName(n, logSuffix); ok {
			logs = append(logs, base)
		}
	}
	path := func(base int64, kind, suffix string) string {
		return filepath.Join(p.dir, segmentName(base, kind)+suffix)
	}
	remove := func(base int64, kind, suffix string) error {
		if !has[segmentName(base, kind)+suffix] {
			return nil
		}
		changed = true
		return fs.Remove(path(base, kind, suffix))
	}
	rename := func(base int64, kind, suffix string) error {
		if !has[segmentName(base, kind)+suffix] {
			return nil
		}
		changed = true
		return fs.Rename(path(base, kind, suffix), path(base, kind, ""))
	}
	for _, x := range slices.Sorted(func(yield func(int64) bool) {
		for b := range bases {
			if !yield(b) {
				return
			}
		}
	}) {
		var errs []error
		switch {
		case has[segmentName(x, logSuffix)+swapSuffix]:
			next, err := swapEnd(fs, path(x, logSuffix, swapSuffix))
			if err != nil {
				return changed, err
			}
			for _, b := range logs {
				if b > x && b < next {
					for _, kind := range []string{logSuffix, indexSuffix, timeIndexSuffix} {
						errs = append(errs, remove(b, kind, ""))
					}
				}
			}
			if err := errors.Join(errs...); err != nil {
				return changed, err
			}
			if err := fs.SyncDir(p.dir); err != nil {
				return changed, err
			}
			for _, kind := range []string{indexSuffix, timeIndexSuffix} {
				if has[segmentName(x, kind)+swapSuffix] {
					errs = append(errs, rename(x, kind, swapSuffix), remove(x, kind, cleanedSuffix))
				} else {
					errs = append(errs, rename(x, kind, cleanedSuffix))
				}
			}
			errs = append(errs, rename(x, logSuffix, swapSuffix))
			p.log.opts.Logger.Info("completed a compaction swap interrupted by a crash", "dir", p.dir, "segment", x, "next", next)
		case has[segmentName(x, logSuffix)+cleanedSuffix]:
			for _, kind := range []string{logSuffix, indexSuffix, timeIndexSuffix} {
				errs = append(errs, remove(x, kind, cleanedSuffix), remove(x, kind, swapSuffix))
			}
			p.log.opts.Logger.Info("rolled back a compaction swap interrupted by a crash", "dir", p.dir, "segment", x)
		default:
			for _, kind := range []string{indexSuffix, timeIndexSuffix} {
				errs = append(errs, rename(x, kind, swapSuffix), remove(x, kind, cleanedSuffix))
			}
		}
		if err := errors.Join(errs...); err != nil {
			return changed, err
		}
	}
	if changed {
		return true, fs.SyncDir(p.dir)
	}
	return false, nil
}

// swapEnd returns the offset after the last batch of the data file at
// path, checking every batch: a ".swap" file was fsynced whole before it
// got that name, so damage in it is corruption.
func swapEnd(fs vfs.FS, path string) (int64, error) {
	f, err := fs.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	size, err := f.Size()
	if err != nil {
		return 0, err
	}
	next := int64(-1)
	buf := make([]byte, record.HeaderSize)
	for pos := int64(0); pos < size; {
		err := func() error {
			if size-pos < record.HeaderSize {
				return record.ErrTruncated
			}
			if _, err := f.ReadAt(buf[:record.HeaderSize], pos); err != nil {
				return err
			}
			h, err := record.ParseHeader(buf[:record.HeaderSize], int(min(size-pos, math.MaxInt32)))
			if err != nil {
				return err
			}
			if next >= 0 && h.BaseOffset != next {
				return fmt.Errorf("batch base offset %d, expected %d", h.BaseOffset, next)
			}
			if cap(buf) < h.Size() {
				buf = make([]byte, h.Size())
			}
			b := buf[:h.Size()]
			if _, err := f.ReadAt(b, pos); err != nil {
				return err
			}
			if err := record.CheckCRC(b); err != nil {
				return err
			}
			next, pos = h.NextOffset(), pos+int64(h.Size())
			return nil
		}()
		if err != nil {
			return 0, &CorruptionError{Path: path, FilePosition: pos, Offset: next, Reason: "damaged batch in a compacted segment being swapped in", Err: err}
		}
	}
	if next < 0 {
		return 0, &CorruptionError{Path: path, Offset: -1, Reason: "a compacted segment being swapped in is empty"}
	}
	return next, nil
}
