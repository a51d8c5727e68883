package commitlog

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/commitlog-go/commitlog/internal/vfs"
	"github.com/stretchr/testify/require"
)

// compactTopic is smallTopic with compaction.
var compactTopic = TopicConfig{
	Partitions:         1,
	SegmentBytes:       4096,
	IndexIntervalBytes: 256,
	SegmentIndexBytes:  1024,
	MaxBatchBytes:      4096,
	CleanupPolicy:      CleanupCompact,
	Retention:          Forever,
	DeleteRetention:    time.Hour,
}

// written is one record appended in a compaction test, for the model.
type written struct {
	offset int64
	key    string
	value  []byte // nil: a tombstone
	ts     time.Time
}

// compactionLog opens a Log on an in-memory file system with an injected
// clock and a compacted topic "c" with cfg.
func compactionLog(t *testing.T, fs vfs.FS, cfg TopicConfig) (*Log, *Partition, *fixedClock) {
	t.Helper()
	clock := newClock()
	opts := testOptions(fs)
	opts.now = clock.Now
	l := openTest(t, fs, opts)
	_, err := l.CreateTopic(context.Background(), "c", cfg)
	require.NoError(t, err)
	return l, mustPartition(t, l, "c", 0), clock
}

// appendKeyed appends n batches of up to maxRecs records with keys drawn
// from keys distinct ones, a tenth of them tombstones, at the clock's time.
func appendKeyed(t *testing.T, p *Partition, rng *rand.Rand, clock *fixedClock, n, maxRecs, keys int) []written {
	t.Helper()
	var out []written
	for range n {
		recs := make([]Record, 1+rng.IntN(maxRecs))
		for i := range recs {
			recs[i].Key = fmt.Appendf(nil, "k%03d", rng.IntN(keys))
			if rng.IntN(10) > 0 {
				recs[i].Value = fmt.Appendf(nil, "v%d-%x", rng.Int64(), make([]byte, rng.IntN(40)))
			}
			recs[i].Timestamp = clock.Now()
		}
		res, err := p.Append(context.Background(), recs)
		require.NoError(t, err)
		for i, r := range recs {
			out = append(out, written{offset: res.BaseOffset + int64(i), key: string(r.Key), value: r.Value, ts: r.Timestamp})
		}
		clock.Advance(time.Millisecond)
	}
	return out
}

// checkCompacted checks what compaction may leave of history: offsets
// strictly increase; every record read is the one written at its offset;
// the latest record of every key is there, tombstones aside, which may go
// only when dropTombstones; and nothing at or after keepFrom is gone.
func checkCompacted(t *testing.T, got []Record, history []written, keepFrom int64, dropTombstones bool) {
	t.Helper()
	byOffset := map[int64]written{}
	latest := map[string]written{}
	for _, w := range history {
		byOffset[w.offset] = w
		latest[w.key] = w
	}
	seen := map[int64]bool{}
	prev := int64(-1)
	for _, r := range got {
		require.Greater(t, r.Offset, prev, "offsets strictly increase")
		prev = r.Offset
		w, ok := byOffset[r.Offset]
		require.True(t, ok, "offset %d was never written", r.Offset)
		require.Equal(t, w.key, string(r.Key), "offset %d", r.Offset)
		require.Equal(t, w.value, r.Value, "offset %d", r.Offset)
		require.Equal(t, w.value == nil, r.Value == nil, "offset %d: tombstone", r.Offset)
		require.True(t, r.Timestamp.Equal(w.ts), "offset %d: timestamp %v, wrote %v", r.Offset, r.Timestamp, w.ts)
		seen[r.Offset] = true
	}
	for _, w := range latest {
		if w.value == nil && dropTombstones {
			continue
		}
		require.True(t, seen[w.offset], "the latest record of key %s (offset %d) is missing", w.key, w.offset)
	}
	for _, w := range history {
		if w.offset >= keepFrom {
			require.True(t, seen[w.offset], "offset %d is past what compaction may touch (%d) but is missing", w.offset, keepFrom)
		}
	}
}

func TestCompactionKeepsTheLatestRecordOfEachKey(t *testing.T) {
	for seed := range uint64(8) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 7))
			cfg := compactTopic
			cfg.Compression = []Codec{CodecNone, CodecLZ4, CodecZstd, CodecGzip, CodecSnappy}[seed%5]
			mem := vfs.NewMem()
			l, p, clock := compactionLog(t, mem, cfg)
			ctx := context.Background()
			history := appendKeyed(t, p, rng, clock, 150, 8, 20+rng.IntN(40))
			segsBefore := len(segmentBases(p))
			require.Greater(t, segsBefore, 5)
			active := segmentBases(p)[segsBefore-1]

			require.NoError(t, l.Compact(ctx))
			got := readAll(t, p)
			checkCompacted(t, got, history, active, false)
			require.Less(t, len(got), len(history), "compaction removed superseded records")
			require.NoError(t, l.Check(ctx))

			// More writes, and a second pass over old and new.
			history = append(history, appendKeyed(t, p, rng, clock, 60, 8, 30)...)
			segsBefore = len(segmentBases(p))
			active = segmentBases(p)[segsBefore-1]
			require.NoError(t, l.Compact(ctx))
			checkCompacted(t, readAll(t, p), history, active, false)
			require.Less(t, len(segmentBases(p)), segsBefore, "segments that compaction shrank are merged")

			// Past the delete horizon, a pass drops tombstones.
			clock.Advance(2 * time.Hour)
			require.NoError(t, l.Compact(ctx))
			got = readAll(t, p)
			checkCompacted(t, got, history, active, true)
			for _, r := range got {
				if r.Offset < active {
					require.NotNil(t, r.Value, "tombstone at %d outlived its delete horizon", r.Offset)
				}
			}

			// All of it survives a reopen.
			require.NoError(t, l.Close())
			opts := testOptions(mem)
			opts.now = clock.Now
			l2 := openTest(t, mem, opts)
			p2 := mustPartition(t, l2, "c", 0)
			require.Equal(t, got, readAll(t, p2))
			require.NoError(t, l2.Check(ctx))
		})
	}
}
