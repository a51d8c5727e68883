package kafka

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/commitlog-go/commitlog"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Producer sends records to a Kafka cluster with the contract of
// commitlog.Producer, configured by the same commitlog.ProducerConfig: a
// program holding a commitlog.ProducerClient uses either the same way.
// See the package documentation for how each ProducerConfig field maps to
// kgo and what differs from a Log's producer (what an acknowledgement
// means, retries).
//
// Promises are called one at a time from a goroutine of the client, for
// the records of one partition in the order they were produced, as a
// Log's producer calls them. Produce copies the record's Key, Value and
// Headers before it returns, so the caller may reuse those buffers at
// once; the *Record itself is the Producer's until its promise is called.
//
// A Producer is safe for concurrent use. Close it when done.
type Producer struct {
	cl           *kgo.Client
	closeTimeout time.Duration // Config.DeliveryTimeout
	closed       atomic.Bool

	// The client's buffer limits, and what this Producer has handed it
	// and not had a promise for yet (which is at least what the client
	// counts as buffered): under the limits, Produce cannot wait for
	// space, so it needs no context that may end during the wait.
	maxRecords, maxBytes int64
	inRecords, inBytes   atomic.Int64
}

var _ commitlog.ProducerClient = (*Producer)(nil)

// NewProducer returns a Producer for the cluster kc names, configured by
// cfg. It fails with a *commitlog.ConfigError (matching
// commitlog.ErrInvalidConfig) listing every problem: those
// cfg.Validate finds, those of kc, and settings Kafka cannot honour —
// idempotence with Acks other than commitlog.AckAll (Kafka's idempotent
// producer needs acks=all: set DisableIdempotence too). It does not wait
// for the cluster: a broker that cannot be reached shows in the
// promises.
func NewProducer(kc Config, cfg commitlog.ProducerConfig) (*Producer, error) {
	opts, err := producerOpts(&kc, &cfg)
	if err != nil {
		return nil, err
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, configError([]string{"kgo: " + err.Error()})
	}
	timeout := kc.DeliveryTimeout
	if timeout == 0 {
		timeout = defaultDeliveryTimeout
	}
	p := &Producer{cl: cl, closeTimeout: timeout, maxRecords: 1_000_000, maxBytes: 64 << 20}
	if v, ok := cl.OptValue(kgo.MaxBufferedRecords).(int); ok {
		p.maxRecords = int64(v)
	}
	if v, ok := cl.OptValue(kgo.MaxBufferedBytes).(int); ok && v > 0 {
		p.maxBytes = int64(v)
	}
	return p, nil
}

// producerOpts maps cfg and kc to kgo options.
func producerOpts(kc *Config, cfg *commitlog.ProducerConfig) ([]kgo.Opt, error) {
	var p []string
	var ce *commitlog.ConfigError
	if err := cfg.Validate(); errors.As(err, &ce) {
		p = append(p, ce.Problems...)
	}
	p = append(p, kc.problems()...)
	if !cfg.DisableIdempotence && cfg.Acks != commitlog.AckAll {
		p = append(p, fmt.Sprintf("Acks: %v with idempotence: Kafka's idempotent producer needs acks=all (AckAll); set DisableIdempotence to use %v", cfg.Acks, cfg.Acks))
	}
	if err := configError(p); err != nil {
		return nil, err
	}
	opts := kc.clientOpts()
	opts = append(opts,
		kgo.RecordPartitioner(partitioner(cfg.Partitioner)),
		kgo.ProducerLinger(cfg.Linger),
		kgo.MaxBufferedRecords(orDefault(cfg.MaxBufferedRecords, 1_000_000)),
		kgo.MaxBufferedBytes(int(orDefault(cfg.MaxBufferedBytes, 64<<20))),
		kgo.ProducerBatchCompression(codec(cfg.Compression, cfg.CompressionLevel)),
	)
	if cfg.BatchBytes > 0 {
		opts = append(opts, kgo.ProducerBatchMaxBytes(cfg.BatchBytes))
	}
	switch cfg.Acks {
	case commitlog.AckAll:
		opts = append(opts, kgo.RequiredAcks(kgo.AllISRAcks()))
	case commitlog.AckLeader:
		opts = append(opts, kgo.RequiredAcks(kgo.LeaderAck()))
	case commitlog.AckNone:
		opts = append(opts, kgo.RequiredAcks(kgo.NoAck()))
	}
	if cfg.DisableIdempotence {
		// Without sequence numbers, only one request in flight per broker
		// keeps a partition's order across retries; a MaxInFlight set
		// explicitly is taken as the caller's choice.
		opts = append(opts, kgo.DisableIdempotentWrite(), kgo.MaxProduceRequestsInflightPerBroker(orDefault(cfg.MaxInFlight, 1)))
	}
	return append(opts, kc.Options...), nil
}

func orDefault[T int | int64 | int32](v, def T) T {
	if v == 0 {
		return def
	}
	return v
}

// codec returns the kgo codec for c at level (0: the codec's default).
func codec(c commitlog.Codec, level int) kgo.CompressionCodec {
	var k kgo.CompressionCodec
	switch c {
	case commitlog.CodecGzip:
		k = kgo.GzipCompression()
	case commitlog.CodecSnappy:
		k = kgo.SnappyCompression()
	case commitlog.CodecLZ4:
		k = kgo.Lz4Compression()
	case commitlog.CodecZstd:
		k = kgo.ZstdCompression()
	default:
		return kgo.NoCompression()
	}
	if level != 0 {
		k = k.WithLevel(level)
	}
	return k
}

// Produce sends r and returns; promise (which may be nil) is called once
// r is acknowledged as ProducerConfig.Acks says, or has failed, with r's
// Partition, Offset (-1 on failure) and Timestamp filled in. It blocks
// only while the buffer is full (MaxBufferedBytes, MaxBufferedRecords);
// if ctx ends first, promise gets ctx's error. Once Produce has returned,
// ctx ending no longer fails the record, as on a Log. See
// commitlog.Producer for the contract, and Producer for what differs.
//
// Errors passed to promise match the commitlog sentinels for the same
// meaning (see Error): commitlog.ErrUnknownTopic, ErrUnknownPartition (a
// partitioner's choice out of range), ErrRecordTooLarge,
// ErrInvalidArgument (a nil record; a keyless record on a compacted
// topic), ErrNotEnoughReplicas, ErrClosed, and Kafka's errors with no
// counterpart, such as kgo.ErrRecordRetries.
func (p *Producer) Produce(ctx context.Context, r *commitlog.Record, promise func(*commitlog.Record, error)) {
	p.produce(ctx, r, promise, true)
}

// TryProduce is Produce, except that when the buffer is full it does not
// wait: promise gets an error matching commitlog.ErrMaxBuffered at once.
func (p *Producer) TryProduce(ctx context.Context, r *commitlog.Record, promise func(*commitlog.Record, error)) {
	p.produce(ctx, r, promise, false)
}

func (p *Producer) produce(ctx context.Context, r *commitlog.Record, promise func(*commitlog.Record, error), wait bool) {
	if promise == nil {
		promise = func(*commitlog.Record, error) {}
	}
	if r == nil {
		promise(nil, fmt.Errorf("%w: Produce: nil record", commitlog.ErrInvalidArgument))
		return
	}
	fail := func(err error) {
		r.Offset = -1
		promise(r, err)
	}
	if err := ctx.Err(); err != nil {
		fail(err)
		return
	}
	if p.closed.Load() {
		fail(commitlog.ErrClosed)
		return
	}
	if r.Topic == "" {
		fail(fmt.Errorf("%w: Produce: a record without a Topic", commitlog.ErrInvalidArgument))
		return
	}
	for _, h := range r.Headers {
		if h.Key == "" {
			fail(fmt.Errorf("%w: a record for %s has a header with an empty key", commitlog.ErrInvalidArgument, r.Topic))
			return
		}
	}
	if !r.Timestamp.IsZero() && r.Timestamp.Unix() < 0 {
		fail(&commitlog.TimestampError{Topic: r.Topic, Partition: r.Partition, Index: -1, Timestamp: r.Timestamp, Reason: "is before 1970"})
		return
	}
	pr := copyRecord(r)
	pr.p, pr.r, pr.promise = p, r, promise
	pr.size = int64(len(pr.kr.Key) + len(pr.kr.Value))
	for _, h := range pr.kr.Headers {
		pr.size += int64(len(h.Key) + len(h.Value))
	}
	// kgo keeps the context of a buffered record and fails the record if
	// it ends before the record is sent; a Log's producer uses ctx only
	// to bound the wait for buffer space. So kgo gets a context that ends
	// only if ctx ends during that wait (Produce returns once the record
	// is buffered) — and, when the buffer has room (TryProduce never
	// waits), one that does not end at all.
	n, b := p.inRecords.Add(1), p.inBytes.Add(pr.size)
	if ctx.Done() == nil || !wait || n <= p.maxRecords && b <= p.maxBytes {
		// The client counts a record as buffered until just after its
		// promise, where inRecords drops just before: at most the one
		// record whose promise runs, for a moment, which a Produce here
		// may wait out without ctx.
		p.produceWith(context.WithoutCancel(ctx), &pr.kr, pr.done, wait)
		return
	}
	wctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	pr.cancel = cancel
	stop := context.AfterFunc(ctx, cancel)
	p.produceWith(wctx, &pr.kr, pr.done, wait)
	stop()
}

// done is the kgo promise of a produced record.
func (pr *produced) done(kr *kgo.Record, err error) {
	if pr.cancel != nil {
		pr.cancel()
	}
	pr.p.inRecords.Add(-1)
	pr.p.inBytes.Add(-pr.size)
	r := pr.r
	r.Partition = kr.Partition
	if err != nil {
		r.Offset = -1
		pr.promise(r, produceErr(r, err))
		return
	}
	r.Offset, r.Timestamp = kr.Offset, kr.Timestamp
	pr.promise(r, nil)
}

func (p *Producer) produceWith(ctx context.Context, kr *kgo.Record, done func(*kgo.Record, error), wait bool) {
	if wait {
		p.cl.Produce(ctx, kr, done)
	} else {
		p.cl.TryProduce(ctx, kr, done)
	}
}

// copyRecord returns r as a kgo record whose key, value and header values
// are copies, in one allocation: the caller may reuse r's buffers once
// Produce returns, as with a Log's producer, while kgo keeps the record
// until it is acknowledged. Nil stays nil (Kafka's null).
func copyRecord(r *commitlog.Record) *produced {
	n := len(r.Key) + len(r.Value)
	for _, h := range r.Headers {
		n += len(h.Value)
	}
	buf := make([]byte, 0, n)
	cp := func(b []byte) []byte {
		if b == nil {
			return nil
		}
		buf = append(buf, b...)
		return buf[len(buf)-len(b) : len(buf) : len(buf)]
	}
	pr := &produced{}
	pr.kr = kgo.Record{Topic: r.Topic, Partition: r.Partition, Key: cp(r.Key), Value: cp(r.Value), Timestamp: r.Timestamp}
	if len(r.Headers) > 0 {
		if len(r.Headers) <= len(pr.hdrs) {
			pr.kr.Headers = pr.hdrs[:len(r.Headers):len(r.Headers)]
		} else {
			pr.kr.Headers = make([]kgo.RecordHeader, len(r.Headers))
		}
		for i, h := range r.Headers {
			pr.kr.Headers[i] = kgo.RecordHeader{Key: h.Key, Value: cp(h.Value)}
		}
	}
	return pr
}

// produced is a record handed to kgo, with what its promise needs, in
// one allocation.
type produced struct {
	kr      kgo.Record
	hdrs    [4]kgo.RecordHeader // kr.Headers when it has this many or fewer
	p       *Producer
	r       *commitlog.Record
	promise func(*commitlog.Record, error)
	cancel  context.CancelFunc // of the context kgo was given; nil if none
	size    int64              // kr's size as kgo counts it against MaxBufferedBytes
}

// produceErr maps the error of a produced record.
func produceErr(r *commitlog.Record, err error) error {
	op := fmt.Sprintf("produce to %s-%d", r.Topic, r.Partition)
	// kgo reports a partitioner's choice out of range as a plain error:
	// the Log's producer calls it ErrUnknownPartition.
	if strings.HasPrefix(err.Error(), "invalid record partitioning choice") {
		return &Error{Op: "produce to " + r.Topic, Mapped: commitlog.ErrUnknownPartition, Kafka: err}
	}
	return mapErr(op, err)
}

// ProduceSync produces recs and waits until every one is acknowledged or
// has failed; the error joins those of the failed records, each naming
// the record's index in recs. If ctx ends first it returns its error at
// once, and records already buffered may still be sent (Flush waits for
// them). As commitlog.Producer.ProduceSync.
func (p *Producer) ProduceSync(ctx context.Context, recs ...*commitlog.Record) error {
	if len(recs) == 0 {
		return nil
	}
	type outcome struct {
		i   int
		err error
	}
	results := make(chan outcome, len(recs))
	for i, r := range recs {
		p.Produce(ctx, r, func(_ *commitlog.Record, err error) { results <- outcome{i, err} })
	}
	errs := make([]error, len(recs))
	for range recs {
		select {
		case o := <-results:
			if o.err != nil {
				errs[o.i] = fmt.Errorf("record %d: %w", o.i, o.err)
			}
		case <-ctx.Done():
			return fmt.Errorf("ProduceSync: %w; records already buffered may still be sent", ctx.Err())
		}
	}
	return errors.Join(errs...)
}

// Flush sends every buffered record now, lingering or not, and waits
// until every record produced before the call has had its promise
// called, or ctx ends (its error). Errors: commitlog.ErrClosed once Close
// has started, the context's error.
func (p *Producer) Flush(ctx context.Context) error {
	if p.closed.Load() {
		return commitlog.ErrClosed
	}
	return p.cl.Flush(ctx)
}

// Close sends every buffered record, waits for their promises for at
// most Config.DeliveryTimeout (then the promises of the records not
// acknowledged get commitlog.ErrClosed), and closes the client. Records
// produced after Close has started get commitlog.ErrClosed. Close is
// idempotent; later calls return nil. It returns an error only when it
// had to give up waiting.
func (p *Producer) Close() error {
	if p.closed.Swap(true) {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), p.closeTimeout)
	defer cancel()
	err := p.cl.Flush(ctx)
	p.cl.Close()
	if err != nil {
		return fmt.Errorf("commitlog: kafka: close producer: records not acknowledged within %v failed: %w", p.closeTimeout, err)
	}
	return nil
}

// As fills a **kgo.Client with the Producer's client, and reports whether
// target was one: the escape hatch to what commitlog's interface does not
// cover (transactions, metrics).
func (p *Producer) As(target any) bool {
	if t, ok := target.(**kgo.Client); ok {
		*t = p.cl
		return true
	}
	return false
}
