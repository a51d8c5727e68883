package storage

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/commitlog-go/commitlog/internal/record"
	"github.com/commitlog-go/commitlog/internal/vfs"
)

// Recovery, after Kafka's (kafka.log.LogLoader: segments from the recovery
// point on are re-read, later unflushed segments deleted after invalid
// bytes, indexes rebuilt from the data), stricter where damage is not a
// torn write. Opening a partition:
//
//  1. Leftovers of interrupted work are removed: temporary files of atomic
//     replacements and index files whose data file is gone.
//  2. The checkpoint names the log start offset and the recovery point.
//     A partition holding data without a valid checkpoint is damaged (the
//     start offset is a durable promise: without it deleted records would
//     come back), and so is one whose segment files start above the log
//     start offset (the oldest segment file is missing). Both fail with a
//     *CorruptionError unless Options.Repair says otherwise.
//  3. Segments below the recovery point are trusted: their indexes get
//     cheap checks (structure, and the last entries resolved against the
//     data) and are rebuilt from the data if a check fails. Nothing else of
//     them is read, so opening costs time in proportion to the unflushed
//     tail, not to the size of the log.
//  4. From the recovery point on, every batch is checked (header, CRC,
//     offset order) and the indexes are rebuilt as appends would have
//     written them. Under SyncAlways a roll fsyncs the segment it seals
//     before creating the next one, and the checkpoint says so
//     (checkpointRollsSynced): any damage in a segment that later
//     segments follow, and any gap between it and the next segment, is
//     corruption, and the torn-tail rule below holds for the last
//     segment only. Under the other policies the unsynced tail may span
//     segments, and the rule holds for each segment above the recovery
//     point. At the first bad batch the scan decides between a torn write
//     and corruption: if no valid batch follows, or the damage shows the
//     mark of an interrupted write (a sector-aligned run of zeros, which
//     is what a crash leaves where data never reached the disk), the tail
//     from there on was never made durable and is cut with every later
//     segment, and the cut is logged. Otherwise — nonzero garbage followed
//     by valid data — it is corruption and Open fails with a
//     *CorruptionError, never cutting. Zeros from a segment's last batch
//     to its end are also what a crash leaves of the space prepared for
//     durable appends (segment.prepare): they are cut, and in a sealed
//     segment whose successor starts exactly where its batches end,
//     nothing is missing.
//  5. The leader epochs are read and checked against the batches the scan
//     read, or rebuilt from every batch's header (partition_epochs.go),
//     and the producers' state is loaded and replayed
//     (producer_snapshots.go).
//  6. Whatever was recovered is fsynced and a new checkpoint written, so
//     the next Open starts from here.
//
// A checkpoint flagged checkpointTruncated is the commit point of a
// truncation a crash interrupted (truncate.go): before step 3, the
// segments after the one it names are removed and that one is cut at its
// position, so that the log ends at the recovery point. One flagged
// checkpointReset is the commit point of a reset (reset.go): before
// anything else is read, every segment file and producer snapshot is
// removed and the leader epochs emptied, and the log opens empty at the
// checkpoint's log start offset.

// scanState is a segment's append state at a position: what appending
// tracks, and what a scan must carry to rebuild the indexes exactly.
type scanState struct {
	next                 int64
	maxTimestamp         int64
	offsetOfMaxTimestamp int64
	bytesSinceIndex      int64
}

func emptyScanState(base int64) scanState {
	return scanState{next: base, maxTimestamp: -1, offsetOfMaxTimestamp: -1}
}

// damage describes the first bad batch a scan met.
type damage struct {
	pos    int64
	offset int64 // the offset expected there
	err    error
}

// scanSegment checks every batch of s from pos to the end of the file,
// appending entries to ix exactly as append does, unless ix is nil. It
// stops at the first bad batch and reports it; I/O errors are returned as
// err.
func (s *segment) scanSegment(pos int64, st scanState, interval int64, ix *segmentIndexes, scratch *[]byte) (scanState, int64, *damage, error) {
	size := s.size.Load()
	for pos < size {
		b, h, err := s.batchAt(scratch, pos, size)
		if err == nil && h.BaseOffset != st.next {
			// Offsets are contiguous: the base offset is outside the CRC, so
			// this is how a damaged one is caught.
			err = fmt.Errorf("batch base offset %d, expected %d", h.BaseOffset, st.next)
		}
		if err != nil {
			if !isDecodeError(err) {
				return st, pos, nil, err
			}
			return st, pos, &damage{pos: pos, offset: st.next, err: err}, nil
		}
		if h.MaxTimestamp > st.maxTimestamp {
			st.maxTimestamp = h.MaxTimestamp
			st.offsetOfMaxTimestamp = h.LastOffset()
		}
		if ix != nil && st.bytesSinceIndex > interval {
			if err := ix.offset.add(h.LastOffset(), pos); err != nil {
				return st, pos, nil, err
			}
			if err := ix.time.maybeAdd(st.maxTimestamp, st.offsetOfMaxTimestamp); err != nil {
				return st, pos, nil, err
			}
			st.bytesSinceIndex = 0
		}
		st.bytesSinceIndex += int64(len(b))
		st.next = h.NextOffset()
		pos += int64(len(b))
	}
	return st, pos, nil, nil
}

// corruptUnlessIO returns c, with err as its cause, for a decoding error,
// and err itself for an I/O error: a file that could not be read is no
// evidence of damage.
func corruptUnlessIO(err error, c *CorruptionError) error {
	if !isDecodeError(err) {
		return err
	}
	c.Err = err
	return c
}

// findValidBatch returns the position of the first plausible, CRC-valid
// batch starting after from whose base offset is at least minOffset, or -1.
// Plausible: magic 2, a sane header, and a base offset no further above
// minOffset than the bytes skipped could have held (each record takes at
// least one byte), which keeps random bytes from passing as a header.
func (s *segment) findValidBatch(from, minOffset int64, scratch *[]byte) (int64, error) {
	size := s.size.Load()
	if size-from <= record.HeaderSize {
		return -1, nil
	}
	region, err := s.bytesAt(scratch, from, size-from)
	if err != nil {
		return -1, err
	}
	for i := 1; i+record.HeaderSize <= len(region); i++ {
		if region[i+16] != record.Magic {
			continue
		}
		// Cheap checks first: the length must fit what is left.
		if n := int(int32(binary.BigEndian.Uint32(region[i+8:]))); n < record.HeaderSize-record.LogOverhead || n > len(region)-i-record.LogOverhead {
			continue
		}
		h, err := record.ParseHeader(region[i:], len(region)-i)
		if err != nil || h.BaseOffset < minOffset || h.BaseOffset-minOffset > int64(i) {
			continue
		}
		if record.CheckCRC(region[i:i+h.Size()]) == nil {
			return from + int64(i), nil
		}
	}
	return -1, nil
}

// looksTorn reports whether the damaged batch at q bears the mark of an
// interrupted write. Each batch is written with one write (a large one
// with two: its records, then its header; see CRCAside), and a crash
// keeps such a write whole, keeps a prefix of it ending at a 512-byte
// sector boundary, or loses it; lost bytes read as zeros. A lost header
// is a run of zeros from q through the magic byte, the first case below. So the bytes of a
// torn or lost batch are zero from its start, or from a sector boundary
// inside it, on to its end. Concretely, a run of zeros starting at q or at
// such a boundary reaches:
//
//   - the batch's magic byte, when the run starts before it and the length
//     field is implausible (the header was cut short or never written; a
//     cut that keeps the length zeroes everything up to the claimed end);
//   - the end the batch's length field claims (at least two bytes of run,
//     since a record's last byte, its header count, is naturally zero; a
//     single zero byte from a sector boundary to that end counts when
//     some other value there makes the CRC hold: a cut that lost only
//     the last byte); or
//   - the end of the file.
//
// The batch's bytes end at next, the first valid batch after it in the
// file (-1: none), at the latest: runs start before it. The file may end
// in zeros prepared for durable appends (segment.prepare), and a run in
// them says nothing about a batch that a valid one follows.
//
// A flipped bit changes no byte to or from a whole run of zeros, so it is
// told apart, unless the batch's own bytes happen to be zero from a sector
// boundary to its end. Then a flip in it is taken for a torn write and cut
// (and logged): the one case where damage in the unflushed tail is not
// reported as corruption.
func (s *segment) looksTorn(q, next int64, scratch *[]byte) (bool, error) {
	size := s.size.Load()
	region, err := s.bytesAt(scratch, q, size-q)
	if err != nil {
		return false, err
	}
	const magicEnd = 17 // bytes up to and including the magic byte
	claimedEnd := int64(-1)
	if len(region) >= record.LogOverhead {
		n := int64(int32(binary.BigEndian.Uint32(region[8:12])))
		if n >= record.HeaderSize-record.LogOverhead && q+record.LogOverhead+n <= size {
			claimedEnd = q + record.LogOverhead + n
		}
	}
	limit := size
	if claimedEnd > 0 {
		limit = claimedEnd
	}
	if next >= 0 {
		limit = min(limit, next)
	}
	for a := q; a < limit; {
		e := a
		for e < size && region[e-q] == 0 {
			e++
		}
		switch {
		case e == a:
		case e == size:
			return true, nil
		case claimedEnd < 0 && a < q+magicEnd && e >= min(q+magicEnd, size):
			return true, nil
		case claimedEnd > 0 && e >= claimedEnd && (claimedEnd-a >= 2 || a == q):
			return true, nil
		case claimedEnd > 0 && e >= claimedEnd && a%sectorSize == 0 && lastByteRestores(region[:claimedEnd-q]):
			// One zero byte, the batch's last, just past a sector
			// boundary: a cut there loses exactly that byte (a record's
			// last byte is zero only without headers or when its last
			// header value is empty). It was cut if some other value
			// there makes the CRC hold.
			return true, nil
		}
		// The next start is the first sector boundary past this run: a start
		// inside the run would find the same end and meet no condition
		// this one missed. (This keeps a long run of zeros linear.)
		a = (max(a, e-1)/sectorSize + 1) * sectorSize
	}
	return false, nil
}

// zerosToEnd reports whether every byte of the data file from pos to its
// end is zero.
func (s *segment) zerosToEnd(pos int64, scratch *[]byte) (bool, error) {
	b, err := s.bytesAt(scratch, pos, s.size.Load()-pos)
	if err != nil {
		return false, err
	}
	for len(b) >= 8 {
		if binary.LittleEndian.Uint64(b) != 0 {
			return false, nil
		}
		b = b[8:]
	}
	for _, c := range b {
		if c != 0 {
			return false, nil
		}
	}
	return true, nil
}

// lastByteRestores reports whether some nonzero value of the last byte of
// batch, which is zero, makes its CRC hold.
func lastByteRestores(batch []byte) bool {
	if len(batch) < record.HeaderSize || batch[len(batch)-1] != 0 {
		return false
	}
	b := append([]byte(nil), batch...)
	for v := 1; v < 256; v++ {
		b[len(b)-1] = byte(v)
		if record.CheckCRC(b) == nil {
			return true
		}
	}
	return false
}

// cutShort reports whether the batch at q was cut short by a crash: it
// extends past the end of the file (fewer bytes remain than a header, or
// than its length claims), and the file ends on a sector boundary, where a
// torn write's surviving prefix ends. (A damaged length field can also
// claim too much, but then the file need not end on a boundary.)
func (s *segment) cutShort(q int64, scratch *[]byte) bool {
	size := s.size.Load()
	if size%sectorSize != 0 {
		return false
	}
	if size-q < record.HeaderSize {
		return true
	}
	b, err := s.bytesAt(scratch, q, record.LogOverhead)
	if err != nil {
		return false
	}
	n := int64(int32(binary.BigEndian.Uint32(b[8:12])))
	return q+record.LogOverhead+n > size
}

// tornReason says what recovery found at dmg, a torn tail it cuts: a
// batch whose length runs past the end of the file, or one that fails its
// checks, written by an interrupted write and so never acknowledged.
func (s *segment) tornReason(dmg *damage, scratch *[]byte) string {
	size := s.size.Load()
	short := size-dmg.pos < record.LogOverhead
	if !short {
		if b, err := s.bytesAt(scratch, dmg.pos, record.LogOverhead); err == nil {
			n := int64(int32(binary.BigEndian.Uint32(b[8:12])))
			short = dmg.pos+record.LogOverhead+n > size
		}
	}
	if short {
		return fmt.Sprintf("the batch at offset %d is cut short at byte %d of %s: an interrupted write, never acknowledged; cut",
			dmg.offset, size, s.path)
	}
	return fmt.Sprintf("the batch at offset %d, byte %d of %s, fails its checks (%v): an interrupted write, never acknowledged; cut",
		dmg.offset, dmg.pos, s.path, dmg.err)
}

// recoverPartition loads the partition's segments from disk and recovers
// its tail; see the comment at the top of this file. creating is
// openPartition's.
func (p *PartitionLog) recoverPartition(creating bool) error {
	fs := p.cfg.FS
	names, err := fs.List(p.dir)
	if err != nil {
		return err
	}
	if swapped, err := p.recoverSwaps(names); err != nil {
		return err
	} else if swapped {
		if names, err = fs.List(p.dir); err != nil {
			return err
		}
	}
	logs := map[int64]bool{}
	var bases []int64
	for _, n := range names {
		if base, ok := ParseSegmentName(n, LogSuffix); ok {
			logs[base] = true
			bases = append(bases, base)
		}
	}
	slices.Sort(bases)
	dirChanged := false
	for _, n := range names {
		orphan := strings.HasSuffix(n, TmpSuffix)
		for _, suffix := range []string{IndexSuffix, TimeIndexSuffix} {
			if base, ok := ParseSegmentName(n, suffix); ok && !logs[base] {
				orphan = true
			}
		}
		if orphan && !p.cfg.ReadOnly {
			if err := fs.Remove(filepath.Join(p.dir, n)); err != nil {
				return err
			}
			dirChanged = true
		}
	}

	cp, haveCP, reason, err := readCheckpoint(fs, p.dir)
	if err != nil {
		return err
	}
	if !haveCP {
		// The checkpoint holds the log start offset, a durable promise
		// (retention and DeleteRecords moved it): without it the records
		// below it would come back. Every partition writes one as it is
		// created, before its topic exists, so only damage loses it from
		// a partition that holds data.
		held, err := PartitionHoldsData(fs, p.dir, names)
		if err != nil {
			return err
		}
		if held {
			cpPath := filepath.Join(p.dir, CheckpointName)
			if reason == "" {
				reason = "is missing"
			} else {
				reason = "is damaged (" + reason + ")"
			}
			if !p.cfg.RepairCheckpoints {
				return &CorruptionError{Path: cpPath, Offset: -1, Reason: "the partition checkpoint " + reason +
					"; it holds the log start offset, without which records deleted by retention or DeleteRecords would come back",
					Remedy: "restore it from a backup, or open with Options.Repair.Checkpoints to rescan the partition from its first segment"}
			}
			p.cfg.Logger.Warn("repairing a partition checkpoint by scanning every segment (Options.Repair.Checkpoints); records deleted since the first segment's start are readable again",
				"topic", p.cfg.Topic, "partition", p.cfg.Partition, "dir", p.dir, "checkpoint", reason)
		}
	}
	if haveCP && cp.flags&checkpointReset != 0 {
		// A reset passed its commit point: no segment file holds a batch
		// of the log (reset.go).
		if p.cfg.ReadOnly {
			return needsWriteToOpen(filepath.Join(p.dir, CheckpointName), "the checkpoint records a reset of the partition that a crash interrupted")
		}
		if cp, err = p.completeReset(cp); err != nil {
			return err
		}
		bases = nil
	}
	if haveCP {
		// Segments wholly below the log start offset were deleted by
		// retention, whose removals a crash may have kept only some of
		// (the checkpoint with the new start was written first).
		n := 0
		for n+1 < len(bases) && bases[n+1] <= cp.logStartOffset {
			n++
		}
		for _, base := range bases[:n] {
			if p.cfg.ReadOnly {
				break // left out, in memory
			}
			for _, suffix := range []string{LogSuffix, IndexSuffix, TimeIndexSuffix} {
				if err := fs.Remove(filepath.Join(p.dir, SegmentName(base, suffix))); err != nil && !isNotExist(err) {
					return err
				}
			}
			dirChanged = true
		}
		if n > 0 {
			p.recovery.SegmentsRemoved += n
			msg := "removed segments below the log start offset left by an interrupted retention pass"
			if p.cfg.ReadOnly {
				msg = "left out segments below the log start offset that an interrupted retention pass left behind (read-only: not removed)"
			}
			p.cfg.Logger.Info(msg, "topic", p.cfg.Topic, "partition", p.cfg.Partition, "offset", cp.logStartOffset, "segments", n)
			bases = bases[n:]
		}
	}
	if haveCP && cp.flags&checkpointTruncated != 0 {
		if p.cfg.ReadOnly {
			return needsWriteToOpen(filepath.Join(p.dir, CheckpointName), "the checkpoint records a truncation of the partition that a crash interrupted")
		}
		if bases, err = p.completeTruncation(cp, bases); err != nil {
			return err
		}
	}
	if len(bases) == 0 {
		start := int64(0)
		if haveCP {
			if cp.recoveryOffset > cp.logStartOffset {
				return &CorruptionError{Path: p.dir, Offset: cp.logStartOffset, FilePosition: 0,
					Reason: fmt.Sprintf("no segment files, but the checkpoint records data up to offset %d", cp.recoveryOffset)}
			}
			start = cp.logStartOffset
			p.cleanerPoint.Store(min(cp.cleanerOffset, start))
		}
		if p.cfg.ReadOnly {
			return needsWriteToOpen(p.dir, "the partition directory holds no segment file, and opening it creates its first one")
		}
		s, err := createSegment(p.sf, start)
		if err != nil {
			return err
		}
		p.needsSyncLocked(s)
		p.dirDirty = true
		return p.install([]*segment{s}, emptyScanState(start), start, start, creating)
	}

	if haveCP && bases[0] > cp.logStartOffset {
		return &CorruptionError{Path: filepath.Join(p.dir, SegmentName(bases[0], LogSuffix)), Offset: cp.logStartOffset,
			Reason: fmt.Sprintf("the log starts at offset %d (checkpoint), but the first segment file starts at %d: the segment files holding offsets %d to %d are missing",
				cp.logStartOffset, bases[0], cp.logStartOffset, bases[0]-1)}
	}
	// rollsSynced says the Log that wrote the checkpoint fsynced segments
	// as it sealed them (SyncAlways): damage in a sealed segment is never
	// a torn write then.
	rollsSynced := haveCP && cp.flags&checkpointRollsSynced != 0
	// point says the checkpoint's recovery point can be resumed from: the
	// segments below it are trusted, and the scan starts there.
	r, point := 0, haveCP // r: the first segment to scan
	if haveCP {
		i, found := slices.BinarySearch(bases, cp.segmentBase)
		switch {
		case found:
			r = i
		case cp.segmentBase > bases[len(bases)-1]:
			return &CorruptionError{Path: filepath.Join(p.dir, SegmentName(cp.segmentBase, LogSuffix)), Offset: cp.recoveryOffset,
				Reason: "segment file named by the checkpoint is missing"}
		default:
			// Compaction merged the segment into one that starts below it.
			p.cfg.Logger.Info("checkpoint names a segment compaction has merged; scanning every segment", "topic", p.cfg.Topic, "partition", p.cfg.Partition, "segment", cp.segmentBase)
			point = false
		}
	}

	p.recovery.FromCheckpoint = point
	var (
		segs    []*segment
		scratch []byte
		st      scanState
		ok      bool
		scanned = int64(-1) // the offset the scan of every batch starts at
	)
	defer func() {
		if !ok {
			for _, s := range segs {
				s.release()
			}
		}
	}()
	interval := int64(p.cfg.IndexIntervalBytes)
	for i, base := range bases {
		if i > 0 && base < st.next {
			return &CorruptionError{Path: filepath.Join(p.dir, SegmentName(base, LogSuffix)), Offset: st.next,
				Reason: fmt.Sprintf("segment base offset %d overlaps the previous segment, which ends at %d", base, st.next)}
		}
		if i > 0 && base > st.next {
			// A roll starts the new segment exactly where the old one ends,
			// so the old one lost its end, or a segment file is missing.
			// Below the recovery point, or where rolls fsync the segment
			// they seal (rollsSynced), no crash does that: it is damage.
			if point && i <= r || rollsSynced {
				return &CorruptionError{Path: segs[i-1].path, FilePosition: segs[i-1].size.Load(), Offset: st.next,
					Reason: fmt.Sprintf("segment ends at offset %d but the next segment file starts at %d: the records between are missing", st.next, base)}
			}
			// Otherwise the sealed segment's end was never made durable,
			// and neither was anything after it.
			p.recovery.SegmentsRemoved += len(bases) - i
			p.cfg.Logger.Warn("cut segments after the torn end of an unsynced sealed segment",
				"topic", p.cfg.Topic, "partition", p.cfg.Partition, "segment", segs[i-1].base, "file", segs[i-1].path, "offset", st.next, "next_base", base, "segments_removed", len(bases)-i)
			if !p.cfg.ReadOnly {
				if err := p.removeSegments(bases[i:]); err != nil {
					return err
				}
				dirChanged = true
			}
			segs[i-1].sealed = false // it is the active segment again
			bases = bases[:i]
			break
		}
		if point && i < r {
			s, err := openSegment(p.sf, base, false)
			if err != nil {
				return err
			}
			segs = append(segs, s)
			if st, err = p.loadSealed(s, bases[i+1], &scratch); err != nil {
				return err
			}
			continue
		}
		s, err := openSegment(p.sf, base, true)
		if err != nil {
			return err
		}
		segs = append(segs, s)
		pos, trustedEnd := int64(0), int64(0)
		st = emptyScanState(base)
		if point && i == r {
			if s.size.Load() < cp.position {
				return &CorruptionError{Path: s.path, FilePosition: s.size.Load(), Offset: cp.recoveryOffset,
					Reason: fmt.Sprintf("file is %d bytes, shorter than its checkpointed recovery point at byte %d", s.size.Load(), cp.position)}
			}
			trustedEnd = cp.position
			if s.indexPrefixIntact(cp, &scratch) {
				pos = cp.position
				st = scanState{next: cp.recoveryOffset, maxTimestamp: cp.maxTimestamp,
					offsetOfMaxTimestamp: cp.offsetOfMaxTimestamp, bytesSinceIndex: cp.bytesSinceIndex}
			} else {
				p.recovery.IndexesRebuilt++
				p.cfg.Logger.Warn("index entries below the recovery point are damaged; rebuilding them", "topic", p.cfg.Topic, "partition", p.cfg.Partition, "segment", s.base, "file", s.path)
			}
		}
		keepOffsets, keepTimes := 0, 0 // index entries below pos
		if pos > 0 {
			keepOffsets, keepTimes = int(cp.offsetEntries), int(cp.timeEntries)
		}
		if err := s.offsets().truncateEntries(keepOffsets); err != nil {
			return err
		}
		if err := s.times().truncateEntries(keepTimes); err != nil {
			return err
		}
		var dmg *damage
		scanFrom := pos
		if scanned < 0 {
			scanned = st.next
		}
		st, pos, dmg, err = s.scanSegment(pos, st, interval, s.ix.Load(), &scratch)
		if err != nil {
			return err
		}
		p.recovery.SegmentsScanned++
		p.recovery.BytesScanned += pos - scanFrom
		if dmg != nil && dmg.pos < trustedEnd {
			return &CorruptionError{Path: s.path, FilePosition: dmg.pos, Offset: dmg.offset,
				Reason: "damaged batch below the checkpointed recovery point", Err: dmg.err}
		}
		if dmg != nil {
			zeros, err := s.zerosToEnd(dmg.pos, &scratch)
			if err != nil {
				return err
			}
			// Zeros to the end, and the next segment starts where the
			// batches end: space prepared for durable appends whose trim
			// at the roll did not reach the disk (written by versions that
			// did not fsync a segment as they sealed it). Nothing is
			// missing, so the later segments stay.
			padding := zeros && i+1 < len(bases) && bases[i+1] == st.next
			if !padding && i+1 < len(bases) && rollsSynced {
				// The segment was fsynced whole as it was sealed, before
				// the next one was created (rollLocked): no crash leaves a
				// torn write in it, zeros included. The torn-tail rule
				// holds for the last segment's unsynced tail only.
				return &CorruptionError{Path: s.path, FilePosition: dmg.pos, Offset: dmg.offset,
					Reason: "damaged batch in a sealed segment (one that later segments follow)", Err: dmg.err}
			}
			if !padding {
				if err := p.classifyDamage(s, dmg, segsAfter(p, bases[i+1:]), &scratch); err != nil {
					return err
				}
			}
			cut := s.size.Load() - dmg.pos
			removed := len(bases) - i - 1
			if padding {
				removed = 0
			}
			p.recovery.BytesCut += cut
			p.recovery.SegmentsRemoved += removed
			if zeros && removed == 0 {
				p.cfg.Logger.Info("cut zeros past the last batch: space prepared for durable appends, or writes that never reached the disk",
					"topic", p.cfg.Topic, "partition", p.cfg.Partition, "segment", s.base, "file", s.path, "position", dmg.pos, "offset", dmg.offset, "bytes", cut, "later_segments_removed", removed)
			} else {
				p.cfg.Logger.Warn("cut torn tail left by an interrupted write",
					"topic", p.cfg.Topic, "partition", p.cfg.Partition, "segment", s.base, "file", s.path, "position", dmg.pos, "offset", dmg.offset, "bytes", cut, "later_segments_removed", removed,
					"reason", s.tornReason(dmg, &scratch))
			}
			if !p.cfg.ReadOnly {
				if err := s.file.Truncate(dmg.pos); err != nil {
					return err
				}
			}
			s.size.Store(dmg.pos)
			if padding {
				dmg = nil
			} else {
				if !p.cfg.ReadOnly {
					if err := p.removeSegments(bases[i+1:]); err != nil {
						return err
					}
					dirChanged = dirChanged || len(bases) > i+1
				}
				bases = bases[:i+1]
			}
		}
		// The scanned bytes may exist only in the page cache: after a failed
		// fsync Linux marks dirty pages clean, so a later fsync would not
		// write them. Writing them again makes the fsync below real.
		if !p.cfg.ReadOnly {
			if err := s.rewrite(scanFrom, s.size.Load(), &scratch); err != nil {
				return err
			}
			p.needsSyncLocked(s)
		}
		s.next.Store(st.next)
		s.maxTimestamp.Store(st.maxTimestamp)
		s.offsetOfMaxTimestamp = st.offsetOfMaxTimestamp
		s.bytesSinceIndex = st.bytesSinceIndex
		if dmg != nil {
			break // the segments after it are gone
		}
		if i < len(bases)-1 {
			if err := s.seal(); err != nil {
				return err
			}
		}
	}
	if scanned < 0 {
		scanned = st.next // every segment was below the recovery point
	}
	if haveCP && st.next < cp.recoveryOffset {
		last := segs[len(segs)-1]
		return &CorruptionError{Path: last.path, FilePosition: last.size.Load(), Offset: st.next,
			Reason: fmt.Sprintf("the log ends at offset %d, below its checkpointed recovery point %d", st.next, cp.recoveryOffset)}
	}
	active := segs[len(segs)-1]
	if haveCP && cp.activeBase == active.base && cp.activeCreated >= 0 {
		active.created = time.UnixMilli(cp.activeCreated)
	} else if active.size.Load() > 0 {
		active.created = p.cfg.Now()
	}
	start := segs[0].base
	if haveCP {
		start = max(start, cp.logStartOffset)
	}
	if start > st.next {
		return &CorruptionError{Path: p.dir, Offset: st.next,
			Reason: fmt.Sprintf("log start offset %d is above the end of the log %d", start, st.next)}
	}
	p.dirDirty = dirChanged
	if haveCP {
		p.checkpointed = cp
		p.cleanerPoint.Store(min(cp.cleanerOffset, st.next))
	}
	if p.cfg.Compacted && p.cfg.DeleteRetention != Forever {
		// Horizons written before the restart are not known, but none is
		// later than this.
		p.tombstoneHorizon.Store(p.cfg.Now().Add(p.cfg.DeleteRetention).UnixMilli())
	}
	ok = true
	return p.install(segs, st, start, scanned, creating)
}

// rewrite writes the bytes [from, to) of the data file again, so that the
// next fsync writes them to disk even if they are only in the page cache,
// marked clean after an earlier failed fsync (fsyncgate).
func (s *segment) rewrite(from, to int64, scratch *[]byte) error {
	const chunk = 1 << 20
	for pos := from; pos < to; pos += chunk {
		n := min(chunk, to-pos)
		b, err := s.bytesAt(scratch, pos, n)
		if err != nil {
			return err
		}
		if s.data != nil {
			// b aliases the mapping of the file being written: copy it.
			if int64(cap(*scratch)) < n {
				*scratch = make([]byte, n)
			}
			b = append((*scratch)[:0], b...)
		}
		if _, err := s.file.WriteAt(b, pos); err != nil {
			return err
		}
	}
	return nil
}

// removeSegments removes the files of the segments with the given bases.
func (p *PartitionLog) removeSegments(bases []int64) error {
	for _, base := range bases {
		for _, suffix := range []string{LogSuffix, IndexSuffix, TimeIndexSuffix} {
			if err := p.cfg.FS.Remove(filepath.Join(p.dir, SegmentName(base, suffix))); err != nil && !isNotExist(err) {
				return err
			}
		}
	}
	return nil
}

// segsAfter reports whether any of the later segments starts with a valid
// batch: evidence, like a valid batch later in the same file, that the
// damage is not simply the end of what was written.
func segsAfter(p *PartitionLog, later []int64) func(*[]byte) bool {
	return func(scratch *[]byte) bool {
		for _, base := range later {
			if firstBatchValid(p.cfg.FS, filepath.Join(p.dir, SegmentName(base, LogSuffix))) {
				return true
			}
		}
		return false
	}
}

// firstBatchValid reports whether the data file at path starts with a
// CRC-valid batch.
func firstBatchValid(fs vfs.FS, path string) bool {
	f, err := fs.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	size, err := f.Size()
	if err != nil || size < record.HeaderSize {
		return false
	}
	hb := make([]byte, record.HeaderSize)
	if _, err := f.ReadAt(hb, 0); err != nil {
		return false
	}
	h, err := record.ParseHeader(hb, int(min(size, math.MaxInt32)))
	if err != nil {
		return false
	}
	b := make([]byte, h.Size())
	if _, err := f.ReadAt(b, 0); err != nil {
		return false
	}
	return record.CheckCRC(b) == nil
}

// classifyDamage returns nil if the damage at dmg is a torn tail to cut,
// or a *CorruptionError: nothing valid follows it (the end of what was
// written), or it bears the mark of an interrupted write (looksTorn).
func (p *PartitionLog) classifyDamage(s *segment, dmg *damage, laterValid func(*[]byte) bool, scratch *[]byte) error {
	next, err := s.findValidBatch(dmg.pos, dmg.offset, scratch)
	if err != nil {
		return err
	}
	if next < 0 && (!laterValid(scratch) || s.cutShort(dmg.pos, scratch)) {
		// Nothing valid follows in this file, and either nothing does in
		// later ones or the batch is cut short by the end of the file: the
		// end of what was written (later segments hold writes that reached
		// the disk out of order, never acknowledged under SyncAlways).
		return nil
	}
	torn, err := s.looksTorn(dmg.pos, next, scratch)
	if err != nil || torn {
		return err
	}
	return &CorruptionError{Path: s.path, FilePosition: dmg.pos, Offset: dmg.offset,
		Reason: "damaged batch followed by valid data", Err: dmg.err}
}

// indexPrefixIntact reports whether the index entries of s that the
// checkpoint cp says lie below its recovery point all pass their checks:
// ordered, inside the data below the point, and the last of each resolved
// against the data.
func (s *segment) indexPrefixIntact(cp checkpoint, scratch *[]byte) bool {
	x, t := s.offsets(), s.times()
	no, nt := int(cp.offsetEntries), int(cp.timeEntries)
	if x.count() < no || t.count() < nt {
		return false
	}
	if x.validPrefix(cp.position, cp.recoveryOffset) < no || t.validPrefix(cp.recoveryOffset) < nt {
		return false
	}
	if no > 0 && !s.entryResolves(no-1, cp.position, scratch) {
		return false
	}
	if nt > 0 && !s.timeEntryResolves(t.timestampAt(nt-1), t.offsetAt(nt-1), cp.position, scratch) {
		return false
	}
	return true
}

// entryResolves reports whether offset-index entry i points at a batch
// whose last offset is the entry's offset, below limit.
func (s *segment) entryResolves(i int, limit int64, scratch *[]byte) bool {
	off, pos := s.offsets().offsetAt(i), s.offsets().positionAt(i)
	_, h, err := s.batchAt(scratch, pos, limit)
	return err == nil && h.LastOffset() == off
}

// loadSealed checks a sealed segment below the recovery point, followed
// by the segment starting at nextBase, and returns its state. The checks
// are cheap: index structure, the last offset-index entry and the last
// time-index entry resolved against the data, and the batches after the
// last index entry. If an index fails, both are rebuilt from the data;
// damaged data here is corruption.
func (p *PartitionLog) loadSealed(s *segment, nextBase int64, scratch *[]byte) (scanState, error) {
	s.sealed = true
	st, err := p.checkSealedIndexes(s, nextBase, scratch)
	if err == nil {
		s.next.Store(st.next)
		s.maxTimestamp.Store(st.maxTimestamp)
		s.offsetOfMaxTimestamp = st.offsetOfMaxTimestamp
		return st, nil
	}
	var cerr *CorruptionError
	if errors.As(err, &cerr) || !errors.Is(err, errIndexMismatch) {
		return st, err
	}
	p.recovery.IndexesRebuilt++
	p.cfg.Logger.Warn("rebuilding the indexes of a segment", "topic", p.cfg.Topic, "partition", p.cfg.Partition, "segment", s.base, "file", s.path, "reason", err)
	return s.rebuildIndexes(p.sf, int64(p.cfg.IndexIntervalBytes), scratch)
}

// errIndexMismatch reports an index that disagrees with its data.
var errIndexMismatch = errors.New("index does not match the data")

// checkSealedIndexes runs loadSealed's cheap checks. It returns a
// *CorruptionError for bad data and errIndexMismatch for a bad index.
//
// Zeros from the last batch to the end of the file, where the next
// segment starts right after that batch, are space prepared for durable
// appends whose trim at the roll was lost (an fsync that failed before
// the partition was reopened): they are cut, and the cut fsynced before
// the next checkpoint.
func (p *PartitionLog) checkSealedIndexes(s *segment, nextBase int64, scratch *[]byte) (scanState, error) {
	size := s.size.Load()
	st := emptyScanState(s.base)
	n := s.offsets().count()
	if s.offsets().validPrefix(size, math.MaxInt64) != n {
		return st, fmt.Errorf("%w: offset index entries out of order", errIndexMismatch)
	}
	pos := int64(0)
	if n > 0 {
		if !s.entryResolves(n-1, size, scratch) {
			return st, fmt.Errorf("%w: last offset index entry does not point at its batch", errIndexMismatch)
		}
		pos = s.offsets().positionAt(n - 1)
		_, h, err := s.batchAt(scratch, pos, size)
		if err != nil {
			return st, err
		}
		st.next = h.BaseOffset // checked against the entry by entryResolves
	}
	tail, _, dmg, err := s.scanSegment(pos, st, math.MaxInt64, nil, scratch)
	if err != nil {
		return st, err
	}
	if dmg != nil {
		zeros, err := s.zerosToEnd(dmg.pos, scratch)
		if err != nil {
			return st, err
		}
		if !zeros || dmg.offset != nextBase {
			return st, &CorruptionError{Path: s.path, FilePosition: dmg.pos, Offset: dmg.offset, Reason: "damaged batch in a segment below the recovery point", Err: dmg.err}
		}
		p.recovery.BytesCut += size - dmg.pos
		p.cfg.Logger.Info("cut zeros past the last batch of a sealed segment: space prepared for durable appends whose trim did not reach the disk",
			"topic", p.cfg.Topic, "partition", p.cfg.Partition, "segment", s.base, "file", s.path, "position", dmg.pos, "bytes", size-dmg.pos)
		if !p.cfg.ReadOnly {
			if err := s.file.Truncate(dmg.pos); err != nil {
				return st, err
			}
			p.needsSyncLocked(s)
		}
		size = dmg.pos
		s.size.Store(size)
	}
	st.next = tail.next
	tn := s.times().count()
	if s.times().validPrefix(st.next) != tn {
		return st, fmt.Errorf("%w: time index entries out of order", errIndexMismatch)
	}
	if size == 0 {
		return st, nil
	}
	if tn == 0 {
		return st, fmt.Errorf("%w: time index is empty", errIndexMismatch)
	}
	ts, off, _ := s.times().last()
	if ts < tail.maxTimestamp {
		return st, fmt.Errorf("%w: last time index entry %d is below a record timestamp %d", errIndexMismatch, ts, tail.maxTimestamp)
	}
	if !s.timeEntryResolves(ts, off, size, scratch) {
		return st, fmt.Errorf("%w: last time index entry does not match its batch", errIndexMismatch)
	}
	st.maxTimestamp, st.offsetOfMaxTimestamp = ts, off
	return st, nil
}

// timeEntryResolves reports whether the batch whose last offset is off has
// maximum timestamp ts, as a time-index entry (ts, off) claims.
func (s *segment) timeEntryResolves(ts, off, limit int64, scratch *[]byte) bool {
	_, pos := s.offsets().lookup(off)
	for pos < limit {
		b, h, err := s.batchAt(scratch, pos, limit)
		if err != nil {
			return false
		}
		if h.LastOffset() >= off {
			return h.LastOffset() == off && h.MaxTimestamp == ts
		}
		pos += int64(len(b))
	}
	return false
}

// rebuildIndexes rebuilds both index files of s from its data, into
// temporary files that are then renamed over the old ones, and publishes
// them; readers still using the old indexes are unaffected. A sealed
// segment gets trimmed indexes; the active one appendable ones, and its
// append state is reset from the scan. Damaged data is returned as a
// *CorruptionError. REQUIRES: the append lock, or no appender.
func (s *segment) rebuildIndexes(sf segmentFiles, interval int64, scratch *[]byte) (scanState, error) {
	nix, err := openSegmentIndexes(sf, s.base, TmpSuffix, true, true)
	if err != nil {
		return scanState{}, err
	}
	st, _, dmg, err := s.scanSegment(0, emptyScanState(s.base), interval, nix, scratch)
	if err == nil && dmg != nil {
		err = &CorruptionError{Path: s.path, FilePosition: dmg.pos, Offset: dmg.offset, Reason: "damaged batch found while rebuilding indexes", Err: dmg.err}
	}
	if err == nil && s.sealed {
		if st.maxTimestamp >= 0 {
			err = nix.time.maybeAdd(st.maxTimestamp, st.offsetOfMaxTimestamp)
		}
		if err == nil {
			err = errors.Join(nix.offset.trim(), nix.time.trim())
		}
	}
	if err == nil {
		err = errors.Join(nix.offset.sync(), nix.time.sync())
	}
	for _, e := range []*entryFile{nix.offset.entryFile, nix.time.entryFile} {
		if err != nil || sf.readOnly {
			break // read-only: the new indexes stay in memory
		}
		final := strings.TrimSuffix(e.path, TmpSuffix)
		if err = sf.fs.Rename(e.path, final); err == nil {
			e.path = final
		}
	}
	if err == nil && !sf.readOnly {
		err = sf.fs.SyncDir(sf.dir)
	}
	if err != nil {
		nix.close()
		return st, err
	}
	s.retired = append(s.retired, s.ix.Swap(nix))
	s.next.Store(st.next)
	s.maxTimestamp.Store(st.maxTimestamp)
	s.offsetOfMaxTimestamp = st.offsetOfMaxTimestamp
	s.bytesSinceIndex = st.bytesSinceIndex
	return st, nil
}

// install publishes the recovered segments, rebuilds the leader epochs
// (scanned is where the scan of every batch began) and the producer
// state, makes the recovered tail durable and writes a checkpoint for it.
// Unless creating, a checkpoint that finds no space is skipped: the
// previous one stays true.
func (p *PartitionLog) install(segs []*segment, st scanState, start, scanned int64, creating bool) error {
	p.active = segs[len(segs)-1]
	p.segments.Store(&segs)
	p.start.Store(start)
	a := p.active
	// The entry counts go into the checkpoint written below: the next Open
	// keeps that many entries of each index.
	w := &Position{offset: st.next, seg: a, pos: a.size.Load(), maxTimestamp: st.maxTimestamp,
		offsetOfMaxTimestamp: st.offsetOfMaxTimestamp, bytesSinceIndex: st.bytesSinceIndex,
		offsetEntries: int32(a.offsets().count()), timeEntries: int32(a.times().count())}
	p.written.Store(w)
	p.durable.Store(&Position{offset: -1, seg: a})
	if p.cfg.ReadOnly {
		// Nothing can make the data more durable than it is as read.
		p.durable.Store(w)
	}
	p.hw.Store(w)
	if p.cfg.Replicated {
		hw, err := p.startBoundaryLocked()
		if err != nil {
			return err
		}
		p.hw.Store(hw)
		p.hwLimit = hw.offset
	}
	if err := p.recoverEpochs(scanned, creating); err != nil {
		return err
	}
	if err := p.recoverProducers(); err != nil {
		return err
	}
	if p.cfg.ReadOnly {
		return nil
	}
	err := p.Checkpoint(context.Background())
	if err != nil && !creating && !errors.Is(err, ErrDurability) && vfs.IsNoSpace(err) {
		// The recovered tail is durable (the checkpoint fsyncs it before
		// writing anything); only the files that shorten the next Open
		// could not be written. The previous checkpoint stays true.
		p.cfg.Logger.Warn("no space to write a checkpoint after recovery; the next Open scans the same tail again",
			"topic", p.cfg.Topic, "partition", p.cfg.Partition, "err", err)
		return nil
	}
	return err
}

// PartitionHoldsData reports whether the partition directory dir, whose
// entries are names, holds or has held records: a segment file that is
// not empty, one based above offset 0, a producer state snapshot taken
// above offset 0, or a
// checkpoint that records offsets above 0 (or cannot be read). A
// partition created and never written holds none: its empty first
// segment and its checkpoint are what CreateTopic prepares before the
// topic exists.
func PartitionHoldsData(fs vfs.FS, dir string, names []string) (bool, error) {
	for _, n := range names {
		if off, ok := ParseSnapshotFileName(n); ok && off > 0 {
			return true, nil
		}
		base, ok := ParseSegmentName(n, LogSuffix)
		if !ok {
			continue
		}
		if base > 0 {
			return true, nil
		}
		fi, err := fs.Stat(filepath.Join(dir, n))
		if err != nil {
			return false, err
		}
		if fi.Size() > 0 {
			return true, nil
		}
	}
	if !slices.Contains(names, CheckpointName) {
		return false, nil
	}
	cp, ok, _, err := readCheckpoint(fs, dir)
	if err != nil {
		return false, err
	}
	return !ok || cp.recoveryOffset > 0 || cp.logStartOffset > 0, nil
}
