package produce

import (
	"sync"
	"testing"
	"time"

	"github.com/commitlog-go/commitlog/internal/record"
	"github.com/stretchr/testify/require"
)

// rec is the record type the tests instantiate the engine with.
type rec struct {
	key    string
	value  []byte
	offset int64
	err    error
}

func encodeRec(b *record.Builder, r *rec, hs []record.RecordHeader) []record.RecordHeader {
	b.Append(1000, []byte(r.key), r.value, hs)
	return hs
}

func reportRec(recs []Entry[*rec], res Result, err error) {
	for i, e := range recs {
		if err == nil {
			e.Record.offset = res.Base + int64(i)
		} else {
			e.Record.offset = -1
		}
		e.Record.err = err
		e.Promise(e.Record, err)
	}
}

// clock is a manual clock whose timers fire, on the goroutine of Advance,
// when it passes their time.
type clock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*fakeTimer
}

type fakeTimer struct {
	c     *clock
	at    time.Time
	f     func()
	state int // 0 pending, 1 fired, 2 stopped
}

func newClock() *clock { return &clock{now: time.Unix(1_700_000_000, 0)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) AfterFunc(d time.Duration, f func()) Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &fakeTimer{c: c, at: c.now.Add(d), f: f}
	c.timers = append(c.timers, t)
	return t
}

func (t *fakeTimer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	if t.state != 0 {
		return false
	}
	t.state = 2
	return true
}

// pending returns the number of timers neither fired nor stopped.
func (c *clock) pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, t := range c.timers {
		if t.state == 0 {
			n++
		}
	}
	return n
}

// Advance moves the clock by d and runs the timers due, one after the
// other, outside the clock's mutex.
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	var due []*fakeTimer
	for _, t := range c.timers {
		if t.state == 0 && !t.at.After(c.now) {
			t.state = 1
			due = append(due, t)
		}
	}
	c.mu.Unlock()
	for _, t := range due {
		t.f()
	}
}

// sentBatch is what a sink saw of one Send.
type sentBatch struct {
	records  int
	baseSeq  int32
	producer int64
	epoch    int16
}

// sink stores batches at consecutive offsets. With gate set, Send first
// announces itself on entered and then waits for a value on gate; with
// fail set, it fails instead of storing.
type sink struct {
	mu      sync.Mutex
	next    int64
	batches []sentBatch
	sent    []Result // the results Sent was called with
	fail    error
	entered chan struct{}
	gate    chan struct{}
	sentCh  chan Result // if non-nil, gets every Sent result too
	// pending, when set, makes Send return an Ack for each of the first
	// pipelined batches stored (every one when pipelined is 0): Send
	// announces the batch on pending, and its Ack waits for the answer
	// the test sends (see pendingAck).
	pending   chan pendingAck
	pipelined int
	acked     int // Acks returned so far
}

// pendingAck is a batch a pipelining sink stored, awaiting its
// acknowledgement: the Ack closes called when the engine calls it, and
// returns what the test sends on answer.
type pendingAck struct {
	res    Result
	answer chan error
	called chan struct{}
}

// wasCalled reports whether the engine has called the batch's Ack.
func (pa pendingAck) wasCalled() bool {
	select {
	case <-pa.called:
		return true
	default:
		return false
	}
}

// ack returns the Ack of the stored batch res: nil unless s pipelines it.
// REQUIRES: s.mu.
func (s *sink) ack(res Result) Ack {
	if s.pending == nil || (s.pipelined > 0 && s.acked >= s.pipelined) {
		return nil
	}
	s.acked++
	pa := pendingAck{res: res, answer: make(chan error, 1), called: make(chan struct{})}
	s.pending <- pa
	return func() error {
		close(pa.called)
		return <-pa.answer
	}
}

func (s *sink) Send(b *record.Builder) (Result, Ack, error) {
	if s.gate != nil {
		s.entered <- struct{}{}
		<-s.gate
	}
	out, err := b.Build()
	if err != nil {
		return Result{Base: -1}, nil, err
	}
	h, err := record.ParseHeader(out, len(out))
	if err != nil {
		return Result{Base: -1}, nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		return Result{Base: -1}, nil, s.fail
	}
	s.batches = append(s.batches, sentBatch{records: int(h.RecordCount), baseSeq: h.BaseSequence, producer: h.ProducerID, epoch: h.ProducerEpoch})
	res := Result{Base: s.next, Last: s.next + int64(h.RecordCount) - 1}
	s.next = res.Last + 1
	return res, s.ack(res), nil
}

func (s *sink) Sent(res Result) {
	s.mu.Lock()
	s.sent = append(s.sent, res)
	s.mu.Unlock()
	if s.sentCh != nil {
		s.sentCh <- res
	}
}

func (s *sink) sizes() []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	var n []int
	for _, b := range s.batches {
		n = append(n, b.records)
	}
	return n
}

func gatedSink() *sink {
	return &sink{entered: make(chan struct{}, 100), gate: make(chan struct{}, 100)}
}

var plainBuild = record.BuildOptions{ProducerID: record.NoProducerID, ProducerEpoch: record.NoEpoch, BaseSequence: record.NoSequence}

// newEngine returns an engine on clock c with large limits unless cfg sets
// them, closed at the end of the test.
func newEngine(t *testing.T, c *clock, cfg Config[*rec]) *Engine[*rec] {
	t.Helper()
	if cfg.MaxBufferedBytes == 0 {
		cfg.MaxBufferedBytes = 1 << 20
	}
	if cfg.MaxBufferedRecords == 0 {
		cfg.MaxBufferedRecords = 1 << 20
	}
	if c != nil {
		cfg.Now, cfg.AfterFunc = c.Now, c.AfterFunc
	}
	cfg.Encode = encodeRec
	if cfg.Report == nil {
		cfg.Report = reportRec
	}
	e := New(cfg)
	t.Cleanup(e.Close)
	return e
}

// collector counts promise calls and remembers their records in call
// order; its promise runs on the completer, serially.
type collector struct {
	mu   sync.Mutex
	got  []*rec
	done chan *rec // if non-nil, gets every record too
}

func (c *collector) promise(r *rec, _ error) {
	c.mu.Lock()
	c.got = append(c.got, r)
	c.mu.Unlock()
	if c.done != nil {
		c.done <- r
	}
}

func (c *collector) records() []*rec {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*rec(nil), c.got...)
}

// produce reserves and adds r the way an owner does.
func produce(t *testing.T, e *Engine[*rec], p *Partition[*rec], r *rec, promise func(*rec, error)) {
	t.Helper()
	size := int64(len(r.key) + len(r.value) + 40)
	require.NoError(t, e.Reserve(t.Context(), size, false))
	require.True(t, p.Add(r, promise, size))
}

// drain returns once the completer has worked through everything queued
// before the call: a failed record queued now is reported after it.
func drain(e *Engine[*rec]) {
	done := make(chan struct{})
	e.Fail(nil, func(*rec, error) { close(done) }, nil)
	<-done
}
