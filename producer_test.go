package commitlog

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/commitlog-go/commitlog/internal/record"
	"github.com/commitlog-go/commitlog/internal/vfs"
	"github.com/stretchr/testify/require"
)

func newTestProducer(t testing.TB, l *Log, cfg ProducerConfig) *Producer {
	t.Helper()
	prod, err := l.NewProducer(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { prod.Close() })
	return prod
}

// readAll returns every record of a partition below its high watermark.
func readAll(t testing.TB, p *Partition) []Record {
	t.Helper()
	var out []Record
	for r, err := range p.Scan(context.Background(), p.StartOffset()) {
		require.NoError(t, err)
		out = append(out, r.Clone())
	}
	return out
}

func TestProduceSyncFillsInOffsets(t *testing.T) {
	l := openTest(t, vfs.NewMem(), nil)
	ctx := context.Background()
	_, err := l.CreateTopic(ctx, "t", TopicConfig{Partitions: 3, SegmentIndexBytes: 1024})
	require.NoError(t, err)
	prod := newTestProducer(t, l, ProducerConfig{})

	recs := make([]*Record, 30)
	for i := range recs {
		recs[i] = &Record{Topic: "t", Key: fmt.Appendf(nil, "key-%d", i%7), Value: fmt.Appendf(nil, "value-%d", i),
			Headers: []Header{{Key: "h", Value: []byte{byte(i)}}}}
	}
	require.NoError(t, prod.ProduceSync(ctx, recs...))
	next := map[int32]int64{}
	for i, r := range recs {
		require.Equal(t, next[r.Partition], r.Offset, "record %d: offsets of a partition follow produce order", i)
		next[r.Partition]++
		require.False(t, r.Timestamp.IsZero())
		got, err := mustPartition(t, l, "t", r.Partition).Read(ctx, r.Offset, 1)
		require.NoError(t, err)
		require.Equal(t, r.Value, got[0].Value)
		require.Equal(t, r.Key, got[0].Key)
		require.Equal(t, r.Headers, got[0].Headers)
		require.Equal(t, r.Timestamp.UnixMilli(), got[0].Timestamp.UnixMilli())
	}
	// The same key always lands on the same partition.
	byKey := map[string]int32{}
	for _, r := range recs {
		if p, ok := byKey[string(r.Key)]; ok {
			require.Equal(t, p, r.Partition)
		}
		byKey[string(r.Key)] = r.Partition
	}
}

func TestProduceBatchesCarryProducerIDAndSequences(t *testing.T) {
	l := openTest(t, vfs.NewMem(), nil)
	ctx := context.Background()
	_, err := l.CreateTopic(ctx, "t", TopicConfig{SegmentIndexBytes: 1024})
	require.NoError(t, err)
	prod := newTestProducer(t, l, ProducerConfig{Partitioner: ManualPartitioner()})
	other := newTestProducer(t, l, ProducerConfig{Partitioner: ManualPartitioner()})
	require.GreaterOrEqual(t, prod.ProducerID(), int64(0))
	require.NotEqual(t, prod.ProducerID(), other.ProducerID())
	for i := 0; i < 5; i++ {
		var recs []*Record
		for j := 0; j <= i; j++ {
			recs = append(recs, &Record{Topic: "t", Value: []byte("v")})
		}
		require.NoError(t, prod.ProduceSync(ctx, recs...))
	}
	p := mustPartition(t, l, "t", 0)
	var seq int32
	for h := range batchHeaders(t, p) {
		require.Equal(t, prod.ProducerID(), h.ProducerID)
		require.Equal(t, int16(0), h.ProducerEpoch)
		require.Equal(t, seq, h.BaseSequence)
		seq += h.LastOffsetDelta + 1
	}
	require.Equal(t, int32(15), seq)

	plain := newTestProducer(t, l, ProducerConfig{DisableIdempotence: true})
	require.Equal(t, int64(-1), plain.ProducerID())
	r := &Record{Topic: "t", Value: []byte("x")}
	require.NoError(t, plain.ProduceSync(ctx, r))
	var last record.Header
	for h := range batchHeaders(t, p) {
		last = h
	}
	require.Equal(t, int64(record.NoProducerID), last.ProducerID)
	require.Equal(t, int32(record.NoSequence), last.BaseSequence)
}

func TestProduceOrderPerPartitionUnderConcurrentProducers(t *testing.T) {
	l := openTest(t, vfs.NewMem(), &Options{Sync: SyncNever, CheckpointInterval: time.Hour, fs: vfs.NewMem()})
	ctx := context.Background()
	_, err := l.CreateTopic(ctx, "t", TopicConfig{Partitions: 4, SegmentIndexBytes: 1024})
	require.NoError(t, err)
	prod := newTestProducer(t, l, ProducerConfig{BatchBytes: 2048, MaxBufferedRecords: 500})

	const goroutines, perGoroutine = 8, 400
	var wg sync.WaitGroup
	var failures atomic.Int64
	for g := 0; g < goroutines; g++ {
		wg.Go(func() {
			for i := 0; i < perGoroutine; i++ {
				r := &Record{Topic: "t", Key: fmt.Appendf(nil, "g%d", g), Value: fmt.Appendf(nil, "%d/%d", g, i)}
				prod.Produce(ctx, r, func(_ *Record, err error) {
					if err != nil {
						failures.Add(1)
					}
				})
			}
		})
	}
	wg.Wait()
	require.NoError(t, prod.Flush(ctx))
	require.Zero(t, failures.Load())

	total := 0
	for id := int32(0); id < 4; id++ {
		last := map[int]int{}
		for _, r := range readAll(t, mustPartition(t, l, "t", id)) {
			var g, i int
			_, err := fmt.Sscanf(string(r.Value), "%d/%d", &g, &i)
			require.NoError(t, err)
			if prev, ok := last[g]; ok {
				require.Equal(t, prev+1, i, "goroutine %d's records out of order in partition %d", g, id)
			} else {
				require.Equal(t, 0, i)
			}
			last[g] = i
			total++
		}
	}
	require.Equal(t, goroutines*perGoroutine, total)
}

func TestPromisesAreSerialAndInOrder(t *testing.T) {
	l := openTest(t, vfs.NewMem(), &Options{Sync: SyncNever, CheckpointInterval: time.Hour, fs: vfs.NewMem()})
	ctx := context.Background()
	_, err := l.CreateTopic(ctx, "t", TopicConfig{Partitions: 3, SegmentIndexBytes: 1024})
	require.NoError(t, err)
	prod := newTestProducer(t, l, ProducerConfig{Partitioner: RoundRobinPartitioner(), BatchBytes: 512})
	var inPromise atomic.Int32
	next := map[int32]int64{}
	const n = 3000
	for i := 0; i < n; i++ {
		prod.Produce(ctx, &Record{Topic: "t", Value: []byte("value")}, func(r *Record, err error) {
			if inPromise.Add(1) != 1 {
				t.Error("two promises ran at once")
			}
			if err != nil {
				t.Error(err)
			}
			if r.Offset != next[r.Partition] {
				t.Errorf("partition %d: promise for offset %d, expected %d", r.Partition, r.Offset, next[r.Partition])
			}
			next[r.Partition]++
			inPromise.Add(-1)
		})
	}
	require.NoError(t, prod.Flush(ctx))
	require.Equal(t, int64(n), next[0]+next[1]+next[2])
}

func TestProduceErrorsNameTheRecord(t *testing.T) {
	l := openTest(t, vfs.NewMem(), nil)
	ctx := context.Background()
	_, err := l.CreateTopic(ctx, "t", TopicConfig{SegmentIndexBytes: 1024, MaxBatchBytes: 4096, SegmentBytes: 1 << 20})
	require.NoError(t, err)
	_, err = l.CreateTopic(ctx, "compacted", TopicConfig{SegmentIndexBytes: 1024, CleanupPolicy: CleanupCompact})
	require.NoError(t, err)
	prod := newTestProducer(t, l, ProducerConfig{Partitioner: PartitionerFunc(func(topic string, r *Record, n int32) int32 {
		return r.Partition
	})})

	errOf := func(r *Record) error {
		return prod.ProduceSync(ctx, r)
	}
	err = errOf(&Record{Topic: "missing", Value: []byte("v")})
	require.ErrorIs(t, err, ErrUnknownTopic)
	require.ErrorContains(t, err, "missing")

	err = errOf(&Record{Topic: "compacted", Value: []byte("v")})
	require.ErrorIs(t, err, ErrInvalidArgument)
	require.ErrorContains(t, err, "compacted")
	require.NoError(t, errOf(&Record{Topic: "compacted", Key: []byte{}, Value: []byte("v")}), "an empty key is a key")

	big := &Record{Topic: "t", Value: make([]byte, 5000)}
	err = errOf(big)
	var tooLarge *RecordTooLargeError
	require.ErrorAs(t, err, &tooLarge)
	require.Equal(t, "t", tooLarge.Topic)
	require.Equal(t, int32(0), tooLarge.Partition)
	require.Equal(t, int64(-1), big.Offset)

	// A partitioner's result outside [0, n) fails the record with an
	// error naming it; it never panics or lands elsewhere.
	for _, part := range []int32{3, -1, math.MaxInt32, math.MinInt32} {
		r := &Record{Topic: "t", Partition: part, Value: []byte("v")}
		err = errOf(r)
		require.ErrorIs(t, err, ErrUnknownPartition)
		require.ErrorContains(t, err, fmt.Sprintf("chose partition %d for a record of t, which has partitions [0, 1)", part))
		require.Equal(t, int64(-1), r.Offset)
	}

	err = errOf(&Record{Topic: "t", Value: []byte("v"), Headers: []Header{{Key: ""}}})
	require.ErrorIs(t, err, ErrInvalidArgument)
	require.ErrorContains(t, err, "t-0", "validation errors name topic and partition")
	err = errOf(&Record{Topic: "t", Value: []byte("v"), Timestamp: time.UnixMilli(-5)})
	require.ErrorIs(t, err, ErrInvalidArgument)

	// Several failures are all reported, each with its index.
	err = prod.ProduceSync(ctx, &Record{Topic: "t", Value: []byte("ok")}, &Record{Topic: "nope"}, &Record{Topic: "t", Partition: 9})
	require.ErrorIs(t, err, ErrUnknownTopic)
	require.ErrorIs(t, err, ErrUnknownPartition)
	require.ErrorContains(t, err, "record 1")
	require.ErrorContains(t, err, "record 2")

	_, err = l.NewProducer(ProducerConfig{BatchBytes: -1, Linger: -1, Compression: 9, Acks: 7, MaxInFlight: -2})
	var cerr *ConfigError
	require.ErrorAs(t, err, &cerr)
	require.Len(t, cerr.Problems, 5)
	require.Contains(t, cerr.Problems, "MaxInFlight: -2 is negative (0 for the default of 5, 1 for one batch at a time)")
}

func TestProduceEveryCodec(t *testing.T) {
	for _, c := range []Codec{CodecNone, CodecGzip, CodecSnappy, CodecLZ4, CodecZstd} {
		t.Run(c.String(), func(t *testing.T) {
			l := openTest(t, vfs.NewMem(), nil)
			ctx := context.Background()
			_, err := l.CreateTopic(ctx, "t", TopicConfig{SegmentIndexBytes: 1024})
			require.NoError(t, err)
			_, err = l.CreateTopic(ctx, "pinned", TopicConfig{SegmentIndexBytes: 1024, Compression: CodecZstd})
			require.NoError(t, err)
			prod := newTestProducer(t, l, ProducerConfig{Compression: c, Linger: time.Hour})
			for _, topic := range []string{"t", "pinned"} {
				var recs []*Record
				for i := 0; i < 50; i++ {
					recs = append(recs, &Record{Topic: topic, Key: []byte("k"), Value: fmt.Appendf(nil, `{"id": %d, "name": "value value value"}`, i)})
				}
				for _, r := range recs {
					prod.Produce(ctx, r, nil)
				}
				require.NoError(t, prod.Flush(ctx))
				p := mustPartition(t, l, topic, 0)
				want := c
				if topic == "pinned" {
					want = CodecZstd
				}
				n := 0
				for h := range batchHeaders(t, p) {
					require.Equal(t, want, Codec(h.Codec()))
					n++
				}
				require.Equal(t, 1, n, "Flush sends what lingered as one batch")
				got := readAll(t, p)
				require.Len(t, got, len(recs))
				for i := range got {
					require.Equal(t, recs[i].Value, got[i].Value)
				}
			}
		})
	}
}

func TestProduceIncompressibleBatchFallsBackToNone(t *testing.T) {
	l := openTest(t, vfs.NewMem(), nil)
	ctx := context.Background()
	_, err := l.CreateTopic(ctx, "t", TopicConfig{SegmentIndexBytes: 1024, MaxBatchBytes: 4096, SegmentBytes: 1 << 20})
	require.NoError(t, err)
	prod := newTestProducer(t, l, ProducerConfig{Compression: CodecSnappy})
	value := make([]byte, 3900) // snappy expands random data
	for i := range value {
		value[i] = byte(i*7919 + i*i*31)
	}
	require.NoError(t, prod.ProduceSync(ctx, &Record{Topic: "t", Value: value}))
	got := readAll(t, mustPartition(t, l, "t", 0))
	require.Equal(t, value, got[0].Value)
}

func TestTryProduceFailsFastWhenFull(t *testing.T) {
	l := openTest(t, vfs.NewMem(), nil)
	ctx := context.Background()
	_, err := l.CreateTopic(ctx, "t", TopicConfig{SegmentIndexBytes: 1024})
	require.NoError(t, err)
	prod := newTestProducer(t, l, ProducerConfig{MaxBufferedRecords: 2, Linger: time.Hour})
	var errs []error
	for i := 0; i < 3; i++ {
		prod.TryProduce(ctx, &Record{Topic: "t", Value: []byte("v")}, func(_ *Record, err error) { errs = append(errs, err) })
	}
	require.NoError(t, prod.Flush(ctx))
	require.Len(t, errs, 3)
	require.ErrorIs(t, errs[0], ErrMaxBuffered, "the third record is refused first; the buffered two are sent by Flush")
	require.NoError(t, errs[1])
	require.NoError(t, errs[2])
}

func TestBlockedProduceRespectsContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := openTest(t, vfs.NewMem(), nil)
		ctx := context.Background()
		_, err := l.CreateTopic(ctx, "t", TopicConfig{SegmentIndexBytes: 1024})
		require.NoError(t, err)
		prod := newTestProducer(t, l, ProducerConfig{MaxBufferedBytes: 100, Linger: time.Hour})
		prod.Produce(ctx, &Record{Topic: "t", Value: make([]byte, 90)}, nil)

		cctx, cancel := context.WithCancel(ctx)
		got := make(chan error, 1)
		go prod.Produce(cctx, &Record{Topic: "t", Value: make([]byte, 90)}, func(_ *Record, err error) { got <- err })
		synctest.Wait()
		select {
		case err := <-got:
			t.Fatalf("Produce returned while the buffer was full: %v", err)
		default:
		}
		cancel()
		require.ErrorIs(t, <-got, context.Canceled)
		require.NoError(t, prod.Flush(ctx))
	})
}

func TestBackpressureWithoutDeadlock(t *testing.T) {
	l := openTest(t, vfs.NewMem(), nil)
	ctx := context.Background()
	_, err := l.CreateTopic(ctx, "t", TopicConfig{Partitions: 2, SegmentIndexBytes: 1024})
	require.NoError(t, err)
	// A buffer of a few records and many producers: every Produce must
	// eventually get space as earlier records complete.
	prod := newTestProducer(t, l, ProducerConfig{MaxBufferedRecords: 3, MaxBufferedBytes: 300, BatchBytes: 200})
	var wg sync.WaitGroup
	var ok atomic.Int64
	for g := 0; g < 16; g++ {
		wg.Go(func() {
			for i := 0; i < 50; i++ {
				prod.Produce(ctx, &Record{Topic: "t", Value: make([]byte, 40)}, func(_ *Record, err error) {
					if err == nil {
						ok.Add(1)
					}
				})
			}
		})
	}
	wg.Wait()
	require.NoError(t, prod.Flush(ctx))
	require.Equal(t, int64(16*50), ok.Load())
	bufBytes, bufRecords := prod.eng.Buffered()
	require.Zero(t, bufRecords)
	require.Zero(t, bufBytes)
}

func TestCloseWhileProducing(t *testing.T) {
	l := openTest(t, vfs.NewMem(), &Options{Sync: SyncNever, CheckpointInterval: time.Hour, fs: vfs.NewMem()})
	ctx := context.Background()
	_, err := l.CreateTopic(ctx, "t", TopicConfig{Partitions: 2, SegmentIndexBytes: 1024})
	require.NoError(t, err)
	prod, err := l.NewProducer(ProducerConfig{MaxBufferedRecords: 50})
	require.NoError(t, err)
	var wg sync.WaitGroup
	var succeeded, closed, calls atomic.Int64
	start := make(chan struct{})
	for g := 0; g < 8; g++ {
		wg.Go(func() {
			<-start
			for i := 0; i < 300; i++ {
				prod.Produce(ctx, &Record{Topic: "t", Value: []byte("v")}, func(_ *Record, err error) {
					calls.Add(1)
					switch {
					case err == nil:
						succeeded.Add(1)
					case errors.Is(err, ErrClosed):
						closed.Add(1)
					default:
						t.Error(err)
					}
				})
			}
		})
	}
	close(start)
	require.NoError(t, prod.Close())
	wg.Wait()
	require.Equal(t, int64(8*300), calls.Load(), "every promise is called exactly once")
	require.Equal(t, int64(8*300), succeeded.Load()+closed.Load())
	n := int64(0)
	for id := int32(0); id < 2; id++ {
		n += int64(len(readAll(t, mustPartition(t, l, "t", id))))
	}
	require.Equal(t, succeeded.Load(), n, "exactly the records reported as sent are in the log")
	require.NoError(t, prod.Close(), "Close is idempotent")
	require.ErrorIs(t, prod.ProduceSync(ctx, &Record{Topic: "t"}), ErrClosed)
}

func TestLingerSendsAfterTheLingerTime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fs := vfs.NewMem()
		l := openTest(t, fs, &Options{Sync: SyncNever, CheckpointInterval: time.Hour, fs: fs})
		ctx := context.Background()
		_, err := l.CreateTopic(ctx, "t", TopicConfig{SegmentIndexBytes: 1024})
		require.NoError(t, err)
		prod := newTestProducer(t, l, ProducerConfig{Linger: 50 * time.Millisecond})
		p := mustPartition(t, l, "t", 0)
		var done atomic.Int32
		for i := 0; i < 10; i++ {
			prod.Produce(ctx, &Record{Topic: "t", Value: []byte("v")}, func(*Record, error) { done.Add(1) })
		}
		time.Sleep(49 * time.Millisecond)
		synctest.Wait()
		require.Zero(t, p.EndOffset(), "nothing is sent before the linger time")
		time.Sleep(time.Millisecond)
		synctest.Wait()
		require.Equal(t, int64(10), p.EndOffset())
		require.Equal(t, int32(10), done.Load())
		n := 0
		for range batchHeaders(t, p) {
			n++
		}
		require.Equal(t, 1, n, "the lingering records went out as one batch")
	})
}

func TestLogAppendTimeTopic(t *testing.T) {
	fs := vfs.NewMem()
	clock := newClock()
	opts := testOptions(fs)
	opts.now = clock.Now
	l := openTest(t, fs, opts)
	ctx := context.Background()
	_, err := l.CreateTopic(ctx, "t", TopicConfig{SegmentIndexBytes: 1024, LogAppendTime: true})
	require.NoError(t, err)
	prod := newTestProducer(t, l, ProducerConfig{})
	r := &Record{Topic: "t", Value: []byte("v"), Timestamp: time.UnixMilli(1000)}
	require.NoError(t, prod.ProduceSync(ctx, r))
	require.Equal(t, clock.Now().UnixMilli(), r.Timestamp.UnixMilli())
	got := readAll(t, mustPartition(t, l, "t", 0))
	require.Equal(t, clock.Now().UnixMilli(), got[0].Timestamp.UnixMilli())

	res, err := mustPartition(t, l, "t", 0).Append(ctx, []Record{{Value: []byte("w"), Timestamp: time.UnixMilli(5)}})
	require.NoError(t, err)
	require.Equal(t, clock.Now().UnixMilli(), res.LogAppendTime.UnixMilli())
}

func TestAckNoneReportsBeforeTheFsync(t *testing.T) {
	fs := vfs.NewMem()
	l := openTest(t, fs, nil)
	ctx := context.Background()
	_, err := l.CreateTopic(ctx, "t", TopicConfig{SegmentIndexBytes: 1024})
	require.NoError(t, err)
	prod := newTestProducer(t, l, ProducerConfig{Acks: AckNone})
	r := &Record{Topic: "t", Value: []byte("v")}
	require.NoError(t, prod.ProduceSync(ctx, r))
	require.Equal(t, int64(0), r.Offset)
	require.NoError(t, prod.Flush(ctx))
	// The fsync follows: the record becomes visible to readers.
	got, err := mustPartition(t, l, "t", 0).Read(ctx, 0, 1)
	require.NoError(t, err)
	require.Equal(t, []byte("v"), got[0].Value)
}

func TestProducerPartitionFor(t *testing.T) {
	l := openTest(t, vfs.NewMem(), nil)
	ctx := context.Background()
	for name, n := range map[string]int32{"many": 7, "one": 1} {
		_, err := l.CreateTopic(ctx, name, TopicConfig{Partitions: n, SegmentIndexBytes: 1024})
		require.NoError(t, err)
	}
	keys := [][]byte{{}, []byte("a"), []byte("user-42"), []byte("orders/eu/12345"), {0, 0xff}}
	for i := range 40 {
		keys = append(keys, fmt.Appendf(nil, "key-%d", i))
	}
	// byKeyAndTopic places a record by its key's length and its topic, to
	// tell a partitioner of one's own from the built-ins.
	byKeyAndTopic := PartitionerFunc(func(topic string, r *Record, n int32) int32 {
		return int32(len(r.Key)+len(topic)) % n
	})
	for _, tc := range []struct {
		name string
		p    Partitioner
		// keyed: PartitionFor answers for non-nil keys; nilKey: for nil.
		keyed, nilKey bool
	}{
		{"KeyHash", KeyHashPartitioner(), true, false},
		{"Murmur2", Murmur2Partitioner(), true, false},
		{"Sticky", StickyPartitioner(), false, false},
		{"RoundRobin", RoundRobinPartitioner(), false, false},
		{"Manual", ManualPartitioner(), false, false},
		{"Func", byKeyAndTopic, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			prod := newTestProducer(t, l, ProducerConfig{Partitioner: tc.p})
			for _, key := range append(keys, nil) {
				got, err := prod.PartitionFor("many", key)
				if key == nil && !tc.nilKey || key != nil && !tc.keyed {
					require.ErrorIs(t, err, ErrInvalidArgument, "key %q", key)
					require.ErrorContains(t, err, "PartitionFor many: ")
					require.Equal(t, int32(-1), got)
					continue
				}
				require.NoError(t, err, "key %q", key)
				// Produce puts the record where PartitionFor said, every time.
				for range 3 {
					r := &Record{Topic: "many", Key: key, Value: []byte("v")}
					require.NoError(t, prod.ProduceSync(ctx, r))
					require.Equal(t, got, r.Partition, "key %q", key)
				}
			}
			// Every record of a one-partition topic lands on 0.
			for _, key := range [][]byte{nil, []byte("a")} {
				got, err := prod.PartitionFor("one", key)
				require.NoError(t, err)
				require.Equal(t, int32(0), got)
			}
		})
	}

	// The default partitioner agrees with Topic.PartitionFor.
	prod := newTestProducer(t, l, ProducerConfig{})
	topic, err := l.Topic("many")
	require.NoError(t, err)
	for _, key := range keys {
		want, err := topic.PartitionFor(key)
		require.NoError(t, err)
		got, err := prod.PartitionFor("many", key)
		require.NoError(t, err)
		require.Equal(t, want, got, "key %q", key)
	}

	// The reason is in the error.
	_, err = prod.PartitionFor("many", nil)
	require.ErrorContains(t, err, "a record with a nil key has no fixed partition")
	sticky := newTestProducer(t, l, ProducerConfig{Partitioner: StickyPartitioner()})
	_, err = sticky.PartitionFor("many", []byte("k"))
	require.ErrorContains(t, err, "StickyPartitioner ignores keys")

	// A partitioner of one's own answering out of range.
	bad := newTestProducer(t, l, ProducerConfig{Partitioner: PartitionerFunc(func(string, *Record, int32) int32 { return 7 })})
	got, err := bad.PartitionFor("many", []byte("k"))
	require.ErrorIs(t, err, ErrUnknownPartition)
	require.ErrorContains(t, err, "chose partition 7 for a record of many, which has partitions [0, 7)")
	require.Equal(t, int32(-1), got)

	_, err = prod.PartitionFor("missing", []byte("k"))
	require.ErrorIs(t, err, ErrUnknownTopic)
	cons, err := l.NewConsumer(ConsumerConfig{Group: "g", Partitions: []TopicPartition{{"one", 0}}})
	require.NoError(t, err)
	require.NoError(t, cons.CommitOffsets(ctx, map[TopicPartition]int64{{"one", 0}: 0})) // creates __consumer_offsets
	require.NoError(t, cons.Close())
	_, err = prod.PartitionFor(offsetsTopicName, []byte("k"))
	require.ErrorIs(t, err, ErrInvalidArgument, "only the Log writes to internal topics")
	require.NoError(t, prod.Close())
	_, err = prod.PartitionFor("many", []byte("k"))
	require.ErrorIs(t, err, ErrClosed)
}
