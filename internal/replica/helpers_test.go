package replica

import (
	"slices"
	"testing"
	"time"
)

// fakeLog models a partition log for the state machine: one record per
// batch, each with the leader epoch it was written in, and the epoch
// cache as storage keeps it (assigned at election and at each new epoch's
// first batch, cut with the log).
type fakeLog struct {
	start  int64
	epochs []int32 // epoch of the record at offset start+i
	cache  []EpochEnd
	acked  int64 // -1: EndOffset
	hw     int64
}

func newFakeLog() *fakeLog { return &fakeLog{acked: -1} }

func (l *fakeLog) StartOffset() int64   { return l.start }
func (l *fakeLog) EndOffset() int64     { return l.start + int64(len(l.epochs)) }
func (l *fakeLog) HighWatermark() int64 { return l.hw }
func (l *fakeLog) AckedOffset() int64 {
	if l.acked < 0 {
		return l.EndOffset()
	}
	return min(l.acked, l.EndOffset())
}

func (l *fakeLog) LatestEpoch() int32 {
	if len(l.cache) == 0 {
		return NoEpoch
	}
	return l.cache[len(l.cache)-1].Epoch
}

func (l *fakeLog) EpochStartOffset(epoch int32) int64 {
	for _, e := range l.cache {
		if e.Epoch == epoch {
			return e.EndOffset
		}
	}
	return -1
}

// EndOffsetForEpoch is storage's endOffsetFor over the cache (whose
// EpochEnd.EndOffset fields hold each epoch's start here).
func (l *fakeLog) EndOffsetForEpoch(req int32) (int32, int64) {
	if req < 0 || len(l.cache) == 0 {
		return NoEpoch, -1
	}
	if req == l.LatestEpoch() {
		return req, l.EndOffset()
	}
	i := 0
	for i < len(l.cache) && l.cache[i].Epoch <= req {
		i++
	}
	if i == 0 || i == len(l.cache) {
		return NoEpoch, -1
	}
	return l.cache[i-1].Epoch, l.cache[i].EndOffset
}

func (l *fakeLog) assign(epoch int32, at int64) {
	if n := len(l.cache); n > 0 && l.cache[n-1].Epoch == epoch {
		return
	}
	l.cache = slices.DeleteFunc(l.cache, func(e EpochEnd) bool { return e.Epoch >= epoch || e.EndOffset >= at })
	l.cache = append(l.cache, EpochEnd{epoch, at})
}

func (l *fakeLog) append(epoch int32, n int) {
	for range n {
		l.assign(epoch, l.EndOffset())
		l.epochs = append(l.epochs, epoch)
	}
}

// deleteBefore moves the log start up to off (DeleteRecords, retention),
// trimming the epoch cache as storage does: the epoch holding off starts
// there.
func (l *fakeLog) deleteBefore(off int64) {
	if off <= l.start {
		return
	}
	l.epochs = l.epochs[off-l.start:]
	l.start = off
	i := 0
	for i+1 < len(l.cache) && l.cache[i+1].EndOffset <= off {
		i++
	}
	l.cache = l.cache[i:]
	if len(l.cache) > 0 && l.cache[0].EndOffset < off {
		l.cache[0].EndOffset = off
	}
}

// reset empties the log and restarts it at off (storage's ResetTo).
func (l *fakeLog) reset(off int64) {
	l.start, l.epochs, l.cache, l.hw = off, nil, nil, off
}

func (l *fakeLog) truncate(off int64) {
	if off < l.EndOffset() {
		l.epochs = l.epochs[:off-l.start]
	}
	l.cache = slices.DeleteFunc(l.cache, func(e EpochEnd) bool { return e.EndOffset >= off })
	l.hw = min(l.hw, off)
}

// node is a replica with its log, in a test cluster.
type node struct {
	id  NodeID
	log *fakeLog
	r   *Replica
	inc int64
}

// cluster runs replicas over fake logs with a perfect, synchronous
// network, driving fetches by hand.
type cluster struct {
	t     *testing.T
	now   time.Time
	nodes map[NodeID]*node
	state State
}

const testLag = 10 * time.Second

func newCluster(t *testing.T, minISR int, ids ...NodeID) *cluster {
	c := &cluster{t: t, now: time.Unix(1000, 0), nodes: map[NodeID]*node{}}
	for _, id := range ids {
		c.nodes[id] = c.newNode(id, minISR, newFakeLog(), 1)
	}
	c.state = State{Replicas: ids, Leader: ids[0], ISR: slices.Clone(ids)}
	c.broadcast()
	return c
}

func (c *cluster) newNode(id NodeID, minISR int, log *fakeLog, inc int64) *node {
	return &node{id: id, log: log, inc: inc, r: New(Config{Self: id, MinISR: minISR, LagTime: testLag, FetchTimeout: time.Second, Incarnation: inc}, log)}
}

// restart gives node id a new incarnation over the same log.
func (c *cluster) restart(id NodeID, minISR int) {
	n := c.nodes[id]
	c.nodes[id] = c.newNode(id, minISR, n.log, n.inc+1)
	c.deliver(id)
}

// elect makes leader lead with isr, at the next epochs.
func (c *cluster) elect(leader NodeID, isr ...NodeID) {
	c.state.Leader = leader
	c.state.LeaderEpoch++
	c.state.PartitionEpoch++
	c.state.ISR = isr
	c.broadcast()
}

func (c *cluster) setISR(isr ...NodeID) {
	c.state.ISR = isr
	c.state.PartitionEpoch++
	c.broadcast()
}

func (c *cluster) broadcast() {
	for id := range c.nodes {
		c.deliver(id)
	}
}

// deliver applies the cluster state to node id, carrying out its effects.
func (c *cluster) deliver(id NodeID) {
	n := c.nodes[id]
	eff, err := n.r.Update(c.now, c.state)
	if err != nil {
		c.t.Fatalf("node %d Update: %v", id, err)
	}
	c.apply(n, eff)
}

func (c *cluster) apply(n *node, eff Effects) {
	if eff.AssignEpoch != NoEpoch {
		n.log.assign(eff.AssignEpoch, n.log.EndOffset())
	}
	if eff.HighWatermark >= 0 {
		n.log.hw = eff.HighWatermark
	}
}

// produce appends k records on the leader.
func (c *cluster) produce(k int) {
	l := c.nodes[c.state.Leader]
	if err := l.r.CheckAppend(false); err != nil {
		c.t.Fatalf("produce on %d: %v", l.id, err)
	}
	l.log.append(c.state.LeaderEpoch, k)
	c.apply(l, l.r.LocalAppended(c.now))
}

// fetch runs one fetch round of follower id against the leader and
// returns the follower's step (and the leader's answer).
func (c *cluster) fetch(id NodeID) (FollowerStep, FetchAnswer, error) {
	f := c.nodes[id]
	l := c.nodes[f.r.State().Leader]
	req, ok := f.r.NextFetch(c.now)
	if !ok {
		return noStep(), FetchAnswer{}, nil
	}
	ans, eff := l.r.HandleFetch(c.now, req)
	c.apply(l, eff)
	resp := FetchResponse{ReplicaEpoch: req.ReplicaEpoch, Seq: req.Seq, LeaderEpoch: ans.LeaderEpoch, Err: ans.Err,
		Diverging: ans.Diverging, HighWatermark: ans.HighWatermark, LogStartOffset: ans.LogStartOffset, BaseOffset: req.FetchOffset, RecordsEnd: -1}
	var records []int32
	if ans.Err == nil && ans.Diverging == nil && ans.ReadFrom < l.log.EndOffset() {
		records = slices.Clone(l.log.epochs[ans.ReadFrom-l.log.start:])
		resp.RecordsEnd = l.log.EndOffset()
	}
	step, err := f.r.HandleFetchResponse(c.now, resp)
	if err != nil {
		return step, ans, err
	}
	if step.Truncate >= 0 {
		f.log.truncate(step.Truncate)
		f.r.Truncated()
	}
	if step.ResetTo >= 0 {
		f.log.reset(step.ResetTo)
		f.r.Truncated()
	}
	if step.Append {
		for _, e := range records {
			f.log.assign(e, f.log.EndOffset())
			f.log.epochs = append(f.log.epochs, e)
		}
		f.r.Appended()
	}
	if step.HighWatermark >= 0 {
		f.log.hw = min(step.HighWatermark, f.log.EndOffset())
	}
	if step.LogStart >= 0 {
		f.log.deleteBefore(min(step.LogStart, f.log.hw))
	}
	return step, ans, nil
}

// catchUp runs fetch rounds of every follower until nothing changes.
func (c *cluster) catchUp() {
	for range 20 {
		for id := range c.nodes {
			if id != c.state.Leader && c.nodes[id].r.Role() == Follower {
				c.fetch(id)
			}
		}
	}
}

// requirePrefix fails unless every follower's log is a prefix of the
// leader's, epoch for epoch, from the later of the two log starts.
func (c *cluster) requirePrefix() {
	c.t.Helper()
	l := c.nodes[c.state.Leader].log
	for id, n := range c.nodes {
		if id == c.state.Leader {
			continue
		}
		from := max(l.start, n.log.start)
		if n.log.EndOffset() > l.EndOffset() || n.log.EndOffset() < from {
			c.t.Fatalf("node %d's log [%d, %d) does not fit leader %d's [%d, %d)", id, n.log.start, n.log.EndOffset(), c.state.Leader, l.start, l.EndOffset())
		}
		mine, theirs := n.log.epochs[from-n.log.start:], l.epochs[from-l.start:]
		if !slices.Equal(mine, theirs[:len(mine)]) {
			c.t.Fatalf("node %d's log %v from %d is not a prefix of leader %d's %v", id, mine, from, c.state.Leader, theirs)
		}
	}
}
