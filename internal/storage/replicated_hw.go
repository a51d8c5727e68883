package storage

import (
	"math"
	"sort"

	"github.com/commitlog-go/commitlog/internal/record"
)

// The high watermark of a Replicated log (Config.Replicated) is set by
// replication: records below it are on enough replicas to be committed
// (Kafka's HW, reference §8.4), and a follower's is the leader's, capped
// by its own end (§8.2.4). SetHighWatermark gives the limit; the high
// watermark is then min(limit, local end), the local end being what an
// unreplicated log's high watermark would be (the durable end under
// SyncAlways, the written end otherwise), and it follows the local end up
// to the limit as appends and fsync rounds move it. It never moves down,
// except when TruncateTo cuts the log below it or ResetTo restarts the
// log below it (the limit comes down with it); on Open it starts at the
// log start offset (rounded up to a batch boundary: nothing above the
// high watermark of before the restart), since nothing says how much of
// the log replication had committed.
//
// Readers bound their reads by the high watermark's Position (its byte
// position in its segment), so the limit must be found as a Position. The
// offsets replication gives are batch boundaries: the ends of batches the
// followers fetched. The last recentPositions written ends are kept, and
// one of them is nearly always the one; otherwise the offset index gives
// the last indexed batch at or below the limit and a walk over the
// headers after it (at most IndexIntervalBytes of batches) finds it. A
// limit inside a batch rounds down to the batch's base offset.
//
// An unreplicated log does none of this: its appends publish their
// written end (or fsync rounds their durable end) as before, behind one
// branch.

// recentPositions is how many written ends a Replicated log keeps for
// finding its high watermark.
const recentPositions = 256

// positionRing holds the latest written ends, oldest overwritten first.
// REQUIRES: the append lock.
type positionRing struct {
	buf [recentPositions]*Position
	n   int // positions added; the last min(n, recentPositions) are held
}

func (r *positionRing) add(w *Position) {
	r.buf[r.n%recentPositions] = w
	r.n++
}

func (r *positionRing) reset() {
	clear(r.buf[:])
	r.n = 0
}

// find returns the latest position held whose offset is at or below
// target, or nil when target lies below every position held. Every
// written end since the oldest held is held (every batch, roll and
// truncation adds or resets), so the position found is the batch boundary
// at or below target.
func (r *positionRing) find(target int64) *Position {
	held := min(r.n, recentPositions)
	at := func(i int) *Position { return r.buf[(r.n-held+i)%recentPositions] }
	// The first held position above target.
	i := sort.Search(held, func(i int) bool { return at(i).offset > target })
	if i == 0 {
		return nil
	}
	return at(i - 1)
}

// SetHighWatermark sets, on a Replicated log, the offset up to which
// replication has committed the log: the high watermark becomes
// min(offset, local end) and keeps following the local end up to offset
// (an offset inside a batch counts as that batch's base offset).
// Offsets at or below the last one given change nothing: the high
// watermark never moves down. Config.OnHighWatermark hears of every move.
// On a log that is not Replicated, or closed, it does nothing. It does
// not block on I/O but for reading a few batch headers.
func (p *PartitionLog) SetHighWatermark(offset int64) {
	if !p.cfg.Replicated {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.released || offset <= p.hwLimit {
		return
	}
	p.hwLimit, p.hwLimitFound = offset, false
	local := p.written.Load()
	if p.cfg.SyncAlways {
		local = p.durable.Load()
	}
	p.followLimitLocked(local)
}

// followLimitLocked moves the high watermark of a Replicated log after
// the local end moved to local, or the limit moved: to local when it is
// at or below the limit, else to the batch boundary at or below the
// limit. It reports whether a reader was woken. REQUIRES: p.mu.
func (p *PartitionLog) followLimitLocked(local *Position) bool {
	cur := p.hw.Load()
	w := local
	if local.offset > p.hwLimit {
		if p.hwLimitFound {
			return false // the high watermark is at the limit's boundary already
		}
		if w = p.recent.find(p.hwLimit); w == nil {
			var err error
			if w, err = p.boundaryLocked(p.hwLimit); err != nil {
				// The high watermark stays, which is safe; the batch
				// that failed is reported by the readers and Check.
				p.cfg.Logger.Warn("finding the high watermark's position failed; it stays",
					"topic", p.cfg.Topic, "partition", p.cfg.Partition, "offset", p.hwLimit, "err", err)
				return false
			}
		}
		p.hwLimitFound = true
	}
	// A roll moves the local end to a new segment at the same offset: the
	// high watermark follows it there, so that retention and compaction
	// may take the old segment.
	if w.offset < cur.offset || w.offset == cur.offset && (w.seg == cur.seg || w != local) {
		return false
	}
	return p.publishHW(w)
}

// boundaryLocked returns the position of the batch boundary at or below
// offset (the start of the batch holding it), which must be at or below
// the durable end under SyncAlways (staged batches are not in their file)
// and at or above the first segment's base. It carries no append state.
// REQUIRES: p.mu.
func (p *PartitionLog) boundaryLocked(offset int64) (*Position, error) {
	segs := *p.segments.Load()
	return p.segmentBoundary(segs[max(0, segmentHolding(segs, offset))], offset, false)
}

// segmentBoundary returns the position in s of the batch boundary at or
// below offset: the start of the batch holding it, or the end of s when
// offset is at or past it. Without full it starts from the offset index,
// and the Position carries no append state; with full it walks s from its
// start and the Position carries the append state there, as if s had been
// written only up to it, for the written and durable ends of a truncated
// log. It reads the headers of the batches below offset and of the one
// holding it, nothing after. REQUIRES: s stays live; the batches it reads
// are in its file.
func (p *PartitionLog) segmentBoundary(s *segment, offset int64, full bool) (*Position, error) {
	w := &Position{offset: s.base, seg: s, maxTimestamp: -1, offsetOfMaxTimestamp: -1, truncations: p.truncations.Load()}
	if !full {
		if _, pos := s.offsets().lookup(offset); pos > 0 {
			w.offset, w.pos = -1, pos // the batch at pos is read first
		}
	}
	size := s.size.Load()
	var scratch []byte
	for w.pos < size && w.offset < offset {
		if size-w.pos < record.HeaderSize {
			return nil, &CorruptionError{Path: s.path, FilePosition: w.pos, Offset: w.offset, Reason: "batch header cut short", Err: record.ErrTruncated}
		}
		hb, err := s.bytesAt(&scratch, w.pos, record.HeaderSize)
		if err != nil {
			return nil, err
		}
		h, err := record.ParseHeader(hb, int(min(size-w.pos, math.MaxInt32)))
		if err != nil {
			return nil, &CorruptionError{Path: s.path, FilePosition: w.pos, Offset: w.offset, Reason: "batch header", Err: err}
		}
		if h.NextOffset() > offset {
			w.offset = h.BaseOffset
			break
		}
		if full && h.MaxTimestamp > w.maxTimestamp {
			w.maxTimestamp, w.offsetOfMaxTimestamp = h.MaxTimestamp, h.LastOffset()
		}
		w.offset = h.NextOffset()
		w.pos += int64(h.Size())
	}
	if full {
		x, t := s.offsets(), s.times()
		// The index entries appends made for the batches before w: an
		// offset entry names a batch by its start, a time entry by an
		// offset inside the batches it covers.
		no := sort.Search(x.count(), func(i int) bool { return x.positionAt(i) >= w.pos })
		nt := sort.Search(t.count(), func(i int) bool { return t.offsetAt(i) >= w.offset })
		w.offsetEntries, w.timeEntries = int32(no), int32(nt)
		w.bytesSinceIndex = w.pos
		if no > 0 {
			w.bytesSinceIndex = w.pos - x.positionAt(no-1)
		}
	}
	return w, nil
}

// startBoundaryLocked returns the position of the first batch boundary
// at or above the log start offset, where a Replicated log's high
// watermark starts on Open. REQUIRES: p.mu, or Open.
func (p *PartitionLog) startBoundaryLocked() (*Position, error) {
	start := p.start.Load()
	w, err := p.boundaryLocked(start)
	if err != nil || w.offset >= start {
		return w, err
	}
	// The log starts inside the batch at w (DeleteRecords): its end is the
	// boundary, at or below the high watermark that allowed the delete.
	var scratch []byte
	s := w.seg
	hb, err := s.bytesAt(&scratch, w.pos, record.HeaderSize)
	if err != nil {
		return nil, err
	}
	h, err := record.ParseHeader(hb, int(min(s.size.Load()-w.pos, math.MaxInt32)))
	if err != nil {
		return nil, &CorruptionError{Path: s.path, FilePosition: w.pos, Offset: w.offset, Reason: "batch header", Err: err}
	}
	w.offset, w.pos = h.NextOffset(), w.pos+int64(h.Size())
	return w, nil
}

// WrittenPosition returns the end of what was written, to bound a reader
// serving followers (NewReader(from, p.WrittenPosition())), who fetch up
// to the leader's written end, past the high watermark. Under SyncAlways
// it first writes the batches staged for the next fsync round, so that
// the reader finds them in the file; if that write fails, the partition
// fails and the durable end is returned.
func (p *PartitionLog) WrittenPosition() *Position {
	if !p.cfg.SyncAlways {
		return p.written.Load()
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.released {
		return p.written.Load()
	}
	if err := p.active.writeStaged(); err != nil {
		p.failLocked("write", err)
		return p.durable.Load()
	}
	return p.written.Load()
}
