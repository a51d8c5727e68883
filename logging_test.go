package commitlog

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/commitlog-go/commitlog/internal/vfs"
	"github.com/stretchr/testify/require"
)

// structuredLog is a slog handler keeping every record with its
// attributes, for tests of what Options.Logger receives.
type structuredLog struct {
	mu   sync.Mutex
	recs []loggedRecord
}

type loggedRecord struct {
	level slog.Level
	msg   string
	attrs map[string]slog.Value
}

func (s *structuredLog) Enabled(context.Context, slog.Level) bool { return true }
func (s *structuredLog) Handle(_ context.Context, r slog.Record) error {
	rec := loggedRecord{level: r.Level, msg: r.Message, attrs: map[string]slog.Value{}}
	r.Attrs(func(a slog.Attr) bool {
		rec.attrs[a.Key] = a.Value
		return true
	})
	s.mu.Lock()
	s.recs = append(s.recs, rec)
	s.mu.Unlock()
	return nil
}
func (s *structuredLog) WithAttrs([]slog.Attr) slog.Handler { return s }
func (s *structuredLog) WithGroup(string) slog.Handler      { return s }

// take returns the records logged since the last take.
func (s *structuredLog) take() []loggedRecord {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.recs
	s.recs = nil
	return out
}

// find returns the records among recs with message msg.
func find(recs []loggedRecord, msg string) []loggedRecord {
	var out []loggedRecord
	for _, r := range recs {
		if r.msg == msg {
			out = append(out, r)
		}
	}
	return out
}

// requireKeys checks that the one record among recs with message msg is
// at level and has the attributes want, with those values.
func requireKeys(t *testing.T, recs []loggedRecord, msg string, level slog.Level, want map[string]any) {
	t.Helper()
	found := find(recs, msg)
	require.Len(t, found, 1, "%q logged once", msg)
	r := found[0]
	require.Equal(t, level, r.level, msg)
	for k, v := range want {
		got, ok := r.attrs[k]
		require.True(t, ok, "%q has no %q attribute: %v", msg, k, r.attrs)
		require.Equal(t, slog.AnyValue(v).Resolve().String(), got.Resolve().String(), "%q: %s", msg, k)
	}
}

// requireConsistentKeys checks the naming every record of the Log
// follows: a partition is always named with its topic, and the keys
// are the documented ones, never abbreviations.
func requireConsistentKeys(t *testing.T, recs []loggedRecord) {
	t.Helper()
	for _, r := range recs {
		if _, ok := r.attrs["partition"]; ok {
			require.Contains(t, r.attrs, "topic", "%q names a partition without its topic", r.msg)
		}
		for k := range r.attrs {
			require.NotContains(t, []string{"part", "seg", "grp", "tp", "start", "position_offset"}, k, "%q: key %q", r.msg, k)
		}
	}
}

func TestLoggerKeysOfNotableEvents(t *testing.T) {
	ctx := context.Background()
	logs := &structuredLog{}
	mem, clock := vfs.NewMem(), newClock()
	opts := testOptions(mem)
	opts.now, opts.Logger = clock.Now, slog.New(logs)
	l, err := Open(testDir, opts)
	require.NoError(t, err)
	all := logs.take()
	requireKeys(t, all, "opened log", slog.LevelInfo, map[string]any{"dir": testDir, "partitions": 0})

	// A roll.
	cfg := smallTopic
	cfg.Retention = time.Hour
	_, err = l.CreateTopic(ctx, "t", cfg)
	require.NoError(t, err)
	p := mustPartition(t, l, "t", 0)
	appendAt(t, p, 5, clock.Now())
	recs := logs.take()
	all = append(all, recs...)
	requireKeys(t, recs, "rolled segment", slog.LevelInfo, map[string]any{"topic": "t", "partition": int32(0), "segment": int64(40),
		"sealed": int64(0), "reason": "size"})

	// Retention.
	clock.Advance(2 * time.Hour)
	appendAt(t, p, 4, clock.Now())
	require.NoError(t, l.EnforceRetention(ctx))
	recs = logs.take()
	all = append(all, recs...)
	requireKeys(t, recs, "retention deleted segments", slog.LevelInfo, map[string]any{"topic": "t", "partition": int32(0),
		"offset": p.StartOffset(), "segments": 1})

	// DeleteRecords.
	_, err = p.DeleteRecords(ctx, p.StartOffset()+5)
	require.NoError(t, err)
	recs = logs.take()
	all = append(all, recs...)
	requireKeys(t, recs, "deleted records: the log start offset moved", slog.LevelInfo, map[string]any{"topic": "t", "partition": int32(0),
		"offset": p.StartOffset()})

	// A compaction pass.
	ccfg := smallTopic
	ccfg.CleanupPolicy = CleanupCompact
	_, err = l.CreateTopic(ctx, "c", ccfg)
	require.NoError(t, err)
	pc := mustPartition(t, l, "c", 0)
	for i := range 20 {
		_, err := pc.Append(ctx, []Record{{Key: fmt.Appendf(nil, "k%d", i%2), Value: make([]byte, 500)}})
		require.NoError(t, err)
	}
	require.NoError(t, l.Compact(ctx, "c"))
	recs = logs.take()
	all = append(all, recs...)
	requireKeys(t, recs, "compacted partition", slog.LevelInfo, map[string]any{"topic": "c", "partition": int32(0),
		"offset": pc.checkpointSnapshot().CleanerOffset})

	// A rebalance.
	c := newTestConsumer(t, l, ConsumerConfig{Group: "g", Topics: []string{"t"}})
	recs = logs.take()
	all = append(all, recs...)
	requireKeys(t, recs, "consumer group rebalanced", slog.LevelInfo, map[string]any{"group": "g", "generation": int32(1),
		"members": 1, "partitions": 1, "reason": "join"})
	require.NoError(t, c.Close())
	all = append(all, logs.take()...)
	requireConsistentKeys(t, all)
	require.NoError(t, l.Close())
}

func TestLoggerKeysOfRecoveryAndFailure(t *testing.T) {
	ctx := context.Background()
	mem, clock := vfs.NewMem(), newClock()
	opts := testOptions(mem)
	opts.now, opts.Sync = clock.Now, SyncNever
	l, err := Open(testDir, opts)
	require.NoError(t, err)
	_, err = l.CreateTopic(ctx, "t", smallTopic)
	require.NoError(t, err)
	p := mustPartition(t, l, "t", 0)
	appendAt(t, p, 2, clock.Now())
	end := p.EndOffset()
	crashed := mem.CrashClone(vfs.CrashOptions{KeepUnsynced: 1})
	require.NoError(t, l.Close())
	torn := []byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 2, 'x', 'y'}
	appendToFile(t, crashed, fmt.Sprintf("%s/t-0/%020d.log", testDir, 0), torn)

	// Recovery: the torn tail cut, and the partition's summary.
	var failSync bool
	fs := vfs.WithInjector(crashed, vfs.InjectorFunc(func(op vfs.Op, path string) error {
		if failSync && op == vfs.OpSync && strings.HasSuffix(path, logSuffix) {
			return fmt.Errorf("injected")
		}
		return nil
	}), vfs.InjectOptions{})
	logs := &structuredLog{}
	opts = testOptions(fs)
	opts.now, opts.Sync, opts.Logger = clock.Now, SyncAlways, slog.New(logs)
	l = openTest(t, fs, opts)
	recs := logs.take()
	all := recs
	requireKeys(t, recs, "cut torn tail left by an interrupted write", slog.LevelWarn, map[string]any{"topic": "t", "partition": int32(0),
		"segment": int64(0), "offset": end, "bytes": int64(len(torn))})
	requireKeys(t, recs, "recovered partition", slog.LevelInfo, map[string]any{"topic": "t", "partition": int32(0),
		"bytes_cut": int64(len(torn)), "from_checkpoint": true})

	// A failed fsync fails the partition.
	p = mustPartition(t, l, "t", 0)
	failSync = true
	_, err = p.Append(ctx, []Record{{Value: []byte("x")}})
	require.ErrorIs(t, err, ErrDurability)
	recs = logs.take()
	all = append(all, recs...)
	requireKeys(t, recs, "partition failed", slog.LevelError, map[string]any{"topic": "t", "partition": int32(0), "op": "sync"})
	requireConsistentKeys(t, all)
}

// Nothing is logged per append above Debug.
func TestLoggerIsQuietPerAppend(t *testing.T) {
	ctx := context.Background()
	for _, policy := range []SyncPolicy{SyncAlways, SyncNever} {
		t.Run(policy.String(), func(t *testing.T) {
			logs := &structuredLog{}
			opts := testOptions(vfs.NewMem())
			opts.Sync, opts.Logger = policy, slog.New(logs)
			l := openTest(t, nil, opts)
			_, err := l.CreateTopic(ctx, "t", TopicConfig{})
			require.NoError(t, err)
			p := mustPartition(t, l, "t", 0)
			logs.take()
			prod, err := l.NewProducer(ProducerConfig{})
			require.NoError(t, err)
			for i := range 200 {
				_, err := p.Append(ctx, []Record{{Value: fmt.Appendf(nil, "v%d", i)}})
				require.NoError(t, err)
				require.NoError(t, prod.ProduceSync(ctx, &Record{Topic: "t", Value: []byte("w")}))
			}
			require.NoError(t, prod.Close())
			for _, r := range logs.take() {
				require.Less(t, r.level, slog.LevelInfo, "logged while appending: %q %v", r.msg, r.attrs)
			}
		})
	}
}
