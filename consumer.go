package commitlog

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"iter"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/commitlog-go/commitlog/internal/group"
)

// Consumer reads records from partitions, either assigned manually
// (ConsumerConfig.Partitions) or shared among the members of a consumer
// group (ConsumerConfig.Group and Topics). Create one with Log.NewConsumer
// and Close it when done.
//
// Positions and commits follow Kafka: a partition's position is the offset
// of the next record Poll returns, and a committed offset is the position to
// resume from — the last processed offset + 1 (CommitRecords does the +1).
// A partition without a committed offset starts where AutoOffsetReset says
// (default: its start, unlike Kafka).
//
// Delivery is at-least-once. With auto-commit (the default), Poll commits
// the positions of the records returned by earlier Polls, so processing each
// Poll's records before calling Poll again never loses a record; handing
// records to other goroutines and polling on does (use ProcessPartitions,
// or disable auto-commit and CommitRecords what was processed). After a
// crash or a rebalance, records since the last commit are delivered again.
//
// Concurrency: all methods are safe for concurrent use. Polls run one at a
// time (a second waits for the first). Rebalance callbacks run inside Poll
// or Close, on the caller's goroutine; see ConsumerConfig.OnAssigned for
// what they may call.
type Consumer struct {
	log  *Log
	cfg  ConsumerConfig
	wake chan struct{} // signalled by partitions and the coordinator
	poll chan struct{} // held by the running Poll or Close
	// closing is set when Close starts (Poll stops); closed when it has
	// finished (every method refuses).
	closing, closed atomic.Bool

	// inCallback is set while a rebalance callback runs, so that a Poll
	// or Close from inside it fails instead of deadlocking.
	inCallback atomic.Bool
	// procMu is held while ProcessPartitions runs.
	procMu sync.Mutex
	// mu guards everything below.
	mu     sync.Mutex
	member *group.Member // nil without membership, or after being fenced
	// truncations says a partition may hold a truncation to report
	// (consumedPartition.truncation), so Poll looks for one.
	truncations    bool
	parts          map[TopicPartition]*consumedPartition
	order          []*consumedPartition // sorted; Poll starts at rr
	rr             int
	committed      map[TopicPartition]int64 // the last offsets this consumer committed
	lastAutoCommit time.Time
	proc           *processor // the running ProcessPartitions, or nil
}

// consumedPartition is a consumer's state for one assigned partition.
// REQUIRES: Consumer.mu.
type consumedPartition struct {
	tp     TopicPartition
	p      *Partition
	pos    int64 // the next offset to return; -1 until initialised
	paused bool
	cur    fetchCursor
	// epoch is the leader epoch of the record before pos as the consumer
	// read it (or its group committed it), noLeaderEpoch when unknown: after a
	// Seek or a reset. On a replicated Log it is how Poll detects that
	// those records were truncated (consumer_truncation.go).
	epoch int32
	// validated is the partition's latest leader epoch when pos was last
	// found consistent with the log.
	validated int32
	// truncation is a truncation Poll detected and moved past, to report
	// on the next Poll.
	truncation *LogTruncationError
}

// OffsetReset says where a consumer starts reading a partition that has no
// committed offset, or whose position is outside the partition's range
// (Kafka's auto.offset.reset).
type OffsetReset uint8

const (
	// ResetEarliest starts at the partition's start offset. This is the
	// default — unlike Kafka's "latest" — because a log embedded in an
	// application is usually read for its history (event sourcing), and
	// a new group silently skipping records is the surprise users report.
	ResetEarliest OffsetReset = iota
	// ResetLatest starts at the high watermark: only records appended
	// from then on are read.
	ResetLatest
	// ResetNone makes Poll return an *OffsetOutOfRangeError for the
	// partition instead; Seek to a valid offset to go on.
	ResetNone
)

// ConsumerConfig configures a Consumer. Set either Group and Topics (the
// group's coordinator assigns the topics' partitions among the group's
// members) or Partitions (manual assignment; with Group set too, the
// consumer reads and commits that group's offsets, which Kafka allows only
// while the group has no members). Every other zero field is a good
// default.
type ConsumerConfig struct {
	// Group is the consumer group: its committed offsets are where the
	// consumer starts, and with Topics, its members share the partitions.
	Group string

	// Topics are the topics to subscribe to as a member of Group. They
	// must exist.
	Topics []string

	// Partitions are the partitions to read, assigned manually, without
	// group membership. They must exist.
	Partitions []TopicPartition

	// InstanceID makes the member static (Kafka's group.instance.id): when
	// it closes, its partitions stay reserved for it for SessionTimeout,
	// and a consumer with the same InstanceID that joins within that time
	// takes them back without a rebalance. Only with Topics.
	InstanceID string

	// Balancer assigns the group's partitions. All members of a group must
	// use the same one. Default CooperativeStickyBalancer().
	Balancer Balancer

	// MaxPollRecords bounds the records one Poll returns. Default 500.
	MaxPollRecords int

	// FetchMaxBytes bounds the bytes (keys, values and headers, after
	// decompression) one Poll returns, except that a Poll always returns
	// at least one record when one is available. Default 50 MiB.
	FetchMaxBytes int

	// FetchMinBytes is how many bytes Poll waits for, up to FetchMaxWait,
	// once it has some records; it returns at once when MaxPollRecords or
	// FetchMaxBytes is reached. Default 1: return as soon as any exist.
	FetchMinBytes int

	// FetchMaxWait bounds how long Poll waits for FetchMinBytes once it
	// has at least one record. Default 500ms.
	FetchMaxWait time.Duration

	// AutoOffsetReset says where to start without a committed offset or
	// when the position is out of range. Default ResetEarliest.
	AutoOffsetReset OffsetReset

	// DisableAutoCommit turns off automatic commits. By default, every
	// AutoCommitInterval, Poll commits the positions of the records
	// returned by earlier Polls before it fetches more; the consumer also
	// commits them before its partitions are revoked and on Close.
	DisableAutoCommit bool

	// AutoCommitInterval is the period of automatic commits. Default 5s.
	AutoCommitInterval time.Duration

	// MaxPollInterval is how long a group member may go without calling
	// Poll (time spent waiting inside Poll does not count; time in
	// rebalance callbacks does) before the coordinator evicts it and moves
	// its partitions. The member learns it on its next call: OnLost, then
	// ErrFenced. Default 5 minutes.
	MaxPollInterval time.Duration

	// SessionTimeout is how long a closed static member's partitions stay
	// reserved for its InstanceID. Default 45s.
	SessionTimeout time.Duration

	// OnAssigned is called with the partitions the member has gained, from
	// Poll, before any of their records is returned. The slice is the
	// callback's to keep. Callbacks are called serially, from the
	// goroutine calling Poll or Close, with that Poll's context (Close:
	// context.Background()), which may have ended already: a commit that
	// must happen needs a context of its own. They may call Commit,
	// CommitOffsets, Committed, Seek, Position, Lag, Pause, Resume and
	// Assignment, but not Poll, PollToEnd or Close (which return an error
	// there), and they must not wait for another goroutine that is itself
	// waiting for this consumer's Poll to return: that deadlocks.
	//
	// c is the consumer the callback is called for, as a ConsumerClient so
	// that one callback serves every backend taking a ConsumerConfig; for
	// a Log's consumer it is the *Consumer, which c.As also fills in.
	OnAssigned func(ctx context.Context, c ConsumerClient, gained []TopicPartition)

	// OnRevoked is called with partitions the member is about to give up,
	// from Poll or Close, before any other member can be given them: the
	// last chance to commit their offsets (with auto-commit, positions are
	// committed just before it). The slice is the callback's to keep.
	OnRevoked func(ctx context.Context, c ConsumerClient, revoked []TopicPartition)

	// OnLost is called with partitions the member has already lost (it was
	// evicted or fenced), from Poll or Close: another member may own them,
	// so their offsets must not be committed (commits fail with ErrFenced).
	// The slice is the callback's to keep.
	OnLost func(ctx context.Context, c ConsumerClient, lost []TopicPartition)
}

const (
	defaultMaxPollRecords     = 500
	defaultFetchMaxBytes      = 50 << 20
	defaultFetchMinBytes      = 1
	defaultFetchMaxWait       = 500 * time.Millisecond
	defaultAutoCommitInterval = 5 * time.Second
	defaultMaxPollInterval    = 5 * time.Minute
	defaultSessionTimeout     = 45 * time.Second
)

// Validate reports every problem with c in one *ConfigError.
func (c *ConsumerConfig) Validate() error {
	var p []string
	add := func(format string, args ...any) { p = append(p, fmt.Sprintf(format, args...)) }
	switch {
	case len(c.Topics) > 0 && len(c.Partitions) > 0:
		add("Topics and Partitions: set one (subscribe with a group, or assign partitions manually), not both")
	case len(c.Topics) == 0 && len(c.Partitions) == 0:
		add("Topics and Partitions: both empty; set Group and Topics to subscribe, or Partitions to assign manually")
	case len(c.Topics) > 0 && c.Group == "":
		add("Group: required with Topics (a subscription needs a group)")
	}
	if c.Group != "" && !utf8.ValidString(c.Group) {
		add("Group: %q is not valid UTF-8", c.Group)
	}
	if len(c.Group) > maxGroupNameLength {
		add("Group: %d bytes long; the limit is %d", len(c.Group), maxGroupNameLength)
	}
	if c.InstanceID != "" && len(c.Topics) == 0 {
		add("InstanceID: static membership needs Group and Topics")
	}
	seen := map[string]bool{}
	for _, t := range c.Topics {
		if seen[t] {
			add("Topics: %q listed twice", t)
		}
		seen[t] = true
	}
	seenTP := map[TopicPartition]bool{}
	for _, tp := range c.Partitions {
		if seenTP[tp] {
			add("Partitions: %v listed twice", tp)
		}
		seenTP[tp] = true
		if tp.Partition < 0 {
			add("Partitions: %v has a negative partition", tp)
		}
	}
	for name, v := range map[string]int{"MaxPollRecords": c.MaxPollRecords, "FetchMaxBytes": c.FetchMaxBytes, "FetchMinBytes": c.FetchMinBytes} {
		if v < 0 {
			add("%s: %d is negative", name, v)
		}
	}
	for name, v := range map[string]time.Duration{"FetchMaxWait": c.FetchMaxWait, "AutoCommitInterval": c.AutoCommitInterval,
		"MaxPollInterval": c.MaxPollInterval, "SessionTimeout": c.SessionTimeout} {
		if v < 0 {
			add("%s: %v is negative", name, v)
		}
	}
	if c.AutoOffsetReset > ResetNone {
		add("AutoOffsetReset: unknown value %d (use ResetEarliest, ResetLatest or ResetNone)", c.AutoOffsetReset)
	}
	if len(p) > 0 {
		slices.Sort(p) // map iteration above is unordered
		return &ConfigError{Problems: p}
	}
	return nil
}

// maxGroupNameLength bounds a group name, which is stored in every
// committed-offset record's key (a Kafka string: int16 length).
const maxGroupNameLength = 1 << 15

// withDefaults returns a copy of c with every zero field set and its
// slices copied.
func (c ConsumerConfig) withDefaults() ConsumerConfig {
	c.Topics = slices.Clone(c.Topics)
	slices.Sort(c.Topics)
	c.Partitions = slices.Clone(c.Partitions)
	if c.Balancer == nil {
		c.Balancer = CooperativeStickyBalancer()
	}
	c.MaxPollRecords = cmp.Or(c.MaxPollRecords, defaultMaxPollRecords)
	c.FetchMaxBytes = cmp.Or(c.FetchMaxBytes, defaultFetchMaxBytes)
	c.FetchMinBytes = cmp.Or(c.FetchMinBytes, defaultFetchMinBytes)
	c.FetchMaxWait = cmp.Or(c.FetchMaxWait, defaultFetchMaxWait)
	c.AutoCommitInterval = cmp.Or(c.AutoCommitInterval, defaultAutoCommitInterval)
	c.MaxPollInterval = cmp.Or(c.MaxPollInterval, defaultMaxPollInterval)
	c.SessionTimeout = cmp.Or(c.SessionTimeout, defaultSessionTimeout)
	return c
}

// NewConsumer returns a Consumer configured by cfg. The topics and
// partitions it names must exist. A group member joins its group at once;
// its partitions are assigned during its first Poll.
//
// Errors: *ConfigError, ErrUnknownTopic, ErrUnknownPartition, ErrClosed,
// or (ErrInvalidConfig) a Balancer that differs from the group's.
func (l *Log) NewConsumer(cfg ConsumerConfig) (*Consumer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	if cfg.Group != "" && !cfg.DisableAutoCommit {
		if err := l.refuseReadOnly(fmt.Sprintf("NewConsumer for group %q with auto-commit (set DisableAutoCommit to read the group's offsets without committing)", cfg.Group)); err != nil {
			return nil, err
		}
	}
	for _, t := range cfg.Topics {
		if _, err := l.Topic(t); err != nil {
			return nil, err
		}
	}
	c := &Consumer{
		log: l, cfg: cfg,
		wake:      make(chan struct{}, 1),
		poll:      make(chan struct{}, 1),
		parts:     map[TopicPartition]*consumedPartition{},
		committed: map[TopicPartition]int64{},
	}
	c.lastAutoCommit = l.opts.now()
	for _, tp := range cfg.Partitions {
		p, err := l.partition(tp)
		if err != nil {
			return nil, err
		}
		c.addLocked(tp, p)
	}
	if len(cfg.Topics) > 0 {
		m, err := l.groups.join(&c.cfg, c.wake)
		if err != nil {
			c.dropAll()
			return nil, err
		}
		c.member = m
	}
	return c, nil
}

// addLocked starts consuming tp. REQUIRES: mu, or c not yet shared.
func (c *Consumer) addLocked(tp TopicPartition, p *Partition) {
	if c.parts[tp] != nil {
		return
	}
	cp := &consumedPartition{tp: tp, p: p, pos: -1, epoch: noLeaderEpoch, validated: noLeaderEpoch}
	c.parts[tp] = cp
	i, _ := slices.BinarySearchFunc(c.order, tp, func(x *consumedPartition, t TopicPartition) int {
		return compareTopicPartitions(x.tp, t)
	})
	c.order = slices.Insert(c.order, i, cp)
	delete(c.committed, tp)
	p.watch(c.wake)
}

// dropLocked stops consuming tps. REQUIRES: mu.
func (c *Consumer) dropLocked(tps []TopicPartition) {
	for _, tp := range tps {
		cp := c.parts[tp]
		if cp == nil {
			continue
		}
		cp.cur.close()
		cp.p.unwatch(c.wake)
		delete(c.parts, tp)
		c.order = slices.DeleteFunc(c.order, func(x *consumedPartition) bool { return x == cp })
	}
}

func (c *Consumer) dropAll() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.dropLocked(slices.Collect(maps.Keys(c.parts)))
}

// MemberID returns the consumer's member id in its group, or "" without
// membership (manual assignment, or fenced and not yet rejoined).
func (c *Consumer) MemberID() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.member == nil {
		return ""
	}
	return c.member.ID()
}

// errCallbackReentry is returned by Poll and Close called from a
// rebalance callback.
var errCallbackReentry = fmt.Errorf("%w: Poll and Close cannot be called while a rebalance callback runs: call them after the callback (and its Poll) has returned", ErrInvalidArgument)

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
// MaxPollRecords records and FetchMaxBytes bytes, in offset order within
// each partition, as soon as any exist (or, with FetchMinBytes above 1,
// once that many bytes are there or FetchMaxWait has passed since the first
// record). It blocks until then, or until ctx ends (returning ctx's error).
//
// Poll also does the consumer's group work, on the calling goroutine:
// auto-commit when due, and rebalance callbacks. While Poll waits the
// member counts as alive; between Polls MaxPollInterval runs.
//
// The records and their slices are the caller's. Errors: the context's,
// ErrClosed, a *FencedError once after the member was evicted or replaced
// (OnLost has been called; the next Poll rejoins the group), an
// *OffsetOutOfRangeError under ResetNone, a *CorruptionError,
// ErrUnknownTopic for a manually assigned partition whose topic was
// deleted, on a replicated Log a *LogTruncationError when records it
// returned were taken back by an unclean leader election (once, with the
// position moved back to where the log diverged; under ResetNone until a
// Seek) and a *NotCoordinatorError when its group is coordinated
// elsewhere. A Poll that has records returns them and reports a
// partition's error on the next call.
func (c *Consumer) Poll(ctx context.Context) ([]Record, error) {
	recs, _, err := c.pollRecords(ctx, false)
	return recs, err
}

// PollToEnd is Poll for reading up to the end and stopping there, as
// tools and tests do: it returns what Poll would, but rather than wait
// for records not appended yet, it reports caughtUp once every assigned
// partition that is not paused has its position at its high watermark —
// with the last records, or with none when nothing was left to read.
// Reading a topic to its end is then:
//
//	for {
//		recs, caughtUp, err := c.PollToEnd(ctx)
//		if err != nil { ... }
//		... // process recs
//		if caughtUp {
//			break
//		}
//	}
//
// Once caught up it does not wait for FetchMinBytes. A group member is
// caught up only once it owns its whole assignment at the group's latest
// rebalance: while partitions it was given are still being revoked from
// other members (in their Polls), it waits for them, as Poll does. A
// consumer with no unpaused partition is caught up at once. The end moves
// as records are appended: PollToEnd reports the moment it finds nothing
// left, so against producers that never pause it may keep returning
// records. Errors, group work and ownership of the records are as for
// Poll.
func (c *Consumer) PollToEnd(ctx context.Context) (recs []Record, caughtUp bool, err error) {
	return c.pollRecords(ctx, true)
}

// pollRecords is Poll, and with toEnd PollToEnd.
func (c *Consumer) pollRecords(ctx context.Context, toEnd bool) ([]Record, bool, error) {
	if c.closing.Load() {
		return nil, false, ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return nil, false, err
	}
	if err := c.acquirePoll(ctx); err != nil {
		return nil, false, err
	}
	defer func() { <-c.poll }()
	if c.closing.Load() {
		return nil, false, ErrClosed
	}
	if err := c.rejoin(); err != nil {
		return nil, false, err
	}
	m := c.currentMember()
	if m != nil {
		c.log.groups.polling(m, true)
		defer c.log.groups.polling(m, false)
	}
	c.autoCommitIfDue(ctx)

	var (
		buf     pollBuffer
		timer   *time.Timer
		timeout <-chan time.Time
	)
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		if len(buf.recs) == 0 {
			if err := c.reconcile(ctx); err != nil {
				return nil, false, err
			}
		}
		err := c.collect(&buf)
		caughtUp := toEnd && err == nil && c.caughtUp(m)
		if len(buf.recs) > 0 {
			// A full buffer returns at once: waiting for FetchMinBytes
			// could not add to it.
			full := len(buf.recs) >= c.cfg.MaxPollRecords || buf.bytes >= c.cfg.FetchMaxBytes
			if caughtUp || full || err != nil || buf.bytes >= c.cfg.FetchMinBytes || c.closing.Load() || ctx.Err() != nil {
				return buf.recs, caughtUp, nil
			}
			if timer == nil {
				timer = time.NewTimer(c.cfg.FetchMaxWait)
				timeout = timer.C
			}
		} else if err != nil {
			return nil, false, err
		} else if caughtUp {
			return nil, true, nil
		}
		if c.closing.Load() || c.log.isClosed() {
			// The Log's Close wakes every consumer waiting on its
			// partitions: it sets closed first.
			return nil, false, ErrClosed
		}
		select {
		case <-c.wake:
			if len(buf.recs) > 0 && m != nil && c.log.groups.hasWork(m) {
				return buf.recs, false, nil // rebalance work waits for the next Poll
			}
		case <-timeout:
			return buf.recs, false, nil
		case <-ctx.Done():
			if len(buf.recs) > 0 {
				return buf.recs, false, nil
			}
			return nil, false, ctx.Err()
		}
	}
}

// caughtUp reports whether every unpaused assigned partition's position
// has reached its high watermark and, for a group member m, m owns its
// whole assignment.
func (c *Consumer) caughtUp(m *group.Member) bool {
	if m != nil && !c.log.groups.converged(m) {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, cp := range c.order {
		if !cp.paused && (cp.pos < 0 || cp.pos < cp.p.HighWatermark()) {
			return false
		}
	}
	return true
}

// Lag returns how far behind the consumer is in each assigned partition,
// paused ones included: the partition's high watermark minus the
// consumer's position, the records Poll has yet to return there (at
// least 0; counted in offsets, so gaps compaction left and offsets below
// a start that retention moved count too, as in Kafka).
// A partition whose position is not set yet, before its first Poll,
// counts from where that Poll will start: the group's committed offset,
// or without one the offset AutoOffsetReset names; under ResetNone
// without a committed offset its lag is unknown, -1. Lag does not set
// positions. It reads memory only and never waits; a closed consumer
// has no partitions and returns an empty map.
func (c *Consumer) Lag() map[TopicPartition]int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[TopicPartition]int64, len(c.order))
	for _, cp := range c.order {
		pos := cp.pos
		if pos < 0 {
			var err error
			if pos, _, _, err = c.startPositionLocked(cp); err != nil {
				out[cp.tp] = -1
				continue
			}
		}
		out[cp.tp] = max(0, cp.p.HighWatermark()-pos)
	}
	return out
}

// collect adds records from the unpaused partitions to buf, starting at a
// different partition each time for fairness. It returns the first error
// of a partition; the others still fill buf.
//
// A truncation detected and moved past (consumer_truncation.go) is
// reported before any record: by a collect that starts, or ends, with
// buf empty.
func (c *Consumer) collect(buf *pollBuffer) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(buf.recs) == 0 {
		if err := c.takeTruncationLocked(); err != nil {
			return err
		}
	}
	var first error
	n := len(c.order)
	if n == 0 {
		return nil
	}
	c.rr = (c.rr + 1) % n
	// Size the records for what is visible (up to MaxPollRecords) at
	// once: growing them by append copies them ~log(n) times, and past 256
	// elements append grows by 1.25x.
	if cap(buf.recs) == 0 {
		var avail int64
		for _, cp := range c.order {
			if !cp.paused && cp.pos >= 0 {
				avail += max(0, cp.p.HighWatermark()-cp.pos)
			}
		}
		if avail > 0 {
			want := min(avail, int64(c.cfg.MaxPollRecords))
			buf.recs = make([]Record, 0, want)
		}
	}
	for i := range n {
		if len(buf.recs) >= c.cfg.MaxPollRecords || (len(buf.recs) > 0 && buf.bytes >= c.cfg.FetchMaxBytes) {
			break
		}
		cp := c.order[(c.rr+i)%n]
		if cp.paused {
			continue
		}
		if cp.pos < 0 {
			if err := c.initPositionLocked(cp); err != nil {
				first = cmpErr(first, err)
				continue
			}
		}
		if ok, err := c.validateLocked(cp); !ok {
			first = cmpErr(first, err)
			continue
		}
		err := cp.cur.fill(cp, buf, c.cfg.MaxPollRecords, c.cfg.FetchMaxBytes)
		var oor *OffsetOutOfRangeError
		if errors.As(err, &oor) && c.cfg.AutoOffsetReset != ResetNone {
			c.log.opts.Logger.Warn("consumer position out of range; resetting", "group", c.cfg.Group, "topic", cp.tp.Topic,
				"partition", cp.tp.Partition, "offset", cp.pos, "reset", c.cfg.AutoOffsetReset.String(), "err", err)
			cp.cur.close()
			cp.pos, cp.epoch = c.resetOffset(cp.p), noLeaderEpoch
			err = cp.cur.fill(cp, buf, c.cfg.MaxPollRecords, c.cfg.FetchMaxBytes)
		}
		if err != nil {
			first = cmpErr(first, err)
		}
	}
	if first == nil && len(buf.recs) == 0 {
		first = c.takeTruncationLocked()
	}
	return first
}

func cmpErr(first, err error) error {
	if first == nil {
		return err
	}
	return first
}

// initPositionLocked sets cp's position from the group's committed offset
// or, without one, from AutoOffsetReset. REQUIRES: mu.
func (c *Consumer) initPositionLocked(cp *consumedPartition) error {
	pos, epoch, committed, err := c.startPositionLocked(cp)
	if err != nil {
		return err
	}
	cp.pos = pos
	if committed {
		c.committed[cp.tp] = pos
	}
	cp.epoch = epoch
	return nil
}

// startPositionLocked returns where cp's first Poll starts: the group's
// committed offset (committed is true) or, without one, the offset
// AutoOffsetReset names. REQUIRES: mu.
//
// epoch is the committed offset's leader epoch (noLeaderEpoch without
// one), which the first Poll checks the position against.
func (c *Consumer) startPositionLocked(cp *consumedPartition) (pos int64, epoch int32, committed bool, err error) {
	if c.cfg.Group != "" {
		co, ok, err := c.log.offsets.committed(c.cfg.Group, cp.tp)
		if err != nil {
			return -1, noLeaderEpoch, false, err
		}
		if ok {
			return co.Offset, co.LeaderEpoch, true, nil
		}
	}
	if c.cfg.AutoOffsetReset == ResetNone {
		return -1, noLeaderEpoch, false, &OffsetOutOfRangeError{Topic: cp.tp.Topic, Partition: cp.tp.Partition, Offset: -1,
			Start: cp.p.StartOffset(), End: cp.p.HighWatermark()}
	}
	return c.resetOffset(cp.p), noLeaderEpoch, false, nil
}

func (c *Consumer) resetOffset(p *Partition) int64 {
	if c.cfg.AutoOffsetReset == ResetLatest {
		return p.HighWatermark()
	}
	return p.StartOffset()
}

// Records returns an iterator over the consumer's records, polling as
// needed, until ctx ends or Poll fails: then it yields the error and stops.
// Stopping the loop early (break) rewinds each partition to its first
// record not yet yielded, so no record is skipped. Records are the
// caller's, as with Poll.
func (c *Consumer) Records(ctx context.Context) iter.Seq2[Record, error] {
	return func(yield func(Record, error) bool) {
		for {
			recs, err := c.Poll(ctx)
			if err != nil {
				yield(Record{}, err)
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
func (c *Consumer) rewind(recs []Record) {
	c.mu.Lock()
	defer c.mu.Unlock()
	seen := map[TopicPartition]bool{}
	for _, r := range recs {
		tp := TopicPartition{r.Topic, r.Partition}
		if seen[tp] {
			continue
		}
		seen[tp] = true
		if cp := c.parts[tp]; cp != nil && cp.pos > r.Offset {
			cp.cur.close()
			cp.pos, cp.epoch = r.Offset, noLeaderEpoch
		}
	}
}

// processor returns the running ProcessPartitions, or nil.
func (c *Consumer) processor() *processor {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.proc
}

// currentMember returns the consumer's membership, or nil.
func (c *Consumer) currentMember() *group.Member {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.member
}

// rejoin joins the group again after the member was fenced.
func (c *Consumer) rejoin() error {
	if len(c.cfg.Topics) == 0 || c.currentMember() != nil {
		return nil
	}
	m, err := c.log.groups.join(&c.cfg, c.wake)
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.member = m
	c.mu.Unlock()
	return nil
}

// reconcile runs the member's steps towards its target assignment: revoke
// (commit, OnRevoked, release) and gain (OnAssigned), and reports a loss.
func (c *Consumer) reconcile(ctx context.Context) error {
	m := c.currentMember()
	if m == nil {
		return nil
	}
	gc := c.log.groups
	for {
		st, lost, err := gc.nextStep(m)
		if pr := c.processor(); pr != nil && len(lost) > 0 {
			c.outsidePoll(m, func() { pr.stop(lost) })
			pr.forget(lost)
		}
		if len(lost) > 0 {
			c.mu.Lock()
			c.dropLocked(lost)
			c.mu.Unlock()
			c.callback(ctx, m, c.cfg.OnLost, lost)
		}
		if err != nil {
			c.mu.Lock()
			c.member = nil
			c.mu.Unlock()
			return err
		}
		switch {
		case len(st.revoke) > 0:
			pr := c.processor()
			if pr != nil {
				c.outsidePoll(m, func() { pr.stop(st.revoke) })
			}
			if !c.cfg.DisableAutoCommit || pr != nil {
				if err := c.commitPositions(ctx, st.revoke); err != nil {
					c.log.opts.Logger.Warn("commit before revoke failed", "group", c.cfg.Group, "err", err)
				}
			}
			c.callback(ctx, m, c.cfg.OnRevoked, st.revoke)
			c.mu.Lock()
			c.dropLocked(st.revoke)
			c.mu.Unlock()
			gc.release(m, st.revoke, st.epoch)
		case len(st.gain) > 0:
			c.mu.Lock()
			for _, tp := range st.gain {
				p, err := c.log.partition(tp)
				if err == nil {
					c.addLocked(tp, p)
				} else if errors.Is(err, ErrNotLeader) {
					// A replicated Log without a replica of tp here: see
					// "Consumer groups on a replicated Log" in the package
					// documentation.
					c.log.opts.Logger.Warn("assigned a partition this node holds no replica of: its records are not consumed here; give the topic a replica on the group's coordinator",
						"group", c.cfg.Group, "topic", tp.Topic, "partition", tp.Partition, "err", err)
				}
			}
			c.mu.Unlock()
			c.callback(ctx, m, c.cfg.OnAssigned, st.gain)
		default:
			return nil
		}
	}
}

// callback calls fn (if set) with a copy of tps. Its time counts against
// MaxPollInterval.
func (c *Consumer) callback(ctx context.Context, m *group.Member, fn func(context.Context, ConsumerClient, []TopicPartition), tps []TopicPartition) {
	if fn == nil || len(tps) == 0 {
		return
	}
	c.outsidePoll(m, func() {
		c.inCallback.Store(true)
		defer c.inCallback.Store(false)
		fn(ctx, c, slices.Clone(tps))
	})
}

// outsidePoll runs fn as time outside Poll: MaxPollInterval runs.
func (c *Consumer) outsidePoll(m *group.Member, fn func()) {
	gc := c.log.groups
	gc.polling(m, false)
	defer gc.polling(m, true)
	fn()
}

// autoCommitIfDue commits the positions of records returned by earlier
// Polls when AutoCommitInterval has passed since the last auto-commit.
func (c *Consumer) autoCommitIfDue(ctx context.Context) {
	if c.cfg.DisableAutoCommit || c.cfg.Group == "" {
		return
	}
	now := c.log.opts.now()
	c.mu.Lock()
	due := now.Sub(c.lastAutoCommit) >= c.cfg.AutoCommitInterval
	if due {
		c.lastAutoCommit = now
	}
	c.mu.Unlock()
	if due {
		if err := c.commitPositions(ctx, nil); err != nil && ctx.Err() == nil {
			c.log.opts.Logger.Warn("auto-commit failed", "group", c.cfg.Group, "err", err)
		}
	}
}

// Close ends the consumer. A group member commits its positions (with
// auto-commit), calls OnRevoked for its partitions and leaves the group at
// once, so they move to other members without waiting for a timeout; a
// static member (InstanceID) keeps them reserved for SessionTimeout
// instead. A member that was evicted calls OnLost and commits nothing.
// Close wakes a waiting Poll and waits for it to return. It is idempotent;
// later calls of other methods return ErrClosed.
//
// Close called while a rebalance callback runs returns an error instead of
// deadlocking: call it after the callback (and its Poll) returned.
func (c *Consumer) Close() error {
	if c.inCallback.Load() {
		return errCallbackReentry
	}
	if c.closing.Swap(true) {
		return nil
	}
	select {
	case c.wake <- struct{}{}:
	default:
	}
	c.procMu.Lock() // a running ProcessPartitions finishes first
	c.procMu.Unlock()
	c.poll <- struct{}{}
	defer func() { <-c.poll }()
	defer c.closed.Store(true)
	ctx := context.Background()
	var err error
	if m := c.currentMember(); m != nil {
		gc := c.log.groups
		owned, lost, fenced := gc.leaving(m)
		if fenced != nil {
			c.callback(ctx, m, c.cfg.OnLost, lost)
		} else {
			if !c.cfg.DisableAutoCommit {
				err = c.commitPositions(ctx, nil)
			}
			c.callback(ctx, m, c.cfg.OnRevoked, owned)
			gc.leave(m)
		}
		c.mu.Lock()
		c.member = nil
		c.mu.Unlock()
	} else if c.cfg.Group != "" && !c.cfg.DisableAutoCommit {
		err = c.commitPositions(ctx, nil)
	}
	c.dropAll()
	if errors.Is(err, ErrClosed) {
		err = nil // the Log closed first: nothing can be committed
	}
	return err
}

// Assignment returns the partitions the consumer reads now, sorted.
func (c *Consumer) Assignment() []TopicPartition {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]TopicPartition, len(c.order))
	for i, cp := range c.order {
		out[i] = cp.tp
	}
	return out
}

// assigned returns tp's state, or an error if tp is not assigned.
// REQUIRES: mu.
func (c *Consumer) assignedLocked(tp TopicPartition) (*consumedPartition, error) {
	if c.closed.Load() {
		return nil, ErrClosed
	}
	cp := c.parts[tp]
	if cp == nil {
		return nil, fmt.Errorf("%w: %v is not assigned to this consumer", ErrInvalidArgument, tp)
	}
	return cp, nil
}

// Seek sets the position of tp, which must be assigned, to offset: the
// next Poll returns records from there. An offset outside the partition's
// range is handled by AutoOffsetReset at that Poll, as in Kafka.
func (c *Consumer) Seek(tp TopicPartition, offset int64) error {
	if offset < 0 {
		return fmt.Errorf("%w: Seek %v to negative offset %d", ErrInvalidArgument, tp, offset)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	cp, err := c.assignedLocked(tp)
	if err != nil {
		return err
	}
	cp.cur.close()
	cp.pos, cp.epoch, cp.truncation = offset, noLeaderEpoch, nil
	return nil
}

// SeekToTime sets the position of tp to the first record with a timestamp
// at or after t (or to the high watermark if there is none yet).
func (c *Consumer) SeekToTime(tp TopicPartition, t time.Time) error {
	p, err := c.log.partition(tp)
	if err != nil {
		return err
	}
	off, err := p.OffsetForTime(t)
	if err != nil {
		return err
	}
	return c.Seek(tp, off)
}

// Position returns the offset of the next record Poll will return from tp,
// which must be assigned. Before the partition's first Poll, it resolves
// the starting position (committed offset, or AutoOffsetReset).
func (c *Consumer) Position(tp TopicPartition) (int64, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	cp, err := c.assignedLocked(tp)
	if err != nil {
		return 0, err
	}
	if cp.pos < 0 {
		if err := c.initPositionLocked(cp); err != nil {
			return 0, err
		}
	}
	return cp.pos, nil
}

// Pause stops Poll from returning records of tps, which must be assigned,
// until Resume. Positions are kept; a paused partition that is revoked and
// assigned again comes back resumed (Kafka's rule).
func (c *Consumer) Pause(tps ...TopicPartition) error { return c.setPaused(tps, true) }

// Resume undoes Pause.
func (c *Consumer) Resume(tps ...TopicPartition) error { return c.setPaused(tps, false) }

func (c *Consumer) setPaused(tps []TopicPartition, paused bool) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, tp := range tps {
		if _, err := c.assignedLocked(tp); err != nil {
			return err
		}
	}
	for _, tp := range tps {
		c.parts[tp].paused = paused
	}
	if !paused {
		select {
		case c.wake <- struct{}{}:
		default:
		}
	}
	return nil
}

// Paused returns the paused partitions, sorted.
func (c *Consumer) Paused() []TopicPartition {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []TopicPartition
	for _, cp := range c.order {
		if cp.paused {
			out = append(out, cp.tp)
		}
	}
	return out
}

// errNoGroup is returned by commit methods of a consumer without a Group.
var errNoGroup = fmt.Errorf("%w: the consumer has no Group to commit to (set ConsumerConfig.Group)", ErrInvalidArgument)

// Commit commits the positions of every assigned partition — the records
// returned by every Poll so far count as processed — and returns once the
// commit is acknowledged under the Log's durability contract (under
// SyncAlways, the default: fsynced). Positions equal to what this consumer last committed
// are skipped.
//
// Errors: a *FencedError if a partition is no longer this member's, an
// *OffsetOutOfRangeError, ErrGroupNotEmpty for a manually assigned
// consumer of a group that has members, ErrClosed, the context's error.
func (c *Consumer) Commit(ctx context.Context) error { return c.commitPositions(ctx, nil) }

// commitPositions commits the positions of tps (nil: every assigned
// partition) that changed since this consumer's last commit.
//
// While ProcessPartitions runs, the offsets of processed records are
// committed instead of positions.
func (c *Consumer) commitPositions(ctx context.Context, tps []TopicPartition) error {
	var processed map[TopicPartition]int64
	if pr := c.processor(); pr != nil {
		processed = pr.processed(tps)
	}
	c.mu.Lock()
	offsets := map[TopicPartition]int64{}
	for _, cp := range c.order {
		pos := cp.pos
		if processed != nil {
			m, ok := processed[cp.tp]
			if !ok {
				continue
			}
			pos = m
		}
		if pos >= 0 && (tps == nil || slices.Contains(tps, cp.tp)) {
			if last, ok := c.committed[cp.tp]; !ok || last != pos {
				offsets[cp.tp] = pos
			}
		}
	}
	c.mu.Unlock()
	return c.CommitOffsets(ctx, offsets)
}

// CommitOffsets commits offsets: for each partition, the offset of the
// next record to consume (the last processed offset + 1). A group member
// may commit only partitions assigned to it. The commit is one atomic
// batch, acknowledged as an append is (under SyncAlways, fsynced) when
// CommitOffsets returns; an offset may not be above
// its partition's high watermark, and data below it that is not yet
// durable is fsynced first, so a committed offset never points past data
// a crash could lose. Errors as for Commit.
func (c *Consumer) CommitOffsets(ctx context.Context, offsets map[TopicPartition]int64) error {
	if c.closed.Load() {
		return ErrClosed
	}
	if c.cfg.Group == "" {
		return errNoGroup
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if len(offsets) == 0 {
		return nil
	}
	m := c.currentMember()
	if m == nil && len(c.cfg.Topics) > 0 {
		return &FencedError{Group: c.cfg.Group, Reason: "not a member of the group (evicted; the next Poll rejoins)"}
	}
	if err := c.log.groups.commit(ctx, c.cfg.Group, m, offsets); err != nil {
		return err
	}
	c.mu.Lock()
	for tp, off := range offsets {
		c.committed[tp] = off
	}
	c.mu.Unlock()
	return nil
}

// CommitRecords commits, for each partition among recs, the offset after
// its last record there: recs count as processed. Errors as for Commit.
func (c *Consumer) CommitRecords(ctx context.Context, recs ...Record) error {
	offsets := map[TopicPartition]int64{}
	for i := range recs {
		tp := TopicPartition{recs[i].Topic, recs[i].Partition}
		if next := recs[i].Offset + 1; next > offsets[tp] {
			offsets[tp] = next
		}
	}
	return c.CommitOffsets(ctx, offsets)
}

// Committed returns the group's committed offsets for tps (nil: the
// assigned partitions); partitions without one are absent from the map.
func (c *Consumer) Committed(ctx context.Context, tps ...TopicPartition) (map[TopicPartition]int64, error) {
	if c.closed.Load() || c.log.isClosed() {
		return nil, ErrClosed
	}
	if c.cfg.Group == "" {
		return nil, errNoGroup
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if tps == nil {
		tps = c.Assignment()
	}
	out := map[TopicPartition]int64{}
	for _, tp := range tps {
		co, ok, err := c.log.offsets.committed(c.cfg.Group, tp)
		if err != nil {
			return nil, err
		}
		if ok {
			out[tp] = co.Offset
		}
	}
	return out, nil
}
