package main

import (
	"context"
	"fmt"
	"math/bits"
	"sync/atomic"
	"time"

	"github.com/commitlog-go/commitlog"
)

// The commitlog-hooks system is commitlog's partition API on a Log with a
// hook observing every event, as a metrics exporter's would: counters
// and a latency histogram updated with atomics on each call. Run beside
// commitlog (-systems commitlog,commitlog-hooks), it measures what
// observing costs; it is not run unless named.

// exporterHook implements every hook interface of commitlog, counting
// what each call reports.
type exporterHook struct {
	batches, records, bytes   atomic.Int64
	syncs, syncNanos          atomic.Int64
	syncBuckets               [22]atomic.Int64 // 8 µs << i, as commitlog's own histogram
	rolls, rolledBytes        atomic.Int64
	retentions, deletedBytes  atomic.Int64
	compactions, removed      atomic.Int64
	rebalances, members       atomic.Int64
	commits, commitFailures   atomic.Int64
	recoveries, scannedBytes  atomic.Int64
	lastOffset, durableOffset atomic.Int64
}

func (h *exporterHook) OnAppend(i commitlog.AppendInfo) {
	h.batches.Add(int64(i.Batches))
	h.records.Add(int64(i.Records))
	h.bytes.Add(int64(i.Bytes))
	h.lastOffset.Store(i.LastOffset)
}

func (h *exporterHook) OnSync(i commitlog.SyncInfo) {
	h.syncs.Add(1)
	h.syncNanos.Add(int64(i.Duration))
	b := 0
	if i.Duration > 8*time.Microsecond {
		b = min(bits.Len64(uint64((i.Duration-1)/(8*time.Microsecond))), len(h.syncBuckets)-1)
	}
	h.syncBuckets[b].Add(1)
	h.durableOffset.Store(i.DurableOffset)
}

func (h *exporterHook) OnRoll(i commitlog.RollInfo) {
	h.rolls.Add(1)
	h.rolledBytes.Add(i.SealedBytes)
}

func (h *exporterHook) OnRetention(i commitlog.RetentionInfo) {
	h.retentions.Add(int64(i.Segments))
	h.deletedBytes.Add(i.Bytes)
}

func (h *exporterHook) OnCompaction(i commitlog.CompactionInfo) {
	h.compactions.Add(1)
	h.removed.Add(i.RecordsRemoved)
}

func (h *exporterHook) OnRebalance(i commitlog.RebalanceInfo) {
	h.rebalances.Add(1)
	h.members.Store(int64(i.Members))
}

func (h *exporterHook) OnCommit(i commitlog.CommitInfo) {
	h.commits.Add(1)
	if i.Err != nil {
		h.commitFailures.Add(1)
	}
}

func (h *exporterHook) OnRecovery(i commitlog.RecoveryInfo) {
	h.recoveries.Add(1)
	h.scannedBytes.Add(i.BytesScanned)
}

// hookedStore is the commitlog store with an exporterHook, which checks
// on close that the hook saw every record appended.
type hookedStore struct {
	*commitlogStore
	hook     *exporterHook
	appended atomic.Int64 // records appended by this store
}

func openCommitlogHooked(ctx context.Context, dir string, o storeOptions) (store, error) {
	h := &exporterHook{}
	s, err := openCommitlogStore(ctx, dir, o, []commitlog.Hook{h})
	if err != nil {
		return nil, err
	}
	return &hookedStore{commitlogStore: s, hook: h}, nil
}

func (s *hookedStore) appendBatch(ctx context.Context, recs []rec) error {
	err := s.commitlogStore.appendBatch(ctx, recs)
	if err == nil {
		s.appended.Add(int64(len(recs)))
	}
	return err
}

func (s *hookedStore) appendOne(ctx context.Context, r rec) error {
	err := s.commitlogStore.appendOne(ctx, r)
	if err == nil {
		s.appended.Add(1)
	}
	return err
}

func (s *hookedStore) close() error {
	err := s.commitlogStore.close()
	if got, want := s.hook.records.Load(), s.appended.Load(); err == nil && got != want {
		err = fmt.Errorf("the hook saw %d records appended, the store appended %d", got, want)
	}
	return err
}
