package commitlog

import (
	"context"
	"encoding/binary"
	"errors"
	"maps"
	"testing"
	"time"

	"github.com/commitlog-go/commitlog/internal/alloctest"
	"github.com/commitlog-go/commitlog/internal/vfs"
	"github.com/stretchr/testify/require"
)

// offsetDecodeAlloc bounds what decodeOffsetKey and decodeOffsetValue
// allocate for b (see decodeOffsetKey).
func offsetDecodeAlloc(b []byte) uint64 { return uint64(len(b)) + offsetDecodeErrorAlloc }

// FuzzOffsetKey feeds arbitrary bytes to decodeOffsetKey. Nothing may panic
// or allocate more than offsetDecodeAlloc; every error wraps
// errOffsetRecord; a group-metadata key (version 2) is skipped without an
// error; an offset key (version 0 or 1) re-encodes (encodeOffsetKey, always
// version 1) to the input's bytes under version 1.
func FuzzOffsetKey(f *testing.F) {
	key := encodeOffsetKey("g", TopicPartition{"t", 3})
	f.Add(key)
	f.Add(encodeOffsetKey("", TopicPartition{offsetsTopicName, 0}))
	f.Add(encodeOffsetKey("group-with-a-longer-name", TopicPartition{"a.b_c-d", -1}))
	v0 := append([]byte(nil), key...)
	binary.BigEndian.PutUint16(v0, 0)
	f.Add(v0)
	f.Add([]byte{0, 2, 0, 1, 'g'}) // group metadata
	f.Add(key[:len(key)-1])
	f.Add(append(append([]byte(nil), key...), 0))
	f.Add([]byte{0, 1, 0x7f, 0xff}) // a long string, absent
	f.Add([]byte{0, 1, 0xff, 0xff}) // a negative string length
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		var (
			group string
			tp    TopicPartition
			ok    bool
			err   error
		)
		alloctest.Check(t, offsetDecodeAlloc(data), nil, func() { group, tp, ok, err = decodeOffsetKey(data) })
		if err != nil {
			require.ErrorIs(t, err, errOffsetRecord)
			require.False(t, ok)
			return
		}
		version := binary.BigEndian.Uint16(data)
		if !ok {
			require.Equal(t, uint16(2), version, "only group-metadata keys are skipped")
			return
		}
		require.Contains(t, []uint16{0, 1}, version)
		want := append([]byte(nil), data...)
		binary.BigEndian.PutUint16(want, offsetKeyVersion)
		require.Equal(t, want, encodeOffsetKey(group, tp), "a decoded key re-encodes to its bytes")
	})
}

// FuzzOffsetValue feeds arbitrary bytes to decodeOffsetValue. Nothing may
// panic or allocate more than offsetDecodeAlloc; every error wraps
// errOffsetRecord; what decodes has version 0 to 3 and re-encodes
// (encodeOffsetValue, always version 3) to a value that decodes to the same
// offset, metadata and time, and for version 3 to the input's bytes but for
// the leader epoch, which is always written as -1.
func FuzzOffsetValue(f *testing.F) {
	at := time.UnixMilli(1_700_000_000_123)
	value := encodeOffsetValue(42, 7, "meta", at)
	f.Add(value)
	f.Add(encodeOffsetValue(0, -1, "", time.UnixMilli(0)))
	f.Add(encodeOffsetValue(-1, -1, "", time.UnixMilli(-1)))
	f.Add(encodeOffsetValue(1<<63-1, -1, string(make([]byte, 300)), time.UnixMilli(1<<63-1)))
	// Versions 0 and 2: offset, metadata, commit time; 1: and an expiry time.
	old := binary.BigEndian.AppendUint64([]byte{0, 0}, 42)
	old = appendKafkaString(old, "meta")
	old = binary.BigEndian.AppendUint64(old, uint64(at.UnixMilli()))
	f.Add(old)
	v2 := append([]byte(nil), old...)
	binary.BigEndian.PutUint16(v2, 2)
	f.Add(v2)
	v1 := binary.BigEndian.AppendUint64(append([]byte(nil), old...), uint64(at.UnixMilli()+1000))
	binary.BigEndian.PutUint16(v1, 1)
	f.Add(v1)
	f.Add(value[:len(value)-1])
	f.Add([]byte{0, 4})
	f.Add([]byte{0, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x7f, 0xff})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		var (
			c   committedOffset
			err error
		)
		alloctest.Check(t, offsetDecodeAlloc(data), nil, func() { c, err = decodeOffsetValue(data) })
		if err != nil {
			require.ErrorIs(t, err, errOffsetRecord)
			return
		}
		version := binary.BigEndian.Uint16(data)
		require.LessOrEqual(t, version, uint16(3))
		enc := encodeOffsetValue(c.Offset, c.LeaderEpoch, c.Metadata, c.Time)
		again, err := decodeOffsetValue(enc)
		require.NoError(t, err)
		require.Equal(t, c.Offset, again.Offset)
		require.Equal(t, c.Metadata, again.Metadata)
		require.Equal(t, c.Time.UnixMilli(), again.Time.UnixMilli())
		require.Equal(t, c.LeaderEpoch, again.LeaderEpoch)
		if version == offsetValueVersion {
			require.Equal(t, data, enc, "a version 3 value re-encodes to its bytes")
		} else {
			require.Equal(t, int32(-1), c.LeaderEpoch, "versions before 3 carry no leader epoch")
		}
	})
}

// offsetsFuzzOptions are the options of FuzzOffsetsLoad's logs: one
// partition of __consumer_offsets, so that every record lands where its
// group's records go; small indexes, and SyncNever, under which appends
// prepare no space ahead of the data: the in-memory file system holds
// files, index files and prepared space included, on the
// heap, where they would count against the allocation bound.
func offsetsFuzzOptions(fs vfs.FS) *Options {
	opts := testOptions(fs)
	opts.OffsetsTopicPartitions = 1
	opts.Sync = SyncNever
	opts.TopicDefaults = TopicConfig{SegmentIndexBytes: 4096}
	return opts
}

// FuzzOffsetsLoad appends one or two records with fuzzed keys and values
// (a flag makes a value nil: a tombstone) to __consumer_offsets, in a
// CRC-valid batch written by the partition's own append path, after a
// group has committed, and reopens the log. Replaying the topic must
// either fail with ErrCorrupt, exactly when a record's key or value does
// not decode, or give the committed offsets a replay of the decoded
// records gives, less those of topics that do not exist (Open deletes
// them, durably: reopening gives the same offsets). Opening and closing
// stay within the openAlloc bounds. Replay reads each record once.
func FuzzOffsetsLoad(f *testing.F) {
	ctx := context.Background()
	base := vfs.NewMem()
	l, err := Open(testDir, offsetsFuzzOptions(base))
	require.NoError(f, err)
	_, err = l.CreateTopic(ctx, "t", TopicConfig{Partitions: 2})
	require.NoError(f, err)
	fillTopic(f, l, "t", 10)
	tp0, tp1 := TopicPartition{"t", 0}, TopicPartition{"t", 1}
	c, err := l.NewConsumer(ConsumerConfig{Group: "g", Partitions: []TopicPartition{tp0, tp1}})
	require.NoError(f, err)
	require.NoError(f, c.CommitOffsets(ctx, map[TopicPartition]int64{tp0: 3, tp1: 4}))
	require.NoError(f, c.Close())
	committed := map[string]map[TopicPartition]committedOffset{}
	for _, g := range l.offsets.groupNames() {
		offsets, err := l.offsets.groupOffsets(g)
		require.NoError(f, err)
		committed[g] = offsets
	}
	require.NoError(f, l.Close())

	at := time.UnixMilli(1_700_000_000_000)
	key, value := encodeOffsetKey("g", tp0), encodeOffsetValue(7, -1, "", at)
	f.Add(key, value, encodeOffsetKey("h", tp1), encodeOffsetValue(9, -1, "m", at), uint8(0))
	f.Add(key, []byte{}, encodeOffsetKey("g", tp1), []byte{}, uint8(3))                                  // tombstones
	f.Add(encodeOffsetKey("g", TopicPartition{"gone", 0}), value, key, value[:5], uint8(0))              // unknown topic, then a bad value
	f.Add([]byte{0, 2, 0, 1, 'g'}, []byte("group metadata"), key[:4], value, uint8(0))                   // skipped key, then a bad key
	f.Add(encodeOffsetKey("", TopicPartition{offsetsTopicName, 0}), value, []byte{}, []byte{}, uint8(4)) // one record
	f.Fuzz(func(t *testing.T, k1, v1, k2, v2 []byte, flags uint8) {
		recs := []Record{{Key: k1, Value: v1}, {Key: k2, Value: v2}}
		if flags&4 != 0 {
			recs = recs[:1]
		}
		for i := range recs {
			if recs[i].Key == nil {
				recs[i].Key = []byte{} // a compacted topic's records all have keys
			}
			if flags&(1<<i) != 0 {
				recs[i].Value = nil
			} else if recs[i].Value == nil {
				recs[i].Value = []byte{}
			}
		}

		// What replaying them must give, or whether it must fail.
		want := map[string]map[TopicPartition]committedOffset{}
		for g, offsets := range committed {
			want[g] = maps.Clone(offsets)
		}
		malformed := false
		for _, r := range recs {
			group, tp, ok, err := decodeOffsetKey(r.Key)
			if err == nil && ok && r.Value != nil {
				var c committedOffset
				if c, err = decodeOffsetValue(r.Value); err == nil {
					if want[group] == nil {
						want[group] = map[TopicPartition]committedOffset{}
					}
					want[group][tp] = c
				}
			} else if err == nil && ok {
				delete(want[group], tp)
			}
			if err != nil {
				malformed = true
				break
			}
		}
		for g, offsets := range want {
			maps.DeleteFunc(offsets, func(tp TopicPartition, _ committedOffset) bool {
				return tp.Topic != "t" && tp.Topic != offsetsTopicName
			})
			if len(offsets) == 0 {
				delete(want, g)
			}
		}

		var mem *vfs.MemFS
		setup := func() {
			mem = cloneMem(base)
			l, err := Open(testDir, offsetsFuzzOptions(mem))
			require.NoError(t, err)
			topic, err := l.Topic(offsetsTopicName)
			require.NoError(t, err)
			p, _ := topic.Partition(0)
			_, err = p.appendRecords(ctx, -1, recs)
			require.NoError(t, err)
			require.NoError(t, l.Close())
		}
		var (
			got     map[string]map[TopicPartition]committedOffset
			openErr error
		)
		open := func() {
			got = nil
			l, err := Open(testDir, offsetsFuzzOptions(mem))
			if openErr = err; err != nil {
				return
			}
			defer l.Close()
			got = map[string]map[TopicPartition]committedOffset{}
			for _, g := range l.offsets.groupNames() {
				got[g], _ = l.offsets.groupOffsets(g) // a single-node Log coordinates every group
			}
		}
		size := 0
		for _, r := range recs {
			size += len(r.Key) + len(r.Value)
		}
		alloctest.Check(t, openAllocFixed+openAllocPerByte*uint64(size), setup, open)
		if malformed {
			require.Error(t, openErr, "Open accepted a malformed committed-offset record")
			require.True(t, errors.Is(openErr, ErrCorrupt), "%v", openErr)
			var ce *CorruptionError
			require.ErrorAs(t, openErr, &ce)
			return
		}
		require.NoError(t, openErr)
		requireCommitted(t, want, got)
		open()
		require.NoError(t, openErr, "reopening")
		requireCommitted(t, want, got)
	})
}

// requireCommitted compares committed offsets by offset, metadata and
// commit time in milliseconds.
func requireCommitted(t *testing.T, want, got map[string]map[TopicPartition]committedOffset) {
	t.Helper()
	norm := func(m map[string]map[TopicPartition]committedOffset) map[string]map[TopicPartition][3]any {
		out := map[string]map[TopicPartition][3]any{}
		for g, offsets := range m {
			out[g] = map[TopicPartition][3]any{}
			for tp, c := range offsets {
				out[g][tp] = [3]any{c.Offset, c.Metadata, c.Time.UnixMilli()}
			}
		}
		return out
	}
	require.Equal(t, norm(want), norm(got))
}
