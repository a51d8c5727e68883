package commitlog

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/commitlog-go/commitlog/internal/vfs"
	"github.com/stretchr/testify/require"
)

// TestGroupHistory's workload: producers and group members (joining,
// polling, committing after processing, leaving, crashing, being evicted,
// coming back, across Log reopens) record every event in one history,
// which checkGroupHistory (group_history_check_test.go) verifies offline.
// The workload runs in a testing/synctest bubble, so MaxPollInterval
// evictions happen on fake time.

const (
	ghTopic      = "t"
	ghGroup      = "g"
	ghPartitions = 6
	// ghMaxPoll is the members' MaxPollInterval. A member stalls for
	// ghStall to be evicted, past it by more than the checker's ghMargin;
	// otherwise it stays outside Poll for at most about 1.3 s, far below
	// it.
	ghMaxPoll = 5 * time.Second
	ghStall   = ghMaxPoll + time.Second
)

// ghRecorder collects the history. Events of different goroutines are
// ordered by its lock, which is consistent with the library's own
// ordering: a callback or Poll result is recorded on the member's
// goroutine before (or after) the library step that follows (precedes) it.
type ghRecorder struct {
	mu     sync.Mutex
	events []ghEvent
}

func (r *ghRecorder) add(e ghEvent) {
	r.mu.Lock()
	defer r.mu.Unlock()
	e.seq = len(r.events)
	e.at = time.Now()
	r.events = append(r.events, e)
}

// ghWorkload runs the randomized workload against one Log.
type ghWorkload struct {
	t        *testing.T
	seed     uint64
	balancer Balancer
	opts     *Options
	rec      ghRecorder
	nextID   atomic.Int64
}

func (w *ghWorkload) rng(stream uint64) *rand.Rand {
	return rand.New(rand.NewPCG(w.seed, stream))
}

func (w *ghWorkload) open() *Log {
	l, err := Open(testDir, w.opts)
	require.NoError(w.t, err)
	w.rec.add(ghEvent{kind: ghNewLog, sync: w.opts.Sync})
	return l
}

// run runs phases of producers and members, with the Log closed and
// reopened between some (once while members still run), then a final
// drain, and returns the history.
func (w *ghWorkload) run() *ghHistory {
	t := w.t
	ctx := context.Background()
	rng := w.rng(0)
	l := w.open()
	_, err := l.CreateTopic(ctx, ghTopic, TopicConfig{Partitions: ghPartitions})
	require.NoError(t, err)
	const phases, producers, slots, perProducer = 4, 3, 4, 50
	stream := uint64(1)
	for phase := range phases {
		if phase > 0 && rng.IntN(2) == 0 {
			require.NoError(t, l.Close())
			l = w.open()
		}
		closeWhileRunning := phase == 1 || rng.IntN(4) == 0
		var stop, closing atomic.Bool
		var prodWG, memberWG sync.WaitGroup
		for i := range producers {
			r := w.rng(stream)
			stream++
			prodWG.Go(func() { w.produce(l, phase, i, r, perProducer) })
		}
		for range slots {
			r := w.rng(stream)
			stream++
			memberWG.Go(func() {
				for !stop.Load() {
					if !w.life(l, r, &stop, &closing) {
						return
					}
					time.Sleep(time.Duration(r.IntN(1500)) * time.Millisecond)
				}
			})
		}
		prodWG.Wait()
		time.Sleep(4 * time.Second) // members catch up (or not: the drain reads the rest)
		if closeWhileRunning {
			closing.Store(true)
			w.rec.add(ghEvent{kind: ghLogClosing})
			require.NoError(t, l.Close())
		}
		stop.Store(true)
		memberWG.Wait()
		if closeWhileRunning {
			l = w.open()
		}
	}

	// Final drain: a fresh Log (no zombies) and a fresh member that reads
	// from the committed offsets to the end, committing as it goes.
	require.NoError(t, l.Close())
	l = w.open()
	w.drain(l)
	h := &ghHistory{maxPoll: ghMaxPoll, finalHW: map[TopicPartition]int64{}}
	for id := range int32(ghPartitions) {
		tp := TopicPartition{ghTopic, id}
		h.partitions = append(h.partitions, tp)
		h.finalHW[tp] = mustPartition(t, l, ghTopic, id).HighWatermark()
	}
	h.offsetLog = ghOffsetLog(t, l, ghGroup)
	require.NoError(t, l.Check(ctx))
	require.NoError(t, l.Close())
	w.rec.mu.Lock()
	h.events = slices.Clone(w.rec.events)
	w.rec.mu.Unlock()
	return h
}

// produce appends n records with unique values in small bursts: producers
// 0 and 1 through a Producer (key-hashed partitions), producer 2 straight
// to random partitions with Partition.Append.
func (w *ghWorkload) produce(l *Log, phase, id int, rng *rand.Rand, n int) {
	ctx := context.Background()
	prod, err := l.NewProducer(ProducerConfig{})
	if err != nil {
		w.t.Errorf("NewProducer: %v", err)
		return
	}
	defer func() {
		if err := prod.Close(); err != nil {
			w.t.Errorf("Producer.Close: %v", err)
		}
	}()
	for i := 0; i < n; {
		k := min(1+rng.IntN(5), n-i)
		recs := make([]Record, k)
		for j := range recs {
			recs[j] = Record{Topic: ghTopic, Key: fmt.Appendf(nil, "k%d", rng.IntN(40)), Value: fmt.Appendf(nil, "v%d-%d-%d", phase, id, i+j)}
		}
		if id == 2 {
			p, err := l.partition(TopicPartition{ghTopic, int32(rng.IntN(ghPartitions))})
			if err != nil {
				w.t.Errorf("partition: %v", err)
				return
			}
			res, err := p.Append(ctx, recs)
			if err != nil {
				w.t.Errorf("Append: %v", err)
				return
			}
			for j := range recs {
				recs[j].Partition, recs[j].Offset = p.ID(), res.BaseOffset+int64(j)
			}
		} else {
			ptrs := make([]*Record, k)
			for j := range recs {
				ptrs[j] = &recs[j]
			}
			if err := prod.ProduceSync(ctx, ptrs...); err != nil {
				w.t.Errorf("ProduceSync: %v", err)
				return
			}
		}
		e := ghEvent{kind: ghProduce, member: -1}
		for _, r := range recs {
			e.recs = append(e.recs, ghRec{TopicPartition{r.Topic, r.Partition}, r.Offset, string(r.Value)})
		}
		w.rec.add(e)
		i += k
		time.Sleep(time.Duration(rng.IntN(300)) * time.Millisecond)
	}
}

// config returns a member's configuration, with callbacks that record.
func (w *ghWorkload) config(l *Log, id int, maxPollRecords int) ConsumerConfig {
	cfg := ConsumerConfig{Group: ghGroup, Topics: []string{ghTopic}, Balancer: w.balancer, DisableAutoCommit: true,
		MaxPollRecords: maxPollRecords, MaxPollInterval: ghMaxPoll}
	cfg.OnAssigned = func(_ context.Context, c ConsumerClient, tps []TopicPartition) {
		// The committed offsets now are where the member must resume:
		// the previous owner has released (or lost) the partitions,
		// and no one else may commit them. (Not with the callback's
		// context: it is Poll's, which may have ended.)
		committed, err := c.Committed(context.Background(), tps...)
		closed := errors.Is(err, ErrClosed) && l.isClosed() // the Log closed under the member
		if err != nil && !closed {
			w.t.Errorf("member %d: Committed in OnAssigned: %v", id, err)
		}
		e := ghEvent{kind: ghAssigned, member: id, tps: tps, offsets: map[TopicPartition]int64{}, hw: map[TopicPartition]int64{}}
		for _, tp := range tps {
			if closed {
				continue // no offset: unknown, and the member reads nothing more
			}
			e.offsets[tp] = -1
			if off, ok := committed[tp]; ok {
				e.offsets[tp] = off
			}
			if p, err := l.partition(tp); err == nil {
				e.hw[tp] = p.HighWatermark()
			}
		}
		w.rec.add(e)
	}
	cfg.OnRevoked = func(_ context.Context, _ ConsumerClient, tps []TopicPartition) {
		w.rec.add(ghEvent{kind: ghRevoked, member: id, tps: tps})
	}
	cfg.OnLost = func(_ context.Context, _ ConsumerClient, tps []TopicPartition) {
		w.rec.add(ghEvent{kind: ghLost, member: id, tps: tps})
	}
	return cfg
}

func (w *ghWorkload) poll(c *Consumer, id int, timeout time.Duration) ([]Record, error) {
	w.rec.add(ghEvent{kind: ghPollEnter, member: id})
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	recs, err := c.Poll(ctx)
	cancel()
	e := ghEvent{kind: ghPollExit, member: id, err: ghErrClass(err)}
	for _, r := range recs {
		e.recs = append(e.recs, ghRec{TopicPartition{r.Topic, r.Partition}, r.Offset, string(r.Value)})
	}
	w.rec.add(e)
	return recs, err
}

// commit commits recs as processed, in one of three ways, and records it.
func (w *ghWorkload) commit(l *Log, c *Consumer, id int, recs []Record, how int) {
	ctx := context.Background()
	offsets := map[TopicPartition]int64{}
	for _, r := range recs {
		tp := TopicPartition{r.Topic, r.Partition}
		offsets[tp] = max(offsets[tp], r.Offset+1)
	}
	e := ghEvent{kind: ghCommit, member: id}
	at := time.Now()
	var err error
	switch how {
	case 0:
		err = c.CommitRecords(ctx, recs...)
	case 1:
		err = c.CommitOffsets(ctx, offsets)
	default:
		// Commit commits every assigned partition's position: every
		// polled record has been processed, so the positions are the
		// offsets above (and, for the other partitions, positions
		// already committed or their starting point).
		for _, tp := range c.Assignment() {
			if pos, perr := c.Position(tp); perr == nil {
				offsets[tp] = pos
			}
		}
		err = c.Commit(ctx)
	}
	e.offsets, e.err = offsets, ghErrClass(err)
	if err == nil {
		e.hw, e.durable = map[TopicPartition]int64{}, map[TopicPartition]int64{}
		for tp := range offsets {
			if p, perr := l.partition(tp); perr == nil {
				e.hw[tp], e.durable[tp] = p.HighWatermark(), p.DurableOffset()
			}
		}
	}
	w.rec.mu.Lock()
	e.seq = len(w.rec.events)
	e.at = at // the liveness that matters is at the call
	w.rec.events = append(w.rec.events, e)
	w.rec.mu.Unlock()
}

func (w *ghWorkload) close(c *Consumer, id int) {
	err := c.Close()
	w.rec.add(ghEvent{kind: ghClose, member: id, err: ghErrClass(err)})
}

// life is one consumer's life: join, poll/process/commit a random number
// of times, sometimes stalling past MaxPollInterval (evicted; the next Poll
// rejoins) or processing so slowly that its commit comes after its
// eviction, then Close, or crash (abandon it, maybe after committing part
// of a batch). It returns false once the Log is closed.
func (w *ghWorkload) life(l *Log, rng *rand.Rand, stop, closing *atomic.Bool) bool {
	id := int(w.nextID.Add(1))
	c, err := l.NewConsumer(w.config(l, id, 1+rng.IntN(25)))
	if err != nil {
		if !closing.Load() {
			w.t.Errorf("member %d: NewConsumer: %v", id, err)
		}
		return false
	}
	w.rec.add(ghEvent{kind: ghJoin, member: id})
	if rng.IntN(100) < 3 {
		// Crash before the first Poll: evicted after MaxPollInterval too.
		w.rec.add(ghEvent{kind: ghAbandon, member: id})
		return true
	}
	polled := false
	for i, n := 0, 5+rng.IntN(40); i < n && !stop.Load(); i++ {
		switch x := rng.IntN(100); {
		case x < 4 && polled:
			time.Sleep(ghStall) // evicted: the next Poll reports ErrFenced, then rejoins
		case x < 12:
			time.Sleep(time.Duration(rng.IntN(1000)) * time.Millisecond)
		}
		recs, err := w.poll(c, id, 300*time.Millisecond)
		polled = true
		if errors.Is(err, ErrClosed) {
			break
		}
		if len(recs) == 0 {
			continue
		}
		time.Sleep(time.Duration(rng.IntN(200)) * time.Millisecond) // processing
		switch x := rng.IntN(100); {
		case x < 3:
			time.Sleep(ghStall) // too slow: evicted while processing, the commit is fenced
		case x < 6:
			// Crash in the middle of the batch: commit what was
			// processed, then vanish.
			if k := rng.IntN(len(recs)); k > 0 {
				w.commit(l, c, id, recs[:k], 0)
			}
			w.rec.add(ghEvent{kind: ghAbandon, member: id})
			return true
		}
		w.commit(l, c, id, recs, rng.IntN(3))
	}
	if rng.IntN(2) == 0 {
		w.close(c, id)
	} else {
		w.rec.add(ghEvent{kind: ghAbandon, member: id})
	}
	return !closing.Load()
}

// drain reads everything from the committed offsets to the end with one
// member, committing as it goes.
func (w *ghWorkload) drain(l *Log) {
	id := int(w.nextID.Add(1))
	c, err := l.NewConsumer(w.config(l, id, 200))
	require.NoError(w.t, err)
	w.rec.add(ghEvent{kind: ghJoin, member: id})
	for range 2000 {
		recs, err := w.poll(c, id, time.Second)
		if err != nil && !errors.Is(err, context.DeadlineExceeded) {
			w.t.Errorf("drain: Poll: %v", err)
			break
		}
		if len(recs) > 0 {
			w.commit(l, c, id, recs, 0)
			continue
		}
		done := len(c.Assignment()) == ghPartitions
		for _, tp := range c.Assignment() {
			pos, err := c.Position(tp)
			require.NoError(w.t, err)
			done = done && pos == mustPartition(w.t, l, tp.Topic, tp.Partition).HighWatermark()
		}
		if done {
			break
		}
	}
	w.close(c, id)
}

// ghOffsetLog returns group's records of __consumer_offsets, in log order.
func ghOffsetLog(t testing.TB, l *Log, group string) []ghCommitted {
	t.Helper()
	topic, err := l.Topic(offsetsTopicName)
	if errors.Is(err, ErrUnknownTopic) {
		return nil
	}
	require.NoError(t, err)
	p, err := topic.Partition(offsetsPartitionFor(group, topic.NumPartitions()))
	require.NoError(t, err)
	var out []ghCommitted
	for r, err := range p.Scan(context.Background(), p.StartOffset()) {
		require.NoError(t, err)
		g, tp, ok, err := decodeOffsetKey(r.Key)
		require.NoError(t, err)
		if !ok || g != group {
			continue
		}
		require.NotNil(t, r.Value, "no tombstones in this workload")
		co, err := decodeOffsetValue(r.Value)
		require.NoError(t, err)
		out = append(out, ghCommitted{tp, co.Offset})
	}
	return out
}

// TestGroupHistory runs the randomized group workload and checks its
// history: every acknowledged record processed and committed (no loss with
// commit-after-process), per-member per-partition order without gaps from
// the committed offset, consistent offsets, commits that never go
// backwards nor point above the high watermark or the durable data, one
// owner per partition at a time (revoke before assign elsewhere, evicted
// members fenced), evictions exactly when MaxPollInterval is exceeded.
//
// COMMITLOG_GROUP_HISTORY_SEEDS=n adds n more seeds of each balancer (for
// longer runs).
func TestGroupHistory(t *testing.T) {
	type testCase struct {
		name     string
		seed     uint64
		balancer Balancer
		sync     SyncPolicy
	}
	cases := []testCase{
		{"cooperative-sticky/seed=1", 1, nil, SyncAlways},
		{"cooperative-sticky/seed=2/SyncNever", 2, nil, SyncNever},
		{"range-eager/seed=3", 3, RangeBalancer(), SyncAlways},
	}
	if n, err := strconv.Atoi(os.Getenv("COMMITLOG_GROUP_HISTORY_SEEDS")); err == nil {
		for i := range uint64(n) {
			seed := 100 + i
			cases = append(cases, testCase{fmt.Sprintf("cooperative-sticky/seed=%d", seed), seed, nil, SyncPolicy(i % 3)},
				testCase{fmt.Sprintf("range-eager/seed=%d", seed), seed, RangeBalancer(), SyncPolicy(i % 3)})
		}
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				opts := testOptions(vfs.NewMem())
				opts.Sync = tc.sync
				w := &ghWorkload{t: t, seed: tc.seed, balancer: tc.balancer, opts: opts}
				h := w.run()
				violations, stats := checkGroupHistory(h)
				t.Logf("%d events; %v", len(h.events), stats)
				for _, v := range violations {
					t.Error(v)
				}
				if len(violations) > 0 {
					t.Logf("history tail:\n%s", ghDump(h.events, 60))
				}
				// The workload must exercise what the checks are about.
				require.Greater(t, stats["evictions"], 0, "no member was evicted")
				require.Greater(t, stats["crashed consumers"], 0)
				require.Greater(t, stats["commits"], 10)
			})
		})
	}
}

// ghDump formats the last n events (diagnostics).
func ghDump(events []ghEvent, n int) string {
	var b strings.Builder
	for _, e := range events[max(0, len(events)-n):] {
		fmt.Fprintf(&b, "%s tps=%v recs=%d offsets=%v err=%q\n", e.String(), e.tps, len(e.recs), e.offsets, e.err)
	}
	return b.String()
}
