package commitlog

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/commitlog-go/commitlog/internal/vfs"
	"github.com/stretchr/testify/require"
)

// The Log's locks are taken in one order (see Log.adminMu): adminMu,
// then the coordinator's commitMu, then its mu, then a partition's. These
// tests run what takes them from every side at once.

// finishConcurrently runs fns concurrently and fails the test, with every
// goroutine's stack, if they have not all returned after a minute: a
// deadlock detector, not a measurement (each run takes milliseconds).
func finishConcurrently(t *testing.T, what string, fns ...func()) {
	t.Helper()
	var wg sync.WaitGroup
	for _, fn := range fns {
		wg.Go(fn)
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(time.Minute):
		buf := make([]byte, 1<<20)
		t.Fatalf("%s: deadlocked; goroutines:\n%s", what, buf[:runtime.Stack(buf, true)])
	}
}

// Regression: DeleteTopic held the admin lock and waited for the commit
// lock to forget the topic's committed offsets, while a group's first
// commit held the commit lock and, creating __consumer_offsets, waited for
// the admin lock: both blocked forever, and so did Close. Reproduced on
// the first try with 20 topics deleted while one commit ran.
func TestDeleteTopicDuringAGroupsFirstCommit(t *testing.T) {
	ctx := context.Background()
	for round := range 20 {
		// Not openTest: after a deadlock its cleanup's Close would hang too.
		l, err := Open(testDir, testOptions(vfs.NewMem()))
		require.NoError(t, err)
		tps := groupTopic(t, l, 2)
		for i := range 20 {
			_, err := l.CreateTopic(ctx, fmt.Sprint("doomed-", i), TopicConfig{})
			require.NoError(t, err)
		}
		c, err := l.NewConsumer(ConsumerConfig{Group: "g", Partitions: tps, DisableAutoCommit: true})
		require.NoError(t, err)
		var commitErr error
		finishConcurrently(t, fmt.Sprint("round ", round),
			func() {
				for i := range 20 {
					require.NoError(t, l.DeleteTopic(ctx, fmt.Sprint("doomed-", i)))
				}
			},
			func() { commitErr = c.CommitOffsets(ctx, map[TopicPartition]int64{tps[0]: 10, tps[1]: 20}) })
		require.NoError(t, commitErr)
		got, err := c.Committed(ctx, tps...)
		require.NoError(t, err)
		require.Equal(t, map[TopicPartition]int64{tps[0]: 10, tps[1]: 20}, got)
		require.NoError(t, c.Close())
		finishConcurrently(t, "Close", func() { require.NoError(t, l.Close()) })
	}
}

// allowedConcurrentErrors are the errors an admin call or a group
// operation may meet when the other side changes what it works on.
var allowedConcurrentErrors = []error{ErrUnknownTopic, ErrUnknownGroup, ErrGroupNotEmpty, ErrFenced,
	ErrOffsetOutOfRange, ErrUnknownPartition, context.DeadlineExceeded}

func requireAllowed(t *testing.T, what string, err error) {
	t.Helper()
	if err == nil {
		return
	}
	for _, e := range allowedConcurrentErrors {
		if errors.Is(err, e) {
			return
		}
	}
	t.Errorf("%s: unexpected error: %v", what, err)
}

// Every admin call against every group operation, concurrently, a few
// rounds each on a fresh Log: nothing deadlocks, every error is one the
// race explains, and the Log checks clean afterwards.
func TestAdminCallsAgainstGroupOperations(t *testing.T) {
	type op struct {
		name string
		run  func(t *testing.T, l *Log, i int)
	}
	ctx := context.Background()
	const rounds = 8
	admin := []op{
		{"CreateTopic+DeleteTopic", func(t *testing.T, l *Log, i int) {
			name := fmt.Sprint("scratch-", i)
			_, err := l.CreateTopic(ctx, name, TopicConfig{Partitions: 2})
			require.NoError(t, err)
			require.NoError(t, l.DeleteTopic(ctx, name))
		}},
		{"DeleteTopic of a subscribed topic", func(t *testing.T, l *Log, i int) {
			requireAllowed(t, "DeleteTopic", l.DeleteTopic(ctx, "s"))
			_, err := l.CreateTopic(ctx, "s", TopicConfig{Partitions: 2})
			require.NoError(t, err)
			fillTopic(t, l, "s", 10)
		}},
		{"EnforceRetention", func(t *testing.T, l *Log, i int) { requireAllowed(t, "EnforceRetention", l.EnforceRetention(ctx)) }},
		{"Compact", func(t *testing.T, l *Log, i int) { requireAllowed(t, "Compact", l.Compact(ctx)) }},
		{"DeleteRecords", func(t *testing.T, l *Log, i int) {
			_, err := mustPartition(t, l, "t", 0).DeleteRecords(ctx, int64(i))
			requireAllowed(t, "DeleteRecords", err)
		}},
		{"ResetGroupOffsets", func(t *testing.T, l *Log, i int) {
			_, err := l.ResetGroupOffsets(ctx, "g", EarliestOffset())
			requireAllowed(t, "ResetGroupOffsets", err)
		}},
		{"DeleteGroup", func(t *testing.T, l *Log, i int) { requireAllowed(t, "DeleteGroup", l.DeleteGroup(ctx, "g")) }},
		{"DescribeGroup+ListGroups", func(t *testing.T, l *Log, i int) {
			_, err := l.DescribeGroup("g")
			requireAllowed(t, "DescribeGroup", err)
			l.ListGroups()
		}},
		{"Check", func(t *testing.T, l *Log, i int) { requireAllowed(t, "Check", l.Check(ctx)) }},
	}
	group := []op{
		{"first commit", func(t *testing.T, l *Log, i int) {
			c, err := l.NewConsumer(ConsumerConfig{Group: fmt.Sprint("manual-", i), Partitions: []TopicPartition{{"t", 1}}})
			require.NoError(t, err)
			requireAllowed(t, "CommitOffsets", c.CommitOffsets(ctx, map[TopicPartition]int64{{"t", 1}: int64(i)}))
			requireAllowed(t, "Close", c.Close())
		}},
		{"join, poll, commit, leave", func(t *testing.T, l *Log, i int) {
			c, err := l.NewConsumer(ConsumerConfig{Group: "g", Topics: []string{"t", "s"}, DisableAutoCommit: true})
			if requireAllowed(t, "NewConsumer", err); err != nil {
				return // "s" is being deleted
			}
			pctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
			recs, err := c.Poll(pctx)
			cancel()
			requireAllowed(t, "Poll", err)
			if len(recs) > 0 {
				requireAllowed(t, "CommitRecords", c.CommitRecords(ctx, recs...))
			}
			_, err = c.Committed(ctx, TopicPartition{"t", 0})
			requireAllowed(t, "Committed", err)
			requireAllowed(t, "Close", c.Close())
		}},
		{"auto-commit on close", func(t *testing.T, l *Log, i int) {
			c, err := l.NewConsumer(ConsumerConfig{Group: "g", Topics: []string{"t"}})
			require.NoError(t, err)
			pctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
			_, err = c.Poll(pctx)
			cancel()
			requireAllowed(t, "Poll", err)
			requireAllowed(t, "Close", c.Close())
		}},
	}
	for _, a := range admin {
		for _, g := range group {
			t.Run(a.name+" vs "+g.name, func(t *testing.T) {
				l, err := Open(testDir, testOptions(vfs.NewMem()))
				require.NoError(t, err)
				groupTopic(t, l, 3)
				_, err = l.CreateTopic(ctx, "s", TopicConfig{Partitions: 2})
				require.NoError(t, err)
				fillTopic(t, l, "s", 10)
				finishConcurrently(t, a.name+" vs "+g.name,
					func() {
						for i := range rounds {
							a.run(t, l, i)
						}
					},
					func() {
						for i := range rounds {
							g.run(t, l, i)
						}
					})
				require.NoError(t, l.Check(ctx))
				finishConcurrently(t, "Close", func() { require.NoError(t, l.Close()) })
			})
		}
	}
}
