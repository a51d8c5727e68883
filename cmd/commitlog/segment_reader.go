package main

import (
	"errors"
	"fmt"
	"hash/crc32"
	"io"

	"github.com/commitlog-go/commitlog/internal/record"
)

// segmentReader reads a segment's data file (Kafka RecordBatch v2 batches,
// back to back) batch by batch, in bounded memory: a window of the file
// (windowBytes) plus one batch of at most maxBatch bytes. A larger batch
// has its CRC computed in pieces and is not held.
type segmentReader struct {
	f        io.ReaderAt
	size     int64
	pos      int64 // the next batch's position
	maxBatch int

	win    []byte // the window: file bytes [winPos, winPos+len(win))
	winPos int64
	big    []byte // a batch larger than the window
	read   int64  // bytes read from the file, for progress
}

const windowBytes = 1 << 20

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func newSegmentReader(f io.ReaderAt, size int64, maxBatch int) *segmentReader {
	return &segmentReader{f: f, size: size, maxBatch: maxBatch}
}

// segmentBatch is one batch as read.
type segmentBatch struct {
	pos int64
	h   record.Header
	// data is the whole batch, valid until the next call of next; nil
	// when the batch is larger than maxBatch.
	data []byte
	// computedCRC is the CRC-32C of the bytes the stored CRC covers.
	computedCRC uint32
}

func (b *segmentBatch) crcValid() bool { return b.computedCRC == b.h.CRC }

// errZeroTail is what next returns when the rest of the file is zeros:
// space prepared for appends (or writes that never reached the disk), not
// batches.
var errZeroTail = errors.New("zeros to the end of the file")

// badBatchError is a batch whose header cannot be read: nothing after it
// can be found, so reading stops.
type badBatchError struct {
	pos int64
	err error
}

func (e *badBatchError) Error() string {
	return fmt.Sprintf("position %d: %v", e.pos, e.err)
}

func (e *badBatchError) Unwrap() error { return e.err }

// bytesAt returns n bytes of the file at pos, through the window when
// they fit in it. The slice is valid until the next call.
func (r *segmentReader) bytesAt(pos int64, n int) ([]byte, error) {
	if pos >= r.winPos && pos+int64(n) <= r.winPos+int64(len(r.win)) {
		return r.win[pos-r.winPos : pos-r.winPos+int64(n)], nil
	}
	if n <= windowBytes {
		if r.win == nil {
			r.win = make([]byte, windowBytes)
		}
		m := int(min(int64(windowBytes), r.size-pos))
		if m < n {
			return nil, io.ErrUnexpectedEOF
		}
		got, err := r.f.ReadAt(r.win[:m], pos)
		r.read += int64(got)
		if got < m {
			if err == nil || err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			r.win = r.win[:0]
			return nil, err
		}
		r.win, r.winPos = r.win[:m], pos
		return r.win[:n], nil
	}
	if cap(r.big) < n {
		r.big = make([]byte, n)
	}
	b := r.big[:n]
	got, err := r.f.ReadAt(b, pos)
	r.read += int64(got)
	if got < n {
		if err == nil || err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return b, nil
}

// next returns the next batch, io.EOF at the end of the file, errZeroTail
// when only zeros remain, or a *badBatchError for a batch whose header is
// damaged or that the file cuts short. A batch whose CRC does not match
// is returned (crcValid false): its length is still usable to go on.
func (r *segmentReader) next() (segmentBatch, error) {
	b := segmentBatch{pos: r.pos}
	if r.pos >= r.size {
		return b, io.EOF
	}
	left := r.size - r.pos
	if left < record.HeaderSize {
		return b, r.shortOrZeros(fmt.Errorf("%d bytes left, fewer than a batch header's %d: a batch cut short by the end of the file", left, record.HeaderSize))
	}
	hb, err := r.bytesAt(r.pos, record.HeaderSize)
	if err != nil {
		return b, err
	}
	h, err := record.ParseHeader(hb, int(min(left, 1<<31-1)))
	if err != nil {
		if errors.Is(err, record.ErrTooLarge) {
			err = fmt.Errorf("%w: the batch claims %d bytes, %d are left in the file: a batch cut short by the end of the file, or a damaged length", err, h.Size(), left)
		}
		return b, r.shortOrZeros(err)
	}
	b.h = h
	size := h.Size()
	if size <= r.maxBatch {
		data, err := r.bytesAt(r.pos, size)
		if err != nil {
			return b, err
		}
		b.data = data
		b.computedCRC = record.ComputeCRC(data)
	} else {
		// Too large to hold: the CRC in pieces.
		crc := uint32(0)
		for off := int64(21); off < int64(size); {
			n := int(min(int64(windowBytes), int64(size)-off))
			piece, err := r.bytesAt(r.pos+off, n)
			if err != nil {
				return b, err
			}
			crc = crc32.Update(crc, castagnoli, piece)
			off += int64(n)
		}
		b.computedCRC = crc
	}
	r.pos += int64(size)
	return b, nil
}

// shortOrZeros returns errZeroTail if the file holds only zeros from the
// current position on, and a *badBatchError for err otherwise.
func (r *segmentReader) shortOrZeros(err error) error {
	zeros := true
	for pos := r.pos; pos < r.size && zeros; {
		n := int(min(int64(windowBytes), r.size-pos))
		b, rerr := r.bytesAt(pos, n)
		if rerr != nil {
			return rerr
		}
		for _, c := range b {
			if c != 0 {
				zeros = false
				break
			}
		}
		pos += int64(n)
	}
	if zeros {
		return errZeroTail
	}
	return &badBatchError{pos: r.pos, err: err}
}
