package commitlog

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/commitlog-go/commitlog/internal/vfs"
	"github.com/stretchr/testify/require"
)

// processedLog records what handlers processed, per partition, and fails
// the test when a partition's offsets do not follow each other.
type processedLog struct {
	mu   sync.Mutex
	seen map[TopicPartition][]int64
	n    int
	all  chan struct{} // closed when n reaches want
	want int
}

func newProcessedLog(want int) *processedLog {
	return &processedLog{seen: map[TopicPartition][]int64{}, all: make(chan struct{}), want: want}
}

func (pl *processedLog) add(t *testing.T, tp TopicPartition, recs []Record) {
	pl.mu.Lock()
	defer pl.mu.Unlock()
	for _, r := range recs {
		require.Equal(t, tp, TopicPartition{r.Topic, r.Partition})
		if s := pl.seen[tp]; len(s) > 0 && s[len(s)-1] >= r.Offset {
			t.Errorf("%v: offset %d after %d", tp, r.Offset, s[len(s)-1])
		}
		pl.seen[tp] = append(pl.seen[tp], r.Offset)
		pl.n++
		if pl.n == pl.want {
			close(pl.all)
		}
	}
}

func TestProcessPartitionsInParallelCommitsProcessed(t *testing.T) {
	l := openTest(t, vfs.NewMem(), nil)
	all := groupTopic(t, l, 4)
	c := newTestConsumer(t, l, ConsumerConfig{Group: "g", Topics: []string{"t"}, MaxPollRecords: 30})
	pl := newProcessedLog(400)
	// Partition 0's first batch waits until partition 1's handler has
	// run: only parallel processing gets past it.
	p1Started := make(chan struct{})
	var once sync.Once
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- c.ProcessPartitions(ctx, func(ctx context.Context, tp TopicPartition, recs []Record) error {
			switch tp.Partition {
			case 0:
				select {
				case <-p1Started:
				case <-ctx.Done():
					return ctx.Err()
				}
			case 1:
				once.Do(func() { close(p1Started) })
			}
			pl.add(t, tp, recs)
			return nil
		})
	}()
	<-pl.all
	cancel()
	require.ErrorIs(t, <-done, context.Canceled)
	for _, tp := range all {
		require.Len(t, pl.seen[tp], 100, "%v", tp)
	}
	committed, err := c.Committed(context.Background())
	require.NoError(t, err)
	require.Equal(t, map[TopicPartition]int64{all[0]: 100, all[1]: 100, all[2]: 100, all[3]: 100}, committed)
	require.Empty(t, c.Paused(), "partitions resumed when ProcessPartitions returns")
	require.ErrorIs(t, c.ProcessPartitions(context.Background(), nil), ErrInvalidArgument)
}

func TestProcessPartitionsHandlerErrorCommitsOnlyProcessed(t *testing.T) {
	l := openTest(t, vfs.NewMem(), nil)
	groupTopic(t, l, 1)
	tp := TopicPartition{"t", 0}
	c := newTestConsumer(t, l, ConsumerConfig{Group: "g", Topics: []string{"t"}, MaxPollRecords: 10})
	boom := errors.New("boom")
	err := c.ProcessPartitions(context.Background(), func(ctx context.Context, tp TopicPartition, recs []Record) error {
		if recs[0].Offset >= 30 {
			return boom
		}
		return nil
	})
	require.ErrorIs(t, err, boom)
	require.ErrorContains(t, err, "t-0")
	committed, err := c.Committed(context.Background(), tp)
	require.NoError(t, err)
	require.Equal(t, int64(30), committed[tp], "only processed records are committed")
	pos, err := c.Position(tp)
	require.NoError(t, err)
	require.Equal(t, int64(30), pos, "the position goes back to the first unprocessed record")
	recs := pollN(t, c, 1)
	require.Equal(t, int64(30), recs[0].Offset)
}

func TestProcessPartitionsRebalanceLosesAndRepeatsNothing(t *testing.T) {
	l := openTest(t, vfs.NewMem(), nil)
	all := groupTopic(t, l, 4)
	pl := newProcessedLog(400)
	cfg := ConsumerConfig{Group: "g", Topics: []string{"t"}, MaxPollRecords: 7}
	a := newTestConsumer(t, l, cfg)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	aBusy, joined := make(chan struct{}), make(chan struct{})
	var busyOnce sync.Once
	var byB sync.Map // partitions B processed
	wg.Go(func() {
		err := a.ProcessPartitions(ctx, func(ctx context.Context, tp TopicPartition, recs []Record) error {
			if recs[0].Offset >= 20 {
				// B joins while A is in the middle of its partitions:
				// the partitions B gets are revoked from A mid-work.
				busyOnce.Do(func() { close(aBusy) })
				select {
				case <-joined:
				case <-ctx.Done():
					return ctx.Err()
				}
			}
			pl.add(t, tp, recs)
			return nil
		})
		if !errors.Is(err, context.Canceled) {
			t.Error(err)
		}
	})
	wg.Go(func() {
		<-aBusy
		b, err := l.NewConsumer(cfg)
		if err != nil {
			t.Error(err)
			close(joined)
			return
		}
		defer b.Close()
		close(joined)
		err = b.ProcessPartitions(ctx, func(ctx context.Context, tp TopicPartition, recs []Record) error {
			byB.Store(tp, true)
			pl.add(t, tp, recs)
			return nil
		})
		if !errors.Is(err, context.Canceled) {
			t.Error(err)
		}
	})
	<-pl.all
	cancel()
	wg.Wait()
	moved := 0
	for _, tp := range all {
		want := make([]int64, 100)
		for i := range want {
			want[i] = int64(i)
		}
		require.Equal(t, want, pl.seen[tp], "%v: every record processed exactly once, in order", tp)
		if _, ok := byB.Load(tp); ok {
			moved++
		}
	}
	require.Equal(t, 2, moved, "B took two partitions from A in the middle of their processing")
}
