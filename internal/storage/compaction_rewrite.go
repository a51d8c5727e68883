package storage

import (
	"errors"
	"fmt"
	"math"
	"path/filepath"

	"github.com/commitlog-go/commitlog/internal/record"
	"github.com/commitlog-go/commitlog/internal/vfs"
)

// rewrite writes group g anew without what compaction removes and swaps
// it in, unless nothing changes. The new
// files are started at the first change (at once for a merge), with the
// unchanged batches before it copied as they are.
func (cl *cleaner) rewrite(g []*segment) error {
	p := cl.p
	cl.removed = 0
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
				// A filler keeps the leader epoch of the batches it
				// replaces: one per epoch, so that every epoch still
				// starts at a batch of its own (the epoch cache's start).
				if fill.on && (h.LastOffset()-fill.base > math.MaxInt32 || h.PartitionLeaderEpoch != fill.leaderEpoch) {
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
	if err := p.swapIn(cl.ctx, g, w, cl.truncations); err != nil {
		return err
	}
	swapped = true
	cl.ev.Segments += len(g)
	cl.ev.NewSegments++
	for _, s := range g {
		cl.ev.BytesBefore += s.size.Load()
	}
	cl.ev.BytesAfter += w.size
	cl.ev.RecordsRemoved += cl.removed
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
		cl.removed += int64(h.RecordCount)
		return nil, nil
	}
	corrupt := func(err error) error {
		return &CorruptionError{Path: s.path, Offset: h.BaseOffset, Reason: "batch read by compaction", Err: err}
	}
	if err := cl.it.Reset(b, MaxDecompressedBatch); err != nil {
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
	cl.removed += int64(len(cl.keep) - kept)
	switch {
	case kept == 0:
		return nil, nil
	case kept == len(cl.keep) && !horizon:
		return b, nil
	}
	if err := cl.it.Reset(b, MaxDecompressedBatch); err != nil {
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
	f, err := sf.fs.Create(w.path(LogSuffix, CleanedSuffix))
	if err != nil {
		return nil, err
	}
	w.file = f
	if w.ix, err = openSegmentIndexes(sf, base, CleanedSuffix, true, true); err != nil {
		f.Close()
		w.removeFiles(CleanedSuffix)
		return nil, err
	}
	return w, nil
}

func (w *cleanedWriter) path(kind, suffix string) string {
	return filepath.Join(w.sf.dir, SegmentName(w.base, kind)+suffix)
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
	w.removeFiles(CleanedSuffix)
}

func (w *cleanedWriter) removeFiles(suffix string) {
	for _, kind := range []string{LogSuffix, IndexSuffix, TimeIndexSuffix} {
		_ = w.sf.fs.Remove(w.path(kind, suffix))
	}
}
