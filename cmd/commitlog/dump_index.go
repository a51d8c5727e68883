package main

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/commitlog-go/commitlog/internal/storage"
)

// indexEntry is one entry of an offset index (offset, position) or of a
// time index (timestamp, offset), with absolute offsets.
type indexEntry struct {
	offset    int64
	position  int64 // offset index
	timestamp int64 // time index
}

// dumpIndex dumps an offset index (timeIndex false) or a time index, and
// checks its entries against the segment data file beside it. It streams
// both files.
func dumpIndex(w *bufio.Writer, stderr io.Writer, path string, timeIndex bool) (problems int, err error) {
	suffix, entrySize := storage.IndexSuffix, storage.OffsetEntrySize
	if timeIndex {
		suffix, entrySize = storage.TimeIndexSuffix, storage.TimeEntrySize
	}
	base, ok := storage.ParseSegmentName(filepath.Base(path), suffix)
	if !ok {
		return 0, fmt.Errorf("dump %s: the name is not a segment's (20 digits of base offset, then %s)", path, suffix)
	}
	f, size, err := openSegmentFile(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	fmt.Fprintf(w, "Dumping %s\n", path)
	check, err := newIndexCheck(strings.TrimSuffix(path, suffix)+storage.LogSuffix, timeIndex)
	if err != nil {
		return 0, err
	}
	if check == nil {
		fmt.Fprintf(w, "no %s beside it: entries are not checked\n", filepath.Base(strings.TrimSuffix(path, suffix)+storage.LogSuffix))
	} else {
		defer check.close()
	}
	bar := newProgress(stderr, size, "dump "+filepath.Base(path))
	defer bar.finish()
	r := bufio.NewReaderSize(f, 64<<10)
	buf := make([]byte, entrySize)
	entries, unused := 0, 0
	for pos := int64(0); pos+int64(entrySize) <= size; pos += int64(entrySize) {
		if _, err := io.ReadFull(r, buf); err != nil {
			return problems, fmt.Errorf("dump %s: %w", path, err)
		}
		bar.set(pos)
		if isZero(buf) {
			unused++
			continue
		}
		if unused > 0 {
			fmt.Fprintf(w, "! position %d: %d zero entries before this one: entries are appended in order, with no gaps\n", pos, unused)
			problems++
			unused = 0
		}
		var e indexEntry
		if timeIndex {
			e.timestamp = int64(binary.BigEndian.Uint64(buf))
			e.offset = base + int64(binary.BigEndian.Uint32(buf[8:]))
		} else {
			e.offset = base + int64(binary.BigEndian.Uint32(buf))
			e.position = int64(binary.BigEndian.Uint32(buf[4:]))
		}
		entries++
		problem := ""
		if check != nil {
			problem = check.entry(e)
		}
		mark := ""
		if problem != "" {
			mark = "! "
			problems++
			problem = " " + problem
		}
		if timeIndex {
			fmt.Fprintf(w, "%stimestamp: %d offset: %d%s\n", mark, e.timestamp, e.offset, problem)
		} else {
			fmt.Fprintf(w, "%soffset: %d position: %d%s\n", mark, e.offset, e.position, problem)
		}
	}
	if unused > 0 {
		fmt.Fprintf(w, "%d unused zero entries at the end: space preallocated for the entries of an active segment\n", unused)
	}
	if rest := size % int64(entrySize); rest != 0 {
		fmt.Fprintf(w, "! %d bytes at the end do not make a whole entry of %d bytes\n", rest, entrySize)
		problems++
	}
	if check != nil && check.err != nil {
		return problems, fmt.Errorf("dump %s: reading %s: %w", path, check.logPath, check.err)
	}
	fmt.Fprintf(w, "Entries: %d Problems: %d\n", entries, problems)
	return problems, nil
}

func isZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// indexCheck checks index entries, in file order, against the batches of
// the segment data file: the checks Check and recovery make of the
// library's own indexes (an offset-index entry names a batch by its start
// and last offset; a time-index entry by its last offset and largest
// timestamp, which is the largest so far).
type indexCheck struct {
	logPath   string
	f         *os.File
	r         *segmentReader
	timeIndex bool
	cur       segmentBatch // the batch the next entry is compared with
	have      bool         // cur is a batch
	end       bool         // no batch left
	maxBefore int64        // largest timestamp of the batches before cur
	prev      indexEntry
	n         int
	err       error // reading the data file failed
}

// newIndexCheck returns a check against the data file at logPath, or nil
// when there is none.
func newIndexCheck(logPath string, timeIndex bool) (*indexCheck, error) {
	f, size, err := openSegmentFile(logPath)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &indexCheck{logPath: logPath, f: f, r: newSegmentReader(f, size, windowBytes), timeIndex: timeIndex, maxBefore: -1}, nil
}

func (c *indexCheck) close() { c.f.Close() }

// advance moves cur to the next batch.
func (c *indexCheck) advance() {
	if c.have && c.cur.h.MaxTimestamp > c.maxBefore {
		c.maxBefore = c.cur.h.MaxTimestamp
	}
	b, err := c.r.next()
	c.have = err == nil
	if err != nil {
		c.end = true
		var bad *badBatchError
		if !errors.Is(err, io.EOF) && !errors.Is(err, errZeroTail) && !errors.As(err, &bad) {
			c.err = err
		}
		return
	}
	c.cur = b
}

// entry checks e and returns what is wrong with it, or "".
func (c *indexCheck) entry(e indexEntry) string {
	defer func() { c.prev, c.n = e, c.n+1 }()
	if c.n == 0 && !c.have && !c.end {
		c.advance()
	}
	if c.timeIndex {
		if c.n > 0 && (e.timestamp <= c.prev.timestamp || e.offset <= c.prev.offset) {
			return fmt.Sprintf("(entries must have increasing timestamps and offsets; the one before is timestamp %d offset %d)", c.prev.timestamp, c.prev.offset)
		}
		for c.have && c.cur.h.LastOffset() < e.offset {
			c.advance()
		}
		switch {
		case !c.have:
			return "(no batch of the segment holds this offset)"
		case c.cur.h.LastOffset() != e.offset:
			return fmt.Sprintf("(no batch ends at this offset: the batch at position %d holds offsets %d to %d)", c.cur.pos, c.cur.h.BaseOffset, c.cur.h.LastOffset())
		case c.cur.h.MaxTimestamp != e.timestamp:
			return fmt.Sprintf("(the batch ending at this offset, at position %d, has largest timestamp %d)", c.cur.pos, c.cur.h.MaxTimestamp)
		case e.timestamp < c.maxBefore:
			return fmt.Sprintf("(a batch before it has the larger timestamp %d)", c.maxBefore)
		}
		return ""
	}
	if c.n > 0 && (e.offset <= c.prev.offset || e.position <= c.prev.position) {
		return fmt.Sprintf("(entries must have increasing offsets and positions; the one before is offset %d position %d)", c.prev.offset, c.prev.position)
	}
	for c.have && c.cur.pos < e.position {
		c.advance()
	}
	switch {
	case !c.have:
		return "(the position is past the last batch of the segment)"
	case c.cur.pos != e.position:
		return fmt.Sprintf("(no batch starts at this position: the next batch starts at %d)", c.cur.pos)
	case c.cur.h.LastOffset() != e.offset:
		return fmt.Sprintf("(the batch at this position holds offsets %d to %d)", c.cur.h.BaseOffset, c.cur.h.LastOffset())
	}
	return ""
}
