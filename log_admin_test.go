package commitlog

import (
	"context"
	"testing"
	"time"

	"github.com/commitlog-go/commitlog/internal/vfs"
	"github.com/stretchr/testify/require"
)

func TestLogAdminTopics(t *testing.T) {
	ctx := context.Background()
	l := openTest(t, vfs.NewMem(), nil)
	a := l.Admin()
	require.NoError(t, a.CreateTopic(ctx, "b", TopicConfig{Partitions: 3, Retention: Forever}))
	require.NoError(t, a.CreateTopic(ctx, "a", TopicConfig{}))
	require.ErrorIs(t, a.CreateTopic(ctx, "a", TopicConfig{}), ErrTopicExists)
	require.ErrorIs(t, a.CreateTopic(ctx, "__x", TopicConfig{}), ErrInvalidTopicName)

	names, err := a.ListTopics(ctx)
	require.NoError(t, err)
	require.Equal(t, []string{"a", "b"}, names)

	cfg, err := a.DescribeTopic(ctx, "b")
	require.NoError(t, err)
	tb, _ := l.Topic("b")
	require.Equal(t, tb.Config(), cfg, "the resolved configuration")
	require.Equal(t, int32(3), cfg.Partitions)
	require.Equal(t, Forever, cfg.Retention)
	_, err = a.DescribeTopic(ctx, "nope")
	require.ErrorIs(t, err, ErrUnknownTopic)

	require.NoError(t, a.DeleteTopic(ctx, "a"))
	require.ErrorIs(t, a.DeleteTopic(ctx, "a"), ErrUnknownTopic)
	names, err = a.ListTopics(ctx)
	require.NoError(t, err)
	require.Equal(t, []string{"b"}, names)
}

func TestLogAdminGroups(t *testing.T) {
	ctx := context.Background()
	l := openTest(t, vfs.NewMem(), nil)
	tps := groupTopic(t, l, 2)
	a := l.Admin()
	c, err := l.NewConsumer(ConsumerConfig{Group: "g", Topics: []string{"t"}})
	require.NoError(t, err)
	pollN(t, c, 1)
	require.NoError(t, c.CommitOffsets(ctx, map[TopicPartition]int64{tps[0]: 7}))

	groups, err := a.ListGroups(ctx)
	require.NoError(t, err)
	require.Equal(t, []string{"g"}, groups)
	d, err := a.DescribeGroup(ctx, "g")
	require.NoError(t, err)
	want, err := l.DescribeGroup("g")
	require.NoError(t, err)
	require.Equal(t, want, d)
	require.Len(t, d.Members, 1)

	_, err = a.ResetGroupOffsets(ctx, "g", EarliestOffset())
	require.ErrorIs(t, err, ErrGroupNotEmpty)
	require.ErrorIs(t, a.DeleteGroup(ctx, "g"), ErrGroupNotEmpty)
	require.NoError(t, c.Close())

	got, err := a.ResetGroupOffsets(ctx, "g", ExactOffset(1_000), tps[0])
	require.NoError(t, err)
	require.Equal(t, map[TopicPartition]int64{tps[0]: 100}, got, "clamped to the high watermark")
	require.NoError(t, a.DeleteGroup(ctx, "g"))
	_, err = a.DescribeGroup(ctx, "g")
	require.ErrorIs(t, err, ErrUnknownGroup)
	require.ErrorIs(t, a.DeleteGroup(ctx, "g"), ErrUnknownGroup)
}

func TestLogAdminCloseAndContext(t *testing.T) {
	l := openTest(t, vfs.NewMem(), nil)
	a := l.Admin()
	var got *Log
	require.True(t, a.As(&got))
	require.Same(t, l, got)
	var p *Producer
	require.False(t, a.As(&p))

	done, cancel := context.WithCancel(context.Background())
	cancel()
	require.ErrorIs(t, a.CreateTopic(done, "t", TopicConfig{}), context.Canceled)
	_, err := a.ListTopics(done)
	require.ErrorIs(t, err, context.Canceled)

	require.NoError(t, a.Close())
	require.NoError(t, a.Close(), "Close is idempotent")
	ctx := context.Background()
	require.ErrorIs(t, a.CreateTopic(ctx, "t", TopicConfig{}), ErrClosed)
	_, err = a.DescribeGroup(ctx, "g")
	require.ErrorIs(t, err, ErrClosed)
	_, err = l.CreateTopic(ctx, "t", TopicConfig{})
	require.NoError(t, err, "closing the AdminClient leaves the Log open")
	_, err = l.Admin().ListGroups(ctx)
	require.NoError(t, err, "another AdminClient of the Log works")
}

func TestOffsetSpecResolve(t *testing.T) {
	when := time.UnixMilli(1_700_000_000_000)
	calls := 0
	atTime := func(tm time.Time) (int64, error) {
		calls++
		require.True(t, tm.Equal(when))
		return 17, nil
	}
	for _, c := range []struct {
		spec OffsetSpec
		want int64
	}{
		{EarliestOffset(), 10},
		{LatestOffset(), 20},
		{ExactOffset(5), 10},
		{ExactOffset(15), 15},
		{ExactOffset(25), 20},
		{OffsetAtTime(when), 17},
	} {
		got, err := c.spec.Resolve(10, 20, atTime)
		require.NoError(t, err)
		require.Equal(t, c.want, got, "%+v", c.spec)
	}
	require.Equal(t, 1, calls, "atTime is called for OffsetAtTime only")
}
