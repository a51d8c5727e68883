package commitlog

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/commitlog-go/commitlog/internal/vfs"
	"github.com/stretchr/testify/require"
)

// callbackTrace records rebalance callbacks of several consumers in the
// order they happen.
type callbackTrace struct {
	mu     sync.Mutex
	events []string
}

func (tr *callbackTrace) add(name, kind string, tps []TopicPartition) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	for _, tp := range tps {
		tr.events = append(tr.events, fmt.Sprintf("%s %s %v", name, kind, tp))
	}
}

func (tr *callbackTrace) index(event string) int {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return slices.Index(tr.events, event)
}

func (tr *callbackTrace) lastIndex(event string) int {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	for i := len(tr.events) - 1; i >= 0; i-- {
		if tr.events[i] == event {
			return i
		}
	}
	return -1
}

func (tr *callbackTrace) list() []string {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return slices.Clone(tr.events)
}

// traced returns cfg with callbacks that record into tr under name.
func traced(tr *callbackTrace, name string, cfg ConsumerConfig) ConsumerConfig {
	cfg.OnAssigned = func(_ context.Context, _ ConsumerClient, tps []TopicPartition) { tr.add(name, "assigned", tps) }
	cfg.OnRevoked = func(_ context.Context, _ ConsumerClient, tps []TopicPartition) { tr.add(name, "revoked", tps) }
	cfg.OnLost = func(_ context.Context, _ ConsumerClient, tps []TopicPartition) { tr.add(name, "lost", tps) }
	return cfg
}

// pollAsync polls c once in a goroutine.
func pollAsync(c *Consumer) <-chan error {
	done := make(chan error, 1)
	go func() {
		_, err := c.Poll(context.Background())
		done <- err
	}()
	return done
}

// groupTopic creates topic "t" with n partitions, each holding records,
// so that any Poll with partitions returns at once.
func groupTopic(t testing.TB, l *Log, n int32) []TopicPartition {
	_, err := l.CreateTopic(context.Background(), "t", TopicConfig{Partitions: n})
	require.NoError(t, err)
	fillTopic(t, l, "t", 100)
	var tps []TopicPartition
	for i := range n {
		tps = append(tps, TopicPartition{"t", i})
	}
	return tps
}

// requireDisjointCover checks that the assignments are disjoint and
// together cover all.
func requireDisjointCover(t testing.TB, all []TopicPartition, assignments ...[]TopicPartition) {
	t.Helper()
	var union []TopicPartition
	for _, a := range assignments {
		union = append(union, a...)
	}
	slices.SortFunc(union, compareTopicPartitions)
	require.Equal(t, all, union)
}

func TestGroupCooperativeRebalanceRevokesBeforeAssigning(t *testing.T) {
	l := openTest(t, vfs.NewMem(), nil)
	all := groupTopic(t, l, 4)
	tr := &callbackTrace{}
	cfg := ConsumerConfig{Group: "g", Topics: []string{"t"}, MaxPollRecords: 1}
	a := newTestConsumer(t, l, traced(tr, "A", cfg))
	pollN(t, a, 1)
	require.Equal(t, all, a.Assignment())

	b := newTestConsumer(t, l, traced(tr, "B", cfg))
	bDone := pollAsync(b)
	pollN(t, a, 1) // A revokes what moves; B takes it
	require.NoError(t, <-bDone)
	require.Len(t, a.Assignment(), 2)
	require.Len(t, b.Assignment(), 2)
	requireDisjointCover(t, all, a.Assignment(), b.Assignment())
	for _, tp := range b.Assignment() {
		revoked, assigned := tr.index("A revoked "+tp.String()), tr.index("B assigned "+tp.String())
		require.True(t, revoked >= 0 && assigned > revoked, "A's revoke of %v must precede B's assign: %v", tp, tr.list())
	}
	for _, tp := range a.Assignment() {
		require.Equal(t, -1, tr.index("A revoked "+tp.String()), "cooperative: a partition that stays is not revoked")
	}

	// Close leaves at once: A gets everything back on its next Poll.
	require.NoError(t, b.Close())
	pollN(t, a, 1)
	require.Equal(t, all, a.Assignment())
	for _, tp := range all[2:] {
		require.GreaterOrEqual(t, tr.index("B revoked "+tp.String())+tr.index("B revoked "+all[0].String()), -1)
	}
}

func TestGroupEagerRebalanceRevokesEverything(t *testing.T) {
	l := openTest(t, vfs.NewMem(), nil)
	all := groupTopic(t, l, 4)
	tr := &callbackTrace{}
	cfg := ConsumerConfig{Group: "g", Topics: []string{"t"}, MaxPollRecords: 1, Balancer: RangeBalancer()}
	a := newTestConsumer(t, l, traced(tr, "A", cfg))
	pollN(t, a, 1)
	b := newTestConsumer(t, l, traced(tr, "B", cfg))
	bDone := pollAsync(b)
	pollN(t, a, 1)
	require.NoError(t, <-bDone)
	// Range: A (first member) gets partitions 0-1, B 2-3; A revoked all
	// four first, and got 0-1 back.
	require.Equal(t, all[:2], a.Assignment())
	require.Equal(t, all[2:], b.Assignment())
	for _, tp := range all {
		require.GreaterOrEqual(t, tr.index("A revoked "+tp.String()), 0, "eager: everything revoked: %v", tr.list())
	}
	for _, tp := range all[:2] {
		require.Greater(t, tr.lastIndex("A assigned "+tp.String()), tr.index("A revoked "+tp.String()))
	}
}

func TestGroupStaleCommitIsFenced(t *testing.T) {
	l := openTest(t, vfs.NewMem(), nil)
	all := groupTopic(t, l, 4)
	cfg := ConsumerConfig{Group: "g", Topics: []string{"t"}, DisableAutoCommit: true, MaxPollRecords: 1}
	a := newTestConsumer(t, l, cfg)
	pollN(t, a, 1)
	b := newTestConsumer(t, l, cfg)
	bDone := pollAsync(b)
	pollN(t, a, 1)
	require.NoError(t, <-bDone)
	moved := b.Assignment()[0]
	err := a.CommitOffsets(context.Background(), map[TopicPartition]int64{moved: 5})
	require.ErrorIs(t, err, ErrFenced)
	var fe *FencedError
	require.ErrorAs(t, err, &fe)
	require.Equal(t, a.MemberID(), fe.MemberID)
	require.Contains(t, fe.Reason, "not assigned")
	kept := a.Assignment()[0]
	require.NoError(t, a.CommitOffsets(context.Background(), map[TopicPartition]int64{kept: 5}))
	require.NoError(t, b.CommitOffsets(context.Background(), map[TopicPartition]int64{moved: 7}))
	_ = all
}

func TestGroupEvictionAfterMaxPollInterval(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := openTest(t, vfs.NewMem(), nil)
		all := groupTopic(t, l, 4)
		tr := &callbackTrace{}
		cfg := ConsumerConfig{Group: "g", Topics: []string{"t"}, MaxPollRecords: 1, MaxPollInterval: time.Minute}
		a := newTestConsumer(t, l, traced(tr, "A", cfg))
		b := newTestConsumer(t, l, traced(tr, "B", cfg))
		pollN(t, a, 1)
		pollN(t, b, 1)
		pollN(t, a, 1)
		requireDisjointCover(t, all, a.Assignment(), b.Assignment())
		require.Len(t, b.Assignment(), 2)
		bParts := b.Assignment()

		// A waits in Poll (alive); B does not poll for over a minute.
		ctx, cancel := context.WithCancel(context.Background())
		aDone := make(chan struct{})
		go func() {
			defer close(aDone)
			for ctx.Err() == nil {
				if _, err := a.Poll(ctx); err != nil && !errors.Is(err, context.Canceled) {
					t.Error(err)
				}
			}
		}()
		time.Sleep(time.Minute + time.Second)
		synctest.Wait()
		cancel()
		<-aDone
		require.Equal(t, all, a.Assignment(), "B's partitions moved to A")

		err := b.CommitOffsets(context.Background(), map[TopicPartition]int64{bParts[0]: 1})
		require.ErrorIs(t, err, ErrFenced)
		_, err = b.Poll(context.Background())
		require.ErrorIs(t, err, ErrFenced)
		require.ErrorContains(t, err, "MaxPollInterval")
		for _, tp := range bParts {
			require.GreaterOrEqual(t, tr.index("B lost "+tp.String()), 0, "OnLost: %v", tr.list())
			require.Equal(t, -1, tr.index("B revoked "+tp.String()))
		}
		require.Empty(t, b.Assignment())
		// The next Poll rejoins.
		fillTopic(t, l, "t", 10)
		bDone := pollAsync(b)
		synctest.Wait() // B has joined and waits for A to release partitions
		pollN(t, a, 1)
		require.NoError(t, <-bDone)
		require.Len(t, b.Assignment(), 2)
		require.NoError(t, a.Close())
		require.NoError(t, b.Close())
		l.Close()
	})
}

func TestGroupStaticMemberKeepsPartitionsAcrossRestart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := openTest(t, vfs.NewMem(), nil)
		all := groupTopic(t, l, 4)
		tr := &callbackTrace{}
		cfg := ConsumerConfig{Group: "g", Topics: []string{"t"}, MaxPollRecords: 1, SessionTimeout: 10 * time.Second}
		static := cfg
		static.InstanceID = "i1"
		a := newTestConsumer(t, l, traced(tr, "A", static))
		b := newTestConsumer(t, l, traced(tr, "B", cfg))
		pollN(t, a, 1)
		pollN(t, b, 1)
		pollN(t, a, 1)
		aParts := a.Assignment()
		require.Len(t, aParts, 2)
		require.NoError(t, a.Close())
		pollN(t, b, 1)
		require.Len(t, b.Assignment(), 2, "a closed static member's partitions stay reserved")

		before := len(tr.list())
		a2 := newTestConsumer(t, l, traced(tr, "A2", static))
		pollN(t, a2, 1)
		require.Equal(t, aParts, a2.Assignment(), "the restarted static member takes its partitions back")
		pollN(t, b, 1)
		for _, e := range tr.list()[before:] {
			require.NotContains(t, e, "B ", "no rebalance for B: %v", tr.list())
		}

		// Closed for longer than SessionTimeout: the partitions move.
		require.NoError(t, a2.Close())
		time.Sleep(11 * time.Second)
		synctest.Wait()
		pollN(t, b, 1)
		require.Equal(t, all, b.Assignment())
		require.NoError(t, b.Close())
		l.Close()
	})
}

// A static member that closes before its next Poll gives up what a
// rebalance took from it keeps only its own assignment reserved: the new
// owner gets the rest at once, not after SessionTimeout.
func TestGroupStaticMemberClosingMidRebalanceReservesOnlyItsAssignment(t *testing.T) {
	l := openTest(t, vfs.NewMem(), nil)
	all := groupTopic(t, l, 4)
	a := newTestConsumer(t, l, ConsumerConfig{Group: "g", Topics: []string{"t"}, MaxPollRecords: 1,
		InstanceID: "i1", SessionTimeout: time.Hour})
	pollN(t, a, 1)
	require.Equal(t, all, a.Assignment())
	b := newTestConsumer(t, l, ConsumerConfig{Group: "g", Topics: []string{"t"}, MaxPollRecords: 1})
	require.NoError(t, a.Close())
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := b.Poll(ctx)
	require.NoError(t, err, "b's partitions are free")
	require.Len(t, b.Assignment(), 2)
	d, err := l.DescribeGroup("g")
	require.NoError(t, err)
	require.Len(t, d.Members, 2)
	require.True(t, d.Members[0].Departed)
	require.Len(t, d.Members[0].Owned, 2, "the departed member holds only its own assignment")
}

func TestGroupStaticMemberReplacedWhileAliveIsFenced(t *testing.T) {
	l := openTest(t, vfs.NewMem(), nil)
	all := groupTopic(t, l, 2)
	cfg := ConsumerConfig{Group: "g", Topics: []string{"t"}, InstanceID: "i1"}
	a := newTestConsumer(t, l, cfg)
	pollN(t, a, 1)
	a2 := newTestConsumer(t, l, cfg)
	pollN(t, a2, 1)
	require.Equal(t, all, a2.Assignment())
	_, err := a.Poll(context.Background())
	require.ErrorIs(t, err, ErrFenced)
	require.ErrorContains(t, err, "same InstanceID")
}

func TestGroupCallbacksMayCommitButNotPoll(t *testing.T) {
	l := openTest(t, vfs.NewMem(), nil)
	groupTopic(t, l, 2)
	var pollErr, closeErr, commitErr error
	cfg := ConsumerConfig{Group: "g", Topics: []string{"t"}, DisableAutoCommit: true, MaxPollRecords: 1}
	cfg.OnAssigned = func(ctx context.Context, c ConsumerClient, tps []TopicPartition) {
		_, pollErr = c.Poll(ctx)
		closeErr = c.Close()
		for _, tp := range tps {
			require.NoError(t, c.Seek(tp, 10))
		}
	}
	cfg.OnRevoked = func(ctx context.Context, c ConsumerClient, tps []TopicPartition) {
		commitErr = c.Commit(ctx)
	}
	c, err := l.NewConsumer(cfg)
	require.NoError(t, err)
	recs := pollN(t, c, 1)
	require.Equal(t, int64(10), recs[0].Offset, "Seek from OnAssigned applies")
	require.ErrorIs(t, pollErr, ErrInvalidArgument)
	require.ErrorIs(t, closeErr, ErrInvalidArgument)
	require.NoError(t, c.Close())
	require.NoError(t, commitErr)
	other := newTestConsumer(t, l, ConsumerConfig{Group: "g", Topics: []string{"t"}})
	committed, err := other.Committed(context.Background(), TopicPartition{"t", recs[0].Partition})
	require.NoError(t, err)
	require.Equal(t, recs[0].Offset+1, committed[TopicPartition{"t", recs[0].Partition}], "OnRevoked's commit on Close")
}

func TestGroupTopicDeletedWhileSubscribed(t *testing.T) {
	l := openTest(t, vfs.NewMem(), nil)
	groupTopic(t, l, 2)
	_, err := l.CreateTopic(context.Background(), "u", TopicConfig{})
	require.NoError(t, err)
	fillTopic(t, l, "u", 5)
	tr := &callbackTrace{}
	c := newTestConsumer(t, l, traced(tr, "A", ConsumerConfig{Group: "g", Topics: []string{"t", "u"}, MaxPollRecords: 1}))
	pollN(t, c, 1)
	require.Len(t, c.Assignment(), 3)
	require.NoError(t, l.DeleteTopic(context.Background(), "t"))
	recs := pollN(t, c, 1)
	require.Equal(t, "u", recs[0].Topic)
	require.Equal(t, []TopicPartition{{"u", 0}}, c.Assignment())
	require.GreaterOrEqual(t, tr.index("A lost t-0"), 0, "%v", tr.list())

	// Created again: the subscription picks it up.
	_, err = l.CreateTopic(context.Background(), "t", TopicConfig{})
	require.NoError(t, err)
	fillTopic(t, l, "t", 3)
	recs = pollN(t, c, 1)
	require.Equal(t, []TopicPartition{{"t", 0}, {"u", 0}}, c.Assignment())
}

func TestGroupMemberThatNeverPollsIsEvicted(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := openTest(t, vfs.NewMem(), nil)
		all := groupTopic(t, l, 2)
		cfg := ConsumerConfig{Group: "g", Topics: []string{"t"}, MaxPollRecords: 1, MaxPollInterval: time.Minute}
		a := newTestConsumer(t, l, cfg)
		idle := newTestConsumer(t, l, cfg) // joins, never polls
		pollN(t, a, 1)
		require.Len(t, a.Assignment(), 1, "the idle member has a target")
		ctx, cancel := context.WithCancel(context.Background())
		aDone := make(chan struct{})
		go func() { // A waits in Poll: alive
			defer close(aDone)
			for ctx.Err() == nil {
				a.Poll(ctx)
			}
		}()
		time.Sleep(2 * time.Minute)
		synctest.Wait()
		cancel()
		<-aDone
		require.Equal(t, all, a.Assignment())
		_, err := idle.Poll(context.Background())
		require.ErrorIs(t, err, ErrFenced)
		require.NoError(t, a.Close())
		require.NoError(t, idle.Close())
		l.Close()
	})
}

// TestGroupNeverPolledMemberDoesNotStallBalancers: a consumer that joins its group
// (NewConsumer) and dies before its first Poll is evicted after
// MaxPollInterval like one that stopped polling; otherwise it would keep
// its target partitions forever (cooperative: consumed by no one; eager:
// the whole group waits for it).
func TestGroupNeverPolledMemberDoesNotStallBalancers(t *testing.T) {
	for _, bal := range []Balancer{CooperativeStickyBalancer(), RangeBalancer()} {
		t.Run(bal.Name(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				l := openTest(t, vfs.NewMem(), nil)
				all := groupTopic(t, l, 4)
				cfg := ConsumerConfig{Group: "g", Topics: []string{"t"}, Balancer: bal, MaxPollRecords: 1, MaxPollInterval: time.Minute}
				a, err := l.NewConsumer(cfg)
				require.NoError(t, err)
				pollN(t, a, 1)
				require.Equal(t, all, a.Assignment())
				// b joins, then its process dies before its first Poll.
				_, err = l.NewConsumer(cfg)
				require.NoError(t, err)
				// a keeps polling, for two MaxPollIntervals.
				for range 120 {
					ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
					_, err := a.Poll(ctx)
					cancel()
					if err != nil && !errors.Is(err, context.DeadlineExceeded) {
						t.Fatal(err)
					}
					time.Sleep(time.Second)
				}
				assignment := a.Assignment()
				require.NoError(t, a.Close())
				require.NoError(t, l.Close())
				require.Equal(t, all, assignment,
					"a member that never polled for 2 minutes (MaxPollInterval 1 minute) was not evicted: its partitions are stuck")
			})
		})
	}
}

// reverseBalancer is a user-supplied balancer: range, with the members in
// reverse order.
type reverseBalancer struct{ broken bool }

func (reverseBalancer) Name() string      { return "reverse" }
func (reverseBalancer) Cooperative() bool { return true }
func (b reverseBalancer) Balance(members []BalancerMember, partitions map[string]int32) map[string][]TopicPartition {
	rev := slices.Clone(members)
	slices.Reverse(rev)
	out := RangeBalancer().Balance(rev, partitions)
	if b.broken {
		for id := range out {
			out[id] = nil // assigns nothing: invalid
		}
	}
	return out
}

func TestGroupUserSuppliedBalancer(t *testing.T) {
	l := openTest(t, vfs.NewMem(), nil)
	all := groupTopic(t, l, 4)
	cfg := ConsumerConfig{Group: "g", Topics: []string{"t"}, MaxPollRecords: 1, Balancer: reverseBalancer{}}
	a := newTestConsumer(t, l, cfg)
	b := newTestConsumer(t, l, cfg)
	bDone := pollAsync(b)
	pollN(t, a, 1)
	require.NoError(t, <-bDone)
	// Reversed: the second member gets the first half.
	require.Equal(t, all[:2], b.Assignment())
	require.Equal(t, all[2:], a.Assignment())
	d, err := l.DescribeGroup("g")
	require.NoError(t, err)
	require.Equal(t, "reverse", d.Balancer)

	// A balancer breaking its contract is caught, logged, and replaced by
	// range for that rebalance: every partition still has an owner.
	broken := ConsumerConfig{Group: "h", Topics: []string{"t"}, MaxPollRecords: 1, Balancer: reverseBalancer{broken: true}}
	c := newTestConsumer(t, l, broken)
	pollN(t, c, 1)
	require.Equal(t, all, c.Assignment())
}

func TestConsumerAutoCommitsEarlierPollsOnInterval(t *testing.T) {
	clock := newClock()
	opts := testOptions(vfs.NewMem())
	opts.now = clock.Now
	l := openTest(t, nil, opts)
	groupTopic(t, l, 1)
	tp := TopicPartition{"t", 0}
	c := newTestConsumer(t, l, ConsumerConfig{Group: "g", Topics: []string{"t"}, MaxPollRecords: 10, AutoCommitInterval: 5 * time.Second})
	committed := func() map[TopicPartition]int64 {
		got, err := c.Committed(context.Background(), tp)
		require.NoError(t, err)
		return got
	}
	pollN(t, c, 10)
	pollN(t, c, 10)
	require.Empty(t, committed(), "not yet due")
	clock.Advance(5 * time.Second)
	pollN(t, c, 10) // commits what the two earlier Polls returned, then fetches
	require.Equal(t, map[TopicPartition]int64{tp: 20}, committed())
	clock.Advance(4 * time.Second)
	pollN(t, c, 10)
	require.Equal(t, map[TopicPartition]int64{tp: 20}, committed(), "not due again yet")
	clock.Advance(time.Second)
	pollN(t, c, 10)
	require.Equal(t, map[TopicPartition]int64{tp: 40}, committed())
}
