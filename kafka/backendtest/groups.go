package backendtest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/commitlog-go/commitlog"
)

// member is a group member polling on a goroutine of its own, committing
// what each Poll returned before the next.
type member struct {
	t      *testing.T
	c      commitlog.ConsumerClient
	notify chan struct{}
	cancel context.CancelFunc
	done   chan struct{}

	mu   sync.Mutex
	got  []commitlog.Record
	errs []error
}

// startMember joins cfg's group; notify is signalled (without blocking)
// after every Poll and rebalance callback.
func startMember(t *testing.T, b *Backend, cfg commitlog.ConsumerConfig, notify chan struct{}) *member {
	t.Helper()
	return startMemberCommitting(t, b, cfg, notify, true)
}

// startMemberCommitting is startMember; with explicit false the member
// leaves committing to auto-commit (as cfg says) instead of committing
// what each Poll returned.
func startMemberCommitting(t *testing.T, b *Backend, cfg commitlog.ConsumerConfig, notify chan struct{}, explicit bool) *member {
	t.Helper()
	signal := func() {
		select {
		case notify <- struct{}{}:
		default:
		}
	}
	if explicit {
		cfg.DisableAutoCommit = true
	}
	cfg.OnAssigned = func(context.Context, commitlog.ConsumerClient, []commitlog.TopicPartition) { signal() }
	cfg.OnRevoked = func(context.Context, commitlog.ConsumerClient, []commitlog.TopicPartition) { signal() }
	cfg.OnLost = cfg.OnRevoked
	c, err := b.NewConsumer(cfg)
	if err != nil {
		t.Fatalf("NewConsumer: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	m := &member{t: t, c: c, notify: notify, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(m.done)
		for {
			recs, err := c.Poll(ctx)
			if ctx.Err() != nil {
				return
			}
			if err != nil && !errors.Is(err, commitlog.ErrFenced) {
				m.fail(fmt.Errorf("Poll: %w", err))
				return
			}
			if len(recs) > 0 && explicit {
				// Committed before they count as read: a test that saw
				// them may rely on the commit.
				if err := c.CommitRecords(ctx, recs...); err != nil && ctx.Err() == nil && !errors.Is(err, commitlog.ErrFenced) {
					m.fail(fmt.Errorf("CommitRecords: %w", err))
					return
				}
			}
			if len(recs) > 0 {
				m.mu.Lock()
				m.got = append(m.got, recs...)
				m.mu.Unlock()
			}
			signal()
		}
	}()
	t.Cleanup(m.stop)
	return m
}

func (m *member) fail(err error) {
	m.mu.Lock()
	m.errs = append(m.errs, err)
	m.mu.Unlock()
	select {
	case m.notify <- struct{}{}:
	default:
	}
}

// records returns a copy of what the member polled.
func (m *member) records() []commitlog.Record {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.got)
}

// err returns the member's first failure.
func (m *member) err() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return errors.Join(m.errs...)
}

// stop stops the poll loop and closes the consumer (leaving the group).
func (m *member) stop() {
	select {
	case <-m.done:
		if m.cancel == nil {
			return
		}
	default:
	}
	m.cancel()
	<-m.done
	if err := m.c.Close(); err != nil {
		m.t.Errorf("Close: %v", err)
	}
	m.cancel = nil
}

// waitFor waits until cond holds, rechecking it whenever a member
// signals, and fails the test when ctx ends or a member failed.
func waitFor(t *testing.T, ctx context.Context, notify chan struct{}, ms []*member, what string, cond func() bool) {
	t.Helper()
	for !cond() {
		for _, m := range ms {
			if err := m.err(); err != nil {
				t.Fatalf("waiting for %s: %v", what, err)
			}
		}
		select {
		case <-notify:
		case <-ctx.Done():
			t.Fatalf("waiting for %s: %v", what, ctx.Err())
		}
	}
}

// covers reports whether the members' assignments are disjoint, cover
// all, and leave no member without a partition.
func covers(all []commitlog.TopicPartition, ms ...*member) bool {
	var union []commitlog.TopicPartition
	for _, m := range ms {
		a := m.c.Assignment()
		if len(a) == 0 {
			return false
		}
		union = append(union, a...)
	}
	slices.SortFunc(union, func(a, b commitlog.TopicPartition) int {
		if a.Topic != b.Topic {
			return map[bool]int{true: -1, false: 1}[a.Topic < b.Topic]
		}
		return int(a.Partition - b.Partition)
	})
	return slices.Equal(union, all)
}

// seen returns the set of values the members polled.
func seen(ms ...*member) map[string]int {
	out := map[string]int{}
	for _, m := range ms {
		for _, r := range m.records() {
			out[string(r.Value)]++
		}
	}
	return out
}

func hasAll(vals []string, ms ...*member) func() bool {
	return func() bool {
		s := seen(ms...)
		for _, v := range vals {
			if s[v] == 0 {
				return false
			}
		}
		return true
	}
}

// testGroupMembership runs members joining and leaving a group: the
// partitions are always shared out disjointly and completely, every
// record produced is consumed, each member reads each partition in
// order, and a member joining after everything was committed starts from
// the commits, receiving nothing twice.
func testGroupMembership(t *testing.T, b *Backend) {
	ctx := b.ctx(t)
	const topic, n = "grp", 6
	b.createTopic(t, topic, n, commitlog.TopicConfig{})
	all := allPartitions(topic, n)
	p := b.producer(t, commitlog.ProducerConfig{Partitioner: commitlog.Murmur2Partitioner()})
	key := func(i int) []byte { return fmt.Appendf(nil, "k%d", i) }
	cfg := commitlog.ConsumerConfig{Group: "g", Topics: []string{topic}, MaxPollRecords: 10}
	notify := make(chan struct{}, 1)

	first := names("first", 60)
	produceValues(t, ctx, p, topic, first, key)
	a := startMember(t, b, cfg, notify)
	waitFor(t, ctx, notify, []*member{a}, "the only member to own every partition", func() bool { return covers(all, a) })
	waitFor(t, ctx, notify, []*member{a}, "the only member to read every record", hasAll(first, a))

	bm := startMember(t, b, cfg, notify)
	waitFor(t, ctx, notify, []*member{a, bm}, "two members to share the partitions", func() bool { return covers(all, a, bm) })
	second := names("second", 60)
	produceValues(t, ctx, p, topic, second, key)
	waitFor(t, ctx, notify, []*member{a, bm}, "two members to read every new record", hasAll(second, a, bm))

	a.stop()
	waitFor(t, ctx, notify, []*member{bm}, "the remaining member to own every partition", func() bool { return covers(all, bm) })
	third := names("third", 60)
	produceValues(t, ctx, p, topic, third, key)
	waitFor(t, ctx, notify, []*member{bm}, "the remaining member to read every new record", hasAll(third, bm))
	for _, m := range []*member{a, bm} {
		requireOrdered(t, m.records())
	}
	bm.stop()

	// Everything was committed: a new member starts after it.
	last := names("last", 12)
	produceValues(t, ctx, p, topic, last, key)
	c := startMember(t, b, cfg, notify)
	waitFor(t, ctx, notify, []*member{c}, "a new member to read the new records", hasAll(last, c))
	if got := values(c.records()); len(got) != len(last) {
		t.Fatalf("a member joining after every commit read %d records (%v), want only the %d new ones", len(got), got, len(last))
	}
}

// testCommitsSurviveRestart commits a group's offsets, restarts the
// backend, and checks that the commits and every acknowledged record
// are still there, and that the group resumes from its commits.
func testCommitsSurviveRestart(t *testing.T, b *Backend) {
	if b.Restart == nil {
		t.Skip("the backend cannot restart")
	}
	ctx := b.ctx(t)
	const topic = "restart"
	b.createTopic(t, topic, 2, commitlog.TopicConfig{})
	p, err := b.NewProducer(commitlog.ProducerConfig{Partitioner: commitlog.ManualPartitioner()})
	if err != nil {
		t.Fatal(err)
	}
	var sent []*commitlog.Record
	for i := range 40 {
		sent = append(sent, &commitlog.Record{Topic: topic, Partition: int32(i % 2), Value: fmt.Appendf(nil, "r%d", i)})
	}
	if err := p.ProduceSync(ctx, sent...); err != nil {
		t.Fatalf("ProduceSync: %v", err)
	}
	p.Close()
	tps := allPartitions(topic, 2)
	c, err := b.NewConsumer(commitlog.ConsumerConfig{Group: "keep", Topics: []string{topic}, DisableAutoCommit: true})
	if err != nil {
		t.Fatal(err)
	}
	pollUntil(t, ctx, c, atLeast(1))
	want := map[commitlog.TopicPartition]int64{tps[0]: 7, tps[1]: 13}
	if err := c.CommitOffsets(ctx, want); err != nil {
		t.Fatalf("CommitOffsets: %v", err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	b.Restart(t)

	c = b.consumer(t, commitlog.ConsumerConfig{Group: "keep", Topics: []string{topic}, DisableAutoCommit: true})
	got, err := c.Committed(ctx, tps...)
	if err != nil || got[tps[0]] != 7 || got[tps[1]] != 13 {
		t.Fatalf("Committed after the restart: %v, %v; want %v", got, err, want)
	}
	recs := pollUntil(t, ctx, c, atLeast(20-7+20-13))
	for _, r := range recs {
		if r.Offset < want[commitlog.TopicPartition{Topic: r.Topic, Partition: r.Partition}] {
			t.Fatalf("read %s-%d@%d, below the committed offset", r.Topic, r.Partition, r.Offset)
		}
	}
	all := b.consumer(t, commitlog.ConsumerConfig{Partitions: tps})
	read := pollUntil(t, ctx, all, atLeast(len(sent)))
	for _, s := range sent {
		i := slices.IndexFunc(read, func(r commitlog.Record) bool { return r.Partition == s.Partition && r.Offset == s.Offset })
		if i < 0 || string(read[i].Value) != string(s.Value) {
			t.Fatalf("acknowledged %s at %d@%d: lost across the restart", s.Value, s.Partition, s.Offset)
		}
	}
}

// testAutoCommit checks auto-commit's moments besides its period: the
// positions of what a member polled are committed before its partitions
// are revoked (so the member they move to reads none of it again) and
// when it closes.
func testAutoCommit(t *testing.T, b *Backend) {
	ctx := b.ctx(t)
	const topic, n = "ac", 4
	b.createTopic(t, topic, n, commitlog.TopicConfig{})
	p := b.producer(t, commitlog.ProducerConfig{Partitioner: commitlog.ManualPartitioner()})
	var recs []*commitlog.Record
	for i := range 40 {
		recs = append(recs, &commitlog.Record{Topic: topic, Partition: int32(i % n), Value: fmt.Appendf(nil, "ac-%d", i)})
	}
	if err := p.ProduceSync(ctx, recs...); err != nil {
		t.Fatalf("ProduceSync: %v", err)
	}
	all := allPartitions(topic, n)
	// No periodic commit within the test: only revokes and Close commit.
	cfg := commitlog.ConsumerConfig{Group: "auto", Topics: []string{topic}, AutoCommitInterval: time.Hour}
	notify := make(chan struct{}, 1)
	a := startMemberCommitting(t, b, cfg, notify, false)
	waitFor(t, ctx, notify, []*member{a}, "the first member to read everything", hasAll(names("ac", 40), a))
	bm := startMemberCommitting(t, b, cfg, notify, false)
	waitFor(t, ctx, notify, []*member{a, bm}, "two members to share the partitions", func() bool { return covers(all, a, bm) })
	adm := b.admin(t)
	committed := func() map[commitlog.TopicPartition]int64 {
		d, err := adm.DescribeGroup(ctx, "auto")
		if err != nil {
			t.Fatalf("DescribeGroup: %v", err)
		}
		out := map[commitlog.TopicPartition]int64{}
		for _, pl := range d.Partitions {
			out[pl.TopicPartition] = pl.Committed
		}
		return out
	}
	got := committed()
	for _, tp := range bm.c.Assignment() {
		if got[tp] != 10 {
			t.Fatalf("%v moved to the second member with committed offset %d, want 10 (committed on revoke): %v", tp, got[tp], got)
		}
	}
	if n := len(bm.records()); n != 0 {
		t.Fatalf("the second member read %d records the first had polled", n)
	}
	a.stop()
	bm.stop()
	for _, tp := range all {
		if got := committed(); got[tp] != 10 {
			t.Fatalf("after Close: %v committed at %d, want 10: %v", tp, got[tp], got)
		}
	}
}

// testSeekInOnAssigned checks that a Seek from OnAssigned sets where the
// gained partitions are first read, also below the group's committed
// offsets, and that Poll and Close called from it refuse to run.
func testSeekInOnAssigned(t *testing.T, b *Backend) {
	ctx := b.ctx(t)
	const topic = "sa"
	b.createTopic(t, topic, 2, commitlog.TopicConfig{})
	p := b.producer(t, commitlog.ProducerConfig{Partitioner: commitlog.ManualPartitioner()})
	var recs []*commitlog.Record
	for i := range 20 {
		recs = append(recs, &commitlog.Record{Topic: topic, Partition: int32(i % 2), Value: fmt.Appendf(nil, "sa-%d", i)})
	}
	if err := p.ProduceSync(ctx, recs...); err != nil {
		t.Fatalf("ProduceSync: %v", err)
	}
	tps := allPartitions(topic, 2)
	m := b.consumer(t, commitlog.ConsumerConfig{Group: "sag", Partitions: tps})
	if err := m.CommitOffsets(ctx, map[commitlog.TopicPartition]int64{tps[0]: 8, tps[1]: 8}); err != nil {
		t.Fatalf("CommitOffsets: %v", err)
	}
	if err := m.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	var seekErr, pollErr, closeErr error
	c := b.consumer(t, commitlog.ConsumerConfig{Group: "sag", Topics: []string{topic},
		OnAssigned: func(ctx context.Context, c commitlog.ConsumerClient, tps []commitlog.TopicPartition) {
			for _, tp := range tps {
				seekErr = errors.Join(seekErr, c.Seek(tp, 3))
			}
			_, pollErr = c.Poll(ctx)
			closeErr = c.Close()
		}})
	got := pollUntil(t, ctx, c, atLeast(14))
	if seekErr != nil {
		t.Fatalf("Seek in OnAssigned: %v", seekErr)
	}
	if !errors.Is(pollErr, commitlog.ErrInvalidArgument) || !errors.Is(closeErr, commitlog.ErrInvalidArgument) {
		t.Fatalf("Poll and Close in OnAssigned: %v and %v, want errors matching ErrInvalidArgument", pollErr, closeErr)
	}
	first := map[int32]int64{}
	for _, r := range got {
		if _, ok := first[r.Partition]; !ok {
			first[r.Partition] = r.Offset
		}
	}
	if len(got) != 14 || first[0] != 3 || first[1] != 3 {
		t.Fatalf("read %d records, first offsets %v; want 14 from offset 3 of each partition (Seek in OnAssigned, below the commits at 8)", len(got), first)
	}
}

// testRebalanceOnlyInPoll checks that a member's partitions move only
// while it is inside Poll: none is assigned before its first Poll, and a
// member that stops polling (while holding the
// records of its last Poll) keeps its partitions, and no rebalance
// callback of it runs, until it polls again, however long another member
// waits for them (within MaxPollInterval). Then, inside its Poll, the
// rebalance runs and the other member gets its share.
func testRebalanceOnlyInPoll(t *testing.T, b *Backend) {
	ctx := b.ctx(t)
	const topic, n = "inpoll", 4
	b.createTopic(t, topic, n, commitlog.TopicConfig{})
	p := b.producer(t, commitlog.ProducerConfig{Partitioner: commitlog.ManualPartitioner()})
	var recs []*commitlog.Record
	for i := range 2 * n {
		recs = append(recs, &commitlog.Record{Topic: topic, Partition: int32(i % n), Value: fmt.Appendf(nil, "v%d", i)})
	}
	if err := p.ProduceSync(ctx, recs...); err != nil {
		t.Fatalf("ProduceSync: %v", err)
	}

	var (
		mu       sync.Mutex
		inPoll   bool
		outside  []string // callbacks of A that ran outside its Polls
		revoked  int
		bGained  = make(chan struct{}, 1)
		aPolling = func(in bool) { mu.Lock(); inPoll = in; mu.Unlock() }
	)
	check := func(name string) func(context.Context, commitlog.ConsumerClient, []commitlog.TopicPartition) {
		return func(_ context.Context, _ commitlog.ConsumerClient, tps []commitlog.TopicPartition) {
			mu.Lock()
			defer mu.Unlock()
			if !inPoll {
				outside = append(outside, fmt.Sprintf("%s%v", name, tps))
			}
			if name == "OnRevoked" || name == "OnLost" {
				revoked += len(tps)
			}
		}
	}
	cfg := commitlog.ConsumerConfig{Group: "inpoll", Topics: []string{topic}, MaxPollRecords: 1, DisableAutoCommit: true, MaxPollInterval: time.Minute}
	acfg := cfg
	acfg.OnAssigned, acfg.OnRevoked, acfg.OnLost = check("OnAssigned"), check("OnRevoked"), check("OnLost")
	a := b.consumer(t, acfg)
	// Nor before the first Poll: a member joins at once, and its
	// partitions are assigned inside its first Poll.
	time.Sleep(300 * time.Millisecond)
	aPolling(true)
	got := pollUntil(t, ctx, a, func(recs []commitlog.Record) bool { return len(recs) > 0 && len(a.Assignment()) == n })
	aPolling(false)
	held := got[len(got)-1] // A is processing it

	bcfg := cfg
	bcfg.OnAssigned = func(context.Context, commitlog.ConsumerClient, []commitlog.TopicPartition) {
		select {
		case bGained <- struct{}{}:
		default:
		}
	}
	bm := b.consumer(t, bcfg)
	bctx, stopB := context.WithCancel(ctx)
	bDone := make(chan struct{})
	go func() {
		defer close(bDone)
		for bctx.Err() == nil {
			bm.Poll(bctx)
		}
	}()
	defer func() { stopB(); <-bDone }()

	// The one wait of the suite that is a sleep: B wants partitions, and
	// for a while (many heartbeats) nothing may move them while A does
	// not poll.
	select {
	case <-bGained:
		t.Fatal("B was assigned partitions while A, holding every one, was not polling")
	case <-time.After(time.Second):
	}
	mu.Lock()
	if len(outside) > 0 || revoked > 0 {
		mu.Unlock()
		t.Fatalf("while A was not polling: callbacks %v ran, %d partitions revoked", outside, revoked)
	}
	mu.Unlock()
	if got := a.Assignment(); len(got) != n {
		t.Fatalf("A's assignment while not polling: %v, want all %d partitions", got, n)
	}
	if err := a.CommitRecords(ctx, held); err != nil {
		t.Fatalf("A's commit of a record it holds, B waiting: %v", err)
	}

	// A polls: the rebalance runs inside, and B gets its share.
	for {
		mu.Lock()
		done := revoked > 0
		mu.Unlock()
		if done {
			break
		}
		pctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		aPolling(true)
		_, err := a.Poll(pctx)
		aPolling(false)
		cancel()
		if err != nil && !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("A's Poll: %v", err)
		}
		if ctx.Err() != nil {
			t.Fatal("A's Polls never revoked a partition")
		}
	}
	select {
	case <-bGained:
	case <-ctx.Done():
		t.Fatal("B never got a partition")
	}
	mu.Lock()
	defer mu.Unlock()
	if len(outside) > 0 {
		t.Fatalf("callbacks of A ran outside its Polls: %v", outside)
	}
}
