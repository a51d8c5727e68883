package commitlog

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/commitlog-go/commitlog/internal/vfs"
	"github.com/stretchr/testify/require"
)

// Regression: calls on closed objects used to hang (Consumer.Poll after
// its Log closed waited for its context), return data (reads after the
// Log's Close, a Cursor made after it), end like the end of the data (a
// Cursor over a closed Log: Next false, Err nil), return nil
// (Consumer.Committed after the Consumer's Close, Producer.Flush after the
// Producer's) or a wrong error (ResetGroupOffsets: ErrUnknownGroup). Every
// call that returns an error returns ErrClosed once its object, or the Log
// it belongs to, is closed; a second Close is a no-op.
func TestEveryCallAfterCloseReturnsErrClosed(t *testing.T) {
	ctx := context.Background()
	l, err := Open(testDir, testOptions(vfs.NewMem()))
	require.NoError(t, err)
	tps := groupTopic(t, l, 2)
	tp, err := l.Topic("t")
	require.NoError(t, err)
	p, _ := tp.Partition(0)
	prod, err := l.NewProducer(ProducerConfig{})
	require.NoError(t, err)
	member, err := l.NewConsumer(ConsumerConfig{Group: "g", Topics: []string{"t"}})
	require.NoError(t, err)
	recs, err := member.Poll(ctx)
	require.NoError(t, err)
	require.NotEmpty(t, recs)
	manual, err := l.NewConsumer(ConsumerConfig{Group: "m", Partitions: tps})
	require.NoError(t, err)
	cursor := p.Cursor(ctx, 0)
	require.True(t, cursor.Next())

	// A Poll waiting when the Log closes returns at once.
	waiting, err := l.NewConsumer(ConsumerConfig{Partitions: []TopicPartition{{"t", 1}}, AutoOffsetReset: ResetLatest})
	require.NoError(t, err)
	polled := make(chan error, 1)
	go func() {
		_, err := waiting.Poll(ctx)
		polled <- err
	}()
	require.NoError(t, l.Close())
	require.ErrorIs(t, <-polled, ErrClosed, "a Poll waiting when the Log closed")
	require.NoError(t, l.Close(), "a second Close is a no-op")

	errs := map[string]error{}
	call := func(name string, err error) { errs[name] = err }
	_, err = l.CreateTopic(ctx, "x", TopicConfig{})
	call("Log.CreateTopic", err)
	_, err = l.Topic("t")
	call("Log.Topic", err)
	call("Log.DeleteTopic", l.DeleteTopic(ctx, "t"))
	call("Log.Check", l.Check(ctx))
	call("Log.Compact", l.Compact(ctx))
	call("Log.EnforceRetention", l.EnforceRetention(ctx))
	call("Log.EnforceRetention(t)", l.EnforceRetention(ctx, "t"))
	_, err = l.NewProducer(ProducerConfig{})
	call("Log.NewProducer", err)
	_, err = l.NewConsumer(ConsumerConfig{Partitions: tps})
	call("Log.NewConsumer", err)
	_, err = l.DescribeGroup("g")
	call("Log.DescribeGroup", err)
	_, err = l.ResetGroupOffsets(ctx, "m", EarliestOffset())
	call("Log.ResetGroupOffsets", err)
	call("Log.DeleteGroup", l.DeleteGroup(ctx, "m"))

	_, err = p.Append(ctx, []Record{{Value: []byte("x")}})
	call("Partition.Append", err)
	_, err = p.AppendIf(ctx, p.EndOffset(), []Record{{Value: []byte("x")}})
	call("Partition.AppendIf", err)
	_, err = p.Read(ctx, 0, 1<<20)
	call("Partition.Read", err)
	for _, err := range p.Scan(ctx, 0) {
		call("Partition.Scan", err)
		if err != nil {
			break
		}
	}
	for _, err := range p.Follow(ctx, 0) {
		call("Partition.Follow", err)
		if err != nil {
			break
		}
	}
	_, err = p.OffsetForTime(time.UnixMilli(0))
	call("Partition.OffsetForTime", err)
	_, err = p.DeleteRecords(ctx, 1)
	call("Partition.DeleteRecords", err)
	late := p.Cursor(ctx, 0)
	require.False(t, late.Next(), "a Cursor made after Close yields nothing")
	call("Cursor made after Close", late.Err())
	for cursor.Next() {
	}
	call("Cursor open across Close", cursor.Err())

	call("Producer.Produce (Log closed)", produceErr(ctx, prod))
	call("Producer.ProduceSync (Log closed)", prod.ProduceSync(ctx, &Record{Topic: "t", Value: []byte("x")}))
	_, err = member.Poll(ctx)
	call("Consumer.Poll (Log closed)", err)
	call("Consumer.Commit (Log closed)", member.Commit(ctx))
	call("Consumer.CommitRecords (Log closed)", member.CommitRecords(ctx, recs...))
	_, err = manual.Committed(ctx, tps...)
	call("Consumer.Committed (Log closed)", err)
	for name, err := range errs {
		if !errors.Is(err, ErrClosed) {
			t.Errorf("%s after the Log's Close: %v, want ErrClosed", name, err)
		}
	}

	// The objects' own Close.
	errs = map[string]error{}
	require.NoError(t, prod.Close())
	require.NoError(t, prod.Close(), "a second Close is a no-op")
	call("Producer.Produce", produceErr(ctx, prod))
	call("Producer.TryProduce", tryProduceErr(ctx, prod))
	call("Producer.ProduceSync", prod.ProduceSync(ctx, &Record{Topic: "t", Value: []byte("x")}))
	call("Producer.Flush", prod.Flush(ctx))
	for _, c := range []*Consumer{member, manual, waiting} {
		c.Close()
		require.NoError(t, c.Close(), "a second Close is a no-op")
	}
	_, err = manual.Poll(ctx)
	call("Consumer.Poll", err)
	for _, err := range manual.Records(ctx) {
		call("Consumer.Records", err)
		break
	}
	call("Consumer.Commit", manual.Commit(ctx))
	call("Consumer.CommitOffsets", manual.CommitOffsets(ctx, map[TopicPartition]int64{tps[0]: 1}))
	call("Consumer.CommitRecords", manual.CommitRecords(ctx, recs...))
	_, err = manual.Committed(ctx, tps...)
	call("Consumer.Committed", err)
	call("Consumer.Seek", manual.Seek(tps[0], 0))
	call("Consumer.SeekToTime", manual.SeekToTime(tps[0], time.UnixMilli(0)))
	_, err = manual.Position(tps[0])
	call("Consumer.Position", err)
	call("Consumer.Pause", manual.Pause(tps[0]))
	call("Consumer.Resume", manual.Resume(tps[0]))
	call("Consumer.ProcessPartitions", manual.ProcessPartitions(ctx, func(context.Context, TopicPartition, []Record) error { return nil }))
	for name, err := range errs {
		if !errors.Is(err, ErrClosed) {
			t.Errorf("%s after its own Close: %v, want ErrClosed", name, err)
		}
	}
}

// produceErr returns what Produce reports for one record.
func produceErr(ctx context.Context, p *Producer) error {
	done := make(chan error, 1)
	p.Produce(ctx, &Record{Topic: "t", Value: []byte("x")}, func(_ *Record, err error) { done <- err })
	return <-done
}

func tryProduceErr(ctx context.Context, p *Producer) error {
	done := make(chan error, 1)
	p.TryProduce(ctx, &Record{Topic: "t", Value: []byte("x")}, func(_ *Record, err error) { done <- err })
	return <-done
}
