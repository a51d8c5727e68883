package main

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// A partition directory as Apache Kafka lays it out, built here from
// batches that franz-go's kmsg encodes (an implementation independent of
// this repository's), with the CRC computed as Kafka does (CRC-32C of
// bytes [21, end)), and index files written by the rules of Kafka's
// LogSegment.append: after more than indexIntervalBytes since the last
// entry, an offset-index entry (the batch's last offset, its position)
// and a time-index entry (the largest timestamp so far and the last
// offset of the batch holding it) when that timestamp grew; a rolled
// segment gets a final time-index entry and trimmed index files, the
// active one index files preallocated with zeros.

const kafkaIndexInterval = 300

// kafkaBatch is one batch of the fixture.
type kafkaBatch struct {
	records    int
	ts         int64 // first record's timestamp; record i has ts+i*3, except in backwards batches
	backwards  bool  // timestamps decrease within the batch: its max is its first
	gzip       bool
	producerID int64
}

// encodeKafkaBatch encodes b at base with kmsg.
func encodeKafkaBatch(t *testing.T, base int64, b kafkaBatch) ([]byte, int64) {
	t.Helper()
	var raw []byte
	maxTS := int64(-1)
	for i := range b.records {
		ts := b.ts + int64(i)*3
		if b.backwards {
			ts = b.ts - int64(i)*3
		}
		maxTS = max(maxTS, ts)
		kr := kmsg.Record{
			TimestampDelta64: ts - b.ts,
			OffsetDelta:      int32(i),
			Key:              fmt.Appendf(nil, "k%d", base+int64(i)),
			Value:            fmt.Appendf(nil, "kafka value %d", base+int64(i)),
			Headers:          []kmsg.Header{{Key: "origin", Value: []byte("kafka")}},
		}
		kr.Length = int32(len(kr.AppendTo(nil)) - 1)
		raw = kr.AppendTo(raw)
	}
	attrs := int16(0)
	if b.gzip {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		_, err := zw.Write(raw)
		require.NoError(t, err)
		require.NoError(t, zw.Close())
		raw, attrs = buf.Bytes(), 1
	}
	pid, epoch, seq := int64(-1), int16(-1), int32(-1)
	if b.producerID >= 0 {
		pid, epoch, seq = b.producerID, 0, 0
	}
	kb := kmsg.RecordBatch{
		FirstOffset:          base,
		Length:               int32(49 + len(raw)),
		PartitionLeaderEpoch: 0,
		Magic:                2,
		Attributes:           attrs,
		LastOffsetDelta:      int32(b.records - 1),
		FirstTimestamp:       b.ts,
		MaxTimestamp:         maxTS,
		ProducerID:           pid,
		ProducerEpoch:        epoch,
		FirstSequence:        seq,
		NumRecords:           int32(b.records),
		Records:              raw,
	}
	enc := kb.AppendTo(nil)
	kb.CRC = int32(crc32.Checksum(enc[21:], crc32.MakeTable(crc32.Castagnoli)))
	return kb.AppendTo(nil), maxTS
}

// writeKafkaSegment writes one segment of batches from base, as Kafka
// would, and returns the offset after it. sealed trims the indexes and
// adds the final time-index entry; otherwise they are preallocated.
func writeKafkaSegment(t *testing.T, dir string, base int64, batches []kafkaBatch, sealed bool) int64 {
	t.Helper()
	var data, index, timeIndex []byte
	next, bytesSince := base, 0
	maxSoFar, offsetOfMax := int64(-1), int64(-1)
	lastIndexedTS := int64(-1)
	appendTime := func(ts, off int64) {
		if ts <= lastIndexedTS {
			return
		}
		timeIndex = binary.BigEndian.AppendUint64(timeIndex, uint64(ts))
		timeIndex = binary.BigEndian.AppendUint32(timeIndex, uint32(off-base))
		lastIndexedTS = ts
	}
	for _, b := range batches {
		enc, maxTS := encodeKafkaBatch(t, next, b)
		last := next + int64(b.records) - 1
		if maxTS > maxSoFar {
			maxSoFar, offsetOfMax = maxTS, last
		}
		if bytesSince > kafkaIndexInterval {
			index = binary.BigEndian.AppendUint32(index, uint32(last-base))
			index = binary.BigEndian.AppendUint32(index, uint32(len(data)))
			appendTime(maxSoFar, offsetOfMax)
			bytesSince = 0
		}
		bytesSince += len(enc)
		data = append(data, enc...)
		next = last + 1
	}
	if sealed {
		appendTime(maxSoFar, offsetOfMax)
	} else {
		index = append(index, make([]byte, 4096)...)
		timeIndex = append(timeIndex, make([]byte, 4092)...)
	}
	name := func(suffix string) string { return filepath.Join(dir, fmt.Sprintf("%020d%s", base, suffix)) }
	require.NoError(t, os.WriteFile(name(".log"), data, 0o644))
	require.NoError(t, os.WriteFile(name(".index"), index, 0o644))
	require.NoError(t, os.WriteFile(name(".timeindex"), timeIndex, 0o644))
	return next
}

// writeKafkaPartition writes the partition directory <root>/orders-0 as
// Apache Kafka lays it out: a rolled segment and an active one, the
// leader-epoch-checkpoint and partition.metadata files. It returns the
// directory.
func writeKafkaPartition(t *testing.T, root string) string {
	t.Helper()
	dir := filepath.Join(root, "orders-0")
	require.NoError(t, os.MkdirAll(dir, 0o755))
	ts := int64(1_710_000_000_000)
	var first []kafkaBatch
	for i := range 12 {
		b := kafkaBatch{records: 1 + i%4, ts: ts + int64(i)*100, producerID: -1}
		switch i {
		case 4:
			b.gzip = true
		case 6:
			b.backwards = true
		case 7:
			b.ts -= 500 // older than the batches before it
		case 9:
			b.producerID = 4242
		}
		first = append(first, b)
	}
	next := writeKafkaSegment(t, dir, 0, first, true)
	var second []kafkaBatch
	for i := range 6 {
		second = append(second, kafkaBatch{records: 2, ts: ts + 10_000 + int64(i)*100, producerID: -1})
	}
	writeKafkaSegment(t, dir, next, second, false)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "leader-epoch-checkpoint"), []byte("0\n1\n0 0\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "partition.metadata"), []byte("version: 0\ntopic_id: 3ZgYhRyJTTWz6aZ5N2d8Rg\n"), 0o644))
	return dir
}
