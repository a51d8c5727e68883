package commitlog

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"path/filepath"
)

// Producer ids identify idempotent producers in the batches they write, so
// an id must never be handed out twice by one directory, across restarts
// and crashes included. The Log hands them out in blocks: the file
// <dir>/producer-ids holds the first id no block has covered yet, and is
// replaced atomically (writeFileAtomic) before any id of a new block is
// used. A crash therefore skips the rest of a block, never reuses it.
//
// Format, 16 bytes, big-endian: magic "CLPI" | next i64 | crc32c u32 over
// the preceding 12 bytes.
const (
	producerIDFileName = "producer-ids"
	producerIDMagic    = "CLPI"
	producerIDFileSize = 16
	producerIDBlock    = 1000
)

// newProducerID returns an id no other producer of this directory has had
// or will have.
func (l *Log) newProducerID() (int64, error) {
	l.pidMu.Lock()
	defer l.pidMu.Unlock()
	if l.pidNext == l.pidLimit {
		path := filepath.Join(l.dir, producerIDFileName)
		next, err := readProducerIDFile(l, path)
		if err != nil {
			return 0, err
		}
		if err := writeFileAtomic(l.fs, path, marshalProducerIDs(next+producerIDBlock)); err != nil {
			return 0, fmt.Errorf("commitlog: allocate producer ids: %w", err)
		}
		l.pidNext, l.pidLimit = next, next+producerIDBlock
	}
	id := l.pidNext
	l.pidNext++
	return id, nil
}

// readProducerIDFile returns the first id not yet allocated: 0 when the
// file does not exist.
func readProducerIDFile(l *Log, path string) (int64, error) {
	b, err := readFile(l.fs, path)
	if err != nil {
		if isNotExist(err) {
			return 0, nil
		}
		return 0, fmt.Errorf("commitlog: read %s: %w", path, err)
	}
	next, err := unmarshalProducerIDs(b)
	if err != nil {
		return 0, &CorruptionError{Path: path, Offset: -1, Reason: err.Error()}
	}
	return next, nil
}

func marshalProducerIDs(next int64) []byte {
	b := make([]byte, producerIDFileSize)
	copy(b, producerIDMagic)
	binary.BigEndian.PutUint64(b[4:], uint64(next))
	binary.BigEndian.PutUint32(b[12:], crc32.Checksum(b[:12], castagnoli))
	return b
}

// unmarshalProducerIDs decodes a producer-ids file. It allocates nothing
// but its error, at most 64 bytes.
func unmarshalProducerIDs(b []byte) (int64, error) {
	if len(b) != producerIDFileSize || string(b[:4]) != producerIDMagic {
		return 0, errors.New("producer id file has the wrong size or magic")
	}
	if crc32.Checksum(b[:12], castagnoli) != binary.BigEndian.Uint32(b[12:]) {
		return 0, errors.New("producer id file fails its checksum")
	}
	next := int64(binary.BigEndian.Uint64(b[4:]))
	if next < 0 {
		return 0, errors.New("producer id file holds a negative id")
	}
	return next, nil
}
