package commitlog

import (
	"context"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/commitlog-go/commitlog/internal/vfs"
	"github.com/stretchr/testify/require"
)

// badInputEnv is what a row of the bad-input table works on: a Log with
// topic "t" (2 partitions, 100 records each), compacted topic "c", and an
// empty group "g" member consuming "t".
type badInputEnv struct {
	mem *vfs.MemFS
	l   *Log
	p   *Partition // t-0
}

func newBadInputEnv(t *testing.T) *badInputEnv {
	mem := vfs.NewMem()
	l := openTest(t, mem, nil)
	groupTopic(t, l, 2)
	_, err := l.CreateTopic(context.Background(), "c", TopicConfig{CleanupPolicy: CleanupCompact})
	require.NoError(t, err)
	return &badInputEnv{mem: mem, l: l, p: mustPartition(t, l, "t", 0)}
}

// badInputRow is one row of the table in doc.go: a misuse and a check of
// the error it gets.
type badInputRow struct {
	call, misuse string
	run          func(t *testing.T, e *badInputEnv)
}

// wantErr checks err against the sentinel and, when typed is not nil,
// the typed error the table names.
func wantErr[T error](t *testing.T, err, sentinel error) {
	t.Helper()
	require.ErrorIs(t, err, sentinel)
	var typed T
	if _, any := any(typed).(error); any {
		require.ErrorAs(t, err, &typed)
	}
}

var badInputRows = []badInputRow{
	{"Open", "invalid Options", func(t *testing.T, e *badInputEnv) {
		_, err := Open(t.TempDir(), &Options{Sync: 9, SyncInterval: -1})
		wantErr[*ConfigError](t, err, ErrInvalidConfig)
	}},
	{"Open", "directory open in another Log", func(t *testing.T, e *badInputEnv) {
		_, err := Open(testDir, testOptions(e.mem))
		require.ErrorIs(t, err, ErrLocked)
	}},
	{"Open", "damaged directory", func(t *testing.T, e *badInputEnv) {
		require.NoError(t, e.l.Close())
		require.NoError(t, e.mem.WriteFile(testDir+"/t-0/checkpoint", []byte("damaged")))
		_, err := Open(testDir, testOptions(e.mem))
		wantErr[*CorruptionError](t, err, ErrCorrupt)
	}},
	{"CreateTopic", "invalid name", func(t *testing.T, e *badInputEnv) {
		for _, name := range []string{"", ".", "..", "a/b", "a b", strings.Repeat("x", 250)} {
			_, err := e.l.CreateTopic(context.Background(), name, TopicConfig{})
			wantErr[*TopicNameError](t, err, ErrInvalidTopicName)
		}
	}},
	{"CreateTopic", `name starting with "__"`, func(t *testing.T, e *badInputEnv) {
		_, err := e.l.CreateTopic(context.Background(), "__x", TopicConfig{})
		wantErr[*TopicNameError](t, err, ErrInvalidTopicName)
	}},
	{"CreateTopic", "existing topic", func(t *testing.T, e *badInputEnv) {
		_, err := e.l.CreateTopic(context.Background(), "t", TopicConfig{})
		require.ErrorIs(t, err, ErrTopicExists)
	}},
	{"CreateTopic", "invalid TopicConfig", func(t *testing.T, e *badInputEnv) {
		_, err := e.l.CreateTopic(context.Background(), "x", TopicConfig{Partitions: maxPartitions + 1, SegmentBytes: 100})
		wantErr[*ConfigError](t, err, ErrInvalidConfig)
		require.Len(t, err.(*ConfigError).Problems, 2, "every problem listed")
	}},
	{"Topic", "unknown topic", func(t *testing.T, e *badInputEnv) {
		_, err := e.l.Topic("missing")
		require.ErrorIs(t, err, ErrUnknownTopic)
	}},
	{"DeleteTopic", "unknown topic", func(t *testing.T, e *badInputEnv) {
		require.ErrorIs(t, e.l.DeleteTopic(context.Background(), "missing"), ErrUnknownTopic)
	}},
	{"DeleteTopic", "internal topic", func(t *testing.T, e *badInputEnv) {
		require.ErrorIs(t, e.l.DeleteTopic(context.Background(), offsetsTopicName), ErrInvalidArgument)
	}},
	{"Topic.Partition", "id outside [0, NumPartitions)", func(t *testing.T, e *badInputEnv) {
		tp, _ := e.l.Topic("t")
		for _, id := range []int32{-1, 2} {
			_, err := tp.Partition(id)
			require.ErrorIs(t, err, ErrUnknownPartition)
		}
	}},
	{"Append", "no records", func(t *testing.T, e *badInputEnv) {
		_, err := e.p.Append(context.Background(), nil)
		require.ErrorIs(t, err, ErrInvalidArgument)
	}},
	{"Append", "timestamp outside int64 ms since 1970", func(t *testing.T, e *badInputEnv) {
		_, err := e.p.Append(context.Background(), []Record{{Timestamp: time.Unix(1<<62, 0)}})
		wantErr[*TimestampError](t, err, ErrInvalidArgument)
	}},
	{"Append", "header with an empty key", func(t *testing.T, e *badInputEnv) {
		_, err := e.p.Append(context.Background(), []Record{{Headers: []Header{{Key: ""}}}})
		require.ErrorIs(t, err, ErrInvalidArgument)
	}},
	{"Append", "batch over MaxBatchBytes", func(t *testing.T, e *badInputEnv) {
		_, err := e.p.Append(context.Background(), []Record{{Value: make([]byte, defaultMaxBatchBytes+1)}})
		wantErr[*RecordTooLargeError](t, err, ErrRecordTooLarge)
	}},
	{"Append", "keyless record on a compacted topic", func(t *testing.T, e *badInputEnv) {
		_, err := mustPartition(t, e.l, "c", 0).Append(context.Background(), []Record{{Value: []byte("v")}})
		require.ErrorIs(t, err, ErrInvalidArgument)
	}},
	{"Append", "internal topic", func(t *testing.T, e *badInputEnv) {
		c, err := e.l.NewConsumer(ConsumerConfig{Group: "m", Partitions: []TopicPartition{{"t", 1}}})
		require.NoError(t, err)
		require.NoError(t, c.CommitOffsets(context.Background(), map[TopicPartition]int64{{"t", 1}: 1}))
		_, err = mustPartition(t, e.l, offsetsTopicName, 0).Append(context.Background(), []Record{{Value: []byte("v")}})
		require.ErrorIs(t, err, ErrInvalidArgument)
	}},
	{"AppendIf", "end offset moved", func(t *testing.T, e *badInputEnv) {
		_, err := e.p.AppendIf(context.Background(), 3, []Record{{Value: []byte("v")}})
		wantErr[*ConflictError](t, err, ErrConflict)
	}},
	{"AppendIf", "negative expected end", func(t *testing.T, e *badInputEnv) {
		_, err := e.p.AppendIf(context.Background(), -1, []Record{{Value: []byte("v")}})
		require.ErrorIs(t, err, ErrInvalidArgument)
	}},
	{"Read", "offset outside [start, end]", func(t *testing.T, e *badInputEnv) {
		for _, off := range []int64{-1, 101} {
			_, err := e.p.Read(context.Background(), off, 1)
			wantErr[*OffsetOutOfRangeError](t, err, ErrOffsetOutOfRange)
		}
	}},
	{"Read", "maxBytes <= 0", func(t *testing.T, e *badInputEnv) {
		_, err := e.p.Read(context.Background(), 0, 0)
		require.ErrorIs(t, err, ErrInvalidArgument)
	}},
	{"Scan", "offset outside [start, end]", func(t *testing.T, e *badInputEnv) {
		for _, err := range e.p.Scan(context.Background(), 101) {
			wantErr[*OffsetOutOfRangeError](t, err, ErrOffsetOutOfRange)
			return
		}
		t.Fatal("Scan yielded nothing")
	}},
	{"DeleteRecords", "negative offset", func(t *testing.T, e *badInputEnv) {
		_, err := e.p.DeleteRecords(context.Background(), -1)
		require.ErrorIs(t, err, ErrInvalidArgument)
	}},
	{"DeleteRecords", "offset above the high watermark", func(t *testing.T, e *badInputEnv) {
		_, err := e.p.DeleteRecords(context.Background(), 101)
		wantErr[*OffsetOutOfRangeError](t, err, ErrOffsetOutOfRange)
	}},
	{"NewProducer", "invalid ProducerConfig", func(t *testing.T, e *badInputEnv) {
		_, err := e.l.NewProducer(ProducerConfig{Linger: -1})
		wantErr[*ConfigError](t, err, ErrInvalidConfig)
	}},
	{"Produce", "nil record", func(t *testing.T, e *badInputEnv) {
		require.ErrorIs(t, promised(e, nil), ErrInvalidArgument)
	}},
	{"Produce", "unknown topic", func(t *testing.T, e *badInputEnv) {
		require.ErrorIs(t, promised(e, &Record{Topic: "missing"}), ErrUnknownTopic)
	}},
	{"Produce", "partition outside the topic", func(t *testing.T, e *badInputEnv) {
		prod, err := e.l.NewProducer(ProducerConfig{Partitioner: ManualPartitioner()})
		require.NoError(t, err)
		defer prod.Close()
		require.ErrorIs(t, prod.ProduceSync(context.Background(), &Record{Topic: "t", Partition: 2}), ErrUnknownPartition)
	}},
	{"Produce", "timestamp outside int64 ms since 1970", func(t *testing.T, e *badInputEnv) {
		err := promised(e, &Record{Topic: "t", Timestamp: time.Unix(-1, 0)})
		wantErr[*TimestampError](t, err, ErrInvalidArgument)
	}},
	{"TryProduce", "buffer full", func(t *testing.T, e *badInputEnv) {
		prod, err := e.l.NewProducer(ProducerConfig{MaxBufferedRecords: 1, Linger: time.Hour})
		require.NoError(t, err)
		defer prod.Close()
		var full error
		for range 3 {
			prod.TryProduce(context.Background(), &Record{Topic: "t"}, func(_ *Record, err error) {
				if err != nil {
					full = err
				}
			})
		}
		require.NoError(t, prod.Flush(context.Background()))
		require.ErrorIs(t, full, ErrMaxBuffered)
	}},
	{"Topic.PartitionFor", "nil key, several partitions", func(t *testing.T, e *badInputEnv) {
		tp, err := e.l.Topic("t")
		require.NoError(t, err)
		require.Greater(t, tp.NumPartitions(), int32(1))
		id, err := tp.PartitionFor(nil)
		require.ErrorIs(t, err, ErrInvalidArgument)
		require.Equal(t, int32(-1), id)
	}},
	{"Producer.PartitionFor", "partitioner that ignores keys", func(t *testing.T, e *badInputEnv) {
		prod, err := e.l.NewProducer(ProducerConfig{Partitioner: RoundRobinPartitioner()})
		require.NoError(t, err)
		defer prod.Close()
		id, err := prod.PartitionFor("t", []byte("k"))
		require.ErrorIs(t, err, ErrInvalidArgument)
		require.Equal(t, int32(-1), id)
	}},
	{"Producer.PartitionFor", "unknown topic", func(t *testing.T, e *badInputEnv) {
		prod, err := e.l.NewProducer(ProducerConfig{})
		require.NoError(t, err)
		defer prod.Close()
		_, err = prod.PartitionFor("nope", []byte("k"))
		require.ErrorIs(t, err, ErrUnknownTopic)
	}},
	{"NewConsumer", "invalid ConsumerConfig", func(t *testing.T, e *badInputEnv) {
		_, err := e.l.NewConsumer(ConsumerConfig{})
		wantErr[*ConfigError](t, err, ErrInvalidConfig)
	}},
	{"NewConsumer", "unknown topic", func(t *testing.T, e *badInputEnv) {
		_, err := e.l.NewConsumer(ConsumerConfig{Group: "g", Topics: []string{"missing"}})
		require.ErrorIs(t, err, ErrUnknownTopic)
	}},
	{"NewConsumer", "balancer other than the group's", func(t *testing.T, e *badInputEnv) {
		c := newTestConsumer(t, e.l, ConsumerConfig{Group: "g", Topics: []string{"t"}})
		defer c.Close()
		_, err := e.l.NewConsumer(ConsumerConfig{Group: "g", Topics: []string{"t"}, Balancer: RangeBalancer()})
		require.ErrorIs(t, err, ErrInvalidConfig)
	}},
	{"Seek", "negative offset", func(t *testing.T, e *badInputEnv) {
		c := newTestConsumer(t, e.l, ConsumerConfig{Partitions: []TopicPartition{{"t", 0}}})
		require.ErrorIs(t, c.Seek(TopicPartition{"t", 0}, -1), ErrInvalidArgument)
	}},
	{"Seek", "partition not assigned", func(t *testing.T, e *badInputEnv) {
		c := newTestConsumer(t, e.l, ConsumerConfig{Partitions: []TopicPartition{{"t", 0}}})
		require.ErrorIs(t, c.Seek(TopicPartition{"t", 1}, 0), ErrInvalidArgument)
	}},
	{"Poll", "ResetNone without a committed offset", func(t *testing.T, e *badInputEnv) {
		c := newTestConsumer(t, e.l, ConsumerConfig{Group: "none", Partitions: []TopicPartition{{"t", 0}}, AutoOffsetReset: ResetNone})
		_, err := c.Poll(context.Background())
		wantErr[*OffsetOutOfRangeError](t, err, ErrOffsetOutOfRange)
	}},
	{"Poll", "called from a rebalance callback", func(t *testing.T, e *badInputEnv) {
		var inner error
		c := newTestConsumer(t, e.l, ConsumerConfig{Group: "g", Topics: []string{"t"},
			OnAssigned: func(ctx context.Context, c ConsumerClient, _ []TopicPartition) { _, inner = c.Poll(ctx) }})
		_, err := c.Poll(context.Background())
		require.NoError(t, err)
		require.ErrorIs(t, inner, ErrInvalidArgument)
	}},
	{"CommitOffsets", "offset above the high watermark", func(t *testing.T, e *badInputEnv) {
		c := newTestConsumer(t, e.l, ConsumerConfig{Group: "m", Partitions: []TopicPartition{{"t", 0}}})
		err := c.CommitOffsets(context.Background(), map[TopicPartition]int64{{"t", 0}: 101})
		wantErr[*OffsetOutOfRangeError](t, err, ErrOffsetOutOfRange)
	}},
	{"CommitOffsets", "partition the member does not own", func(t *testing.T, e *badInputEnv) {
		c := newTestConsumer(t, e.l, ConsumerConfig{Group: "g", Topics: []string{"t"}, MaxPollRecords: 1})
		_, err := c.Poll(context.Background())
		require.NoError(t, err)
		err = c.CommitOffsets(context.Background(), map[TopicPartition]int64{{"c", 0}: 0})
		wantErr[*FencedError](t, err, ErrFenced)
	}},
	{"CommitOffsets", "no Group", func(t *testing.T, e *badInputEnv) {
		c := newTestConsumer(t, e.l, ConsumerConfig{Partitions: []TopicPartition{{"t", 0}}})
		require.ErrorIs(t, c.CommitOffsets(context.Background(), map[TopicPartition]int64{{"t", 0}: 1}), ErrInvalidArgument)
	}},
	{"CommitOffsets", "manual consumer of a group with members", func(t *testing.T, e *badInputEnv) {
		newTestConsumer(t, e.l, ConsumerConfig{Group: "g", Topics: []string{"t"}})
		c := newTestConsumer(t, e.l, ConsumerConfig{Group: "g", Partitions: []TopicPartition{{"t", 0}}})
		require.ErrorIs(t, c.CommitOffsets(context.Background(), map[TopicPartition]int64{{"t", 0}: 1}), ErrGroupNotEmpty)
	}},
	{"DescribeGroup", "unknown group", func(t *testing.T, e *badInputEnv) {
		_, err := e.l.DescribeGroup("missing")
		require.ErrorIs(t, err, ErrUnknownGroup)
	}},
	{"ResetGroupOffsets", "group with members", func(t *testing.T, e *badInputEnv) {
		newTestConsumer(t, e.l, ConsumerConfig{Group: "g", Topics: []string{"t"}})
		_, err := e.l.ResetGroupOffsets(context.Background(), "g", EarliestOffset(), TopicPartition{"t", 0})
		require.ErrorIs(t, err, ErrGroupNotEmpty)
	}},
	{"DeleteGroup", "group with members", func(t *testing.T, e *badInputEnv) {
		newTestConsumer(t, e.l, ConsumerConfig{Group: "g", Topics: []string{"t"}})
		require.ErrorIs(t, e.l.DeleteGroup(context.Background(), "g"), ErrGroupNotEmpty)
	}},
	{"any call", "cancelled context", func(t *testing.T, e *badInputEnv) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := e.l.CreateTopic(ctx, "x", TopicConfig{})
		require.ErrorIs(t, err, context.Canceled, "CreateTopic")
		require.ErrorIs(t, e.l.DeleteTopic(ctx, "t"), context.Canceled, "DeleteTopic")
		_, err = e.p.Append(ctx, []Record{{Value: []byte("v")}})
		require.ErrorIs(t, err, context.Canceled, "Append")
		require.Equal(t, int64(100), e.p.EndOffset(), "nothing appended")
		_, err = e.p.Read(ctx, 100, 1) // would wait
		require.ErrorIs(t, err, context.Canceled, "Read")
		for _, err := range e.p.Scan(ctx, 0) {
			require.ErrorIs(t, err, context.Canceled, "Scan")
			break
		}
		prod, err := e.l.NewProducer(ProducerConfig{Linger: time.Hour})
		require.NoError(t, err)
		require.ErrorIs(t, prod.ProduceSync(ctx, &Record{Topic: "t"}), context.Canceled, "ProduceSync")
		prod.Produce(context.Background(), &Record{Topic: "t"}, nil) // lingers
		require.ErrorIs(t, prod.Flush(ctx), context.Canceled, "Flush with a record to wait for")
		require.NoError(t, prod.Close())
		c := newTestConsumer(t, e.l, ConsumerConfig{Group: "g", Topics: []string{"t"}})
		_, err = c.Poll(ctx)
		require.ErrorIs(t, err, context.Canceled, "Poll")
		require.ErrorIs(t, c.Commit(ctx), context.Canceled, "Commit")
		_, err = c.Committed(ctx)
		require.ErrorIs(t, err, context.Canceled, "Committed")
		_, err = e.p.DeleteRecords(ctx, 1)
		require.ErrorIs(t, err, context.Canceled, "DeleteRecords")
		require.Equal(t, int64(0), e.p.StartOffset(), "nothing deleted")
	}},
	{"any call", "closed Log, Producer or Consumer", func(t *testing.T, e *badInputEnv) {
		// Every such call: TestEveryCallAfterCloseReturnsErrClosed.
		require.NoError(t, e.l.Close())
		_, err := e.p.Append(context.Background(), []Record{{Value: []byte("v")}})
		require.ErrorIs(t, err, ErrClosed)
	}},
	{"Cursor.Next", "Log closed meanwhile", func(t *testing.T, e *badInputEnv) {
		c := e.p.Cursor(context.Background(), 0)
		require.True(t, c.Next())
		require.NoError(t, e.l.Close())
		for c.Next() {
		}
		require.ErrorIs(t, c.Err(), ErrClosed)
	}},
	{"Append", "Close concurrently", func(t *testing.T, e *badInputEnv) {
		var wg sync.WaitGroup
		acked := make([]int64, 4)
		for w := range acked {
			acked[w] = -1
			wg.Go(func() {
				for {
					res, err := e.p.Append(context.Background(), []Record{{Value: []byte("v")}})
					if err != nil {
						require.ErrorIs(t, err, ErrClosed)
						return
					}
					acked[w] = max(acked[w], res.LastOffset)
				}
			})
		}
		waitForEnd(t, e.p, 200)
		require.NoError(t, e.l.Close())
		wg.Wait()
		l := openTest(t, e.mem, nil)
		end := mustPartition(t, l, "t", 0).EndOffset()
		for _, a := range acked {
			require.Less(t, a, end, "an acknowledged append was lost")
		}
	}},
	{"Poll", "Close concurrently", func(t *testing.T, e *badInputEnv) {
		c, err := e.l.NewConsumer(ConsumerConfig{Partitions: []TopicPartition{{"t", 0}}, AutoOffsetReset: ResetLatest})
		require.NoError(t, err)
		polled := make(chan error, 1)
		go func() {
			_, err := c.Poll(context.Background())
			polled <- err
		}()
		require.NoError(t, c.Close())
		require.ErrorIs(t, <-polled, ErrClosed)
	}},
	{"Produce", "Close concurrently", func(t *testing.T, e *badInputEnv) {
		prod, err := e.l.NewProducer(ProducerConfig{})
		require.NoError(t, err)
		var mu sync.Mutex
		results := map[string]error{}
		var wg sync.WaitGroup
		wg.Go(func() {
			for i := 0; ; i++ {
				v := strings.Repeat("v", 10) + string(rune('a'+i%26)) + strings.Repeat("x", i%7)
				r := &Record{Topic: "t", Partition: 1, Value: []byte(v)}
				done := make(chan error, 1)
				prod.Produce(context.Background(), r, func(_ *Record, err error) { done <- err })
				err := <-done
				mu.Lock()
				results[v] = err
				mu.Unlock()
				if err != nil {
					require.ErrorIs(t, err, ErrClosed)
					return
				}
			}
		})
		waitForEnd(t, mustPartition(t, e.l, "t", 1), 150)
		require.NoError(t, prod.Close())
		wg.Wait()
	}},
}

// waitForEnd waits until p's end offset reaches end, through its high
// watermark channel.
func waitForEnd(t *testing.T, p *Partition, end int64) {
	t.Helper()
	_, err := p.waitAbove(context.Background(), end-1)
	require.NoError(t, err)
}

// promised produces r with a fresh producer and returns what its promise
// reports.
func promised(e *badInputEnv, r *Record) error {
	prod, err := e.l.NewProducer(ProducerConfig{})
	if err != nil {
		return err
	}
	defer prod.Close()
	done := make(chan error, 1)
	prod.Produce(context.Background(), r, func(_ *Record, err error) { done <- err })
	return <-done
}

// The bad-input table of the package documentation, row by row: each row
// of doc.go's table is a test here, and each test a row there.
func TestBadInputTable(t *testing.T) {
	doc, err := os.ReadFile("doc.go")
	require.NoError(t, err)
	text := string(doc)
	start := strings.Index(text, "//\tcall ")
	require.Positive(t, start, "the table in doc.go")
	rowRE := regexp.MustCompile(`^//\t(\S+(?: call)?)\s{2,}(.+?)\s{2,}(\S.*)$`)
	var documented []string
	for _, line := range strings.Split(text[start:], "\n")[1:] {
		if !strings.HasPrefix(line, "//\t") {
			break
		}
		m := rowRE.FindStringSubmatch(line)
		require.NotNil(t, m, "malformed table row %q", line)
		documented = append(documented, m[1]+": "+m[2])
	}
	var tested []string
	for _, row := range badInputRows {
		tested = append(tested, row.call+": "+row.misuse)
	}
	require.Equal(t, documented, tested, "doc.go's bad-input table and badInputRows must list the same rows in the same order")
	for _, row := range badInputRows {
		t.Run(row.call+": "+row.misuse, func(t *testing.T) {
			row.run(t, newBadInputEnv(t))
		})
	}
}
