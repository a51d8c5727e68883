package cluster

import (
	"context"
	"fmt"
	"io"
	"log"
	"slices"
	"sync"
	"time"

	"github.com/commitlog-go/commitlog"
	"github.com/commitlog-go/commitlog/internal/controller"
	"github.com/commitlog-go/commitlog/internal/vfs"
	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// RaftController is a commitlog.Controller whose metadata is a log
// replicated by Raft among the controllers of the cluster's nodes, one
// RaftController per node, like Kafka's KRaft quorum with every node a
// voter. Each one applies the committed commands (create and delete
// topic, AlterISR, elect preferred leaders, node up and down) to the same
// deterministic state machine (internal/controller.Cluster), so that
// every node computes the same leaders, in-sync sets and epochs, and
// tells its Log in commit order.
//
// # The loop
//
// One goroutine owns the raft.RawNode. It ticks it every
// RaftConfig.TickInterval, steps it with the Raft messages that arrive
// as ControllerMessages, proposes the commands of the calls, and handles
// each Ready in the order etcd's raft requires: the snapshot, entries and
// hard state are written to the node's directory and fsynced (see
// storage.go); only then are the Ready's messages sent; then the
// committed entries are applied, and the Ready advanced. Proposals on a
// follower are forwarded to the leader by Raft itself; a proposal lost
// on the way is proposed again until it commits, and applied once.
//
// # Liveness
//
// Each controller sends a heartbeat to the Raft leader every
// RaftConfig.HeartbeatInterval while its Log is joined. The leader's
// controller proposes NodeDown for a node it has not heard from for
// RaftConfig.SessionTimeout (counted from its own election, so that a
// new leader first gives every node a full session, except the Raft
// leader before it, whose session counts from the last message this node
// had from it: a leader that died is fenced a session after it fell
// silent, not an election and a session): the node's
// partitions elect other leaders, and it leaves their in-sync sets, by
// the same rules as InProcessController. A joined node that finds itself
// down in the committed metadata proposes NodeUp again.
//
// Every method is safe for concurrent use. Close stops the loop.
type RaftController struct {
	cfg   RaftConfig
	raftN uint64 // this node's Raft id: Node+1 (Raft reserves 0)

	stopListen func()
	inbox      chan commitlog.Message // ControllerMessages from the Mux
	calls      chan *call
	joins      chan joinReq
	leaves     chan *member
	queries    chan func()   // run on the loop
	done       chan struct{} // closed by Close
	wg         sync.WaitGroup

	closeOnce sync.Once
	closeErr  error

	// Owned by the loop.
	rn        *raft.RawNode
	store     *diskStorage
	md        *metadata
	member    *member
	pending   []*call // proposals in order; the first is in flight
	seq       uint64
	lastHeard map[commitlog.NodeID]time.Time
	leaderAt  time.Time
	// prevLeader is the Raft leader this node last heard from as a
	// follower, prevLeaderAt when: a node elected leader counts that
	// one's session from then, not from its own election.
	prevLeader   commitlog.NodeID
	prevLeaderAt time.Time
	sinceProp    int // ticks since the first pending call was last proposed
	confState    *pb.ConfState
	fenced       map[commitlog.NodeID]bool // NodeDown proposed by this leader, not yet applied
	applied      uint64                    // the index of the last entry applied
	snapIndex    uint64                    // the index of the latest snapshot
	// snapshotNow asks for a snapshot at the end of the Ready: an
	// AddNode was applied, and the new node must start from a snapshot,
	// not from the bootstrap entries its metadata does not have.
	snapshotNow bool
}

// RaftConfig configures a RaftController.
type RaftConfig struct {
	// Node is this controller's node. Required.
	Node commitlog.NodeID
	// Nodes lists every node of the cluster, Node among them: the Raft
	// voters and the nodes replicas are assigned to, as the cluster
	// starts. Every node's controller must be given the same list.
	// Required, unless Join. AddNode and RemoveNode change the set later;
	// Nodes only matters to a node's first start.
	Nodes []commitlog.NodeID
	// Join says the node is new to a running cluster, which AddNode has
	// told about it: it does not start a cluster of Nodes (ignored) but
	// waits for the Raft leader to send it the metadata.
	Join bool
	// Dir is the directory of the node's Raft state. Required.
	Dir string
	// FS is the file system of Dir. Default: the operating system's.
	FS vfs.FS
	// Mux carries the Raft messages (and is the Transport the node's Log
	// is opened with). Required.
	Mux *Mux
	// TickInterval is the period of Raft's logical clock. Default 50ms.
	TickInterval time.Duration
	// ElectionTicks is Raft's election timeout in ticks. Default 10.
	ElectionTicks int
	// HeartbeatTicks is Raft's heartbeat period in ticks. Default 1.
	HeartbeatTicks int
	// HeartbeatInterval is how often a joined node tells the Raft leader
	// it is alive. Default 2 ticks.
	HeartbeatInterval time.Duration
	// SessionTimeout is how long the Raft leader waits for a node's
	// heartbeat before fencing it (NodeDown). Default 30 ticks.
	SessionTimeout time.Duration
	// SnapshotEntries is how many entries the controller applies between
	// two snapshots: once that many are applied after the latest one, the
	// metadata is encoded into a snapshot at the last applied index and
	// the Raft log up to it is dropped, rewriting the file (storage.go).
	// A node too far behind for the leader's log catches up from the
	// leader's snapshot instead. Default 1,000.
	SnapshotEntries int
}

func (c *RaftConfig) validate() error {
	var problems []string
	if c.Node < 0 {
		problems = append(problems, fmt.Sprintf("Node: %d is negative", c.Node))
	}
	if !c.Join && !slices.Contains(c.Nodes, c.Node) {
		problems = append(problems, fmt.Sprintf("Nodes: %v does not hold Node %d", c.Nodes, c.Node))
	}
	if c.Dir == "" {
		problems = append(problems, "Dir: required")
	}
	if c.Mux == nil {
		problems = append(problems, "Mux: required")
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"TickInterval", c.TickInterval}, {"HeartbeatInterval", c.HeartbeatInterval}, {"SessionTimeout", c.SessionTimeout}} {
		if d.v < 0 {
			problems = append(problems, fmt.Sprintf("%s: %v is negative", d.name, d.v))
		}
	}
	if c.SnapshotEntries < 0 {
		problems = append(problems, fmt.Sprintf("SnapshotEntries: %d is negative (0: the default)", c.SnapshotEntries))
	}
	if c.ElectionTicks < 0 || c.HeartbeatTicks < 0 {
		problems = append(problems, "ElectionTicks, HeartbeatTicks: negative")
	}
	if c.ElectionTicks > 0 && c.HeartbeatTicks >= c.ElectionTicks {
		problems = append(problems, "HeartbeatTicks: must be below ElectionTicks")
	}
	if len(problems) > 0 {
		return &commitlog.ConfigError{Problems: problems}
	}
	return nil
}

func (c RaftConfig) withDefaults() RaftConfig {
	if c.FS == nil {
		c.FS = vfs.Default
	}
	if c.TickInterval == 0 {
		c.TickInterval = 50 * time.Millisecond
	}
	if c.ElectionTicks == 0 {
		c.ElectionTicks = 10
	}
	if c.HeartbeatTicks == 0 {
		c.HeartbeatTicks = 1
	}
	if c.HeartbeatInterval == 0 {
		c.HeartbeatInterval = 2 * c.TickInterval
	}
	if c.SessionTimeout == 0 {
		c.SessionTimeout = 30 * c.TickInterval
	}
	if c.SnapshotEntries == 0 {
		c.SnapshotEntries = 1000
	}
	return c
}

// call is one proposal waiting for its command to commit and apply.
type call struct {
	cmd  command
	data []byte
	res  chan error // one slot
}

type joinReq struct {
	node  commitlog.NodeID
	apply func(commitlog.ClusterUpdate)
	res   chan error
	m     *member
}

// member is the joined Log: its pending updates and the goroutine that
// hands them over in order.
type member struct {
	// register is the node's NodeUp proposal of this Join; caughtUp is
	// set when it is applied. Until then the node's applied metadata may
	// be stale (a restarted node replays its log), so nothing is handed
	// to the Log: it would act on leaderships long gone (KRaft's brokers
	// likewise catch up with the metadata log before they are unfenced).
	// Owned by the loop.
	register *call
	caughtUp bool

	apply func(commitlog.ClusterUpdate)
	mu    sync.Mutex
	queue []commitlog.ClusterUpdate
	wake  chan struct{}
	stop  chan struct{}
	done  chan struct{}
}

// The kinds of ControllerMessage this package sends: the first byte of
// Data.
const (
	ctrlRaft      = 1 // a raftpb.Message
	ctrlHeartbeat = 2 // the sender's Log is joined
)

// NewRaftController opens the node's Raft state in cfg.Dir (creating it
// for a node that never ran), starts listening for Raft messages on
// cfg.Mux and starts the loop. A restarted node replays its log and
// rejoins the quorum.
//
// Errors: *commitlog.ConfigError for a bad configuration,
// ErrCorruptStorage, and the file system's and the Mux's.
func NewRaftController(cfg RaftConfig) (*RaftController, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	cfg.Nodes = slices.Clone(cfg.Nodes)
	if cfg.Join {
		// Until the leader's snapshot replaces it (AddNode makes every
		// node snapshot, so a new node starts from one).
		cfg.Nodes = []commitlog.NodeID{cfg.Node}
	}
	md, err := newMetadata(cfg.Nodes)
	if err != nil {
		return nil, &commitlog.ConfigError{Problems: []string{"Nodes: " + err.Error()}}
	}
	store, err := openStorage(cfg.FS, cfg.Dir)
	if err != nil {
		return nil, err
	}
	confState := &pb.ConfState{}
	snap, _ := store.mem.Snapshot() // never fails
	if len(snap.GetData()) > 0 {
		if md, err = decodeMetadata(snap.GetData()); err != nil {
			store.close()
			return nil, fmt.Errorf("%w: %s: the snapshot at index %d: %w", ErrCorruptStorage, cfg.Dir, snap.GetMetadata().GetIndex(), err)
		}
		confState = proto.Clone(snap.GetMetadata().GetConfState()).(*pb.ConfState)
	}
	c := &RaftController{
		cfg: cfg, raftN: uint64(cfg.Node) + 1, md: md, store: store,
		inbox: make(chan commitlog.Message, 1024), calls: make(chan *call), joins: make(chan joinReq), leaves: make(chan *member), queries: make(chan func()),
		done: make(chan struct{}), lastHeard: map[commitlog.NodeID]time.Time{}, fenced: map[commitlog.NodeID]bool{},
		confState: confState, applied: snap.GetMetadata().GetIndex(), snapIndex: snap.GetMetadata().GetIndex(),
	}
	rn, err := raft.NewRawNode(&raft.Config{
		ID: c.raftN, ElectionTick: cfg.ElectionTicks, HeartbeatTick: cfg.HeartbeatTicks, Storage: store.mem,
		MaxSizePerMsg: 1 << 20, MaxInflightMsgs: 256, MaxUncommittedEntriesSize: 1 << 30,
		CheckQuorum: true, PreVote: true, Logger: &raft.DefaultLogger{Logger: log.New(io.Discard, "", 0)},
	})
	if err != nil {
		store.close()
		return nil, fmt.Errorf("cluster: node %d: start raft: %w", cfg.Node, err)
	}
	c.rn = rn
	if last, _ := store.mem.LastIndex(); last == 0 && raft.IsEmptyHardState(store.hs) && !cfg.Join {
		peers := make([]raft.Peer, len(cfg.Nodes))
		for i, n := range cfg.Nodes {
			peers[i] = raft.Peer{ID: uint64(n) + 1}
		}
		if err := rn.Bootstrap(peers); err != nil {
			store.close()
			return nil, fmt.Errorf("cluster: node %d: bootstrap raft: %w", cfg.Node, err)
		}
	}
	c.seq = c.firstSeq()
	stop, err := cfg.Mux.ListenController(cfg.Node, c.deliver)
	if err != nil {
		store.close()
		return nil, err
	}
	c.stopListen = stop
	c.wg.Go(c.loop)
	return c, nil
}

// firstSeq returns the Seq to number proposals after: above every Seq
// of this node's earlier incarnations in its log, and the clock's
// nanoseconds, which rise between incarnations, for proposals of theirs
// committed but not yet in this node's log.
func (c *RaftController) firstSeq() uint64 {
	seq := max(uint64(max(time.Now().UnixNano(), 0)), c.md.lastSeq[c.cfg.Node])
	first, _ := c.store.mem.FirstIndex()
	last, _ := c.store.mem.LastIndex()
	if last < first {
		return seq
	}
	ents, err := c.store.mem.Entries(first, last+1, ^uint64(0))
	if err != nil {
		return seq
	}
	for _, e := range ents {
		if e.GetType() != pb.EntryNormal || len(e.GetData()) == 0 {
			continue
		}
		if cmd, err := decodeCommand(e.GetData()); err == nil && cmd.From == c.cfg.Node {
			seq = max(seq, cmd.Seq)
		}
	}
	return seq
}

// deliver queues a ControllerMessage for the loop; a full queue drops it
// (Raft retries).
func (c *RaftController) deliver(m commitlog.Message) {
	select {
	case c.inbox <- m:
	default:
	}
}

// Close stops the loop and the listener, and closes the Raft state. The
// node's Log, if still joined, hears nothing more. Idempotent.
func (c *RaftController) Close() error {
	c.closeOnce.Do(func() {
		c.stopListen()
		close(c.done)
		c.wg.Wait()
		if c.member != nil {
			c.member.halt()
		}
		c.closeErr = c.store.close()
	})
	return c.closeErr
}

// loop is the goroutine owning the RawNode.
func (c *RaftController) loop() {
	tick := time.NewTicker(c.cfg.TickInterval)
	defer tick.Stop()
	beat := time.NewTicker(c.cfg.HeartbeatInterval)
	defer beat.Stop()
	for {
		select {
		case <-c.done:
			c.failPending(commitlog.ErrClosed)
			return
		case <-tick.C:
			c.rn.Tick()
			c.onTick()
		case <-beat.C:
			c.heartbeat()
		case m := <-c.inbox:
			c.receive(m)
		case cl := <-c.calls:
			c.pending = append(c.pending, cl)
			if len(c.pending) == 1 {
				c.propose()
			}
		case j := <-c.joins:
			j.res <- c.join(j)
		case q := <-c.queries:
			q()
		case m := <-c.leaves:
			if c.member == m {
				c.member = nil
				c.submit(command{Op: opNodeDown, Node: c.cfg.Node})
			}
		}
		if err := c.handleReady(); err != nil {
			// The durable state is unknown: stop taking part rather than
			// risk breaking Raft's promises. Calls fail until Close.
			c.failed(fmt.Errorf("%w: node %d: %w", commitlog.ErrControllerUnreachable, c.cfg.Node, err))
			return
		}
	}
}

// failed is the loop after a storage failure: Raft is stopped, the
// Log's updates too, and every call fails with err until Close.
func (c *RaftController) failed(err error) {
	c.failPending(err)
	if c.member != nil {
		c.member.halt()
	}
	for {
		select {
		case <-c.done:
			return
		case cl := <-c.calls:
			cl.res <- err
		case j := <-c.joins:
			j.res <- err
		case q := <-c.queries:
			q()
		case <-c.leaves:
		case <-c.inbox:
		}
	}
}

// receive steps a Raft message or notes a heartbeat.
func (c *RaftController) receive(m commitlog.Message) {
	body, ok := m.Body.(*commitlog.ControllerMessage)
	if !ok || len(body.Data) == 0 || m.To != c.cfg.Node {
		return
	}
	switch body.Data[0] {
	case ctrlRaft:
		msg := &pb.Message{}
		if proto.Unmarshal(body.Data[1:], msg) != nil || msg.GetFrom() != uint64(m.From)+1 || msg.GetTo() != c.raftN {
			return
		}
		if raft.IsLocalMsg(msg.GetType()) {
			return // never from the network
		}
		_ = c.rn.Step(msg) // an error is a message Raft ignores
		switch msg.GetType() {
		case pb.MsgApp, pb.MsgHeartbeat, pb.MsgSnap: // only a leader sends them
			c.prevLeader, c.prevLeaderAt = m.From, time.Now()
		}
	case ctrlHeartbeat:
		c.lastHeard[m.From] = time.Now()
	}
}

// send sends one Raft message; loss is Raft's to handle.
func (c *RaftController) send(msg *pb.Message) {
	b, err := proto.Marshal(msg)
	if err != nil {
		return
	}
	to := commitlog.NodeID(msg.GetTo() - 1)
	_ = c.cfg.Mux.Send(context.Background(), commitlog.Message{Version: commitlog.MessageVersion, From: c.cfg.Node, To: to,
		Body: &commitlog.ControllerMessage{Data: append([]byte{ctrlRaft}, b...)}})
}

// heartbeat tells the Raft leader that this node's Log is joined.
func (c *RaftController) heartbeat() {
	lead := c.rn.BasicStatus().Lead
	if c.member == nil || lead == raft.None {
		return
	}
	if lead == c.raftN {
		c.lastHeard[c.cfg.Node] = time.Now()
		return
	}
	_ = c.cfg.Mux.Send(context.Background(), commitlog.Message{Version: commitlog.MessageVersion, From: c.cfg.Node,
		To: commitlog.NodeID(lead - 1), Body: &commitlog.ControllerMessage{Data: []byte{ctrlHeartbeat}}})
}

// onTick retries a proposal that has not committed, and, on the leader,
// fences the nodes whose sessions expired.
func (c *RaftController) onTick() {
	if len(c.pending) > 0 {
		c.sinceProp++
		if c.sinceProp >= c.cfg.ElectionTicks {
			c.propose()
		}
	}
	st := c.rn.BasicStatus()
	if st.RaftState != raft.StateLeader {
		c.leaderAt = time.Time{}
		return
	}
	now := time.Now()
	if c.leaderAt.IsZero() {
		c.leaderAt = now
		clear(c.fenced)
	}
	for _, cn := range c.md.cluster.Nodes() {
		n := commitlog.NodeID(cn)
		last, floor := c.lastHeard[n], c.leaderAt
		if n == c.prevLeader && !c.prevLeaderAt.IsZero() && c.prevLeaderAt.Before(floor) {
			// The leader before this one: silent since its last
			// message, which is why this node was elected.
			floor = c.prevLeaderAt
		}
		if last.Before(floor) {
			last = floor
		}
		if c.md.cluster.Live(controllerID(n)) && !c.fenced[n] && now.Sub(last) >= c.cfg.SessionTimeout {
			c.fenced[n] = true
			c.submit(command{Op: opNodeDown, Node: n})
		}
	}
}

// submit queues a command of the controller's own, whose result nobody
// waits for.
func (c *RaftController) submit(cmd command) *call {
	cl := &call{cmd: cmd, res: make(chan error, 1)}
	c.pending = append(c.pending, cl)
	if len(c.pending) == 1 {
		c.propose()
	}
	return cl
}

// propose proposes the first pending call, numbering it on its first
// proposal.
func (c *RaftController) propose() {
	cl := c.pending[0]
	if cl.data == nil {
		c.seq++
		cl.cmd.From, cl.cmd.Seq = c.cfg.Node, c.seq
		data, err := encodeCommand(cl.cmd)
		if err != nil {
			c.finish(err)
			return
		}
		cl.data = data
	}
	c.sinceProp = 0
	if cc := membershipChange(cl.cmd, cl.data); cc != nil {
		_ = c.rn.ProposeConfChange(cc) // as Propose; Raft also drops it while another change is pending
		return
	}
	_ = c.rn.Propose(cl.data) // dropped without a leader: retried on a later tick
}

// finish ends the first pending call with err and proposes the next.
func (c *RaftController) finish(err error) {
	cl := c.pending[0]
	c.pending[0] = nil
	c.pending = c.pending[1:]
	cl.res <- err
	if len(c.pending) > 0 {
		c.propose()
	}
}

func (c *RaftController) failPending(err error) {
	for _, cl := range c.pending {
		cl.res <- err
	}
	c.pending = nil
}

// handleReady handles every Ready the RawNode has, in Raft's order:
// persist and fsync, send, apply, advance.
func (c *RaftController) handleReady() error {
	for c.rn.HasReady() {
		rd := c.rn.Ready()
		if err := c.store.save(rd.HardState, rd.Entries, rd.Snapshot); err != nil {
			return err
		}
		var snapsTo []uint64
		for _, m := range rd.Messages {
			c.send(m)
			if m.GetType() == pb.MessageType_MsgSnap {
				snapsTo = append(snapsTo, m.GetTo())
			}
		}
		if rd.Snapshot != nil && !raft.IsEmptySnap(rd.Snapshot) {
			if err := c.restore(rd.Snapshot); err != nil {
				return err
			}
		}
		for _, e := range rd.CommittedEntries {
			if err := c.applyEntry(e); err != nil {
				return err
			}
		}
		c.rn.Advance(rd)
		// A snapshot sent is reported as delivered: if the network lost
		// it, the follower's next rejection makes the leader send it
		// again, where a report never made would leave the follower
		// waiting for good.
		for _, to := range snapsTo {
			c.rn.ReportSnapshot(to, raft.SnapshotFinish)
		}
	}
	if c.applied-c.snapIndex >= uint64(c.cfg.SnapshotEntries) || (c.snapshotNow && c.applied > c.snapIndex) {
		c.snapshotNow = false
		data, err := c.md.encode()
		if err != nil {
			return err
		}
		if err := c.store.compact(c.applied, c.confState, data); err != nil {
			return err
		}
		c.snapIndex = c.applied
	}
	return nil
}

// restore replaces the metadata with a snapshot's, received from the
// leader because this node's log ended before the leader's first entry.
// The node's own proposals it covers are applied (their results are not
// known here: they end with no error), and a joined Log hears the whole
// metadata again.
func (c *RaftController) restore(snap *pb.Snapshot) error {
	md, err := decodeMetadata(snap.GetData())
	if err != nil {
		return fmt.Errorf("cluster: the snapshot at index %d: %w", snap.GetMetadata().GetIndex(), err)
	}
	c.md = md
	c.confState = proto.Clone(snap.GetMetadata().GetConfState()).(*pb.ConfState)
	c.applied, c.snapIndex = snap.GetMetadata().GetIndex(), snap.GetMetadata().GetIndex()
	for n := range c.fenced {
		if !md.cluster.Live(controllerID(n)) {
			delete(c.fenced, n)
		}
	}
	for len(c.pending) > 0 && c.pending[0].data != nil && c.pending[0].cmd.Seq <= md.lastSeq[c.cfg.Node] {
		if c.member != nil && c.pending[0] == c.member.register {
			c.member.caughtUp = true
		}
		c.finish(nil)
	}
	if c.member != nil && c.member.caughtUp {
		c.member.push(md.snapshot())
		// The snapshot may hold a NodeDown of this node, which applyEntry
		// did not see: register again, as it would have.
		if !md.cluster.Live(controllerID(c.cfg.Node)) && !slices.ContainsFunc(c.pending, func(cl *call) bool { return cl.cmd.Op == opNodeUp }) {
			c.submit(command{Op: opNodeUp, Node: c.cfg.Node})
		}
	}
	return nil
}

// decodeEntry decodes a committed entry: its configuration change, if
// it is one, and the command it carries (a normal entry's data, or a
// membership change's context), ok false for none (a new leader's empty
// entry, the bootstrap's configuration changes).
func decodeEntry(e *pb.Entry) (cc *pb.ConfChangeV2, cmd command, ok bool, err error) {
	switch e.GetType() {
	case pb.EntryConfChange:
		v1 := &pb.ConfChange{}
		if err := proto.Unmarshal(e.GetData(), v1); err != nil {
			return nil, command{}, false, fmt.Errorf("cluster: committed entry %d: configuration change: %w", e.GetIndex(), err)
		}
		cc = v1.AsV2()
	case pb.EntryConfChangeV2:
		cc = &pb.ConfChangeV2{}
		if err := proto.Unmarshal(e.GetData(), cc); err != nil {
			return nil, command{}, false, fmt.Errorf("cluster: committed entry %d: configuration change: %w", e.GetIndex(), err)
		}
	}
	data := e.GetData()
	if cc != nil {
		data = cc.GetContext()
	}
	if len(data) == 0 {
		return cc, command{}, false, nil
	}
	if cmd, err = decodeCommand(data); err != nil {
		return nil, command{}, false, fmt.Errorf("cluster: committed entry %d: %w", e.GetIndex(), err)
	}
	return cc, cmd, true, nil
}

// applyEntry applies one committed entry.
func (c *RaftController) applyEntry(e *pb.Entry) error {
	c.applied = e.GetIndex()
	cc, cmd, ok, err := decodeEntry(e)
	switch {
	case err != nil:
		return err
	case cc != nil && !ok:
		// The bootstrap's: the first voters, which the metadata has.
		c.confState = c.rn.ApplyConfChange(cc)
		return nil
	case !ok:
		return nil // a new leader's empty entry
	}
	changes, dup, applyErr := c.md.apply(cmd)
	if cc != nil {
		if dup || applyErr != nil {
			cc = rejectedChange // the metadata refused it: Raft must too
		} else if cmd.Op == opAddNode {
			c.snapshotNow = true
		}
		c.confState = c.rn.ApplyConfChange(cc)
	}
	if cmd.Op == opNodeDown {
		delete(c.fenced, cmd.Node)
	}
	if !dup && c.member != nil && c.member.caughtUp {
		if u := c.md.update(changes); len(u.Topics) > 0 {
			c.member.push(u)
		}
	}
	if cmd.From == c.cfg.Node && len(c.pending) > 0 && c.pending[0].cmd.Seq == cmd.Seq && !dup {
		if c.member != nil && !c.member.caughtUp && c.pending[0] == c.member.register {
			// The node's registration of this incarnation is applied, so is
			// everything committed before it: the metadata is current, and
			// the Log may act on it.
			c.member.caughtUp = true
			c.member.push(c.md.snapshot())
		}
		c.finish(applyErr)
	}
	// A joined node that the committed metadata says is down registers
	// again: its session outlived a fencing (a partition, a slow link).
	if c.member != nil && !c.md.cluster.Live(controllerID(c.cfg.Node)) && cmd.Op == opNodeDown && cmd.Node == c.cfg.Node {
		c.submit(command{Op: opNodeUp, Node: c.cfg.Node})
	}
	return nil
}

// join registers the node's Log: NodeUp is proposed, and once it is
// applied the Log hears the metadata as a snapshot, then every later
// change.
func (c *RaftController) join(j joinReq) error {
	if c.member != nil {
		return fmt.Errorf("%w: node %d has joined and not left", commitlog.ErrNodeExists, j.node)
	}
	c.member = j.m
	go j.m.run()
	j.m.register = c.submit(command{Op: opNodeUp, Node: c.cfg.Node})
	return nil
}

// Join implements commitlog.Controller. Only the controller's own node
// joins it.
func (c *RaftController) Join(ctx context.Context, node commitlog.NodeID, apply func(commitlog.ClusterUpdate)) (func(), error) {
	if node != c.cfg.Node {
		return nil, fmt.Errorf("%w: node %d joined the controller of node %d: give each Log its own RaftController", commitlog.ErrUnknownNode, node, c.cfg.Node)
	}
	if apply == nil {
		return nil, fmt.Errorf("%w: Join: apply is nil", commitlog.ErrInvalidArgument)
	}
	m := &member{apply: apply, wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	j := joinReq{node: node, apply: apply, res: make(chan error, 1), m: m}
	select {
	case c.joins <- j:
	case <-c.done:
		return nil, commitlog.ErrClosed
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if err := <-j.res; err != nil {
		return nil, err
	}
	var once sync.Once
	return func() { once.Do(func() { c.leave(m) }) }, nil
}

// leave stops updates to the Log and, while the controller runs, takes
// the node down in the metadata (proposed, not awaited: the session
// timeout does it otherwise).
func (c *RaftController) leave(m *member) {
	m.halt()
	select {
	case c.leaves <- m:
	case <-c.done:
	}
}

// onLoop runs f on the loop and waits for it; false once closed.
func (c *RaftController) onLoop(f func()) bool {
	done := make(chan struct{})
	select {
	case c.queries <- func() { f(); close(done) }:
		<-done
		return true
	case <-c.done:
		return false
	}
}

// status returns Raft's basic status of the node (zero once closed).
func (c *RaftController) status() (st raft.BasicStatus) {
	c.onLoop(func() { st = c.rn.BasicStatus() })
	return st
}

// live reports whether node is live in the metadata this node applied.
func (c *RaftController) live(node commitlog.NodeID) (ok bool) {
	c.onLoop(func() { ok = c.md.cluster.Live(controllerID(node)) })
	return ok
}

// Describe returns the record of a topic in the metadata this node has
// applied, which may lag the Raft leader's.
//
// Errors: commitlog.ErrUnknownTopic, commitlog.ErrClosed.
func (c *RaftController) Describe(topic string) (md commitlog.TopicMetadata, err error) {
	var ok bool
	if !c.onLoop(func() { md, ok = c.md.topic(topic) }) {
		return commitlog.TopicMetadata{}, commitlog.ErrClosed
	}
	if !ok {
		return commitlog.TopicMetadata{}, fmt.Errorf("%w: %s", commitlog.ErrUnknownTopic, topic)
	}
	return md, nil
}

// CreateTopic implements commitlog.Controller.
func (c *RaftController) CreateTopic(ctx context.Context, spec commitlog.TopicSpec) error {
	cfg := spec.Config
	return c.do(ctx, command{Op: opCreateTopic, Topic: spec.Name, Config: &cfg})
}

// DeleteTopic implements commitlog.Controller.
func (c *RaftController) DeleteTopic(ctx context.Context, name string) error {
	return c.do(ctx, command{Op: opDeleteTopic, Topic: name})
}

// AlterISR implements commitlog.Controller.
func (c *RaftController) AlterISR(ctx context.Context, req commitlog.AlterISRRequest) error {
	req.ISR = slices.Clone(req.ISR)
	return c.do(ctx, command{Op: opAlterISR, ISR: &req})
}

// ElectPreferredLeaders implements commitlog.Controller.
func (c *RaftController) ElectPreferredLeaders(ctx context.Context, topic string, partitions ...int32) error {
	return c.do(ctx, command{Op: opElectPreferred, Topic: topic, Partitions: slices.Clone(partitions)})
}

// do proposes cmd and waits until it is applied on this node, returning
// its result. A call whose context ends may still take effect.
func (c *RaftController) do(ctx context.Context, cmd command) error {
	cl := &call{cmd: cmd, res: make(chan error, 1)}
	select {
	case c.calls <- cl:
	case <-c.done:
		return commitlog.ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-cl.res:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (m *member) push(u commitlog.ClusterUpdate) {
	m.mu.Lock()
	m.queue = append(m.queue, u)
	m.mu.Unlock()
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

// run hands the member's updates over in order until halt.
func (m *member) run() {
	defer close(m.done)
	for {
		select {
		case <-m.stop:
			return
		case <-m.wake:
		}
		for {
			m.mu.Lock()
			if len(m.queue) == 0 {
				m.mu.Unlock()
				break
			}
			u := m.queue[0]
			m.queue = m.queue[1:]
			m.mu.Unlock()
			select {
			case <-m.stop:
				return
			default:
			}
			m.apply(u)
		}
	}
}

// halt stops the member's goroutine and waits for it. Idempotent.
func (m *member) halt() {
	m.mu.Lock()
	select {
	case <-m.stop:
	default:
		close(m.stop)
	}
	m.mu.Unlock()
	<-m.done
}

var _ commitlog.Controller = (*RaftController)(nil)

func controllerID(n commitlog.NodeID) controller.NodeID { return controller.NodeID(n) }

// DescribeCluster implements commitlog.ClusterDescriber: the nodes of
// the metadata this node has applied, which are live, and the Raft
// leader as this node knows it (NoNode during an election, or once
// closed: then no nodes either).
func (c *RaftController) DescribeCluster() (nodes []commitlog.NodeStatus, leader commitlog.NodeID) {
	leader = commitlog.NoNode
	c.onLoop(func() {
		for _, n := range c.md.cluster.Nodes() {
			nodes = append(nodes, commitlog.NodeStatus{Node: commitlog.NodeID(n), Live: c.md.cluster.Live(n)})
		}
		if lead := c.rn.BasicStatus().Lead; lead != raft.None {
			leader = commitlog.NodeID(lead - 1)
		}
	})
	return nodes, leader
}
