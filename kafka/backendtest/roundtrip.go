package backendtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/commitlog-go/commitlog"
	"github.com/twmb/franz-go/pkg/kgo"
)

// codecs are every codec records can be compressed with.
var codecs = []commitlog.Codec{commitlog.CodecNone, commitlog.CodecGzip, commitlog.CodecSnappy, commitlog.CodecLZ4, commitlog.CodecZstd}

// testRoundTrip produces records with keys, headers and timestamps under
// every codec, and reads them back exactly, where the acknowledgements
// said they were.
func testRoundTrip(t *testing.T, b *Backend) {
	for _, codec := range codecs {
		t.Run(codec.String(), func(t *testing.T) {
			ctx := b.ctx(t)
			topic := "rt-" + codec.String()
			b.createTopic(t, topic, 3, commitlog.TopicConfig{})
			p := b.producer(t, commitlog.ProducerConfig{Compression: codec, Partitioner: commitlog.Murmur2Partitioner()})
			ts := time.UnixMilli(1_700_000_000_000)
			var sent []*commitlog.Record
			for i := range 150 {
				r := &commitlog.Record{
					Topic: topic,
					Key:   fmt.Appendf(nil, "key-%d", i%17),
					// Compressible values of some size, so codecs work.
					Value:     bytes.Repeat(fmt.Appendf(nil, "value %d of %s; ", i, codec), 1+i%7),
					Timestamp: ts.Add(time.Duration(i) * time.Millisecond),
				}
				if i%3 == 0 {
					r.Headers = []commitlog.Header{{Key: "h", Value: []byte{byte(i)}}, {Key: "trace", Value: fmt.Appendf(nil, "t%d", i)}}
				}
				sent = append(sent, r)
			}
			if err := p.ProduceSync(ctx, sent...); err != nil {
				t.Fatalf("ProduceSync: %v", err)
			}
			c := b.consumer(t, commitlog.ConsumerConfig{Partitions: allPartitions(topic, 3)})
			got := pollUntil(t, ctx, c, atLeast(len(sent)))
			if len(got) != len(sent) {
				t.Fatalf("read %d records, produced %d", len(got), len(sent))
			}
			requireOrdered(t, got)
			at := map[commitlog.TopicPartition]map[int64]commitlog.Record{}
			for _, r := range got {
				tp := commitlog.TopicPartition{Topic: r.Topic, Partition: r.Partition}
				if at[tp] == nil {
					at[tp] = map[int64]commitlog.Record{}
				}
				at[tp][r.Offset] = r
			}
			for i, s := range sent {
				r, ok := at[commitlog.TopicPartition{Topic: topic, Partition: s.Partition}][s.Offset]
				if !ok {
					t.Fatalf("record %d acknowledged at %s-%d@%d: not read there", i, topic, s.Partition, s.Offset)
				}
				if !r.Equal(s) {
					t.Fatalf("record %d: read %+v, produced %+v", i, r, *s)
				}
			}
		})
	}
}

// testKeyPlacement checks that keys land where Kafka's producers put
// them: the partition franz-go's own murmur2 partitioner chooses.
func testKeyPlacement(t *testing.T, b *Backend) {
	const n = 7
	kafka := kgo.StickyKeyPartitioner(nil).ForTopic("keys")
	want := func(key []byte) int32 { return int32(kafka.Partition(&kgo.Record{Key: key}, n)) }
	cases := []struct {
		name string
		part commitlog.Partitioner
	}{{"Murmur2Partitioner", commitlog.Murmur2Partitioner()}}
	if b.Murmur2Default {
		cases = append(cases, struct {
			name string
			part commitlog.Partitioner
		}{"default", nil})
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx := b.ctx(t)
			topic := "keys-" + c.name
			b.createTopic(t, topic, n, commitlog.TopicConfig{})
			p := b.producer(t, commitlog.ProducerConfig{Partitioner: c.part})
			recs := produceValues(t, ctx, p, topic, names("v", 300), func(i int) []byte {
				if i == 0 {
					return []byte{} // an empty key is a key
				}
				return fmt.Appendf(nil, "customer-%d", i*7919)
			})
			for _, r := range recs {
				if w := want(r.Key); r.Partition != w {
					t.Fatalf("key %q went to partition %d; Kafka puts it in %d", r.Key, r.Partition, w)
				}
			}
		})
	}
}

// testProduceErrors checks the errors a program can act on, matched
// with errors.Is as on every backend.
func testProduceErrors(t *testing.T, b *Backend) {
	ctx := b.ctx(t)
	b.createTopic(t, "pe", 2, commitlog.TopicConfig{})
	p := b.producer(t, commitlog.ProducerConfig{Partitioner: commitlog.ManualPartitioner()})

	err := p.ProduceSync(ctx, &commitlog.Record{Topic: "pe", Partition: 5, Value: []byte("x")})
	if !errors.Is(err, commitlog.ErrUnknownPartition) {
		t.Fatalf("partition 5 of a 2-partition topic: %v, want ErrUnknownPartition", err)
	}
	err = p.ProduceSync(ctx, &commitlog.Record{Topic: "pe", Value: []byte("x"), Headers: []commitlog.Header{{Key: "", Value: nil}}})
	if !errors.Is(err, commitlog.ErrInvalidArgument) {
		t.Fatalf("a header without a key: %v, want ErrInvalidArgument", err)
	}
	done := make(chan error, 1)
	p.Produce(ctx, nil, func(_ *commitlog.Record, err error) { done <- err })
	if err := <-done; !errors.Is(err, commitlog.ErrInvalidArgument) {
		t.Fatalf("a nil record: %v, want ErrInvalidArgument", err)
	}
	r := &commitlog.Record{Topic: "pe", Partition: 1, Value: []byte("ok")}
	if err := p.ProduceSync(ctx, r); err != nil || r.Partition != 1 || r.Offset != 0 {
		t.Fatalf("ProduceSync to pe-1: %v, landed at %d@%d, want 1@0", err, r.Partition, r.Offset)
	}
	// A context that ends once Produce has returned does not fail the
	// record: it bounds only the wait for buffer space. (Lingering keeps
	// the record buffered until Flush.)
	lp := b.producer(t, commitlog.ProducerConfig{Linger: time.Minute})
	cctx, cancel := context.WithCancel(ctx)
	late := make(chan error, 1)
	lp.Produce(cctx, &commitlog.Record{Topic: "pe", Value: []byte("ctx ended")}, func(_ *commitlog.Record, err error) { late <- err })
	cancel()
	if err := lp.Flush(ctx); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	if err := <-late; err != nil {
		t.Fatalf("a record whose context ended after Produce returned: %v", err)
	}
	p.Produce(cctx, &commitlog.Record{Topic: "pe", Value: []byte("x")}, func(_ *commitlog.Record, err error) { late <- err })
	if err := <-late; !errors.Is(err, context.Canceled) {
		t.Fatalf("Produce with an ended context: %v, want its error", err)
	}

	if err := p.Flush(ctx); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	if err := p.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := p.Flush(ctx); !errors.Is(err, commitlog.ErrClosed) {
		t.Fatalf("Flush after Close: %v, want ErrClosed", err)
	}
	err = p.ProduceSync(ctx, &commitlog.Record{Topic: "pe", Value: []byte("late")})
	if !errors.Is(err, commitlog.ErrClosed) {
		t.Fatalf("ProduceSync after Close: %v, want ErrClosed", err)
	}

	if _, err := b.NewConsumer(commitlog.ConsumerConfig{Group: "g", Topics: []string{"no-such-topic"}}); !errors.Is(err, commitlog.ErrUnknownTopic) {
		t.Fatalf("NewConsumer of a missing topic: %v, want ErrUnknownTopic", err)
	}
	if _, err := b.NewConsumer(commitlog.ConsumerConfig{}); !errors.Is(err, commitlog.ErrInvalidConfig) {
		t.Fatalf("NewConsumer of an empty config: %v, want ErrInvalidConfig", err)
	}
	if _, err := b.NewProducer(commitlog.ProducerConfig{Linger: -1}); !errors.Is(err, commitlog.ErrInvalidConfig) {
		t.Fatalf("NewProducer with a negative Linger: %v, want ErrInvalidConfig", err)
	}
}

// testConsumerControls covers Seek, Pause and Resume, Lag and the
// rewinding of Records, on a manually assigned consumer.
func testConsumerControls(t *testing.T, b *Backend) {
	ctx := b.ctx(t)
	const topic = "ctl"
	b.createTopic(t, topic, 2, commitlog.TopicConfig{})
	p := b.producer(t, commitlog.ProducerConfig{Partitioner: commitlog.ManualPartitioner()})
	for part := range int32(2) {
		var recs []*commitlog.Record
		for i := range 20 {
			recs = append(recs, &commitlog.Record{Topic: topic, Partition: part, Value: fmt.Appendf(nil, "p%d-%d", part, i)})
		}
		if err := p.ProduceSync(ctx, recs...); err != nil {
			t.Fatalf("ProduceSync: %v", err)
		}
	}
	tp0, tp1 := commitlog.TopicPartition{Topic: topic, Partition: 0}, commitlog.TopicPartition{Topic: topic, Partition: 1}
	c := b.consumer(t, commitlog.ConsumerConfig{Partitions: []commitlog.TopicPartition{tp0, tp1}, MaxPollRecords: 7})
	if got := c.Assignment(); !slices.Equal(got, []commitlog.TopicPartition{tp0, tp1}) {
		t.Fatalf("Assignment: %v", got)
	}
	if err := c.Pause(tp1); err != nil {
		t.Fatalf("Pause: %v", err)
	}
	if got := c.Paused(); !slices.Equal(got, []commitlog.TopicPartition{tp1}) {
		t.Fatalf("Paused: %v", got)
	}
	got := pollUntil(t, ctx, c, atLeast(20))
	for _, r := range got {
		if r.Partition != 0 {
			t.Fatalf("a record of paused %v: %s", tp1, r.Value)
		}
	}
	if len(got) != 20 {
		t.Fatalf("read %d records of %v, want 20", len(got), tp0)
	}
	for _, r := range got {
		if r.Offset > 19 {
			t.Fatalf("offset %d past the end", r.Offset)
		}
	}
	if lag := c.Lag(); lag[tp0] != 0 {
		t.Fatalf("Lag of %v after reading it all: %d (%v)", tp0, lag[tp0], lag)
	}
	if err := c.Seek(tp0, 15); err != nil {
		t.Fatalf("Seek: %v", err)
	}
	if err := c.Resume(tp1); err != nil {
		t.Fatalf("Resume: %v", err)
	}
	got = pollUntil(t, ctx, c, atLeast(25))
	var p0, p1 []string
	for _, r := range got {
		if r.Partition == 0 {
			p0 = append(p0, string(r.Value))
		} else {
			p1 = append(p1, string(r.Value))
		}
	}
	if want := names("p0", 20)[15:]; !slices.Equal(p0, want) {
		t.Fatalf("after Seek to 15: %v, want %v", p0, want)
	}
	if want := names("p1", 20); !slices.Equal(p1, want) {
		t.Fatalf("after Resume: %v, want %v", p1, want)
	}

	// Records rewinds to the first record not yielded when the loop stops.
	if err := c.Seek(tp0, 0); err != nil {
		t.Fatalf("Seek: %v", err)
	}
	if err := c.Pause(tp1); err != nil {
		t.Fatalf("Pause: %v", err)
	}
	n := 0
	for r, err := range c.Records(ctx) {
		if err != nil {
			t.Fatalf("Records: %v", err)
		}
		if n++; n == 3 {
			if r.Offset != 2 {
				t.Fatalf("third record at %d", r.Offset)
			}
			break
		}
	}
	recs, err := c.Poll(ctx)
	if err != nil || len(recs) == 0 || recs[0].Offset != 3 {
		t.Fatalf("Poll after breaking out of Records at offset 2: %v, %v; want offset 3 first", offsets(recs), err)
	}

	if err := c.Seek(commitlog.TopicPartition{Topic: topic, Partition: 9}, 0); !errors.Is(err, commitlog.ErrInvalidArgument) {
		t.Fatalf("Seek of an unassigned partition: %v", err)
	}
	if err := c.Seek(tp0, -1); !errors.Is(err, commitlog.ErrInvalidArgument) {
		t.Fatalf("Seek to -1: %v", err)
	}
	if err := c.Commit(ctx); !errors.Is(err, commitlog.ErrInvalidArgument) {
		t.Fatalf("Commit without a group: %v", err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if _, err := c.Poll(ctx); !errors.Is(err, commitlog.ErrClosed) {
		t.Fatalf("Poll after Close: %v", err)
	}
}

// testResetNone checks AutoOffsetReset ResetNone: a partition without a
// committed offset is not read, and Poll reports an
// *OffsetOutOfRangeError for it, until a Seek; a partition with one
// starts there.
func testResetNone(t *testing.T, b *Backend) {
	ctx := b.ctx(t)
	const topic = "rn"
	b.createTopic(t, topic, 2, commitlog.TopicConfig{})
	p := b.producer(t, commitlog.ProducerConfig{Partitioner: commitlog.ManualPartitioner()})
	for part := range int32(2) {
		var recs []*commitlog.Record
		for i := range 10 {
			recs = append(recs, &commitlog.Record{Topic: topic, Partition: part, Value: fmt.Appendf(nil, "p%d-%d", part, i)})
		}
		if err := p.ProduceSync(ctx, recs...); err != nil {
			t.Fatalf("ProduceSync: %v", err)
		}
	}
	tps := allPartitions(topic, 2)
	c := b.consumer(t, commitlog.ConsumerConfig{Group: "rn", Partitions: tps[:1]})
	if err := c.CommitOffsets(ctx, map[commitlog.TopicPartition]int64{tps[0]: 6}); err != nil {
		t.Fatalf("CommitOffsets: %v", err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	c = b.consumer(t, commitlog.ConsumerConfig{Group: "rn", Partitions: tps, AutoOffsetReset: commitlog.ResetNone})
	var got []commitlog.Record
	var oor *commitlog.OffsetOutOfRangeError
	for oor == nil {
		recs, err := c.Poll(ctx)
		switch {
		case errors.As(err, &oor):
		case err != nil:
			t.Fatalf("Poll under ResetNone: %v, want an *OffsetOutOfRangeError for %v", err, tps[1])
		}
		got = append(got, recs...)
	}
	if !errors.Is(oor, commitlog.ErrOffsetOutOfRange) || oor.Partition != 1 {
		t.Fatalf("ResetNone error: %+v", oor)
	}
	for _, r := range got {
		if r.Partition != 0 {
			t.Fatalf("read %s of a partition without a committed offset", r.Value)
		}
	}
	if err := c.Seek(tps[1], 8); err != nil {
		t.Fatalf("Seek: %v", err)
	}
	got = append(got, pollUntil(t, ctx, c, func(recs []commitlog.Record) bool { return len(got)+len(recs) >= 4+2 })...)
	want := []string{"p0-6", "p0-7", "p0-8", "p0-9", "p1-8", "p1-9"}
	vals := values(got)
	slices.Sort(vals)
	if !slices.Equal(vals, want) {
		t.Fatalf("under ResetNone, from the commit and the Seek: %v, want %v", vals, want)
	}
}

// testProduceCopies checks that Produce copies the record's bytes: the
// caller may reuse its buffers as soon as Produce returns, even while the
// record waits in a batch.
func testProduceCopies(t *testing.T, b *Backend) {
	ctx := b.ctx(t)
	b.createTopic(t, "cp", 1, commitlog.TopicConfig{})
	p := b.producer(t, commitlog.ProducerConfig{Linger: time.Minute})
	key, val, hv := []byte("key-1"), []byte("value-1"), []byte("header-1")
	errs := make(chan error, 1)
	p.Produce(ctx, &commitlog.Record{Topic: "cp", Key: key, Value: val, Headers: []commitlog.Header{{Key: "h", Value: hv}}},
		func(_ *commitlog.Record, err error) { errs <- err })
	copy(key, "XXXXX")
	copy(val, "XXXXXXX")
	copy(hv, "XXXXXXXX")
	if err := p.Flush(ctx); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	if err := <-errs; err != nil {
		t.Fatalf("Produce: %v", err)
	}
	c := b.consumer(t, commitlog.ConsumerConfig{Partitions: allPartitions("cp", 1)})
	got := pollUntil(t, ctx, c, atLeast(1))
	if r := got[0]; string(r.Key) != "key-1" || string(r.Value) != "value-1" || string(r.Headers[0].Value) != "header-1" {
		t.Fatalf("read %q %q %q: the buffers were not copied before Produce returned", r.Key, r.Value, r.Headers[0].Value)
	}
}
