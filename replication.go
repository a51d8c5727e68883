package commitlog

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// A replicated Log (Options.Controller and Options.Transport set) is one
// node of a cluster. What it holds of each topic is decided by the
// controller: the node keeps a replica of the partitions assigned to it,
// leads those the controller makes it lead, and follows the others'
// leaders by fetching from them over the Transport. This file holds the
// node's side: joining the controller, applying its metadata (creating
// and deleting topics, handing each replica its partition state), and
// routing the Transport's messages to the replicas. replica_partition.go
// holds one replica's leader and follower work; internal/replica its
// rules.

// Defaults of the replication options.
const (
	defaultReplicaLagTime      = 30 * time.Second
	defaultReplicaFetchMaxWait = 500 * time.Millisecond
	defaultReplicaFetchBytes   = 1 << 20
)

// replicator is a replicated Log's node: its controller session, its
// transport endpoint and its replicas.
type replicator struct {
	l    *Log
	node NodeID
	ctrl Controller
	tr   Transport
	// incarnation rises with every Open of the node (KIP-903's broker
	// epoch): a leader refuses fetches of an earlier incarnation still in
	// flight.
	incarnation int64

	// The forwarded produce requests waiting for their answers
	// (produce_forward.go), by request ID.
	nextCall atomic.Uint64
	callsMu  sync.Mutex
	calls    map[uint64]chan *ProduceResponse
	// produceSlots bounds the forwarded produce requests served at once.
	produceSlots chan struct{}

	mu    sync.Mutex
	parts map[TopicPartition]*replicaPartition
	// stopping is set by stop before it shuts the parts down: a partition
	// attached later (a topic the controller's update was creating) is
	// closed at once, so that it starts no fetcher stop would not wait
	// for.
	stopping bool
	// meta is the controller's last word on every partition of every
	// topic, held here or not.
	meta map[TopicPartition]PartitionMetadata
	// applied is closed and replaced whenever a metadata update has been
	// applied: CreateTopic and DeleteTopic wait for their own.
	applied chan struct{}
	// snapshotted is closed once the controller's first snapshot is
	// applied.
	snapshotted     chan struct{}
	snapshotApplied bool

	// updates is the queue of metadata updates the controller delivered,
	// which run works off in order; wake signals it.
	updatesMu sync.Mutex
	updates   []ClusterUpdate
	wake      chan struct{}

	leave       func()
	stopListen  func()
	ctx         context.Context
	cancel      context.CancelFunc
	wg          sync.WaitGroup // run, the ticker, the fetchers and AlterISR calls
	stopOnce    sync.Once
	lagTime     time.Duration
	fetchWait   time.Duration
	fetchBytes  int32
	fetchExpiry time.Duration // a follower resends a fetch unanswered this long
}

// lastIncarnation makes incarnations rise even when two Opens of a node
// in this process read the same clock.
var lastIncarnation atomic.Int64

func nextIncarnation(now time.Time) int64 {
	for {
		last := lastIncarnation.Load()
		n := max(now.UnixNano(), last+1)
		if lastIncarnation.CompareAndSwap(last, n) {
			return n
		}
	}
}

// newReplicator makes l a node of its controller's cluster. It does not
// join yet: start does, once the Log's topics are loaded.
func newReplicator(l *Log) *replicator {
	o := &l.opts
	r := &replicator{
		l: l, node: o.NodeID, ctrl: o.Controller, tr: o.Transport,
		incarnation:  nextIncarnation(time.Now()),
		parts:        map[TopicPartition]*replicaPartition{},
		meta:         map[TopicPartition]PartitionMetadata{},
		calls:        map[uint64]chan *ProduceResponse{},
		produceSlots: make(chan struct{}, maxServedProduces),
		applied:      make(chan struct{}),
		snapshotted:  make(chan struct{}),
		wake:         make(chan struct{}, 1),
		lagTime:      o.ReplicaLagTime,
		fetchWait:    o.ReplicaFetchMaxWait,
		fetchBytes:   o.ReplicaFetchMaxBytes,
	}
	r.fetchExpiry = r.fetchWait + time.Second
	r.ctx, r.cancel = context.WithCancel(context.Background())
	return r
}

// start listens on the transport, joins the controller and waits until
// its first snapshot is applied, so that Open returns a node that knows
// the cluster.
func (r *replicator) start(ctx context.Context) error {
	r.wg.Go(r.run)
	leave, err := r.ctrl.Join(ctx, r.node, r.enqueue)
	if err != nil {
		return fmt.Errorf("commitlog: node %d: join the controller: %w", r.node, err)
	}
	r.leave = leave
	// Listening after joining: a second Log of one node is refused by the
	// controller (ErrNodeExists). Fetches sent before this are answered
	// into the void and sent again.
	stop, err := r.tr.Listen(r.node, r.deliver)
	if err != nil {
		return fmt.Errorf("commitlog: node %d: listen on the transport: %w", r.node, err)
	}
	r.stopListen = stop
	r.wg.Go(r.tick)
	select {
	case <-r.snapshotted:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// stop leaves the controller, stops listening and stops every goroutine
// of the node. The partitions' files are the Log's to close after.
func (r *replicator) stop() {
	r.stopOnce.Do(func() {
		if r.leave != nil {
			r.leave()
		}
		if r.stopListen != nil {
			r.stopListen()
		}
		r.cancel()
		r.mu.Lock()
		r.stopping = true
		parts := slices.Collect(maps.Values(r.parts))
		r.mu.Unlock()
		for _, rp := range parts {
			rp.shutdown()
		}
		r.wg.Wait()
	})
}

// enqueue is the controller's update function: it queues u for run.
func (r *replicator) enqueue(u ClusterUpdate) {
	r.updatesMu.Lock()
	r.updates = append(r.updates, u)
	r.updatesMu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// run applies the controller's updates in order until the node stops.
func (r *replicator) run() {
	for {
		select {
		case <-r.ctx.Done():
			return
		case <-r.wake:
		}
		for {
			r.updatesMu.Lock()
			if len(r.updates) == 0 {
				r.updatesMu.Unlock()
				break
			}
			u := r.updates[0]
			r.updates[0] = ClusterUpdate{}
			r.updates = r.updates[1:]
			r.updatesMu.Unlock()
			r.apply(u)
		}
	}
}

// apply carries out one metadata update: topics created and deleted,
// and each local replica's new partition state.
func (r *replicator) apply(u ClusterUpdate) {
	l := r.l
	for _, tm := range u.Topics {
		if r.ctx.Err() != nil {
			return
		}
		r.mu.Lock()
		for tp := range r.meta {
			if tp.Topic == tm.Name {
				delete(r.meta, tp)
			}
		}
		for _, pm := range tm.Partitions {
			r.meta[TopicPartition{tm.Name, pm.Partition}] = pm.clone()
		}
		r.mu.Unlock()
		if tm.Deleted {
			if err := l.deleteLocalTopic(r.ctx, tm.Name); err != nil && !errors.Is(err, ErrUnknownTopic) {
				l.opts.Logger.Error("deleting a topic the controller deleted failed", "topic", tm.Name, "err", err)
			}
			continue
		}
		if _, err := l.Topic(tm.Name); err != nil {
			cfg := tm.Config
			cfg.Replicas = make([][]NodeID, len(tm.Partitions))
			for i, pm := range tm.Partitions {
				cfg.Replicas[i] = slices.Clone(pm.Replicas)
			}
			if _, err := l.createLocalTopic(r.ctx, tm.Name, cfg); err != nil {
				l.opts.Logger.Error("creating a topic the controller created failed", "topic", tm.Name, "err", err)
				continue
			}
		}
		for _, pm := range tm.Partitions {
			if rp := r.replica(TopicPartition{tm.Name, pm.Partition}); rp != nil {
				rp.update(pm)
				if tm.Name == offsetsTopicName {
					l.groups.offsetsLeadershipChanged(rp)
				}
			}
		}
	}
	if u.Snapshot {
		known := map[string]bool{}
		for _, tm := range u.Topics {
			known[tm.Name] = true
		}
		for _, name := range append(l.Topics(), l.InternalTopics()...) {
			if !known[name] {
				l.opts.Logger.Warn("topic on disk is unknown to the controller: kept, but no replica of it is served; DeleteTopic removes it",
					"topic", name, "node", r.node)
			}
		}
	}
	r.mu.Lock()
	close(r.applied)
	r.applied = make(chan struct{})
	if u.Snapshot && !r.snapshotApplied {
		r.snapshotApplied = true
		close(r.snapshotted)
	}
	r.mu.Unlock()
}

// appliedChan returns the channel closed when the next update is applied.
func (r *replicator) appliedChan() <-chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.applied
}

// createTopic creates a topic through the controller and returns it once
// this node has applied its creation.
func (r *replicator) createTopic(ctx context.Context, name string, cfg TopicConfig) (*Topic, error) {
	if _, err := r.l.Topic(name); err == nil {
		return nil, fmt.Errorf("%w: %s", ErrTopicExists, name)
	} else if errors.Is(err, ErrClosed) {
		return nil, err
	}
	if err := r.ctrl.CreateTopic(ctx, TopicSpec{Name: name, Config: cfg}); err != nil {
		return nil, annotate(err, "create topic %s", name)
	}
	t, err := r.awaitTopic(ctx, name)
	if err != nil {
		return nil, annotate(err, "create topic %s: created, but not yet here", name)
	}
	return t, nil
}

// awaitTopic returns the topic once this node has applied its creation.
func (r *replicator) awaitTopic(ctx context.Context, name string) (*Topic, error) {
	for {
		applied := r.appliedChan()
		if t, err := r.l.Topic(name); err == nil || errors.Is(err, ErrClosed) {
			return t, err
		}
		if err := r.wait(ctx, applied); err != nil {
			return nil, err
		}
	}
}

// leaderOf returns the leader of tp as this node last heard, NoNode if
// none or unknown.
func (r *replicator) leaderOf(tp TopicPartition) NodeID {
	r.mu.Lock()
	defer r.mu.Unlock()
	if pm, ok := r.meta[tp]; ok {
		return pm.Leader
	}
	return NoNode
}

// deleteTopic deletes a topic through the controller and returns once
// this node has deleted it. A topic the controller does not know (one on
// disk from before) is deleted here alone.
func (r *replicator) deleteTopic(ctx context.Context, name string) error {
	if _, err := r.l.Topic(name); err != nil {
		return err
	}
	err := r.ctrl.DeleteTopic(ctx, name)
	if errors.Is(err, ErrUnknownTopic) {
		return r.l.deleteLocalTopic(ctx, name)
	}
	if err != nil {
		return annotate(err, "delete topic %s", name)
	}
	for {
		applied := r.appliedChan()
		if _, err := r.l.Topic(name); err != nil {
			if errors.Is(err, ErrUnknownTopic) {
				return nil
			}
			return err
		}
		if err := r.wait(ctx, applied); err != nil {
			return annotate(err, "delete topic %s: deleted, but not yet here", name)
		}
	}
}

// wait waits for ch, ctx or the node's stop.
func (r *replicator) wait(ctx context.Context, ch <-chan struct{}) error {
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-r.ctx.Done():
		return ErrClosed
	}
}

// notHosted returns the error for a partition this node holds no replica
// of: a *NotLeaderError naming its leader.
func (r *replicator) notHosted(topic string, id int32) error {
	r.mu.Lock()
	pm, ok := r.meta[TopicPartition{topic, id}]
	r.mu.Unlock()
	e := &NotLeaderError{Topic: topic, Partition: id, Node: r.node, Leader: NoNode, LeaderEpoch: -1}
	if ok {
		e.Leader, e.LeaderEpoch, e.LeaderAddr = pm.Leader, pm.LeaderEpoch, r.peerAddr(pm.Leader)
	}
	return e
}

// replica returns the local replica of tp, or nil.
func (r *replicator) replica(tp TopicPartition) *replicaPartition {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.parts[tp]
}

// attach makes p a replica of the node, in no partition state until the
// controller's next update gives it one.
func (r *replicator) attach(p *Partition) {
	rp := newReplicaPartition(r, p)
	p.repl = rp
	r.mu.Lock()
	r.parts[TopicPartition{p.topic.name, p.id}] = rp
	stopping := r.stopping
	r.mu.Unlock()
	if stopping {
		rp.shutdown()
	}
}

// detach stops p's replica work, as its topic is deleted.
func (r *replicator) detach(p *Partition) {
	tp := TopicPartition{p.topic.name, p.id}
	r.mu.Lock()
	rp := r.parts[tp]
	delete(r.parts, tp)
	r.mu.Unlock()
	if rp != nil {
		rp.shutdown()
	}
}

// deliver is the transport's delivery function: it hands fetch requests
// to the replica that leads and fetch responses to the one that follows.
func (r *replicator) deliver(m Message) {
	if m.Version != MessageVersion || m.To != r.node {
		return
	}
	switch b := m.Body.(type) {
	case *FetchRequest:
		rp := r.replica(TopicPartition{b.Topic, b.Partition})
		if rp == nil {
			r.send(m.From, &FetchResponse{Topic: b.Topic, Partition: b.Partition, ReplicaEpoch: b.ReplicaEpoch, Seq: b.Seq, LeaderEpoch: b.CurrentLeaderEpoch,
				Error: FetchUnknownPartition, HighWatermark: -1, LogStartOffset: -1, DivergingEpoch: -1, DivergingEndOffset: -1, BaseOffset: -1})
			return
		}
		rp.serveFetch(m.From, b)
	case *FetchResponse:
		if rp := r.replica(TopicPartition{b.Topic, b.Partition}); rp != nil {
			rp.takeResponse(m.From, b)
		}
	case *ProduceRequest:
		// Each waits for its acknowledgement on a goroutine of its own, at
		// most maxServedProduces at once: past that the request is
		// dropped, as a network would, and the sender sends it again.
		select {
		case r.produceSlots <- struct{}{}:
			r.wg.Go(func() {
				defer func() { <-r.produceSlots }()
				r.serveProduce(m.From, b)
			})
		default:
		}
	case *ProduceResponse:
		r.answered(b)
	}
}

// peerAddr returns node's address if the Transport knows it.
func (r *replicator) peerAddr(node NodeID) string {
	if pa, ok := r.tr.(PeerAddresser); ok && node != NoNode {
		return pa.PeerAddr(node)
	}
	return ""
}

// send sends body to node; loss is the protocol's to handle.
func (r *replicator) send(to NodeID, body MessageBody) {
	_ = r.tr.Send(r.ctx, Message{Version: MessageVersion, From: r.node, To: to, Body: body})
}

// tick drives the replicas' timers: the in-sync checks of leaders.
func (r *replicator) tick() {
	period := min(r.lagTime/2, r.fetchExpiry) / 2
	t := time.NewTicker(max(period, time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-r.ctx.Done():
			return
		case <-t.C:
		}
		r.mu.Lock()
		parts := slices.Collect(maps.Values(r.parts))
		r.mu.Unlock()
		for _, rp := range parts {
			rp.tick()
		}
	}
}

// alterISR asks the controller for an in-sync set change on behalf of
// rp's leader, in the background.
func (r *replicator) alterISR(rp *replicaPartition, req AlterISRRequest) {
	r.wg.Go(func() {
		err := r.ctrl.AlterISR(r.ctx, req)
		if err != nil {
			rp.alterISRFailed(err)
		}
	})
}
