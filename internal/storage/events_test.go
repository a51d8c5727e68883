package storage

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/commitlog-go/commitlog/internal/metrics"
	"github.com/commitlog-go/commitlog/internal/record"
	"github.com/commitlog-go/commitlog/internal/vfs"
	"github.com/stretchr/testify/require"
)

// eventLog records the events a partition reports, and checks as each
// arrives that none of the partition's locks is held: the append lock,
// the fsync semaphore and the compaction lock can all be taken.
type eventLog struct {
	t           *testing.T
	p           *PartitionLog // set once open
	mu          sync.Mutex
	appends     []AppendEvent
	syncs       []SyncEvent
	rolls       []RollEvent
	retentions  []RetentionEvent
	compactions []CompactionEvent
}

func (e *eventLog) events() Events {
	return Events{
		Append:     func(ev AppendEvent) { e.add(func() { e.appends = append(e.appends, ev) }) },
		Sync:       func(ev SyncEvent) { e.add(func() { e.syncs = append(e.syncs, ev) }) },
		Roll:       func(ev RollEvent) { e.add(func() { e.rolls = append(e.rolls, ev) }) },
		Retention:  func(ev RetentionEvent) { e.add(func() { e.retentions = append(e.retentions, ev) }) },
		Compaction: func(ev CompactionEvent) { e.add(func() { e.compactions = append(e.compactions, ev) }) },
	}
}

func (e *eventLog) add(f func()) {
	if p := e.p; p != nil {
		if !p.mu.TryLock() {
			e.t.Error("an event was reported under the append lock")
		} else {
			p.mu.Unlock()
		}
		select {
		case p.syncSem <- struct{}{}:
			<-p.syncSem
		default:
			e.t.Error("an event was reported holding the fsync semaphore")
		}
		if !p.cleanMu.TryLock() {
			e.t.Error("an event was reported under the compaction lock")
		} else {
			p.cleanMu.Unlock()
		}
	}
	e.mu.Lock()
	f()
	e.mu.Unlock()
}

// openWithEvents opens a new partition log with cfg reporting to an
// eventLog.
func openWithEvents(t *testing.T, cfg Config) (*PartitionLog, *eventLog) {
	t.Helper()
	ev := &eventLog{t: t}
	cfg.Events = ev.events()
	p := openPartitionLog(t, cfg, true)
	ev.p = p
	ev.syncs = nil // the creation's rounds
	return p, ev
}

func TestEventsOfAppendsAndRolls(t *testing.T) {
	cfg := smallConfig(vfs.NewMem())
	cfg.SyncAlways = false
	p, ev := openWithEvents(t, cfg)
	b := plainBatch(t, 1, rec("a", "1"), rec("b", "2"))
	size := len(b)
	mustAppend(t, p, b)
	require.Equal(t, []AppendEvent{{BaseOffset: 0, LastOffset: 1, Batches: 1, Records: 2, Bytes: size}}, ev.appends)

	// A duplicate of an idempotent producer's batch writes nothing.
	mustAppend(t, p, idempotentBatch(t, 7, 0, 0, 3))
	mustAppend(t, p, idempotentBatch(t, 7, 0, 0, 3))
	require.Len(t, ev.appends, 2)

	// The roll's event comes after the append lock is released.
	for len(p.Segments()) == 1 {
		mustAppend(t, p, plainBatch(t, 1, kv{key: []byte("k"), value: make([]byte, 1000)}))
	}
	segs := p.Segments()
	require.Equal(t, []RollEvent{{Segment: segs[1].Base, Sealed: 0, SealedBytes: segs[0].Size, Reason: RollSize}}, ev.rolls)
	require.NoError(t, p.Roll())
	require.Equal(t, RollRequested, ev.rolls[1].Reason)
	require.Equal(t, "requested", ev.rolls[1].Reason.String())
	require.Equal(t, "RollReason(9)", RollReason(9).String())
}

func TestEventsOfFollowerAppends(t *testing.T) {
	ctx := context.Background()
	_, batches := leaderLog(t)
	cfg := smallConfig(vfs.NewMem())
	p, ev := openWithEvents(t, cfg)
	var all []byte
	records := 0
	for _, b := range batches[:3] {
		all = append(all, b...)
		h, err := record.ParseHeader(b, len(b))
		require.NoError(t, err)
		records += int(h.RecordCount)
	}
	res, err := p.AppendAsFollower(ctx, all, AppendOptions{Expected: -1})
	require.NoError(t, err)
	require.Equal(t, []AppendEvent{{BaseOffset: res.BaseOffset, LastOffset: res.LastOffset, Batches: 3, Records: records, Bytes: len(all), Follower: true}},
		ev.appends)
}

func TestEventsOfSyncRounds(t *testing.T) {
	ctx := context.Background()
	clock := newTestClock()
	mem := vfs.NewMem()
	fs := vfs.WithInjector(mem, vfs.InjectorFunc(func(op vfs.Op, _ string) error {
		if op == vfs.OpSync {
			clock.Advance(3 * time.Millisecond)
		}
		return nil
	}), vfs.InjectOptions{})
	cfg := smallConfig(fs)
	cfg.Now = clock.Now
	var hist metrics.Histogram
	cfg.SyncLatency = &hist
	p, ev := openWithEvents(t, cfg)
	before := hist.Snapshot()
	mustAppend(t, p, plainBatch(t, 1, rec("a", "1")))
	require.Equal(t, []SyncEvent{{Duration: 3 * time.Millisecond, Files: 1, DurableOffset: 1}}, ev.syncs)
	after := hist.Snapshot()
	require.Equal(t, before.Count+1, after.Count)
	require.Equal(t, before.Sum+3*time.Millisecond, after.Sum)
	require.Equal(t, before.Counts[9]+1, after.Counts[9], "3 ms is in (2.048 ms, 4.096 ms]")

	// A flush with nothing written fsyncs nothing and reports nothing.
	require.NoError(t, p.Flush(ctx))
	require.Len(t, ev.syncs, 1)
	require.Equal(t, after, hist.Snapshot())
}

// A holder of the fsync semaphore keeps up to maxHeldSyncEvents rounds to
// report; later ones add to the last.
func TestHeldSyncEventsMerge(t *testing.T) {
	p, ev := openWithEvents(t, smallConfig(vfs.NewMem()))
	p.syncSem <- struct{}{}
	boom := errors.New("boom")
	for i := range 6 {
		var err error
		if i == 4 {
			err = boom
		}
		p.noteSync(SyncEvent{Duration: time.Duration(i+1) * time.Millisecond, Files: i + 1, DurableOffset: int64(10 * i), Err: err})
	}
	p.releaseSync() // releases the semaphore, then reports
	require.Equal(t, []SyncEvent{
		{Duration: 1 * time.Millisecond, Files: 1, DurableOffset: 0},
		{Duration: 2 * time.Millisecond, Files: 2, DurableOffset: 10},
		{Duration: 3 * time.Millisecond, Files: 3, DurableOffset: 20},
		{Duration: 15 * time.Millisecond, Files: 15, DurableOffset: 50, Err: boom},
	}, ev.syncs)
	require.Zero(t, p.heldSyncs.n)
}

func TestEventsOfRetention(t *testing.T) {
	ctx := context.Background()
	cfg := smallConfig(vfs.NewMem())
	cfg.RetentionBytes = 1
	p, ev := openWithEvents(t, cfg)
	for range 30 {
		mustAppend(t, p, plainBatch(t, 1, kv{key: []byte("k"), value: make([]byte, 300)}))
	}
	before := p.Segments()
	require.NoError(t, p.EnforceRetention(ctx, cfg.Now()))
	start := p.StartOffset()
	want := RetentionEvent{StartOffset: start}
	for _, s := range before {
		if s.Base < start {
			want.Segments++
			want.Bytes += s.Size
		}
	}
	require.Positive(t, want.Segments)
	require.Equal(t, []RetentionEvent{want}, ev.retentions)
}

func TestEventsOfCompaction(t *testing.T) {
	clock := newTestClock()
	cfg := compactedConfig(vfs.NewMem())
	cfg.Now = clock.Now
	p, ev := openWithEvents(t, cfg)
	for i := range 40 {
		key := fmt.Sprintf("k%d", i%4)
		mustAppend(t, p, plainBatch(t, clock.Now().UnixMilli(), kv{key: []byte(key), value: fmt.Appendf(nil, "%0200d", i)}))
	}
	require.NoError(t, p.RollIdle())
	before, recsBefore := p.Segments(), len(readRecords(t, p, 0))
	require.NoError(t, p.Compact(context.Background(), clock.Now()))
	after, recsAfter := p.Segments(), len(readRecords(t, p, 0))
	require.Len(t, ev.compactions, 1)
	got := ev.compactions[0]
	want := CompactionEvent{RecordsRemoved: int64(recsBefore - recsAfter), CleanerOffset: after[len(after)-1].Base}
	for _, s := range before {
		if !containsSegment(after, s) {
			want.Segments++
			want.BytesBefore += s.Size
		}
	}
	for _, s := range after {
		if !containsSegment(before, s) {
			want.NewSegments++
			want.BytesAfter += s.Size
		}
	}
	require.Equal(t, int64(36), want.RecordsRemoved, "four keys of forty records stay")
	require.Equal(t, want, got)
}

// containsSegment reports whether segs holds s itself.
func containsSegment(segs []SegmentInfo, s SegmentInfo) bool {
	for _, x := range segs {
		if x.Same(s) {
			return true
		}
	}
	return false
}

func TestRecoveryStats(t *testing.T) {
	mem := vfs.NewMem()
	cfg := smallConfig(mem)
	cfg.RetentionBytes = 1
	cfg.Discard = func(func()) {} // the removal never runs: the crash comes first
	p := openPartitionLog(t, cfg, true)
	require.Equal(t, RecoveryStats{Segments: 1, FromCheckpoint: false}, p.Recovery(), "a new partition: nothing to recover")
	for range 30 {
		mustAppend(t, p, plainBatch(t, 1, kv{key: []byte("k"), value: make([]byte, 300)}))
	}
	require.NoError(t, p.EnforceRetention(context.Background(), cfg.Now()))
	start, left := p.StartOffset(), len(p.Segments())
	var gone int
	entries, err := mem.List(testPartitionDir)
	require.NoError(t, err)
	for _, n := range entries {
		if base, ok := ParseSegmentName(n, LogSuffix); ok && base < start {
			gone++
		}
	}
	require.Positive(t, gone)

	// Open after a crash: the segments retention left are removed, the
	// zeros of the active segment's prepared space cut.
	crashed := mem.CrashClone(vfs.CrashOptions{})
	active := p.ActiveSegment()
	f, err := crashed.Stat(active.Path)
	require.NoError(t, err)
	prepared := f.Size() - active.Size // SyncAlways prepares space ahead
	require.Positive(t, prepared)
	ccfg := cfg
	ccfg.FS, ccfg.Discard = crashed, nil
	clock := newTestClock()
	ccfg.Now = func() time.Time { clock.Advance(time.Millisecond); return clock.Now() }
	q := openPartitionLog(t, ccfg, false)
	r := q.Recovery()
	require.Positive(t, r.Duration)
	r.Duration = 0
	require.Equal(t, RecoveryStats{Segments: left, SegmentsScanned: 1, FromCheckpoint: true, BytesCut: prepared, SegmentsRemoved: gone}, r)
}

func TestTruncationIsLogged(t *testing.T) {
	ctx := context.Background()
	logs := &logCapture{}
	cfg := smallConfig(vfs.NewMem())
	cfg.Logger = slog.New(logs)
	p := openPartitionLog(t, cfg, true)
	for range 5 {
		mustAppend(t, p, plainBatch(t, 1, rec("a", "1"), rec("b", "2")))
	}
	require.NoError(t, p.TruncateTo(ctx, 4))
	recs := logs.records("truncated the log")
	require.Len(t, recs, 1)
	a := recs[0].attrs
	require.Equal(t, slog.LevelInfo, recs[0].level)
	require.Equal(t, "t", a["topic"].String())
	require.Equal(t, int64(0), a["partition"].Int64())
	require.Equal(t, int64(4), a["offset"].Int64())
	require.Equal(t, int64(10), a["end"].Int64())
	// Nothing to cut: nothing logged.
	require.NoError(t, p.TruncateTo(ctx, 4))
	require.Len(t, logs.records("truncated the log"), 1)
}
