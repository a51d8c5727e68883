package storage

import (
	"context"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"strings"

	"github.com/commitlog-go/commitlog/internal/record"
	"github.com/commitlog-go/commitlog/internal/vfs"
)

// Suffixes of the files of a compaction swap.
const (
	CleanedSuffix = ".cleaned"
	SwapSuffix    = ".swap"
)

// ErrSwapStale reports a group of segments that changed while it was
// being rewritten (retention deleted some of them, or the log was
// truncated); the rewrite is dropped.
var ErrSwapStale = errors.New("segments changed during compaction")

// swapIn replaces the segments of group g with the rewritten segment w
// has finished, on disk and then in memory; see the comment at the top of
// this file. A failure after the commit point fails the partition: memory
// and disk disagree until Open completes the swap.
func (p *PartitionLog) swapIn(ctx context.Context, g []*segment, w *cleanedWriter, truncations int64) error {
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
		if err == nil && (i < 0 || i+len(g) > len(segs) || !slices.Equal(segs[i:i+len(g)], g) || p.truncations.Load() != truncations) {
			err = ErrSwapStale
		}
		p.mu.Unlock()
		if err != nil {
			return err
		}
		fs := p.cfg.FS
		rename := func(kind, from, to string) error { return fs.Rename(w.path(kind, from), w.path(kind, to)) }
		// Commit point: the data file under its ".swap" name, durable.
		for _, kind := range []string{IndexSuffix, TimeIndexSuffix, LogSuffix} {
			if err := rename(kind, CleanedSuffix, SwapSuffix); err != nil {
				w.removeFiles(SwapSuffix)
				return err
			}
		}
		if err := fs.SyncDir(p.dir); err != nil {
			return p.fail("compaction swap", err)
		}
		for _, s := range g[1:] {
			for _, kind := range []string{LogSuffix, IndexSuffix, TimeIndexSuffix} {
				if err := fs.Remove(filepath.Join(p.dir, SegmentName(s.base, kind))); err != nil && !isNotExist(err) {
					return p.fail("compaction swap", err)
				}
			}
		}
		if len(g) > 1 {
			if err := fs.SyncDir(p.dir); err != nil {
				return p.fail("compaction swap", err)
			}
		}
		for _, kind := range []string{IndexSuffix, TimeIndexSuffix, LogSuffix} {
			if err := rename(kind, SwapSuffix, ""); err != nil {
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
//
// A read-only partition ignores the ".cleaned" files of a swap that had not
// reached its commit point, as its rollback removes them, and refuses the
// ".swap" files of one past it: completing it replaces segments.
func (p *PartitionLog) recoverSwaps(names []string) (changed bool, err error) {
	if p.cfg.ReadOnly {
		for _, n := range names {
			if strings.HasSuffix(n, SwapSuffix) {
				return false, needsWriteToOpen(filepath.Join(p.dir, n), "a compaction swap that a crash interrupted past its commit point left this file")
			}
		}
		return false, nil
	}
	fs := p.cfg.FS
	has := make(map[string]bool, len(names))
	bases := map[int64]bool{}
	var logs []int64
	for _, n := range names {
		has[n] = true
		for _, suffix := range []string{CleanedSuffix, SwapSuffix} {
			for _, kind := range []string{LogSuffix, IndexSuffix, TimeIndexSuffix} {
				if base, ok := ParseSegmentName(n, kind+suffix); ok {
					bases[base] = true
				}
			}
		}
		if base, ok := ParseSegmentName(n, LogSuffix); ok {
			logs = append(logs, base)
		}
	}
	path := func(base int64, kind, suffix string) string {
		return filepath.Join(p.dir, SegmentName(base, kind)+suffix)
	}
	remove := func(base int64, kind, suffix string) error {
		if !has[SegmentName(base, kind)+suffix] {
			return nil
		}
		changed = true
		return fs.Remove(path(base, kind, suffix))
	}
	rename := func(base int64, kind, suffix string) error {
		if !has[SegmentName(base, kind)+suffix] {
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
		case has[SegmentName(x, LogSuffix)+SwapSuffix]:
			next, err := swapEnd(fs, path(x, LogSuffix, SwapSuffix))
			if err != nil {
				return changed, err
			}
			for _, b := range logs {
				if b > x && b < next {
					for _, kind := range []string{LogSuffix, IndexSuffix, TimeIndexSuffix} {
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
			for _, kind := range []string{IndexSuffix, TimeIndexSuffix} {
				if has[SegmentName(x, kind)+SwapSuffix] {
					errs = append(errs, rename(x, kind, SwapSuffix), remove(x, kind, CleanedSuffix))
				} else {
					errs = append(errs, rename(x, kind, CleanedSuffix))
				}
			}
			errs = append(errs, rename(x, LogSuffix, SwapSuffix))
			p.recovery.Completed++
			p.cfg.Logger.Info("completed a compaction swap interrupted by a crash", "topic", p.cfg.Topic, "partition", p.cfg.Partition, "segment", x, "next", next)
		case has[SegmentName(x, LogSuffix)+CleanedSuffix]:
			for _, kind := range []string{LogSuffix, IndexSuffix, TimeIndexSuffix} {
				errs = append(errs, remove(x, kind, CleanedSuffix), remove(x, kind, SwapSuffix))
			}
			p.recovery.Completed++
			p.cfg.Logger.Info("rolled back a compaction swap interrupted by a crash", "topic", p.cfg.Topic, "partition", p.cfg.Partition, "segment", x)
		default:
			for _, kind := range []string{IndexSuffix, TimeIndexSuffix} {
				errs = append(errs, rename(x, kind, SwapSuffix), remove(x, kind, CleanedSuffix))
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
