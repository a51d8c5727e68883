package commitlog

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"testing"

	"github.com/commitlog-go/commitlog/internal/vfs"
	"github.com/stretchr/testify/require"
)

func TestDeleteRecordsMovesTheStartDurably(t *testing.T) {
	mem := vfs.NewMem()
	l := openTest(t, mem, nil)
	_, err := l.CreateTopic(context.Background(), "t", smallTopic)
	require.NoError(t, err)
	fillTopic(t, l, "t", 500)
	p := mustPartition(t, l, "t", 0)
	ctx := context.Background()

	start, err := p.DeleteRecords(ctx, 123) // inside a batch, segments later
	require.NoError(t, err)
	require.Equal(t, int64(123), start)
	require.Equal(t, int64(123), p.StartOffset())
	_, err = p.Read(ctx, 122, 1<<20)
	var oor *OffsetOutOfRangeError
	require.ErrorAs(t, err, &oor)
	require.Equal(t, int64(123), oor.Start)
	recs, err := p.Read(ctx, 123, 1)
	require.NoError(t, err)
	require.Equal(t, int64(123), recs[0].Offset)
	off, err := p.OffsetForTime(recs[0].Timestamp.Add(-1))
	require.NoError(t, err)
	require.Equal(t, int64(123), off, "time lookups start at the start offset")

	start, err = p.DeleteRecords(ctx, 50)
	require.NoError(t, err)
	require.Equal(t, int64(123), start, "an offset below the start changes nothing")
	_, err = p.DeleteRecords(ctx, 501)
	require.ErrorAs(t, err, &oor)
	require.Equal(t, int64(500), oor.End)
	_, err = p.DeleteRecords(ctx, -1)
	require.ErrorIs(t, err, ErrInvalidArgument)

	// A consumer below the start follows its reset policy.
	tp := TopicPartition{"t", 0}
	earliest := newTestConsumer(t, l, ConsumerConfig{Partitions: []TopicPartition{tp}})
	require.NoError(t, earliest.Seek(tp, 5))
	got := pollN(t, earliest, 1)
	require.Equal(t, int64(123), got[0].Offset)
	none := newTestConsumer(t, l, ConsumerConfig{Partitions: []TopicPartition{tp}, AutoOffsetReset: ResetNone})
	require.NoError(t, none.Seek(tp, 5))
	_, err = none.Poll(ctx)
	require.ErrorAs(t, err, &oor)

	// Durable at once: a power failure right after keeps it.
	crashed := mem.CrashClone(vfs.CrashOptions{KeepUnsynced: 0})
	l2, err := Open(testDir, testOptions(crashed))
	require.NoError(t, err)
	defer l2.Close()
	require.Equal(t, int64(123), mustPartition(t, l2, "t", 0).StartOffset())
	require.NoError(t, l2.Check(ctx))

	_, err = mustPartition(t, l, "t", 0).DeleteRecords(ctx, 500)
	require.NoError(t, err)
	require.NoError(t, l.Close())
	l = openTest(t, mem, nil)
	p = mustPartition(t, l, "t", 0)
	require.Equal(t, int64(500), p.StartOffset())
	require.Equal(t, int64(500), p.EndOffset())
	res, err := p.Append(ctx, []Record{{Key: []byte("k"), Value: []byte("after")}})
	require.NoError(t, err)
	require.Equal(t, int64(500), res.BaseOffset)
}

func TestDeleteRecordsRefusesInternalTopics(t *testing.T) {
	l := openTest(t, vfs.NewMem(), nil)
	groupTopic(t, l, 1)
	c := newTestConsumer(t, l, ConsumerConfig{Group: "g", Partitions: []TopicPartition{{"t", 0}}})
	pollN(t, c, 1)
	require.NoError(t, c.Commit(context.Background()))
	p := mustPartition(t, l, offsetsTopicName, int32(offsetsPartitionFor("g", 4)))
	_, err := p.DeleteRecords(context.Background(), 1)
	require.ErrorIs(t, err, ErrInvalidArgument)
}

// TestDeleteRecordsCrashAtEveryPoint crashes a workload of appends and
// DeleteRecords calls before every mutating file operation: the recovered
// start offset is never below the last DeleteRecords that returned, never
// above the last one called, and every record from it on is intact.
func TestDeleteRecordsCrashAtEveryPoint(t *testing.T) {
	keeps := []vfs.CrashOptions{{KeepUnsynced: 0}, {KeepUnsynced: 0.7, Tear: true}, {KeepUnsynced: 1}}
	type progress struct{ acked, called int64 }
	workload := func(fs vfs.FS, mu *sync.Mutex, pr *progress) error {
		ctx := context.Background()
		l, err := Open(testDir, testOptions(fs))
		if err != nil {
			return err
		}
		defer l.Close()
		if _, err := l.CreateTopic(ctx, "t", smallTopic); err != nil {
			return err
		}
		p, _ := l.Topic("t")
		part, _ := p.Partition(0)
		for round := range 4 {
			for i := range 5 {
				var batch []Record
				for j := range 10 {
					batch = append(batch, Record{Value: fmt.Appendf(nil, "%d", round*50+i*10+j)})
				}
				if _, err := part.Append(ctx, batch); err != nil {
					return err
				}
			}
			before := int64(round*50 + 17)
			mu.Lock()
			pr.called = before
			mu.Unlock()
			if _, err := part.DeleteRecords(ctx, before); err != nil {
				return err
			}
			mu.Lock()
			pr.acked = before
			mu.Unlock()
			if round == 1 {
				if err := l.Close(); err != nil {
					return err
				}
				if l, err = Open(testDir, testOptions(fs)); err != nil {
					return err
				}
				p, _ = l.Topic("t")
				part, _ = p.Partition(0)
			}
		}
		return l.Close()
	}
	states := 0
	for k := 0; ; k++ {
		mem := vfs.NewMem()
		var mu sync.Mutex
		pr := &progress{}
		var at progress
		var clones []*vfs.MemFS
		ops := 0
		inj := vfs.InjectorFunc(func(op vfs.Op, path string) error {
			if !op.Mutating() {
				return nil
			}
			mu.Lock()
			defer mu.Unlock()
			if ops == k {
				at = *pr
				for i, c := range keeps {
					c.Seed = int64(k*10 + i)
					clones = append(clones, mem.CrashClone(c))
				}
			}
			ops++
			return nil
		})
		require.NoError(t, workload(vfs.WithInjector(mem, inj, vfs.InjectOptions{}), &mu, pr))
		if clones == nil {
			require.Greater(t, k, 50, "the workload should have many crash points")
			break
		}
		for i, fs := range clones {
			states++
			what := fmt.Sprintf("crash before op %d, %+v", k, keeps[i])
			l, err := Open(testDir, testOptions(fs))
			require.NoError(t, err, what)
			tp, err := l.Topic("t")
			if err != nil {
				require.ErrorIs(t, err, ErrUnknownTopic, what)
				l.Close()
				continue
			}
			p, _ := tp.Partition(0)
			start := p.StartOffset()
			require.GreaterOrEqual(t, start, at.acked, "%s: a DeleteRecords that returned was undone", what)
			require.LessOrEqual(t, start, max(at.called, at.acked), "%s: more was deleted than asked", what)
			next := start
			for r, err := range p.Scan(context.Background(), start) {
				require.NoError(t, err, what)
				require.Equal(t, next, r.Offset, what)
				require.Equal(t, strconv.FormatInt(r.Offset, 10), string(r.Value), what)
				next++
			}
			require.NoError(t, l.Check(context.Background()), what)
			require.NoError(t, l.Close())
		}
	}
	t.Logf("%d crash states checked", states)
}
