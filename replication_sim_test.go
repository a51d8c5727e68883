package commitlog_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/commitlog-go/commitlog"
	"github.com/commitlog-go/commitlog/internal/vfs"
	"github.com/commitlog-go/commitlog/memnet"
)

// The deterministic simulation of replication (Jepsen's method on the
// in-memory network): for each seed, a cluster of Logs on in-memory file
// systems, joined by memnet and an InProcessController, takes idempotent
// AckAll appends from clients while a schedule drawn from the seed kills
// and restarts nodes (crashing their file systems: what was not fsynced
// may be lost or torn), partitions the network, drops, duplicates and
// reorders messages, cuts controller sessions and jumps clocks. Then the
// faults heal, every node comes back, the clients finish, and the history
// is checked:
//
//	(a) no acknowledged record is lost (unclean election is off);
//	(b) every replica's log equals its leader's once caught up;
//	(c) a leader's high watermark never moves back within its epoch;
//	(d) every record a reader saw below a node's high watermark is in the
//	    final log at the same offset (nothing committed is truncated);
//	(e) no record appears twice, though clients retry every ambiguous
//	    failure (the retries are idempotent);
//	(f) a Producer's acknowledged records of a partition are at offsets
//	    that increase in the order they were produced.
//
// The clients append one record at a time, retrying with the same
// sequence number, and one more client per partition runs Producers on
// the leader's node, a round of records at a time without waiting for
// each, so that their batches pipeline (a Producer does not retry: it
// never produces a record again, since one that failed may be stored).
//
// Everything runs in a synctest bubble, so time is virtual and the run is
// fast. COMMITLOG_SIM_SEEDS sets how many seeds to run (default 200), and
// COMMITLOG_SIM_SEED runs one seed alone: the command a failure prints.

const defaultSimSeeds = 200

func TestReplicationSimulation(t *testing.T) {
	seeds := []uint64{}
	if s := os.Getenv("COMMITLOG_SIM_SEED"); s != "" {
		seed, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("COMMITLOG_SIM_SEED=%q: %v", s, err)
		}
		seeds = append(seeds, seed)
	} else {
		n := defaultSimSeeds
		if s := os.Getenv("COMMITLOG_SIM_SEEDS"); s != "" {
			var err error
			if n, err = strconv.Atoi(s); err != nil {
				t.Fatalf("COMMITLOG_SIM_SEEDS=%q: %v", s, err)
			}
		}
		if testing.Short() {
			n = min(n, 20)
		}
		for i := range n {
			seeds = append(seeds, uint64(i))
		}
	}
	for _, seed := range seeds {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			defer func() {
				if t.Failed() {
					t.Logf("replay: COMMITLOG_SIM_SEED=%d go test -run 'TestReplicationSimulation' -count=1 .", seed)
				}
			}()
			synctest.Test(t, func(t *testing.T) { runSimulation(t, seed) })
		})
	}
}

// sim is one simulated cluster and its history.
type sim struct {
	t     *testing.T
	rng   *rand.Rand
	net   *memnet.Network
	ctrl  *commitlog.InProcessController
	nodes []commitlog.NodeID
	parts int32

	mu    sync.Mutex
	fs    map[commitlog.NodeID]*vfs.MemFS
	down  map[commitlog.NodeID]*atomic.Bool // set: the node's file system fails every operation
	logs  map[commitlog.NodeID]*commitlog.Log
	skew  map[commitlog.NodeID]*atomic.Int64 // clock offset, ns
	acked map[string]int64                   // value -> offset acknowledged
	seen  []observation                      // what readers saw
	hws   map[hwKey]int64                    // the last high watermark seen per leader and epoch
	fails []string
}

type observation struct {
	node   commitlog.NodeID
	part   int32
	offset int64
	value  string
}

type hwKey struct {
	node  commitlog.NodeID
	part  int32
	epoch int32
}

const simTopic = "events"

func runSimulation(t *testing.T, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	n := 3
	if seed%2 == 1 {
		n = 5
	}
	s := &sim{t: t, rng: rng, parts: int32(2 + seed%2),
		fs: map[commitlog.NodeID]*vfs.MemFS{}, down: map[commitlog.NodeID]*atomic.Bool{},
		logs: map[commitlog.NodeID]*commitlog.Log{}, skew: map[commitlog.NodeID]*atomic.Int64{},
		acked: map[string]int64{}, hws: map[hwKey]int64{}}
	for i := range n {
		s.nodes = append(s.nodes, commitlog.NodeID(i+1))
	}
	s.net = memnet.New(memnet.Config{Seed: seed, Faults: memnet.Faults{MinDelay: time.Millisecond, MaxDelay: 3 * time.Millisecond}})
	defer s.net.Close()
	var err error
	if s.ctrl, err = commitlog.NewInProcessController(commitlog.InProcessControllerConfig{Nodes: s.nodes}); err != nil {
		t.Fatal(err)
	}
	defer s.ctrl.Close()
	for _, id := range s.nodes {
		s.fs[id] = vfs.NewMem()
		s.skew[id] = new(atomic.Int64)
		s.start(id)
	}
	ctx := context.Background()
	if _, err := s.log(s.nodes[0]).CreateTopic(ctx, simTopic, commitlog.TopicConfig{
		Partitions: s.parts, ReplicationFactor: 3, MinInSyncReplicas: 2, SegmentBytes: 16 << 10,
	}); err != nil {
		t.Fatal(err)
	}

	// Clients: one per partition and a second on partition 0, each an
	// idempotent producer appending its values one at a time.
	var clients sync.WaitGroup
	stop := make(chan struct{})
	for c := range int(s.parts) + 1 {
		part := int32(c) % s.parts
		clients.Go(func() { s.client(int64(1000+c), part, 25, stop) })
	}
	for part := range s.parts {
		clients.Go(func() { s.producerClient(part, 8, 10) })
	}

	for range 40 {
		s.step()
		s.observe()
	}
	s.heal()
	clients.Wait()
	close(stop)
	s.settle()
	s.check()
	for _, id := range s.nodes {
		if err := s.log(id).Close(); err != nil {
			t.Errorf("close node %d: %v", id, err)
		}
	}
}

// start opens node id's Log on its file system.
func (s *sim) start(id commitlog.NodeID) {
	s.mu.Lock()
	down := new(atomic.Bool)
	s.down[id] = down
	fs := s.fs[id]
	s.mu.Unlock()
	opts := &commitlog.Options{NodeID: id, Controller: s.ctrl, Transport: s.net, Sync: commitlog.SyncAlways,
		ReplicaLagTime: time.Second, ReplicaFetchMaxWait: 50 * time.Millisecond}
	if os.Getenv("COMMITLOG_SIM_LOG") != "" {
		opts.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("node", id)
		s.t.Logf("%v: start node %d", time.Now().Format("15:04:05.000"), id)
	}
	commitlog.SetFS(opts, vfs.WithInjector(fs, vfs.InjectorFunc(func(vfs.Op, string) error {
		if down.Load() {
			return errors.New("the node crashed")
		}
		return nil
	}), vfs.InjectOptions{}))
	skew := s.skew[id]
	commitlog.SetClock(opts, func() time.Time { return time.Now().Add(time.Duration(skew.Load())) })
	l, err := commitlog.Open("/node", opts)
	if err != nil {
		s.t.Fatalf("open node %d: %v", id, err)
	}
	s.mu.Lock()
	s.logs[id] = l
	s.mu.Unlock()
}

// crash stops node id as power loss would: from this instant its file
// system fails everything, and its next life starts from a crash state of
// it (unsynced writes lost, kept or torn, as the seed says).
func (s *sim) crash(id commitlog.NodeID) {
	s.mu.Lock()
	l := s.logs[id]
	delete(s.logs, id)
	s.down[id].Store(true)
	clone := s.fs[id].CrashClone(vfs.CrashOptions{Seed: s.rng.Int64(), KeepUnsynced: 0.5})
	s.fs[id] = clone
	s.mu.Unlock()
	l.Close() // its writes fail: the clone holds what survived
}

func (s *sim) log(id commitlog.NodeID) *commitlog.Log {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.logs[id]
}

func (s *sim) live() []commitlog.NodeID {
	s.mu.Lock()
	defer s.mu.Unlock()
	var ids []commitlog.NodeID
	for _, id := range s.nodes {
		if s.logs[id] != nil {
			ids = append(ids, id)
		}
	}
	return ids
}

func (s *sim) fail(format string, args ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fails = append(s.fails, fmt.Sprintf(format, args...))
}

// logf narrates the run under COMMITLOG_SIM_LOG.
func (s *sim) logf(format string, args ...any) {
	if os.Getenv("COMMITLOG_SIM_LOG") != "" {
		s.t.Logf("%v: %s", time.Now().Format("15:04:05.000"), fmt.Sprintf(format, args...))
	}
}

// step takes one action of the fault schedule.
func (s *sim) step() {
	live := s.live()
	dead := len(s.nodes) - len(live)
	switch r := s.rng.IntN(100); {
	case r < 35:
		time.Sleep(time.Duration(1+s.rng.IntN(400)) * time.Millisecond)
	case r < 45 && dead < 2 && len(live) > 0:
		id := live[s.rng.IntN(len(live))]
		s.logf("crash node %d", id)
		s.crash(id)
	case r < 55 && dead > 0:
		for _, id := range s.nodes {
			if s.log(id) == nil {
				s.logf("restart node %d", id)
				s.start(id)
				break
			}
		}
	case r < 63:
		// A network partition: a random minority cut off, sometimes
		// one-way, sometimes also losing its controller session.
		id := s.nodes[s.rng.IntN(len(s.nodes))]
		switch s.rng.IntN(3) {
		case 0:
			s.logf("isolate node %d on the network", id)
			s.net.Isolate(id)
		case 1:
			to := s.nodes[s.rng.IntN(len(s.nodes))]
			s.logf("block %d -> %d", id, to)
			s.net.Block(id, to)
		default:
			s.logf("isolate node %d on the network and from the controller", id)
			s.net.Isolate(id)
			s.ctrl.Isolate(id)
		}
	case r < 70:
		s.logf("heal the network and controller sessions")
		s.net.Heal()
		for _, id := range s.nodes {
			s.ctrl.Reconnect(id)
		}
	case r < 80:
		s.net.SetFaults(memnet.Faults{Drop: 0.1, Duplicate: 0.1, Reorder: 0.2,
			MinDelay: time.Millisecond, MaxDelay: 20 * time.Millisecond})
	case r < 85:
		s.net.SetFaults(memnet.Faults{MinDelay: time.Millisecond, MaxDelay: 3 * time.Millisecond})
	case r < 90:
		// A clock jump on one node, forward or back.
		id := s.nodes[s.rng.IntN(len(s.nodes))]
		s.skew[id].Add(int64(time.Duration(s.rng.IntN(4000)-1000) * time.Millisecond))
	default:
		time.Sleep(time.Duration(1+s.rng.IntN(50)) * time.Millisecond)
	}
	synctest.Wait()
}

// heal ends every fault: the network is whole, every node is up and in
// session.
func (s *sim) heal() {
	s.net.Heal()
	s.net.SetFaults(memnet.Faults{MinDelay: time.Millisecond, MaxDelay: 3 * time.Millisecond})
	for _, id := range s.nodes {
		s.ctrl.Reconnect(id)
		s.skew[id].Store(0)
		if s.log(id) == nil {
			s.start(id)
		}
	}
}

// client appends values c<pid>-<i> to part one at a time, retrying each
// (with the same sequence number) until it is acknowledged.
func (s *sim) client(pid int64, part int32, n int, stop <-chan struct{}) {
	for i := range n {
		value := fmt.Sprintf("c%d-%d", pid, i)
		for attempt := 0; ; attempt++ {
			if attempt > 2000 {
				s.fail("client %d: %s never acknowledged", pid, value)
				return
			}
			off, err := s.appendOnce(part, pid, int32(i), value)
			if err != nil {
				s.logf("client %d: %s attempt %d: %v", pid, value, attempt, err)
			}
			if err == nil {
				s.logf("client %d: %s acknowledged at %d", pid, value, off)
				s.mu.Lock()
				if prev, ok := s.acked[value]; ok && prev != off {
					s.fails = append(s.fails, fmt.Sprintf("(e) %s acknowledged at offsets %d and %d", value, prev, off))
				}
				s.acked[value] = off
				s.mu.Unlock()
				break
			}
			time.Sleep(time.Duration(10+s.rngFor(pid, i, attempt)%40) * time.Millisecond)
		}
	}
}

// producerClient produces rounds of n values p<part>-<round>-<i> to part
// through a Producer on the node the controller names leader then, all of
// a round before flushing, and records those acknowledged. It produces no
// value twice. Its Producers are idempotent, with ids from their nodes'
// ranges, which the clients' own ids (small numbers) stay below.
func (s *sim) producerClient(part int32, rounds, n int) {
	ctx := context.Background()
	for round := range rounds {
		time.Sleep(time.Duration(20+s.rngFor(int64(part), round, 0)%200) * time.Millisecond)
		md, err := s.ctrl.Describe(simTopic)
		if err != nil {
			continue
		}
		l := s.log(md.Partitions[part].Leader)
		if l == nil {
			continue
		}
		prod, err := l.NewProducer(commitlog.ProducerConfig{Partitioner: commitlog.ManualPartitioner()})
		if err != nil {
			s.logf("producer on %d: %v", md.Partitions[part].Leader, err)
			continue
		}
		type outcome struct {
			value  string
			offset int64
			err    error
		}
		var got []outcome // appended by the promises, which run serially
		for i := range n {
			r := &commitlog.Record{Topic: simTopic, Partition: part, Value: fmt.Appendf(nil, "p%d-%d-%d", part, round, i)}
			prod.Produce(ctx, r, func(r *commitlog.Record, err error) {
				got = append(got, outcome{string(r.Value), r.Offset, err})
			})
		}
		prod.Flush(ctx)
		prod.Close()
		last := int64(-1)
		for _, o := range got {
			if o.err != nil {
				s.logf("producer: %s: %v", o.value, o.err)
				continue
			}
			s.logf("producer: %s acknowledged at %d", o.value, o.offset)
			if o.offset <= last {
				s.fail("(f) partition %d: %s acknowledged at %d, after a record produced before it at %d", part, o.value, o.offset, last)
			}
			last = o.offset
			s.mu.Lock()
			s.acked[o.value] = o.offset
			s.mu.Unlock()
		}
	}
}

// rngFor is a retry delay drawn from the client's own numbers, not the
// shared generator, whose draws must not depend on goroutine order.
func (s *sim) rngFor(pid int64, i, attempt int) int {
	return int(uint64(pid*7919+int64(i)*104729+int64(attempt)*1299709) % 1000)
}

// appendOnce sends one attempt to the node the controller names leader.
func (s *sim) appendOnce(part int32, pid int64, seq int32, value string) (int64, error) {
	md, err := s.ctrl.Describe(simTopic)
	if err != nil {
		return 0, err
	}
	leader := md.Partitions[part].Leader
	l := s.log(leader)
	if l == nil {
		return 0, errors.New("no live leader")
	}
	t, err := l.Topic(simTopic)
	if err != nil {
		return 0, err
	}
	p, err := t.Partition(part)
	if err != nil {
		return 0, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	res, err := p.AppendIdempotent(ctx, pid, seq, commitlog.AckAll, []byte(value))
	if err != nil {
		return 0, err
	}
	return res.BaseOffset, nil
}

// observe reads every partition on every live node below its high
// watermark, and samples the leaders' high watermarks.
func (s *sim) observe() {
	ctx := context.Background()
	for _, id := range s.live() {
		l := s.log(id)
		t, err := l.Topic(simTopic)
		if err != nil {
			continue
		}
		for part := range s.parts {
			p, err := t.Partition(part)
			if err != nil {
				continue
			}
			hw := p.HighWatermark()
			for r, err := range p.Scan(ctx, p.StartOffset()) {
				if err != nil {
					break
				}
				if r.Offset >= hw {
					s.fail("(d) node %d partition %d: read offset %d at or above its high watermark %d", id, part, r.Offset, hw)
				}
				s.mu.Lock()
				s.seen = append(s.seen, observation{id, part, r.Offset, string(r.Value)})
				s.mu.Unlock()
			}
			st, err := l.ReplicaStatus(simTopic, part)
			if err != nil || st.Role != commitlog.RoleLeader {
				continue
			}
			k := hwKey{id, part, st.LeaderEpoch}
			s.mu.Lock()
			if last, ok := s.hws[k]; ok && st.HighWatermark < last {
				s.fails = append(s.fails, fmt.Sprintf("(c) node %d partition %d epoch %d: high watermark went from %d to %d", id, part, st.LeaderEpoch, last, st.HighWatermark))
			}
			s.hws[k] = st.HighWatermark
			s.mu.Unlock()
		}
	}
}

// settle waits until every replica has caught up with its leader.
func (s *sim) settle() {
	for range 600 {
		if s.caughtUp() {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	s.fail("the cluster did not settle in 60 s after the faults healed")
}

func (s *sim) caughtUp() bool {
	md, err := s.ctrl.Describe(simTopic)
	if err != nil {
		return false
	}
	for _, pm := range md.Partitions {
		if pm.Leader == commitlog.NoNode || len(pm.ISR) != len(pm.Replicas) {
			return false
		}
		lp := s.partition(pm.Leader, pm.Partition)
		if lp == nil {
			return false
		}
		end := lp.EndOffset()
		for _, r := range pm.Replicas {
			p := s.partition(r, pm.Partition)
			if p == nil || p.EndOffset() != end || p.HighWatermark() != end {
				return false
			}
		}
	}
	return true
}

func (s *sim) partition(id commitlog.NodeID, part int32) *commitlog.Partition {
	l := s.log(id)
	if l == nil {
		return nil
	}
	t, err := l.Topic(simTopic)
	if err != nil {
		return nil
	}
	p, err := t.Partition(part)
	if err != nil {
		return nil
	}
	return p
}

// records reads a partition's whole log on a node: value by offset.
func records(t *testing.T, p *commitlog.Partition) map[int64]string {
	out := map[int64]string{}
	for r, err := range p.Scan(context.Background(), p.StartOffset()) {
		if err != nil {
			t.Errorf("read %s-%d: %v", p.Topic(), p.ID(), err)
			break
		}
		out[r.Offset] = string(r.Value)
	}
	return out
}

// check verifies the history against the final logs.
func (s *sim) check() {
	t := s.t
	for _, f := range s.fails {
		t.Error(f)
	}
	md, err := s.ctrl.Describe(simTopic)
	if err != nil {
		t.Fatal(err)
	}
	final := map[int32]map[int64]string{}
	for _, pm := range md.Partitions {
		lp := s.partition(pm.Leader, pm.Partition)
		if lp == nil {
			t.Fatalf("partition %d has no live leader after healing: %+v", pm.Partition, pm)
		}
		log := records(t, lp)
		final[pm.Partition] = log
		// (b) every replica equals the leader.
		for _, r := range pm.Replicas {
			if got := records(t, s.partition(r, pm.Partition)); !mapsEqual(got, log) {
				t.Errorf("(b) partition %d: node %d's log differs from leader %d's:\n%v\n%v", pm.Partition, r, pm.Leader, sorted(got), sorted(log))
			}
		}
		// (e) no value twice.
		seen := map[string]int64{}
		for off, v := range log {
			if prev, ok := seen[v]; ok {
				t.Errorf("(e) partition %d: %s at offsets %d and %d", pm.Partition, v, prev, off)
			}
			seen[v] = off
		}
	}
	// (a) every acknowledged record is where it was acknowledged.
	for v, off := range s.acked {
		found := false
		for _, log := range final {
			if log[off] == v {
				found = true
			}
		}
		if !found {
			t.Errorf("(a) %s was acknowledged at offset %d and is lost", v, off)
		}
	}
	// (d) what readers saw below a high watermark was never truncated.
	for _, o := range s.seen {
		if got := final[o.part][o.offset]; got != o.value {
			t.Errorf("(d) node %d read %q at partition %d offset %d; the final log has %q there", o.node, o.value, o.part, o.offset, got)
		}
	}
	for _, id := range s.nodes {
		if err := s.log(id).Check(context.Background()); err != nil {
			t.Errorf("node %d: Check: %v", id, err)
		}
	}
	if len(s.acked) == 0 {
		t.Error("nothing was acknowledged: the run tested nothing")
	}
}

func mapsEqual(a, b map[int64]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func sorted(m map[int64]string) []string {
	keys := make([]int64, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = fmt.Sprintf("%d:%s", k, m[k])
	}
	return out
}
