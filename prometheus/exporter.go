package clprom

import (
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/commitlog-go/commitlog"
	"github.com/prometheus/client_golang/prometheus"
)

// Options configures an Exporter. The zero value is valid.
type Options struct {
	// Namespace prefixes every metric name ("commitlog_appended_records_total").
	// The default is "commitlog".
	Namespace string
	// ConstLabels are added to every metric, e.g. {"log": "orders"} when
	// one process exports several Logs to one registry. The default is none.
	ConstLabels prometheus.Labels
}

// Exporter is a commitlog hook and a prometheus.Collector: give it to
// commitlog.Open in Options.Hooks, register it with a
// prometheus.Registerer, and Attach the Log Open returned. It
// implements AppendHook, SyncHook, RollHook, RetentionHook,
// CompactionHook, RebalanceHook, CommitHook and RecoveryHook, counting
// each event with atomics and no allocation once a partition (or group)
// has been seen; Collect turns the counts, and the attached Log's
// Log.Stats, into metrics. It is safe for concurrent use.
type Exporter struct {
	d      descs
	log    atomic.Pointer[commitlog.Log]
	parts  counterMap[tpKey, partCounters]
	groups counterMap[string, groupCounters]
}

// New returns an Exporter configured by opts.
func New(opts Options) *Exporter {
	ns := opts.Namespace
	if ns == "" {
		ns = "commitlog"
	}
	return &Exporter{d: newDescs(ns, opts.ConstLabels)}
}

// Attach makes Collect read l.Stats() for the gauges and the fsync
// histogram. Call it once Open has returned l; a later Attach replaces
// the Log (after a reopen, say), and Attach(nil) stops reading one. The
// counters observed through the hooks are kept across Attach: they count
// what every Log the Exporter was a hook of did.
func (e *Exporter) Attach(l *commitlog.Log) { e.log.Store(l) }

// tpKey names a partition.
type tpKey struct {
	topic     string
	partition int32
}

// Indexes of roll reasons in partCounters.rolls; rollOther counts a
// reason this package does not know.
var rollReasons = [...]commitlog.RollReason{commitlog.RollSize, commitlog.RollIndex, commitlog.RollAge, commitlog.RollRetention, "other"}

const rollOther = len(rollReasons) - 1

func rollIndex(r commitlog.RollReason) int {
	for i, x := range rollReasons[:rollOther] {
		if x == r {
			return i
		}
	}
	return rollOther
}

var rebalanceReasons = [...]commitlog.RebalanceReason{commitlog.RebalanceJoin, commitlog.RebalanceLeave, commitlog.RebalanceEvicted,
	commitlog.RebalanceTopicCreated, commitlog.RebalanceTopicDeleted, "other"}

const rebalanceOther = len(rebalanceReasons) - 1

func rebalanceIndex(r commitlog.RebalanceReason) int {
	for i, x := range rebalanceReasons[:rebalanceOther] {
		if x == r {
			return i
		}
	}
	return rebalanceOther
}

// partCounters holds what the hooks counted for one partition.
type partCounters struct {
	label string // the partition number, formatted once

	batches, records, bytes       atomic.Uint64
	fsyncRounds, fsyncFailures    atomic.Uint64
	rolls                         [len(rollReasons)]atomic.Uint64
	retentionSegs, retentionBytes atomic.Uint64
	compactions, compactedBytes   atomic.Uint64
	compactedRecords              atomic.Uint64
	recoveries, recoveryScanned   atomic.Uint64
	recoveryCut, recoveryRemoved  atomic.Uint64
	recoveryRebuilt               atomic.Uint64
}

// groupCounters holds what the hooks counted for one consumer group.
type groupCounters struct {
	rebalances              [len(rebalanceReasons)]atomic.Uint64
	commits, commitFailures atomic.Uint64
}

// counterMap maps keys to counters, created on first sight. Lookups of
// known keys read an immutable map through an atomic pointer: no lock,
// no allocation. A new key copies the map under mu, which happens once
// per partition or group.
type counterMap[K comparable, V any] struct {
	mu sync.Mutex // serializes the creation of entries
	m  atomic.Pointer[map[K]*V]
}

// get returns the counters of k, creating them with init on first sight.
func (c *counterMap[K, V]) get(k K, init func(*V)) *V {
	if m := c.m.Load(); m != nil {
		if v, ok := (*m)[k]; ok {
			return v
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	old := c.m.Load()
	if old != nil {
		if v, ok := (*old)[k]; ok {
			return v
		}
	}
	next := make(map[K]*V, 1+lenOf(old))
	if old != nil {
		for k, v := range *old {
			next[k] = v
		}
	}
	v := new(V)
	if init != nil {
		init(v)
	}
	next[k] = v
	c.m.Store(&next)
	return v
}

func lenOf[K comparable, V any](m *map[K]*V) int {
	if m == nil {
		return 0
	}
	return len(*m)
}

// all returns the current entries; the map must not be changed.
func (c *counterMap[K, V]) all() map[K]*V {
	if m := c.m.Load(); m != nil {
		return *m
	}
	return nil
}

func (e *Exporter) part(topic string, p int32) *partCounters {
	return e.parts.get(tpKey{topic, p}, func(c *partCounters) { c.label = strconv.FormatInt(int64(p), 10) })
}

func (e *Exporter) group(g string) *groupCounters { return e.groups.get(g, nil) }

// OnAppend counts the batches, records and bytes of an append, leader's
// or follower's.
func (e *Exporter) OnAppend(i commitlog.AppendInfo) {
	c := e.part(i.Topic, i.Partition)
	c.batches.Add(uint64(i.Batches))
	c.records.Add(uint64(i.Records))
	c.bytes.Add(uint64(i.Bytes))
}

// OnSync counts fsync rounds and failed ones. Their durations are not
// observed here: Collect reads them from Log.Stats (LogStats.Fsync),
// which counts the same rounds.
func (e *Exporter) OnSync(i commitlog.SyncInfo) {
	c := e.part(i.Topic, i.Partition)
	c.fsyncRounds.Add(1)
	if i.Err != nil {
		c.fsyncFailures.Add(1)
	}
}

// OnRoll counts a roll by its reason.
func (e *Exporter) OnRoll(i commitlog.RollInfo) {
	e.part(i.Topic, i.Partition).rolls[rollIndex(i.Reason)].Add(1)
}

// OnRetention counts the segments and bytes a retention pass deleted.
func (e *Exporter) OnRetention(i commitlog.RetentionInfo) {
	c := e.part(i.Topic, i.Partition)
	c.retentionSegs.Add(uint64(i.Segments))
	c.retentionBytes.Add(uint64(max(i.Bytes, 0)))
}

// OnCompaction counts a compaction pass, the bytes it reclaimed and the
// records it removed.
func (e *Exporter) OnCompaction(i commitlog.CompactionInfo) {
	c := e.part(i.Topic, i.Partition)
	c.compactions.Add(1)
	c.compactedBytes.Add(uint64(max(i.BytesBefore-i.BytesAfter, 0)))
	c.compactedRecords.Add(uint64(max(i.RecordsRemoved, 0)))
}

// OnRebalance counts a group's rebalance by its reason.
func (e *Exporter) OnRebalance(i commitlog.RebalanceInfo) {
	e.group(i.Group).rebalances[rebalanceIndex(i.Reason)].Add(1)
}

// OnCommit counts a group's offset commit, and whether it failed.
func (e *Exporter) OnCommit(i commitlog.CommitInfo) {
	c := e.group(i.Group)
	c.commits.Add(1)
	if i.Err != nil {
		c.commitFailures.Add(1)
	}
}

// OnRecovery counts a partition's recovery at Open and what it scanned
// and repaired.
func (e *Exporter) OnRecovery(i commitlog.RecoveryInfo) {
	c := e.part(i.Topic, i.Partition)
	c.recoveries.Add(1)
	c.recoveryScanned.Add(uint64(max(i.BytesScanned, 0)))
	c.recoveryCut.Add(uint64(max(i.BytesCut, 0)))
	c.recoveryRemoved.Add(uint64(i.SegmentsRemoved))
	c.recoveryRebuilt.Add(uint64(i.IndexesRebuilt))
}

var (
	_ commitlog.AppendHook     = (*Exporter)(nil)
	_ commitlog.SyncHook       = (*Exporter)(nil)
	_ commitlog.RollHook       = (*Exporter)(nil)
	_ commitlog.RetentionHook  = (*Exporter)(nil)
	_ commitlog.CompactionHook = (*Exporter)(nil)
	_ commitlog.RebalanceHook  = (*Exporter)(nil)
	_ commitlog.CommitHook     = (*Exporter)(nil)
	_ commitlog.RecoveryHook   = (*Exporter)(nil)
	_ prometheus.Collector     = (*Exporter)(nil)
)
