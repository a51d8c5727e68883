package main

import (
	"context"
	"errors"
	"sync"
)

// store is one system opened on a directory, used as a single-partition
// log. Methods other than appendOne are called from one goroutine.
type store interface {
	// appendBatch writes recs as one batch: one call, transaction, commit
	// or round of publishes. Opened durable, it returns once they are
	// durable; otherwise a client that acknowledges asynchronously may
	// return before the acknowledgement (flush waits for it). recs and its
	// slices are reused after the call returns.
	appendBatch(ctx context.Context, recs []rec) error
	// appendOne writes one record and returns once it is acknowledged
	// (durably when opened durable). It is safe for concurrent use.
	appendOne(ctx context.Context, r rec) error
	// flush waits until everything appended is acknowledged.
	flush(ctx context.Context) error
	// read calls fn with the value of every record from the first, until n
	// were read or the log has no more, and returns how many it read. The
	// value is valid only during the call.
	read(ctx context.Context, n int64, fn func(value []byte)) (int64, error)
	close() error
}

// tailer is a store with a tail API: a consumer woken by new records.
type tailer interface {
	// tail calls ready once it is consuming, then fn with the value of
	// every record appended after that, until ctx ends.
	tail(ctx context.Context, ready func(), fn func(value []byte)) error
}

// replicaCounter is a replicated store (system.replicated) that tells
// what its replicas hold.
type replicaCounter interface {
	// replicaRecords returns the records each replica has stored where
	// its readers find them, one figure per replica, in the order of its
	// nodes. A follower may store what is acknowledged later than the
	// acknowledgement (a Raft follower applies committed entries after
	// the commit).
	replicaRecords(ctx context.Context) ([]int64, error)
	// holdingAcknowledged returns how many replicas, the leader included,
	// have every record acknowledged so far in their logs, as the
	// system's replication counts them for its acknowledgements.
	holdingAcknowledged(ctx context.Context) (int, error)
}

// storeOptions says how a run opens a store.
type storeOptions struct {
	durable bool   // every acknowledged append is on disk
	codec   string // compression for the client runs: "", "lz4" or "zstd"
	// replicas is the number of replicas of a replicated run
	// (workload.Replicas); 0 for the others.
	replicas int
}

// system is one of the compared systems.
type system struct {
	name  string
	usage string // how the harness uses it, for the report
	keys  bool   // records carry the 16-byte key
	// client marks this library's Producer/Consumer runs (W7).
	client bool
	// variant marks a variant of this library's runs, measuring one
	// feature's cost (commitlog-hooks): run only when named in -systems.
	variant bool
	open    func(ctx context.Context, dir string, o storeOptions) (store, error)
	// replicated opens o.replicas replicas of the system in the process,
	// each with its data under dir, as one store whose appends return once
	// the replicas in sync have them (durably on them when o.durable): the
	// replicated workloads (workload.Replicas). dir must be new. nil for a
	// system that does not replicate; noReplication then says why, and
	// replicatedUsage is unset.
	replicated      func(ctx context.Context, dir string, o storeOptions) (store, error)
	replicatedUsage string
	noReplication   string
}

// errNoTail is reported by the tail workload for systems without a tail
// API.
var errNoTail = errors.New("no tail API: a reader can only poll")

// skipNoReplication is the reason a replicated workload reports for a
// system without replication, starting with the short form the summary
// shows (see cell).
func (s system) skipNoReplication() string {
	return "no replication: " + s.noReplication
}

var systems = []system{
	{name: "commitlog", keys: true, open: openCommitlog,
		usage:      "partition API: `Partition.Append` per batch, a `Cursor` to read, `Follow` to tail; `SyncNever`, or `SyncAlways` when durable",
		replicated: openCommitlogCluster,
		replicatedUsage: "three `Log`s, each in its own directory, on the in-memory network (`memnet`) with an `InProcessController`; " +
			"a topic of one partition with `ReplicationFactor` 3 and `MinInSyncReplicas` 2, led by node 1; a `Producer` with `AckAll` on the leader's `Log` " +
			"(`Produce` per record, `Flush` per batch; `ProduceSync` for one record): acknowledged once every in-sync replica has the batch (on disk on them under `SyncAlways`)"},
	{name: "commitlog-hooks", keys: true, variant: true, open: openCommitlogHooked,
		usage: "as commitlog, on a `Log` with `Options.Hooks` set to a hook implementing every hook interface that counts what each call reports with atomics, " +
			"as a metrics exporter would (runs only when named in -systems: beside commitlog, it measures what observing costs)",
		noReplication: "a variant of commitlog measuring hooks, run on one node only"},
	{name: "commitlog-client", keys: true, client: true, open: openCommitlogClient,
		usage: "`Producer` (async `Produce`, `Flush` at the end) and `Consumer` (manual assignment, `Poll`)"},
	{name: "tidwall/wal", open: openTidwall,
		usage:         "`WriteBatch` per batch, `Read(index)` with `NoCopy`; `NoSync`, or sync per batch when durable; no keys",
		noReplication: "a log file in one process, with no replication of its own"},
	{name: "pebble", open: openPebble,
		usage:         "8-byte big-endian sequence keys, one `Batch.Commit` per batch (`NoSync`/`Sync`), iterator to read; values carry no key",
		noReplication: "an embedded key-value store on one node, with no replication of its own"},
	{name: "bbolt", open: openBbolt,
		usage:         "8-byte big-endian sequence keys in one bucket (`FillPercent` 1.0), one `Update` per batch, `Batch` for concurrent single appends, cursor to read; `NoSync` unless durable",
		noReplication: "an embedded B+tree file on one node, with no replication of its own"},
	{name: "nats", open: openNATS,
		usage:      "embedded nats-server, JetStream file store, in-process connection; async publish (acks awaited per batch), ordered consumer to read and tail; durable = `SyncAlways`; no keys",
		replicated: openNATSCluster,
		replicatedUsage: "three embedded nats-servers clustered over routes on loopback TCP (nats-server has no in-memory transport between servers), JetStream on each with its own store directory; " +
			"a stream of 3 replicas; the in-process connection is to the server that leads it; async publish with the acks awaited per batch, `Publish` for one record: " +
			"acknowledged once the stream's Raft group commits it: in the Raft logs of a majority of the replicas (2 of 3; with `SyncAlways` those logs fsync every write), which JetStream cannot be told to extend to all of them"},
	{name: "kfake", keys: true, open: openKfake,
		usage:         "kfake broker with `DataDir` on loopback TCP, franz-go client (async `Produce`, `Flush`; consumer from the start); durable = `SyncWrites` with acks=all",
		noReplication: "its brokers share one copy of each partition; the replication factor is only reported in metadata, and a produce has no replica to wait for"},
}

func systemNames() []string {
	var names []string
	for _, s := range systems {
		names = append(names, s.name)
	}
	return names
}

// defaultSystemNames returns the systems a run without -systems runs:
// all but the variants.
func defaultSystemNames() []string {
	var names []string
	for _, s := range systems {
		if !s.variant {
			names = append(names, s.name)
		}
	}
	return names
}

func systemByName(name string) (system, bool) {
	for _, s := range systems {
		if s.name == name {
			return s, true
		}
	}
	return system{}, false
}

// runs reports whether the system takes part in the workload.
func (s system) runs(w workload) bool {
	if s.client {
		return w.Client
	}
	if w.Client {
		return false
	}
	return w.Peers || s.name == "commitlog"
}

// firstError keeps the first error reported by asynchronous
// acknowledgements (promises, error handlers), from any goroutine.
type firstError struct {
	mu  sync.Mutex
	err error
}

func (f *firstError) set(err error) {
	if err == nil {
		return
	}
	f.mu.Lock()
	if f.err == nil {
		f.err = err
	}
	f.mu.Unlock()
}

func (f *firstError) get() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.err
}
