package commitlog

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/commitlog-go/commitlog/internal/histcheck"
	"github.com/commitlog-go/commitlog/internal/vfs"
	"github.com/stretchr/testify/require"
)

// Crash-state exploration of every mutating operation, in the manner of
// Pebble's crash tests (crash clones of its in-memory vfs.MemFS). One
// deterministic workload does everything that writes files: topic creation
// and deletion, appends through a Partition and an idempotent Producer,
// rolls, checkpoints with producer-state snapshots, a consumer group's
// offset commits (creating __consumer_offsets), DeleteRecords, a retention
// pass, a compaction with its swap, and a Close and reopen. It runs once
// per mutating file operation k; just before operation k the in-memory
// file system is cloned in several crash states (nothing unsynced kept,
// everything, a random part, torn at sector boundaries), the history
// recorded so far is kept, and the rest of the run is cut short. Each
// state is opened, read whole and checked by internal/histcheck against
// that history: nothing acknowledged lost or moved, nothing stored twice,
// no offset with two values, nothing read that was never written,
// committed offsets neither behind an acknowledged commit nor past the
// data; then Log.Check runs, the state is reopened (recovery is
// idempotent) and takes an append.
//
// COMMITLOG_CRASH_ROUNDS=n explores n rounds, each with other crash-clone
// seeds and another workload seed (default 1; 100 rounds check about a
// million states). A failure prints the command that replays the state.

// crashKeeps are the crash states taken at each crash point.
var crashKeeps = []vfs.CrashOptions{
	{KeepUnsynced: 0},
	{KeepUnsynced: 1},
	{KeepUnsynced: 0.5, Tear: true},
	{KeepUnsynced: 0.8, Tear: true},
	{KeepUnsynced: 0.2},
}

// crashRounds returns COMMITLOG_CRASH_ROUNDS (default 1).
func crashRounds(t *testing.T) int {
	s := os.Getenv("COMMITLOG_CRASH_ROUNDS")
	if s == "" {
		return 1
	}
	n, err := strconv.Atoi(s)
	require.NoError(t, err, "COMMITLOG_CRASH_ROUNDS")
	require.Positive(t, n, "COMMITLOG_CRASH_ROUNDS")
	return n
}

// crashReplay is a crash state named by COMMITLOG_CRASH_REPLAY:
// "<policy>/<round>/<k>/<state>".
type crashReplay struct {
	policy      string
	round, k, i int
}

func parseCrashReplay(t *testing.T) *crashReplay {
	s := os.Getenv("COMMITLOG_CRASH_REPLAY")
	if s == "" {
		return nil
	}
	f := strings.Split(s, "/")
	require.Len(t, f, 4, "COMMITLOG_CRASH_REPLAY=<policy>/<round>/<k>/<state>")
	var r crashReplay
	r.policy = f[0]
	var err error
	for i, p := range []*int{&r.round, &r.k, &r.i} {
		*p, err = strconv.Atoi(f[i+1])
		require.NoError(t, err, "COMMITLOG_CRASH_REPLAY")
	}
	return &r
}

func TestCrashStatesOfEveryOperation(t *testing.T) {
	replay := parseCrashReplay(t)
	for _, policy := range []SyncPolicy{SyncAlways, SyncNever} {
		t.Run(policy.String(), func(t *testing.T) {
			if replay != nil && replay.policy != policy.String() {
				t.Skipf("replaying %s", os.Getenv("COMMITLOG_CRASH_REPLAY"))
			}
			states, points := 0, 0
			for round := range crashRounds(t) {
				if replay != nil && replay.round != round {
					continue
				}
				s, p := exploreCrashStates(t, policy, round, replay)
				states += s
				points = max(points, p)
			}
			t.Logf("%d crash states checked (%d crash points per round)", states, points)
		})
	}
}

// exploreCrashStates runs the workload once per crash point and checks
// every state taken there; it returns how many states it checked and the
// number of crash points.
func exploreCrashStates(t *testing.T, policy SyncPolicy, round int, replay *crashReplay) (states, points int) {
	for k := 0; ; k++ {
		if replay != nil && replay.k != k {
			if k > replay.k {
				return states, k
			}
			continue
		}
		run := runCrashWorkload(t, policy, round, k)
		if run.clones == nil {
			require.Equal(t, crashWorkloadSteps, run.completed, "without a crash, every step of the workload succeeds")
			require.Greater(t, k, 200, "the workload should have many crash points")
			return states, k
		}
		for i, clone := range run.clones {
			if replay != nil && replay.i != i {
				continue
			}
			what := fmt.Sprintf("crash before mutating operation %d (%s), state %d %+v; replay: COMMITLOG_CRASH_REPLAY=%s/%d/%d/%d go test -run 'TestCrashStatesOfEveryOperation' -count=1 .",
				k, run.op, i, crashKeeps[i], policy, round, k, i)
			checkCrashState(t, clone, run.history, policy, what)
			states++
		}
	}
}

// crashRun is one run of the workload, crashed before operation k.
type crashRun struct {
	clones  []*vfs.MemFS
	history []byte // the recorder's lines up to the crash
	op      string // the operation the crash came before
	// completed is the number of the workload's steps that succeeded.
	completed int
}

// syncBuffer is a bytes.Buffer safe for concurrent use.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) snapshot() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return bytes.Clone(b.buf.Bytes())
}

// errCrashed fails every mutating operation after the crash point: the
// process is gone.
var errCrashed = fmt.Errorf("crashed: %w", vfs.ErrInjected)

// runCrashWorkload runs the workload on a fresh MemFS and crashes it
// before mutating operation k.
func runCrashWorkload(t *testing.T, policy SyncPolicy, round, k int) crashRun {
	mem := vfs.NewMem()
	out := &syncBuffer{}
	rec := histcheck.NewRecorder(histcheck.Config{Output: out, WriteOnly: true})
	var (
		mu  sync.Mutex
		ops int
		run crashRun
	)
	fs := vfs.WithInjector(mem, vfs.InjectorFunc(func(op vfs.Op, path string) error {
		if !op.Mutating() {
			return nil
		}
		mu.Lock()
		defer mu.Unlock()
		switch {
		case ops == k:
			run.history = out.snapshot()
			run.op = op.String() + " " + path
			for i, c := range crashKeeps {
				c.Seed = int64(round)<<32 | int64(k)<<4 | int64(i)
				run.clones = append(run.clones, mem.CrashClone(c))
			}
		case ops > k:
			return errCrashed
		}
		ops++
		return nil
	}), vfs.InjectOptions{})
	w := &mixedWorkload{t: t, fs: fs, rec: rec, policy: policy, rng: rand.New(rand.NewPCG(uint64(round), 21)), clock: newClock()}
	w.run() // stops at the first error: after the crash, everything fails
	run.completed = w.failedStep
	return run
}

// crashWorkloadSteps is the number of steps of mixedWorkload.run.
const crashWorkloadSteps = 25

// mixedWorkload is the workload's state. Partitions are named in the
// history by topic and number; values are unique.
type mixedWorkload struct {
	t      *testing.T
	fs     vfs.FS
	rec    *histcheck.Recorder
	policy SyncPolicy
	rng    *rand.Rand
	clock  *fixedClock
	l      *Log
	seq    int
	epoch  int
	// failedStep is the step that failed, or the number of steps when
	// none did.
	failedStep int
}

const (
	crashTopic     = "a"   // 2 partitions, small segments
	crashCompacted = "c"   // compacted
	crashRetained  = "r"   // 1 hour retention
	crashDeleted   = "tmp" // created, filled, deleted
	crashGroup     = "g"
)

var crashSegments = TopicConfig{SegmentBytes: 4096, IndexIntervalBytes: 200, SegmentIndexBytes: 1024, MaxBatchBytes: 4096}

func (w *mixedWorkload) options() *Options {
	o := testOptions(w.fs)
	o.Sync = w.policy
	o.now = w.clock.Now
	return o
}

func (w *mixedWorkload) open() error {
	l, err := Open(testDir, w.options())
	w.l = l
	return err
}

// run runs the workload until its first error.
func (w *mixedWorkload) run() {
	ctx := context.Background()
	defer func() {
		if w.l != nil {
			w.l.Close()
		}
	}()
	steps := []func() error{
		w.open,
		func() error { return w.create(crashTopic, 2, CleanupDelete, Forever) },
		func() error { return w.create(crashCompacted, 1, CleanupCompact, Forever) },
		func() error { return w.create(crashRetained, 1, CleanupDelete, time.Hour) },
		func() error { return w.create(crashDeleted, 1, CleanupDelete, Forever) },
		func() error { return w.appends(crashTopic, 0, 6) },
		func() error { return w.appends(crashDeleted, 0, 3) },
		func() error { return w.produce(crashTopic, 8) },
		func() error { return w.appends(crashRetained, 0, 8) },
		func() error { return w.checkpointAll(ctx) },
		func() error { return w.consume(ctx, 2) },
		func() error { return w.keyed(10) },
		func() error { return w.l.DeleteTopic(ctx, crashDeleted) },
		func() error { return w.appends(crashTopic, 1, 6) },
		func() error { w.clock.Advance(2 * time.Hour); return w.appends(crashRetained, 0, 4) },
		func() error { return w.retention(ctx) },
		func() error { return w.deleteRecords(ctx) },
		func() error { return w.keyed(10) },
		func() error { return w.compact(ctx) },
		func() error { return w.consume(ctx, 2) },
		func() error { err := w.l.Close(); w.l = nil; return err },
		w.open,
		func() error { return w.produce(crashTopic, 6) },
		func() error { return w.consume(ctx, 1) },
		func() error { return w.appends(crashTopic, 0, 4) },
	}
	for i, step := range steps {
		if err := step(); err != nil {
			w.failedStep = i
			return
		}
	}
	w.failedStep = len(steps)
}

func (w *mixedWorkload) create(name string, partitions int32, policy CleanupPolicy, retention time.Duration) error {
	cfg := crashSegments
	cfg.Partitions, cfg.CleanupPolicy, cfg.Retention = partitions, policy, retention
	_, err := w.l.CreateTopic(context.Background(), name, cfg)
	return err
}

func (w *mixedWorkload) value() string {
	w.seq++
	return fmt.Sprintf("v%d-%s", w.seq, strings.Repeat("x", w.rng.IntN(200)))
}

// appends appends n batches of 1 to 3 records to a partition.
func (w *mixedWorkload) appends(topic string, id int32, n int) error {
	p, err := w.l.partition(TopicPartition{topic, id})
	if err != nil {
		return err
	}
	for range n {
		recs := make([]Record, 1+w.rng.IntN(3))
		values := make([]string, len(recs))
		for i := range recs {
			values[i] = w.value()
			recs[i] = Record{Value: []byte(values[i])}
		}
		s := w.rec.Send("append", histcheck.Partition{Topic: topic, ID: id}, values...)
		res, err := p.Append(context.Background(), recs)
		if err != nil {
			s.Unknown()
			return err
		}
		w.ack(s, res.BaseOffset)
	}
	return nil
}

// keyed appends n keyed records to the compacted topic, 5 keys.
func (w *mixedWorkload) keyed(n int) error {
	p, err := w.l.partition(TopicPartition{crashCompacted, 0})
	if err != nil {
		return err
	}
	for range n {
		v := w.value()
		s := w.rec.Send("keyed", histcheck.Partition{Topic: crashCompacted, ID: 0}, v)
		res, err := p.Append(context.Background(), []Record{{Key: []byte(strconv.Itoa(w.rng.IntN(5))), Value: []byte(v)}})
		if err != nil {
			s.Unknown()
			return err
		}
		w.ack(s, res.BaseOffset)
	}
	return nil
}

func (w *mixedWorkload) ack(s *histcheck.Send, base int64) {
	if w.policy == SyncAlways {
		s.Ok(base)
	} else {
		s.OkNotDurable(base)
	}
}

// produce sends n records through an idempotent Producer, one ProduceSync
// of several records at a time, and closes it.
func (w *mixedWorkload) produce(topic string, n int) error {
	prod, err := w.l.NewProducer(ProducerConfig{Partitioner: ManualPartitioner()})
	if err != nil {
		return err
	}
	defer prod.Close()
	for n > 0 {
		k := min(n, 1+w.rng.IntN(3))
		n -= k
		id := int32(w.rng.IntN(2))
		recs := make([]*Record, k)
		sends := make([]*histcheck.Send, k)
		for i := range recs {
			v := w.value()
			recs[i] = &Record{Topic: topic, Partition: id, Value: []byte(v)}
			sends[i] = w.rec.Send("producer", histcheck.Partition{Topic: topic, ID: id}, v)
		}
		if err := prod.ProduceSync(context.Background(), recs...); err != nil {
			for _, s := range sends {
				s.Unknown()
			}
			return err
		}
		for i, r := range recs {
			w.ack(sends[i], r.Offset)
		}
	}
	return prod.Close()
}

// checkpointAll checkpoints every partition (producer-state snapshots
// included), as the scheduler does.
func (w *mixedWorkload) checkpointAll(ctx context.Context) error {
	for _, p := range w.l.allPartitions() {
		if err := p.checkpoint(ctx); err != nil {
			return err
		}
	}
	return nil
}

// consume has a group member poll n times and commit what it polled.
func (w *mixedWorkload) consume(ctx context.Context, n int) error {
	// Manually assigned, committing for the group: Poll is called only
	// when records are there, so that the run is deterministic.
	tps := []TopicPartition{{crashTopic, 0}, {crashTopic, 1}}
	c, err := w.l.NewConsumer(ConsumerConfig{Group: crashGroup, Partitions: tps, DisableAutoCommit: true})
	if err != nil {
		return err
	}
	defer c.Close()
	w.epoch++
	name := fmt.Sprint("consumer-", w.epoch)
	for range n {
		waiting := false
		for _, tp := range tps {
			pos, err := c.Position(tp)
			if err != nil {
				return err
			}
			p, err := w.l.partition(tp)
			if err != nil {
				return err
			}
			waiting = waiting || p.HighWatermark() > pos
		}
		if !waiting {
			return c.Close()
		}
		recs, err := c.Poll(ctx)
		if err != nil {
			return err
		}
		reads := make([]histcheck.Read, len(recs))
		next := map[TopicPartition]int64{}
		for i, r := range recs {
			reads[i] = histcheck.Read{Partition: histcheck.Partition{Topic: r.Topic, ID: r.Partition}, Offset: r.Offset, Value: string(r.Value)}
			next[TopicPartition{r.Topic, r.Partition}] = r.Offset + 1
		}
		w.rec.Poll(name, 0, reads...)
		commits := map[TopicPartition]*histcheck.Commit{}
		for tp, off := range next {
			commits[tp] = w.rec.Commit(crashGroup, histcheck.Partition{Topic: tp.Topic, ID: tp.Partition}, off)
		}
		err = c.CommitRecords(ctx, recs...)
		for _, cm := range commits {
			switch {
			case err != nil:
				cm.Unknown()
			case w.policy == SyncAlways:
				cm.Ok()
			default:
				cm.OkNotDurable()
			}
		}
		if err != nil {
			return err
		}
	}
	return c.Close()
}

// retention runs a retention pass (the clock has passed the retention of
// the first records of the retained topic) and waits for its deletions.
func (w *mixedWorkload) retention(ctx context.Context) error {
	if err := w.l.EnforceRetention(ctx, crashRetained); err != nil {
		return err
	}
	w.l.waitDeletions()
	return nil
}

func (w *mixedWorkload) deleteRecords(ctx context.Context) error {
	p, err := w.l.partition(TopicPartition{crashTopic, 0})
	if err != nil {
		return err
	}
	_, err = p.DeleteRecords(ctx, p.HighWatermark()/2)
	w.l.waitDeletions()
	return err
}

func (w *mixedWorkload) compact(ctx context.Context) error {
	p, err := w.l.partition(TopicPartition{crashCompacted, 0})
	if err != nil {
		return err
	}
	err = p.rollIdle() // compaction leaves the active segment alone
	if err != nil {
		return err
	}
	return w.l.Compact(ctx, crashCompacted)
}

// checkCrashState opens a crash state, records what it holds as the final
// state after a crash, and checks it against the history.
func checkCrashState(t *testing.T, fs *vfs.MemFS, history []byte, policy SyncPolicy, what string) {
	t.Helper()
	if err := recoverCrashState(t, fs, history, policy, what).Err(); err != nil {
		t.Fatalf("%s:\n%v", what, err)
	}
}

// recoverCrashState is checkCrashState up to the history check, whose
// result it returns; the checks of the log itself fail t.
func recoverCrashState(t *testing.T, fs *vfs.MemFS, history []byte, policy SyncPolicy, what string) *histcheck.Result {
	t.Helper()
	ctx := context.Background()
	rec := histcheck.NewRecorder(histcheck.Config{})
	d := rec.NewDecoder()
	_, err := d.Write(history)
	require.NoError(t, err, what)
	rec.Crash()

	opts := testOptions(fs)
	opts.now = newClock().Now
	l, err := Open(testDir, opts)
	require.NoError(t, err, "%s: a crash state must open", what)
	final := func(l *Log) map[string]int64 {
		ends := map[string]int64{}
		for _, name := range append(l.Topics(), l.InternalTopics()...) {
			tp, err := l.Topic(name)
			require.NoError(t, err, what)
			for id := range tp.NumPartitions() {
				p, _ := tp.Partition(id)
				ends[fmt.Sprint(name, "-", id)] = p.EndOffset()
				if strings.HasPrefix(name, "__") {
					continue
				}
				var reads []histcheck.Read
				for r, err := range p.Scan(ctx, p.StartOffset()) {
					require.NoError(t, err, what)
					reads = append(reads, histcheck.Read{Partition: histcheck.Partition{Topic: name, ID: id}, Offset: r.Offset, Value: string(r.Value)})
				}
				rec.Final(histcheck.Partition{Topic: name, ID: id}, p.StartOffset(), p.EndOffset(), reads)
				if name == crashTopic {
					c, ok, _ := l.offsets.committed(crashGroup, TopicPartition{name, id})
					rec.FinalCommit(crashGroup, histcheck.Partition{Topic: name, ID: id}, c.Offset, ok)
				}
			}
		}
		return ends
	}
	ends := final(l)
	res := rec.Check(histcheck.Options{DurableReads: policy == SyncAlways, Compacted: []string{crashCompacted}})
	require.NoError(t, l.Check(ctx), what)
	if tp, err := l.Topic(crashTopic); err == nil {
		p, _ := tp.Partition(1)
		end := p.EndOffset()
		res, err := p.Append(ctx, []Record{{Value: []byte("after recovery")}})
		require.NoError(t, err, what)
		require.Equal(t, end, res.BaseOffset, what)
		ends[crashTopic+"-1"]++
	}
	require.NoError(t, l.Close(), what)

	// Recovery is idempotent: reopening finds the same partitions.
	l, err = Open(testDir, opts)
	require.NoError(t, err, what)
	again := map[string]int64{}
	for _, name := range append(l.Topics(), l.InternalTopics()...) {
		tp, _ := l.Topic(name)
		for id := range tp.NumPartitions() {
			p, _ := tp.Partition(id)
			again[fmt.Sprint(name, "-", id)] = p.EndOffset()
		}
	}
	require.Equal(t, ends, again, "%s: reopening changed the log", what)
	require.NoError(t, l.Check(ctx), what)
	require.NoError(t, l.Close(), what)
	return res
}

// The exploration's check is not vacuous: the history of a complete run,
// crashed after its last operation, passes; with one acknowledged record
// added that the log never stored, it reports the loss.
func TestCrashStateCheckCatchesALostRecord(t *testing.T) {
	var run crashRun
	for k := 0; ; k++ {
		r := runCrashWorkload(t, SyncAlways, 0, k)
		if r.clones == nil {
			break
		}
		run = r
	}
	require.Equal(t, crashWorkloadSteps, run.completed, "crashed in the Close after the last step")
	res := recoverCrashState(t, run.clones[1], run.history, SyncAlways, "everything kept")
	require.NoError(t, res.Err())
	require.Greater(t, res.Acked, 50, "%s", res)
	planted := append(bytes.Clone(run.history), []byte(fmt.Sprintf("hc send 999999 planted %s 1 never-stored\nhc ok 999999 %d %d\n",
		crashTopic, 1000, time.Now().UnixNano()))...)
	res = recoverCrashState(t, run.clones[1], planted, SyncAlways, "planted loss")
	require.NotEmpty(t, res.Of(histcheck.KindLostWrite), "%v", res.Err())
}
