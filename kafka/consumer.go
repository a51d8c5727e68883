package kafka

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/commitlog-go/commitlog"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Consumer reads records from a Kafka cluster with the contract of
// commitlog.Consumer, configured by the same commitlog.ConsumerConfig: a
// group member (Group and Topics) shares the topics' partitions with the
// group's other members, Kafka clients of any language included; a
// manually assigned consumer (Partitions) reads the partitions named.
// See the package documentation for how each ConsumerConfig field maps to
// kgo and what differs from a Log's consumer.
//
// Positions and commits are Kafka's, as on a Log: a partition's position
// is the offset of the next record Poll returns, a committed offset the
// position to resume from. Auto-commit commits the positions of records
// returned by earlier Polls, every AutoCommitInterval inside Poll, before
// partitions are revoked and on Close, so processing each Poll's records
// before the next Poll never loses one.
//
// Rebalances happen only inside Poll and Close (kgo's
// BlockRebalanceOnPoll): between two Polls the member keeps its
// partitions, so the records a Poll returned are its own until the next.
// Rebalance callbacks are called serially, while Poll or Close waits,
// from the client's group goroutine rather than the caller's; they may
// call what a Log consumer's callbacks may, and Poll and Close called
// from them return an error, as there.
//
// All methods are safe for concurrent use. Close it when done.
type Consumer struct {
	cfg    commitlog.ConsumerConfig // defaults resolved
	cl     *kgo.Client
	adm    *kadm.Client
	group  bool         // a member of cfg.Group (cfg.Topics set)
	logger *slog.Logger // nil: discard

	closeCtx  context.Context // canceled when Close starts: wakes Poll
	closeStop context.CancelFunc
	poll      chan struct{} // held by the running Poll or Close
	// ready is closed once NewConsumer has set the fields above: the
	// client's group callbacks, which may start before, wait for it.
	ready chan struct{}
	// polled is closed when the first Poll (or Close) starts: the
	// group's first assignment, which kgo makes as soon as it has
	// joined, waits for it, so that rebalances happen only inside Poll
	// and Close.
	polled     chan struct{}
	polledOnce sync.Once
	// closing is set when Close starts, closed when it has finished.
	closing, closed atomic.Bool
	// inCallback is set while a rebalance callback runs.
	inCallback atomic.Bool
	procMu     sync.Mutex // held while ProcessPartitions runs

	// mu guards everything below.
	mu             sync.Mutex
	parts          map[commitlog.TopicPartition]*partState
	pending        []fetched // fetched, not yet returned
	pendingErr     error     // to return once pending is empty
	committed      map[commitlog.TopicPartition]int64
	lastAutoCommit time.Time
	fenced         error      // a *commitlog.FencedError for the next Poll
	proc           *processor // the running ProcessPartitions, or nil
}

var _ commitlog.ConsumerClient = (*Consumer)(nil)

// partState is the consumer's state for one assigned partition.
// REQUIRES: Consumer.mu.
type partState struct {
	pos   int64 // the next offset Poll returns; -1 until known
	epoch int32 // leader epoch of the record before pos; -1 unknown
	next  int64 // the offset after the last fetched record; -1 none
	hw    int64 // the high watermark as the last fetch reported it; -1 unknown
	// starting is set from the partition's assignment until the client
	// has its start offset (kgo's AdjustFetchOffsetsFn); seek is a
	// position set meanwhile (from OnAssigned), applied then. -1 none.
	starting bool
	seek     int64
	paused   bool
	// noStart is set under ResetNone for a partition without a
	// committed offset: it is not read until a Seek.
	noStart bool
	// member is the group member id the partition was assigned to; ""
	// for a manual assignment.
	member string
}

func newPartState() *partState { return &partState{pos: -1, epoch: -1, next: -1, hw: -1, seek: -1} }

// errCallbackReentry is returned by Poll and Close called from a
// rebalance callback, as by a Log's consumer.
var errCallbackReentry = fmt.Errorf("%w: Poll and Close cannot be called while a rebalance callback runs: call them after the callback (and its Poll) has returned", commitlog.ErrInvalidArgument)

// errNoGroup is returned by commit methods of a consumer without a Group.
var errNoGroup = fmt.Errorf("%w: the consumer has no Group to commit to (set ConsumerConfig.Group)", commitlog.ErrInvalidArgument)

// withDefaults resolves the zero fields of c as commitlog does.
func withDefaults(c commitlog.ConsumerConfig) commitlog.ConsumerConfig {
	c.Topics = slices.Sorted(slices.Values(c.Topics))
	c.Partitions = slices.Clone(c.Partitions)
	if c.Balancer == nil {
		c.Balancer = commitlog.CooperativeStickyBalancer()
	}
	c.MaxPollRecords = cmp.Or(c.MaxPollRecords, 500)
	c.FetchMaxBytes = cmp.Or(c.FetchMaxBytes, 50<<20)
	c.FetchMinBytes = cmp.Or(c.FetchMinBytes, 1)
	c.FetchMaxWait = cmp.Or(c.FetchMaxWait, 500*time.Millisecond)
	c.AutoCommitInterval = cmp.Or(c.AutoCommitInterval, 5*time.Second)
	c.MaxPollInterval = cmp.Or(c.MaxPollInterval, 5*time.Minute)
	c.SessionTimeout = cmp.Or(c.SessionTimeout, 45*time.Second)
	return c
}

// NewConsumer returns a Consumer for the cluster kc names, configured by
// cfg. It checks that the topics and partitions cfg names exist, and for
// a manually assigned consumer of a group reads the group's committed
// offsets, each bounded by kc.RequestTimeout; a group member joins its
// group at once, and its partitions are assigned during its first Poll.
//
// Errors: *commitlog.ConfigError, ErrUnknownTopic, ErrUnknownPartition,
// and errors reaching the cluster.
func NewConsumer(kc Config, cfg commitlog.ConsumerConfig) (*Consumer, error) {
	var p []string
	var ce *commitlog.ConfigError
	if err := cfg.Validate(); errors.As(err, &ce) {
		p = append(p, ce.Problems...)
	}
	p = append(p, kc.problems()...)
	if err := configError(p); err != nil {
		return nil, err
	}
	cfg = withDefaults(cfg)
	c := &Consumer{
		cfg:       cfg,
		group:     len(cfg.Topics) > 0,
		logger:    kc.Logger,
		poll:      make(chan struct{}, 1),
		ready:     make(chan struct{}),
		polled:    make(chan struct{}),
		parts:     map[commitlog.TopicPartition]*partState{},
		committed: map[commitlog.TopicPartition]int64{},
	}
	c.lastAutoCommit = time.Now()

	// A client for the checks: the consumer's own cannot exist before its
	// start offsets are known.
	ctx, cancel := context.WithTimeout(context.Background(), kc.requestTimeout())
	defer cancel()
	boot, err := kgo.NewClient(append(kc.clientOpts(), kc.Options...)...)
	if err != nil {
		return nil, configError([]string{"kgo: " + err.Error()})
	}
	start, noStart, err := c.checkAndStart(ctx, kadm.NewClient(boot))
	boot.Close()
	if err != nil {
		return nil, err
	}
	opts := append(kc.clientOpts(),
		kgo.FetchMaxBytes(int32(min(cfg.FetchMaxBytes, 1<<31-1))),
		kgo.FetchMinBytes(int32(min(cfg.FetchMinBytes, 1<<31-1))),
		kgo.FetchMaxWait(cfg.FetchMaxWait),
		kgo.ConsumeResetOffset(resetOffset(cfg.AutoOffsetReset)),
	)
	if c.group {
		opts = append(opts, c.groupOpts()...)
	} else {
		opts = append(opts, kgo.ConsumePartitions(start))
		for _, tp := range cfg.Partitions {
			ps := newPartState()
			if eo := start[tp.Topic][tp.Partition].EpochOffset(); eo.Offset >= 0 {
				ps.pos, ps.epoch = eo.Offset, eo.Epoch
			}
			ps.noStart = noStart[tp]
			c.parts[tp] = ps
		}
	}
	opts = append(opts, kc.Options...)
	if c.cl, err = kgo.NewClient(opts...); err != nil {
		return nil, configError([]string{"kgo: " + err.Error()})
	}
	c.adm = kadm.NewClient(c.cl)
	c.closeCtx, c.closeStop = context.WithCancel(context.Background())
	for tp := range noStart {
		c.cl.PauseFetchPartitions(map[string][]int32{tp.Topic: {tp.Partition}})
	}
	close(c.ready)
	return c, nil
}

// errMissing stands for a topic the cluster's metadata does not list.
var errMissing = errors.New("topic not in the cluster's metadata")

// resetOffset is kgo's offset for r.
func resetOffset(r commitlog.OffsetReset) kgo.Offset {
	switch r {
	case commitlog.ResetLatest:
		return kgo.NewOffset().AtEnd()
	case commitlog.ResetNone:
		// Without a committed offset a partition still needs somewhere
		// to fetch from; the consumer holds it back until a Seek (see
		// partState.noStart). Out of range, kgo reports the error.
		return kgo.NoResetOffset()
	}
	return kgo.NewOffset().AtStart()
}

// checkAndStart checks that cfg's topics and partitions exist and, for a
// manual assignment, returns where each partition starts and which may
// not start (ResetNone without a committed offset).
func (c *Consumer) checkAndStart(ctx context.Context, adm *kadm.Client) (map[string]map[int32]kgo.Offset, map[commitlog.TopicPartition]bool, error) {
	topics := slices.Clone(c.cfg.Topics)
	for _, tp := range c.cfg.Partitions {
		topics = append(topics, tp.Topic)
	}
	slices.Sort(topics)
	topics = slices.Compact(topics)
	details, err := adm.ListTopics(ctx, topics...)
	if err != nil {
		return nil, nil, mapErr("list topics", err)
	}
	for _, t := range topics {
		d, ok := details[t]
		if !ok || d.Err != nil {
			return nil, nil, &Error{Op: "consume " + t, Mapped: commitlog.ErrUnknownTopic, Kafka: cmp.Or(d.Err, errMissing)}
		}
	}
	for _, tp := range c.cfg.Partitions {
		if n := int32(len(details[tp.Topic].Partitions)); tp.Partition >= n {
			return nil, nil, fmt.Errorf("%w: %s has partitions [0, %d), not %d", commitlog.ErrUnknownPartition, tp.Topic, n, tp.Partition)
		}
	}
	if c.group {
		return nil, nil, nil
	}
	var committed kadm.OffsetResponses
	if c.cfg.Group != "" {
		if committed, err = fetchOffsets(ctx, adm, c.cfg.Group); err != nil {
			return nil, nil, mapErr("fetch offsets of group "+c.cfg.Group, err)
		}
	}
	start := map[string]map[int32]kgo.Offset{}
	noStart := map[commitlog.TopicPartition]bool{}
	for _, tp := range c.cfg.Partitions {
		if start[tp.Topic] == nil {
			start[tp.Topic] = map[int32]kgo.Offset{}
		}
		o := resetOffset(c.cfg.AutoOffsetReset)
		if r, ok := committed.Lookup(tp.Topic, tp.Partition); ok && r.Err == nil && r.At >= 0 {
			o = kgo.NewOffset().At(r.At).WithEpoch(r.LeaderEpoch)
		} else if c.cfg.AutoOffsetReset == commitlog.ResetNone {
			noStart[tp] = true
		}
		start[tp.Topic][tp.Partition] = o
	}
	return start, noStart, nil
}

// acquirePoll takes the right to poll, waiting for a running Poll.
func (c *Consumer) acquirePoll(ctx context.Context) error {
	select {
	case c.poll <- struct{}{}:
		return nil
	default:
	}
	if c.inCallback.Load() {
		return errCallbackReentry
	}
	select {
	case c.poll <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Poll returns the next records of the consumer's partitions: at most
// MaxPollRecords records and FetchMaxBytes bytes (at least one record),
// in offset order within each partition, as soon as any exist. It blocks
// until then, or until ctx ends (its error) or Close starts
// (commitlog.ErrClosed).
//
// Poll also does the consumer's group work: auto-commit when due, and
// rebalances with their callbacks, which run while it waits for records
// (a Poll that returns records fetched by an earlier one lets none run).
// The records and their slices are the caller's.
//
// Errors: the context's, commitlog.ErrClosed, a *commitlog.FencedError
// once after the member lost its partitions (OnLost has been called; the
// client rejoins the group by itself), a *commitlog.OffsetOutOfRangeError
// under ResetNone for a partition without a committed offset (until a
// Seek), and fetch errors mapped as Error says. A Poll that has records
// returns them and reports an error on the next call.
func (c *Consumer) Poll(ctx context.Context) ([]commitlog.Record, error) {
	if c.closing.Load() {
		return nil, commitlog.ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := c.acquirePoll(ctx); err != nil {
		return nil, err
	}
	defer func() { <-c.poll }()
	if c.closing.Load() {
		return nil, commitlog.ErrClosed
	}
	c.polledOnce.Do(func() { close(c.polled) })
	c.autoCommitIfDue(ctx)
	pctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(c.closeCtx, cancel)()
	for {
		// Records fetched by an earlier PollRecords are returned first,
		// with rebalances still blocked: they belong to this member
		// until the next Poll.
		if recs, err := c.take(); len(recs) > 0 || err != nil {
			return recs, err
		}
		if c.group {
			// Rebalances wait while the program may hold polled records
			// (BlockRebalanceOnPoll): from here until PollRecords
			// returns, they and their callbacks may run. PollRecords
			// blocks them again when it returns (records, or the end of
			// pctx), so that they cannot run between two Polls.
			c.cl.AllowRebalance()
		}
		fs := c.cl.PollRecords(pctx, c.cfg.MaxPollRecords)
		c.absorb(fs)
		if c.closing.Load() {
			return nil, commitlog.ErrClosed
		}
		if err := pctx.Err(); err != nil {
			if recs, perr := c.take(); len(recs) > 0 || perr != nil {
				return recs, perr
			}
			return nil, ctx.Err()
		}
	}
}

// take returns the records of pending to hand out now, within the Poll
// limits and skipping paused partitions, and advances their positions;
// without any, it returns the error to report, if one waits.
func (c *Consumer) take() ([]commitlog.Record, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.fenced; err != nil {
		c.fenced = nil
		return nil, err
	}
	var out []commitlog.Record
	bytes := 0
	keep := c.pending[:0]
	for i, f := range c.pending {
		r := &f.r
		ps := c.parts[commitlog.TopicPartition{Topic: r.Topic, Partition: r.Partition}]
		switch {
		case ps == nil || r.Offset < ps.pos:
			continue // revoked, or before a Seek
		case ps.paused || len(out) >= c.cfg.MaxPollRecords || (len(out) > 0 && bytes >= c.cfg.FetchMaxBytes):
			keep = append(keep, c.pending[i])
			continue
		}
		out = append(out, *r)
		bytes += recordBytes(r)
		ps.pos, ps.epoch = r.Offset+1, f.epoch
	}
	clear(c.pending[len(keep):])
	c.pending = keep
	if len(out) > 0 {
		return out, nil
	}
	for tp, ps := range c.parts {
		if ps.noStart && !ps.paused {
			return nil, &commitlog.OffsetOutOfRangeError{Topic: tp.Topic, Partition: tp.Partition, Offset: -1, Start: -1, End: ps.hw}
		}
	}
	err := c.pendingErr
	c.pendingErr = nil
	return nil, err
}

// fetched is a record fetched and not yet returned, with the leader epoch
// it was written in (which commits of its position carry).
type fetched struct {
	r     commitlog.Record
	epoch int32
}

// recordBytes is what a record counts against FetchMaxBytes: its key,
// value and headers.
func recordBytes(r *commitlog.Record) int {
	n := len(r.Key) + len(r.Value)
	for _, h := range r.Headers {
		n += len(h.Key) + len(h.Value)
	}
	return n
}

// absorb adds what a poll of the client returned to pending: the records
// of assigned partitions past what was fetched before, and the first
// error that is not the poll's own ending.
func (c *Consumer) absorb(fs kgo.Fetches) {
	c.mu.Lock()
	defer c.mu.Unlock()
	fs.EachError(func(t string, p int32, err error) {
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, kgo.ErrClientClosed) {
			return
		}
		var gs *kgo.ErrGroupSession
		var ke *kerr.Error
		if errors.As(err, &gs) && (kerr.IsRetriable(gs.Err) || errors.As(gs.Err, &ke) && slices.Contains(fencedCodes, ke.Code)) {
			// The session ended the way rebalances and evictions end it:
			// the client rejoins by itself, and OnLost (with a
			// FencedError for the next Poll) covers partitions lost.
			if c.logger != nil {
				c.logger.Info("group session ended; rejoining", "group", c.cfg.Group, "err", err)
			}
			return
		}
		if c.pendingErr == nil {
			c.pendingErr = mapErr(fmt.Sprintf("fetch %s-%d", t, p), err)
		}
	})
	fs.EachPartition(func(ftp kgo.FetchTopicPartition) {
		ps := c.parts[commitlog.TopicPartition{Topic: ftp.Topic, Partition: ftp.Partition}]
		if ps == nil {
			return // revoked meanwhile
		}
		if ftp.HighWatermark >= 0 {
			ps.hw = ftp.HighWatermark
		}
		for _, kr := range ftp.Records {
			if kr.Offset < ps.next || kr.Offset < ps.pos {
				continue
			}
			c.pending = append(c.pending, fetched{r: toRecord(kr), epoch: kr.LeaderEpoch})
			ps.next = kr.Offset + 1
		}
	})
}

// toRecord converts a fetched record. Its slices are the client's, which
// hands them over: they are not reused.
func toRecord(kr *kgo.Record) commitlog.Record {
	r := commitlog.Record{Topic: kr.Topic, Partition: kr.Partition, Offset: kr.Offset, Key: kr.Key, Value: kr.Value, Timestamp: kr.Timestamp}
	if len(kr.Headers) > 0 {
		r.Headers = make([]commitlog.Header, len(kr.Headers))
		for i, h := range kr.Headers {
			r.Headers[i] = commitlog.Header{Key: h.Key, Value: h.Value}
		}
	}
	return r
}

// Records returns an iterator over the consumer's records, polling as
// needed, until ctx ends or Poll fails: then it yields the error and
// stops. Stopping early (break) rewinds each partition to its first
// record not yet yielded, as commitlog.Consumer.Records does.
func (c *Consumer) Records(ctx context.Context) iter.Seq2[commitlog.Record, error] {
	return func(yield func(commitlog.Record, error) bool) {
		for {
			recs, err := c.Poll(ctx)
			if err != nil {
				yield(commitlog.Record{}, err)
				return
			}
			for i := range recs {
				if !yield(recs[i], nil) {
					c.rewind(recs[i+1:])
					return
				}
			}
		}
	}
}

// rewind moves each partition's position back to the first of recs (which
// were polled but not delivered) in it.
func (c *Consumer) rewind(recs []commitlog.Record) {
	c.mu.Lock()
	defer c.mu.Unlock()
	seen := map[commitlog.TopicPartition]bool{}
	for _, r := range recs {
		tp := commitlog.TopicPartition{Topic: r.Topic, Partition: r.Partition}
		if seen[tp] {
			continue
		}
		seen[tp] = true
		if ps := c.parts[tp]; ps != nil && ps.pos > r.Offset {
			c.seekLocked(tp, ps, r.Offset)
		}
	}
}

// assignedLocked returns tp's state, or an error if tp is not assigned.
// REQUIRES: mu.
func (c *Consumer) assignedLocked(tp commitlog.TopicPartition) (*partState, error) {
	if c.closed.Load() {
		return nil, commitlog.ErrClosed
	}
	ps := c.parts[tp]
	if ps == nil {
		return nil, fmt.Errorf("%w: %v is not assigned to this consumer", commitlog.ErrInvalidArgument, tp)
	}
	return ps, nil
}

// Seek sets the position of tp, which must be assigned, to offset: the
// next Poll returns records from there. An offset outside the partition's
// range is handled by AutoOffsetReset, as in Kafka. A Seek from OnAssigned
// applies before the partition's first fetch.
func (c *Consumer) Seek(tp commitlog.TopicPartition, offset int64) error {
	if offset < 0 {
		return fmt.Errorf("%w: Seek %v to negative offset %d", commitlog.ErrInvalidArgument, tp, offset)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	ps, err := c.assignedLocked(tp)
	if err != nil {
		return err
	}
	c.seekLocked(tp, ps, offset)
	return nil
}

// seekLocked moves tp to offset: drops its fetched records and has the
// client fetch from there. REQUIRES: mu.
func (c *Consumer) seekLocked(tp commitlog.TopicPartition, ps *partState, offset int64) {
	ps.pos, ps.epoch, ps.next = offset, -1, -1
	c.pending = slices.DeleteFunc(c.pending, func(f fetched) bool { return f.r.Topic == tp.Topic && f.r.Partition == tp.Partition })
	if ps.starting {
		ps.seek = offset // the fetch starts there
	}
	if c.group {
		c.cl.SetOffsets(map[string]map[int32]kgo.EpochOffset{tp.Topic: {tp.Partition: {Epoch: -1, Offset: offset}}})
	} else {
		// Removed and added again rather than SetOffsets: the client's
		// first assignment of a partition, which may still be to come,
		// would undo a SetOffsets made before it.
		c.cl.RemoveConsumePartitions(map[string][]int32{tp.Topic: {tp.Partition}})
		c.cl.AddConsumePartitions(map[string]map[int32]kgo.Offset{tp.Topic: {tp.Partition: kgo.NewOffset().At(offset)}})
	}
	if ps.noStart {
		ps.noStart = false
		if !ps.paused {
			c.cl.ResumeFetchPartitions(map[string][]int32{tp.Topic: {tp.Partition}})
		}
	}
}

// Pause stops Poll from returning records of tps, which must be assigned,
// until Resume; the client stops fetching them. Positions are kept; a
// paused partition that is revoked and assigned again comes back resumed.
func (c *Consumer) Pause(tps ...commitlog.TopicPartition) error { return c.setPaused(tps, true) }

// Resume undoes Pause.
func (c *Consumer) Resume(tps ...commitlog.TopicPartition) error { return c.setPaused(tps, false) }

func (c *Consumer) setPaused(tps []commitlog.TopicPartition, paused bool) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, tp := range tps {
		if _, err := c.assignedLocked(tp); err != nil {
			return err
		}
	}
	m := map[string][]int32{}
	for _, tp := range tps {
		ps := c.parts[tp]
		ps.paused = paused
		if !ps.noStart {
			m[tp.Topic] = append(m[tp.Topic], tp.Partition)
		}
	}
	if len(m) > 0 {
		if paused {
			c.cl.PauseFetchPartitions(m)
		} else {
			c.cl.ResumeFetchPartitions(m)
		}
	}
	return nil
}

// Paused returns the paused partitions, sorted.
func (c *Consumer) Paused() []commitlog.TopicPartition {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []commitlog.TopicPartition
	for tp, ps := range c.parts {
		if ps.paused {
			out = append(out, tp)
		}
	}
	slices.SortFunc(out, compareTPs)
	return out
}

// Assignment returns the partitions the consumer reads now, sorted.
func (c *Consumer) Assignment() []commitlog.TopicPartition {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.SortedFunc(maps.Keys(c.parts), compareTPs)
}

func compareTPs(a, b commitlog.TopicPartition) int {
	return cmp.Or(cmp.Compare(a.Topic, b.Topic), cmp.Compare(a.Partition, b.Partition))
}

// Lag returns how far behind the consumer is in each assigned partition,
// paused ones included: the high watermark minus the position, at least
// 0. It reads memory only and never waits, so the high watermark is the
// one the partition's last fetch reported, and the position before the
// first Poll the group's committed offset: a partition with either not
// known yet has lag -1 (on a Log, only ResetNone without a committed
// offset has). A closed consumer returns an empty map.
func (c *Consumer) Lag() map[commitlog.TopicPartition]int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[commitlog.TopicPartition]int64, len(c.parts))
	for tp, ps := range c.parts {
		if ps.pos < 0 || ps.hw < 0 {
			out[tp] = -1
			continue
		}
		out[tp] = max(0, ps.hw-ps.pos)
	}
	return out
}

// MemberID returns the consumer's member id in its group, or "" without
// membership (manual assignment, or not joined yet).
func (c *Consumer) MemberID() string {
	if !c.group || c.closed.Load() {
		return ""
	}
	id, _ := c.cl.GroupMetadata()
	return id
}

// Close ends the consumer. A group member commits its positions (with
// auto-commit), calls OnRevoked for its partitions and leaves the group,
// so they move to other members at once; a static member (InstanceID)
// does not send the leave, so its partitions stay reserved for it until
// SessionTimeout, as in Kafka. Close wakes a waiting Poll and waits for
// it to return. It is idempotent; later calls of other methods return
// commitlog.ErrClosed. Called from a rebalance callback it returns an
// error instead of deadlocking. The error is that of the final commit.
func (c *Consumer) Close() error {
	if c.inCallback.Load() {
		return errCallbackReentry
	}
	if c.closing.Swap(true) {
		return nil
	}
	c.closeStop()
	// A first assignment waiting for a Poll goes on (and is dropped).
	c.polledOnce.Do(func() { close(c.polled) })
	c.procMu.Lock() // a running ProcessPartitions finishes first
	c.procMu.Unlock()
	c.poll <- struct{}{}
	defer func() { <-c.poll }()
	var err error
	if c.cfg.Group != "" && !c.cfg.DisableAutoCommit {
		err = c.commitPositions(context.Background(), nil)
	}
	if c.group {
		// Leaving the group revokes every partition: the revoke
		// callback commits what changed since and calls OnRevoked.
		c.cl.AllowRebalance()
	}
	c.cl.Close()
	c.closed.Store(true)
	c.mu.Lock()
	clear(c.parts)
	c.pending = nil
	c.mu.Unlock()
	if errors.Is(err, commitlog.ErrClosed) {
		err = nil
	}
	return err
}

// As fills a **kgo.Client with the consumer's client, or a **kadm.Client
// with an admin client over it, and reports whether target was one of
// those.
func (c *Consumer) As(target any) bool {
	switch t := target.(type) {
	case **kgo.Client:
		*t = c.cl
	case **kadm.Client:
		*t = c.adm
	default:
		return false
	}
	return true
}
