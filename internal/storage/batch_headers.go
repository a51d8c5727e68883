package storage

import (
	"math"

	"github.com/commitlog-go/commitlog/internal/record"
)

// walkHeaders calls fn with every batch of segs (ascending by base) that
// holds offsets at or above from and starts below to, in order, with its
// segment, position and header; fn returning false stops the walk. In
// to's segment it reads nothing at or past to's position, where appends
// may be staging batches not yet in the file. It
// starts in each segment where the offset index says, and reads headers
// only: nothing is CRC-checked, so it is for batches checked before (by
// recovery or on append). A header that does not parse is a
// *CorruptionError. h is valid only during the call.
//
// REQUIRES: the segments stay live during the walk (the append lock, a
// reference on each, or recovery), and every batch below to is in its
// data file (none is staged for the next fsync round).
func walkHeaders(segs []*segment, from int64, to *Position, fn func(s *segment, pos int64, h *record.Header) bool) error {
	var scratch []byte
	for i := max(0, segmentHolding(segs, from)); i < len(segs) && segs[i].base < to.offset; i++ {
		s := segs[i]
		var pos int64
		if from > s.base {
			_, pos = s.offsets().lookup(from)
		}
		size := s.size.Load()
		if s == to.seg {
			size = min(size, to.pos)
		}
		for pos < size {
			if size-pos < record.HeaderSize {
				return &CorruptionError{Path: s.path, FilePosition: pos, Offset: -1, Reason: "batch header cut short", Err: record.ErrTruncated}
			}
			hb, err := s.bytesAt(&scratch, pos, record.HeaderSize)
			if err != nil {
				return err
			}
			h, err := record.ParseHeader(hb, int(min(size-pos, math.MaxInt32)))
			if err != nil {
				return &CorruptionError{Path: s.path, FilePosition: pos, Offset: -1, Reason: "batch header", Err: err}
			}
			if h.BaseOffset >= to.offset {
				return nil
			}
			if h.NextOffset() > from && !fn(s, pos, &h) {
				return nil
			}
			pos += int64(h.Size())
		}
	}
	return nil
}
