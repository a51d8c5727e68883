package replica

import (
	"errors"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// Rule 8.2.2: the follower's fetch is its acknowledgement; the leader
// records its acknowledged end as its LEO, and the HW follows.
func TestRule8_2_2_FetchIsTheAck(t *testing.T) {
	c := newCluster(t, 1, 1, 2)
	c.produce(3)
	if hw := c.nodes[1].r.HighWatermark(); hw != 0 {
		t.Fatalf("HW %d before the follower fetched; want 0", hw)
	}
	c.fetch(2) // gets the records
	c.fetch(2) // acknowledges them
	if hw := c.nodes[1].r.HighWatermark(); hw != 3 {
		t.Fatalf("HW %d after the follower acknowledged 3; want 3", hw)
	}
	// [D] Under SyncAlways a follower acknowledges only what is durable.
	c.produce(2)
	c.nodes[2].log.acked = 3
	c.fetch(2)
	c.fetch(2)
	if hw := c.nodes[1].r.HighWatermark(); hw != 3 {
		t.Fatalf("HW %d with the follower's durable end at 3; want 3", hw)
	}
}

// Rule 8.2.4: the follower's HW is the leader's, capped at its own end.
func TestRule8_2_4_FollowerHighWatermark(t *testing.T) {
	c := newCluster(t, 1, 1, 2)
	c.produce(4)
	c.fetch(2)
	step, _, err := c.fetch(2)
	if err != nil || step.HighWatermark != 4 {
		t.Fatalf("step %+v, %v: want the leader's HW 4", step, err)
	}
	if c.nodes[2].log.hw != 4 {
		t.Fatalf("follower HW %d", c.nodes[2].log.hw)
	}
}

// Rule 8.2.5 (KIP-903): a fetch from an earlier incarnation of a
// follower is refused, and does not move the leader's view of it.
func TestRule8_2_5_StaleIncarnation(t *testing.T) {
	c := newCluster(t, 1, 1, 2)
	c.produce(2)
	old, _ := c.nodes[2].r.NextFetch(c.now)
	c.restart(2, 1)
	c.fetch(2)
	ans, _ := c.nodes[1].r.HandleFetch(c.now, old)
	if !errors.Is(ans.Err, ErrStaleReplicaEpoch) {
		t.Fatalf("old incarnation's fetch: %v, want ErrStaleReplicaEpoch", ans.Err)
	}
}

// Fencing of duplicated and reordered fetches: a fetch whose sequence is
// not above the last seen changes nothing.
func TestFencingDuplicateAndReorderedFetches(t *testing.T) {
	c := newCluster(t, 1, 1, 2)
	c.produce(5)
	first, _ := c.nodes[2].r.NextFetch(c.now)
	ans, _ := c.nodes[1].r.HandleFetch(c.now, first)
	if ans.Err != nil {
		t.Fatal(ans.Err)
	}
	later := first
	later.Seq++
	later.FetchOffset, later.AckedOffset = 5, 5
	c.nodes[1].r.HandleFetch(c.now, later)
	if hw := c.nodes[1].r.HighWatermark(); hw != 5 {
		t.Fatalf("HW %d", hw)
	}
	// The first fetch again (duplicated, or delayed past the later one).
	ans, _ = c.nodes[1].r.HandleFetch(c.now, first)
	if !errors.Is(ans.Err, ErrStaleFetch) {
		t.Fatalf("replayed fetch: %v, want ErrStaleFetch", ans.Err)
	}
	if st := c.nodes[1].r.Status(c.now); st.Replicas[1].LEO != 5 {
		t.Fatalf("the replayed fetch moved the follower's LEO to %d", st.Replicas[1].LEO)
	}
}

// Stale responses (another sequence, another incarnation, another
// offset) are ignored by the follower.
func TestFencingStaleResponses(t *testing.T) {
	c := newCluster(t, 1, 1, 2)
	f := c.nodes[2].r
	req, _ := f.NextFetch(c.now)
	good := FetchResponse{ReplicaEpoch: req.ReplicaEpoch, Seq: req.Seq, LeaderEpoch: 0, BaseOffset: 0, RecordsEnd: -1, HighWatermark: 0}
	for name, resp := range map[string]FetchResponse{
		"seq":                             {ReplicaEpoch: req.ReplicaEpoch, Seq: req.Seq + 1, BaseOffset: 0, RecordsEnd: -1},
		"incarnation":                     {ReplicaEpoch: req.ReplicaEpoch - 1, Seq: req.Seq, BaseOffset: 0, RecordsEnd: -1},
		"epoch":                           {ReplicaEpoch: req.ReplicaEpoch, Seq: req.Seq, LeaderEpoch: 7, BaseOffset: 0, RecordsEnd: -1},
		"offset":                          {ReplicaEpoch: req.ReplicaEpoch, Seq: req.Seq, BaseOffset: 9, RecordsEnd: 10},
		"refusal of an older incarnation": {ReplicaEpoch: req.ReplicaEpoch - 1, Seq: req.Seq, Err: ErrStaleReplicaEpoch},
	} {
		if _, err := f.HandleFetchResponse(c.now, resp); !errors.Is(err, ErrStaleResponse) {
			t.Errorf("%s: %v, want ErrStaleResponse", name, err)
		}
	}
	if _, err := f.HandleFetchResponse(c.now, good); err != nil {
		t.Fatalf("the right response: %v", err)
	}
	if _, err := f.HandleFetchResponse(c.now, good); !errors.Is(err, ErrStaleResponse) {
		t.Fatalf("the same response twice: %v, want ErrStaleResponse", err)
	}
}

// Stale controller states are refused.
func TestFencingStaleState(t *testing.T) {
	c := newCluster(t, 1, 1, 2)
	old := c.state
	c.elect(2, 2, 1)
	if _, err := c.nodes[1].r.Update(c.now, old); !errors.Is(err, ErrStaleState) {
		t.Fatalf("old state: %v, want ErrStaleState", err)
	}
	if _, err := c.nodes[1].r.Update(c.now, c.state); err != nil {
		t.Fatalf("the same state again: %v", err)
	}
	bad := c.state
	bad.Leader = 9
	if _, err := c.nodes[1].r.Update(c.now, bad); !errors.Is(err, ErrInvalidState) {
		t.Fatalf("leader outside the ISR: %v, want ErrInvalidState", err)
	}
	// A restarted replica has applied no state, but its log fences the
	// older leader epochs: the delayed old state would have it lead epoch
	// 0 after the log's epoch 1.
	c.produce(1)
	c.catchUp()
	fresh := c.newNode(1, 1, c.nodes[1].log, 2)
	if _, err := fresh.r.Update(c.now, old); !errors.Is(err, ErrStateBehindLog) || !errors.Is(err, ErrStaleState) {
		t.Fatalf("state of epoch %d to a log of epoch %d: %v, want ErrStateBehindLog", old.LeaderEpoch, fresh.log.LatestEpoch(), err)
	}
	if fresh.r.Role() != Offline {
		t.Fatalf("role %v after a refused state, want Offline", fresh.r.Role())
	}
	if _, err := fresh.r.Update(c.now, c.state); err != nil {
		t.Fatalf("the current state after a restart: %v", err)
	}
}

// Fencing by leader epoch: a fetch from an older epoch is refused with
// ErrFencedLeaderEpoch, one from a newer with ErrUnknownLeaderEpoch; a
// node that is not a replica gets ErrNotReplica.
func TestFencingLeaderEpochs(t *testing.T) {
	c := newCluster(t, 1, 1, 2, 3)
	l := c.nodes[1].r
	base := Fetch{Replica: 2, ReplicaEpoch: 1, Seq: 100, LastFetchedEpoch: NoEpoch}
	for _, tc := range []struct {
		f    func(*Fetch)
		want error
	}{
		{func(f *Fetch) { f.CurrentLeaderEpoch = -1 }, ErrFencedLeaderEpoch},
		{func(f *Fetch) { f.CurrentLeaderEpoch = 1 }, ErrUnknownLeaderEpoch},
		{func(f *Fetch) { f.Replica = 9 }, ErrNotReplica},
		{func(f *Fetch) { f.FetchOffset = 5 }, ErrOffsetOutOfRange},
	} {
		f := base
		f.Seq++
		base.Seq++
		tc.f(&f)
		if ans, _ := l.HandleFetch(c.now, f); !errors.Is(ans.Err, tc.want) {
			t.Errorf("fetch %+v: %v, want %v", f, ans.Err, tc.want)
		}
	}
	if ans, _ := c.nodes[2].r.HandleFetch(c.now, base); !errors.Is(ans.Err, ErrNotLeader) {
		t.Errorf("fetch from a follower: %v, want ErrNotLeader", ans.Err)
	}
}

// Rule 8.3.1: a follower is caught up while its LEO is the leader's, or
// it last was within LagTime; the previous fetch's credit counts.
func TestRule8_3_1_CaughtUp(t *testing.T) {
	c := newCluster(t, 1, 1, 2)
	l := c.nodes[1].r
	c.produce(2)
	c.fetch(2)
	c.fetch(2) // caught up at t0
	t0 := c.now
	c.now = c.now.Add(testLag / 2)
	c.produce(2)
	c.fetch(2) // LEO 2 < the leader's 4, but it had the leader's end of the previous fetch (t0): credited with t0
	st := l.Status(c.now)
	if !st.Replicas[1].LastCaughtUp.Equal(t0) {
		t.Fatalf("last caught up %v, want the previous fetch's time %v", st.Replicas[1].LastCaughtUp, t0)
	}
	c.now = c.now.Add(testLag)
	eff := l.Tick(c.now)
	if !slices.Equal(eff.AlterISR, []NodeID{1}) {
		t.Fatalf("a follower behind for more than LagTime: proposal %v, want [1]", eff.AlterISR)
	}
}

// Rule 8.3.2: the shrink check runs every LagTime/2 and takes effect
// only when the controller commits it.
func TestRule8_3_2_ShrinkOnCommit(t *testing.T) {
	c := newCluster(t, 1, 1, 2)
	l := c.nodes[1].r
	if eff := l.Tick(c.now.Add(testLag/2 - time.Millisecond)); eff.AlterISR != nil {
		t.Fatalf("proposal before LagTime/2: %v", eff.AlterISR)
	}
	c.now = c.now.Add(testLag + time.Second)
	eff := l.Tick(c.now)
	if !slices.Equal(eff.AlterISR, []NodeID{1}) || eff.AlterISRLeaderEpoch != 0 || eff.AlterISRPartitionEpoch != 0 {
		t.Fatalf("proposal %+v", eff)
	}
	if err := l.CheckAppend(true); err != nil {
		t.Fatalf("before the commit the ISR is still [1 2]: %v", err)
	}
	if eff := l.Tick(c.now.Add(time.Second / 2)); eff.AlterISR != nil {
		t.Fatalf("a second proposal while one is pending: %v", eff.AlterISR)
	}
	if eff := l.Tick(c.now.Add(testLag)); !slices.Equal(eff.AlterISR, []NodeID{1}) {
		t.Fatalf("a proposal unanswered for FetchTimeout is not made again: %v", eff.AlterISR)
	}
	c.setISR(1)
	if got := l.State().ISR; !slices.Equal(got, []NodeID{1}) {
		t.Fatalf("ISR %v", got)
	}
}

// Rule 8.3.3: a follower rejoins once its LEO reaches the HW and the
// leader's epoch start offset.
func TestRule8_3_3_Expansion(t *testing.T) {
	c := newCluster(t, 1, 1, 2)
	c.setISR(1)
	c.produce(3)
	// Follower fetches from 0: LEO 0 < HW 3: not yet.
	_, ans, _ := c.fetch(2)
	if ans.HighWatermark != 3 {
		t.Fatalf("HW %d", ans.HighWatermark)
	}
	f := c.nodes[2].r
	req, _ := f.NextFetch(c.now)
	ans, eff := c.nodes[1].r.HandleFetch(c.now, req)
	if !slices.Equal(eff.AlterISR, []NodeID{1, 2}) {
		t.Fatalf("caught-up follower not proposed: %+v (answer %+v)", eff, ans)
	}
}

// Rule 8.3.3 (KAFKA-7128): a follower whose LEO reaches the HW but not
// the leader's epoch start offset does not rejoin.
func TestRule8_3_3_EpochStart(t *testing.T) {
	c := newCluster(t, 1, 1, 2)
	c.produce(3)
	c.fetch(2)
	c.fetch(2)
	c.elect(1, 1) // new epoch 1 starting at 3, follower out
	c.nodes[1].log.hw = 0
	c.elect(1, 1)
	l := c.nodes[1].r
	// The follower acknowledges 2: at the HW (whatever it is) but below the epoch start 3.
	f := Fetch{Replica: 2, ReplicaEpoch: 1, Seq: 1000, CurrentLeaderEpoch: c.state.LeaderEpoch, FetchOffset: 2, AckedOffset: 2, LastFetchedEpoch: 0}
	_, eff := l.HandleFetch(c.now, f)
	if eff.AlterISR != nil {
		t.Fatalf("follower below the epoch start proposed: %v", eff.AlterISR)
	}
}

// Rule 8.3.4: while an addition is pending, the HW waits for the added
// replica too (the maximal ISR).
func TestRule8_3_4_MaximalISR(t *testing.T) {
	c := newCluster(t, 1, 1, 2)
	c.setISR(1)
	c.fetch(2)
	c.fetch(2) // proposed in at LEO 0
	if c.nodes[1].r.pending == nil {
		t.Fatal("no proposal pending")
	}
	c.produce(2)
	if hw := c.nodes[1].r.HighWatermark(); hw != 0 {
		t.Fatalf("HW %d moved past the pending member's LEO 0", hw)
	}
}

// Rule 8.4.1: the HW is the least LEO over the ISR, and waits for a
// caught-up replica outside it.
func TestRule8_4_1_HighWatermark(t *testing.T) {
	c := newCluster(t, 1, 1, 2, 3)
	c.produce(4)
	c.fetch(2)
	c.fetch(2)
	if hw := c.nodes[1].r.HighWatermark(); hw != 0 {
		t.Fatalf("HW %d while node 3 (in the ISR) has not fetched", hw)
	}
	c.fetch(3)
	c.fetch(3)
	if hw := c.nodes[1].r.HighWatermark(); hw != 4 {
		t.Fatalf("HW %d, want 4", hw)
	}
}

// Rule 8.4.2: the HW does not move while the ISR is below MinISR, and
// AckAll appends are refused before appending, or after.
func TestRule8_4_2_NoAdvanceUnderMinISR(t *testing.T) {
	c := newCluster(t, 2, 1, 2)
	c.setISR(1)
	l := c.nodes[1].r
	if err := l.CheckAppend(true); !errors.Is(err, ErrNotEnoughReplicas) {
		t.Fatalf("CheckAppend: %v, want ErrNotEnoughReplicas", err)
	}
	if err := l.CheckAppend(false); err != nil {
		t.Fatalf("an append not asking AckAll: %v", err)
	}
	c.produce(3)
	if hw := l.HighWatermark(); hw != 0 {
		t.Fatalf("HW %d moved under MinISR", hw)
	}
	if _, err := l.AckAllStatus(3); !errors.Is(err, ErrNotEnoughReplicasAfterAppend) {
		t.Fatalf("AckAllStatus: %v, want ErrNotEnoughReplicasAfterAppend", err)
	}
}

// Rule 8.4.3: the HW never moves back on a leader, whatever order the
// followers' fetches arrive in (a property over seeds).
func TestRule8_4_3_MonotoneHighWatermark(t *testing.T) {
	for seed := range uint64(50) {
		rng := rand.New(rand.NewPCG(seed, 1))
		c := newCluster(t, 1, 1, 2, 3)
		l := c.nodes[1].r
		last := int64(0)
		for range 200 {
			switch rng.IntN(4) {
			case 0:
				c.produce(1 + rng.IntN(3))
			case 1:
				c.now = c.now.Add(time.Duration(rng.IntN(int(testLag))))
				c.apply(c.nodes[1], l.Tick(c.now))
			default:
				// A fetch with an acknowledged end anywhere in the log,
				// as reordering and truncation can produce.
				id := NodeID(2 + rng.IntN(2))
				end := c.nodes[1].log.EndOffset()
				off := rng.Int64N(end + 1)
				f := Fetch{Replica: id, ReplicaEpoch: 1, Seq: uint64(rng.IntN(1000)) + 1, FetchOffset: off, AckedOffset: off, LastFetchedEpoch: NoEpoch}
				c.apply(c.nodes[1], func() Effects { _, eff := l.HandleFetch(c.now, f); return eff }())
			}
			if hw := l.HighWatermark(); hw < last {
				t.Fatalf("seed %d: HW went from %d to %d", seed, last, hw)
			} else {
				last = hw
			}
		}
	}
}

// Rule 8.4.5 and 8.5.1: a new leader records its epoch at its end and
// starts from its own HW, which may lie below that epoch's start.
func TestRule8_5_1_NewLeaderAssignsEpoch(t *testing.T) {
	c := newCluster(t, 1, 1, 2)
	c.produce(3)
	c.fetch(2)
	c.nodes[2].log.hw = 1
	c.elect(2, 2)
	n := c.nodes[2]
	if got := n.log.EpochStartOffset(1); got != 3 {
		t.Fatalf("epoch 1 starts at %d, want 3 (the new leader's end)", got)
	}
	if hw := n.r.HighWatermark(); hw != 3 {
		t.Fatalf("new leader HW %d: with ISR [2] it follows its own end 3", hw)
	}
}

// Rules 8.5.3–8.5.5: a follower with records of an epoch the leader
// never committed is told where the epochs diverge and truncates there.
func TestRule8_5_4_TruncateToLeaderEpochEnd(t *testing.T) {
	c := newCluster(t, 1, 1, 2)
	c.produce(2)
	c.fetch(2)
	c.fetch(2)
	c.nodes[1].log.append(0, 3) // written on the old leader only
	c.elect(2, 2)               // node 2 leads epoch 1 from offset 2
	c.produce(1)
	c.catchUp()
	c.requirePrefix()
	if got := c.nodes[1].log.epochs; !slices.Equal(got, []int32{0, 0, 1}) {
		t.Fatalf("old leader's log %v, want [0 0 1]", got)
	}
}

// Rule 8.5.4 (KIP-279): a follower whose latest epoch the leader does not
// know truncates to the end of its own largest epoch below the leader's
// answer, and fetches again until the logs agree.
func TestRule8_5_4_KIP279_UnknownEpochRepeats(t *testing.T) {
	c := newCluster(t, 1, 1, 2, 3)
	c.produce(1) // epoch 0: [0]
	c.catchUp()
	// Node 1 leads epochs 1 and 2 in quick succession, writing only to
	// itself; node 2 then leads epoch 3 from offset 1.
	c.elect(1, 1)
	c.produce(1)
	c.elect(1, 1)
	c.produce(1)
	c.elect(2, 2, 3)
	c.produce(2)
	c.catchUp()
	c.requirePrefix()
	if got := c.nodes[1].log.epochs; !slices.Equal(got, []int32{0, 3, 3}) {
		t.Fatalf("node 1's log %v, want [0 3 3]", got)
	}
}

// The KIP-101 scenario of losing data to high watermark truncation: a
// follower restarts with a high watermark lagging its log, then leads.
// Truncating by epoch instead keeps the committed record.
func TestKIP101_NoTruncationByHighWatermark(t *testing.T) {
	c := newCluster(t, 1, 1, 2)
	c.produce(2)
	c.fetch(2)            // node 2 has [0 0], HW 0
	c.fetch(2)            // acknowledges them: the leader's HW is 2
	c.nodes[2].log.hw = 1 // the follower's HW lags by a round trip, as in the KIP
	c.restart(2, 1)
	c.fetch(2)
	if got := len(c.nodes[2].log.epochs); got != 2 {
		t.Fatalf("restarted follower holds %d records, want 2 (no truncation to its HW)", got)
	}
	c.elect(2, 2)
	if got := c.nodes[2].log.EndOffset(); got != 2 {
		t.Fatalf("new leader's end %d: a committed record was lost", got)
	}
}

// The KIP-101 divergence scenario: both replicas crash, the follower
// comes back first and leads, writing a new record at an offset where the
// old leader holds another; when the old leader returns it takes the new
// leader's record.
func TestKIP101_NoDivergence(t *testing.T) {
	c := newCluster(t, 1, 1, 2)
	c.produce(1)
	c.catchUp()
	c.nodes[1].log.append(0, 1) // [0 0] on node 1, [0] on node 2
	c.elect(2, 2)
	c.produce(1) // node 2: [0 1]
	c.restart(1, 1)
	c.catchUp()
	c.requirePrefix()
	if got := c.nodes[1].log.epochs; !slices.Equal(got, []int32{0, 1}) {
		t.Fatalf("old leader %v, want [0 1]", got)
	}
}

// Rule 8.6.4: the leader never proposes an empty ISR; it stays in it.
func TestRule8_6_4_ISRNeverEmpty(t *testing.T) {
	c := newCluster(t, 1, 1, 2, 3)
	c.now = c.now.Add(10 * testLag)
	eff := c.nodes[1].r.Tick(c.now)
	if !slices.Equal(eff.AlterISR, []NodeID{1}) {
		t.Fatalf("proposal %v, want the leader alone [1]", eff.AlterISR)
	}
}

// Rule 8.6.2 and 8.6.3 from the replica's side: whoever the controller
// elects (an out-of-sync replica under unclean election, the preferred
// one on request), the replica takes the role with the new epoch and the
// others follow it; under unclean election the new leader's log wins.
func TestRule8_6_2_UncleanLeaderLogWins(t *testing.T) {
	c := newCluster(t, 1, 1, 2)
	c.setISR(1)
	c.produce(3) // on node 1 only
	c.elect(2, 2)
	c.produce(1)
	c.restart(1, 1)
	c.catchUp()
	c.requirePrefix()
	if got := c.nodes[1].log.epochs; !slices.Equal(got, []int32{1}) {
		t.Fatalf("old leader %v, want the new leader's [1]", got)
	}
	if c.nodes[2].r.Role() != Leader || c.nodes[1].r.Role() != Follower {
		t.Fatalf("roles %v %v", c.nodes[1].r.Role(), c.nodes[2].r.Role())
	}
}

// CheckAppend on a follower names the leader.
func TestCheckAppendNotLeader(t *testing.T) {
	c := newCluster(t, 1, 1, 2)
	err := c.nodes[2].r.CheckAppend(true)
	var nl *NotLeaderError
	if !errors.As(err, &nl) || nl.Leader != 1 || !errors.Is(err, ErrNotLeader) {
		t.Fatalf("CheckAppend on the follower: %v", err)
	}
	c.state.Leader = NoNode
	c.state.LeaderEpoch++
	c.state.PartitionEpoch++
	c.deliver(2)
	if err := c.nodes[2].r.CheckAppend(false); !errors.Is(err, ErrOffline) {
		t.Fatalf("offline: %v, want ErrOffline", err)
	}
}

// A refused fetch is asked again after FetchTimeout: a follower that
// heard of its leader before the leader did must not wait forever (see
// TestFetchRefusedByALeaderBehindRetriesSoon for the refusals asked
// again sooner).
func TestRefusedFetchRetries(t *testing.T) {
	c := newCluster(t, 1, 1, 2)
	f := c.nodes[2].r
	req, _ := f.NextFetch(c.now)
	resp := FetchResponse{ReplicaEpoch: req.ReplicaEpoch, Seq: req.Seq, Err: ErrNotReplica, BaseOffset: -1, RecordsEnd: -1}
	if _, err := f.HandleFetchResponse(c.now, resp); !errors.Is(err, ErrNotReplica) {
		t.Fatalf("refusal: %v", err)
	}
	if _, ok := f.NextFetch(c.now.Add(time.Second / 2)); ok {
		t.Fatal("fetched again before FetchTimeout")
	}
	if _, ok := f.NextFetch(c.now.Add(time.Second)); !ok {
		t.Fatal("no fetch after FetchTimeout")
	}
}

// A leader that refuses a fetch because it does not lead yet, or not at
// the follower's epoch yet (it applies the controller's election a moment
// after the follower), is asked again after RefusedFetchRetry, not
// FetchTimeout: the failover waits for the new leader only. FetchWait
// tells the driver when to look.
func TestFetchRefusedByALeaderBehindRetriesSoon(t *testing.T) {
	for _, refusal := range []error{ErrNotLeader, ErrUnknownLeaderEpoch, ErrFencedLeaderEpoch} {
		c := newCluster(t, 1, 1, 2)
		f := c.nodes[2].r
		if d := f.FetchWait(c.now); d != time.Second {
			t.Fatalf("FetchWait %v with nothing outstanding, want FetchTimeout", d)
		}
		req, _ := f.NextFetch(c.now)
		if d := f.FetchWait(c.now.Add(time.Second / 4)); d != 3*time.Second/4 {
			t.Fatalf("FetchWait %v a quarter into a fetch outstanding, want the rest of FetchTimeout", d)
		}
		resp := FetchResponse{ReplicaEpoch: req.ReplicaEpoch, Seq: req.Seq, Err: refusal, BaseOffset: -1, RecordsEnd: -1}
		if _, err := f.HandleFetchResponse(c.now, resp); !errors.Is(err, refusal) {
			t.Fatalf("refusal: %v", err)
		}
		want := time.Second // FetchTimeout
		if refusal != ErrFencedLeaderEpoch {
			want = RefusedFetchRetry
		}
		if d := f.FetchWait(c.now); d != want {
			t.Fatalf("%v: FetchWait %v, want %v", refusal, d, want)
		}
		if _, ok := f.NextFetch(c.now.Add(want - time.Millisecond)); ok {
			t.Fatalf("%v: fetched again before %v", refusal, want)
		}
		if _, ok := f.NextFetch(c.now.Add(want)); !ok {
			t.Fatalf("%v: no fetch after %v", refusal, want)
		}
	}
}

// A proposal that added a replica and then failed or went unanswered may
// have been committed all the same: the replica keeps counting for the
// high watermark until a higher partition epoch says what the ISR is, and
// the leader proposes again to learn it.
func TestUnsettledAdditionCountsUntilTheNextPartitionEpoch(t *testing.T) {
	c := newCluster(t, 1, 1, 2)
	c.setISR(1)
	l := c.nodes[1].r
	c.fetch(2)
	if l.pending == nil || !slices.Equal(l.pending.isr, []NodeID{1, 2}) {
		t.Fatalf("no expansion proposed: %+v", l.pending)
	}
	l.AlterISRFailed(c.now, errors.New("timed out"))
	c.produce(3)
	if hw := l.HighWatermark(); hw != 0 {
		t.Fatalf("HW %d passed a replica whose addition may have been committed", hw)
	}
	c.now = c.now.Add(testLag + time.Second) // node 2, silent since, is no longer caught up
	if eff := l.Tick(c.now); !slices.Equal(eff.AlterISR, []NodeID{1}) {
		t.Fatalf("no proposal to settle the addition: %+v", eff)
	}
	c.setISR(1) // the controller's answer: node 2 is not in
	c.apply(c.nodes[1], l.LocalAppended(c.now))
	if hw := l.HighWatermark(); hw != 3 {
		t.Fatalf("HW %d once settled, want 3", hw)
	}
}

// Kafka's truncateFullyAndStartAt: a follower whose end lies below the
// leader's log start (retention or DeleteRecords on the leader removed
// what it lacks, while it was away) is refused with ErrOffsetOutOfRange
// and restarts its log empty at the leader's start; it then catches up
// from there and rejoins the ISR. One whose end is not below the start
// is not reset.
func TestResetToTheLeaderLogStart(t *testing.T) {
	c := newCluster(t, 1, 1, 2, 3)
	c.produce(3)
	c.catchUp()
	c.setISR(1, 3) // node 2 is away
	c.produce(5)
	c.catchUp() // node 3 keeps up; node 2 fetches too, but is restarted below
	c.nodes[2].log.truncate(3)
	c.restart(2, 1)
	c.nodes[1].log.deleteBefore(6)
	step, ans, err := c.fetch(2)
	if err != nil || !errors.Is(ans.Err, ErrOffsetOutOfRange) {
		t.Fatalf("fetch from 3 below the leader's start 6: answer %+v, %v", ans, err)
	}
	if step.ResetTo != 6 || step.Truncate != -1 || step.Append || !step.FetchNow {
		t.Fatalf("step %+v: want a reset to the leader's start 6", step)
	}
	if l := c.nodes[2].log; l.StartOffset() != 6 || l.EndOffset() != 6 || l.LatestEpoch() != NoEpoch {
		t.Fatalf("reset log [%d, %d) epoch %d", l.StartOffset(), l.EndOffset(), l.LatestEpoch())
	}
	c.catchUp()
	c.requirePrefix()
	if got := c.nodes[2].log.EndOffset(); got != 8 {
		t.Fatalf("node 2's end %d after catching up, want 8", got)
	}
	if isr := c.nodes[1].r.State().ISR; !slices.Contains(isr, 2) && c.nodes[1].r.pending == nil {
		t.Fatalf("node 2 not proposed back into the ISR %v", isr)
	}

	// A refusal that says the leader's start is at or below the end is
	// no reason to reset.
	f := c.nodes[3].r
	req, _ := f.NextFetch(c.now)
	step, err = f.HandleFetchResponse(c.now, FetchResponse{ReplicaEpoch: req.ReplicaEpoch, Seq: req.Seq, Err: ErrOffsetOutOfRange,
		LogStartOffset: c.nodes[3].log.EndOffset(), BaseOffset: -1, RecordsEnd: -1})
	if !errors.Is(err, ErrOffsetOutOfRange) || step.ResetTo != -1 {
		t.Fatalf("refusal with the leader's start at the end: step %+v, %v", step, err)
	}
}

// A follower learns the leader's log start from every answer and raises
// its own to it (the driver caps it at the local high watermark, rule
// 2.8.1); it never moves down.
func TestFollowerTakesTheLeaderLogStart(t *testing.T) {
	c := newCluster(t, 1, 1, 2)
	c.produce(6)
	c.fetch(2) // gets [0, 6)
	step, _, err := c.fetch(2)
	if err != nil || step.LogStart != -1 {
		t.Fatalf("step %+v, %v: the same starts", step, err)
	}
	c.nodes[1].log.deleteBefore(4)
	step, _, err = c.fetch(2)
	if err != nil || step.LogStart != 4 {
		t.Fatalf("step %+v, %v: want the leader's start 4", step, err)
	}
	if got := c.nodes[2].log.StartOffset(); got != 4 {
		t.Fatalf("follower start %d, want the leader's 4", got)
	}
	// A leader with a lower start (another replica elected) moves nothing.
	c.nodes[2].log.deleteBefore(5)
	step, _, err = c.fetch(2)
	if err != nil || step.LogStart != -1 || c.nodes[2].log.StartOffset() != 5 {
		t.Fatalf("step %+v, %v, start %d: a follower's start never moves down", step, err, c.nodes[2].log.StartOffset())
	}
}

// The first batch after a reset can start below the reset offset: after
// DeleteRecords the leader's log start may lie inside a batch, and the
// leader answers a fetch from its start with the whole batch holding it.
// A follower whose log is empty takes it: it resets again, to the batch's
// base offset, appends it, and raises its start to the leader's. Records
// starting below the fetch offset in any other case answer some other
// fetch, and are ignored.
func TestFollowerTakesTheBatchHoldingTheLeaderStart(t *testing.T) {
	for _, tc := range []struct {
		name       string
		start, end int64 // the follower's log
		base       int64 // the response's records: [base, recEnd)
		recEnd     int64
		leaderLSO  int64
		want       FollowerStep // ignored when stale
		stale      bool
	}{
		{name: "the batch holding the leader's start, on an empty log", start: 6, end: 6, base: 4, recEnd: 9, leaderLSO: 6,
			want: FollowerStep{Truncate: -1, ResetTo: 4, Append: true, HighWatermark: 9, LogStart: 6, FetchNow: true}},
		{name: "a leader whose start is lower still", start: 6, end: 6, base: 4, recEnd: 9, leaderLSO: 2,
			want: FollowerStep{Truncate: -1, ResetTo: 4, Append: true, HighWatermark: 9, LogStart: -1, FetchNow: true}},
		{name: "records at the fetch offset", start: 6, end: 6, base: 6, recEnd: 9, leaderLSO: 6,
			want: FollowerStep{Truncate: -1, ResetTo: -1, Append: true, HighWatermark: 9, LogStart: -1, FetchNow: true}},
		{name: "records at the fetch offset, the leader's start above the follower's", start: 2, end: 6, base: 6, recEnd: 9, leaderLSO: 5,
			want: FollowerStep{Truncate: -1, ResetTo: -1, Append: true, HighWatermark: 9, LogStart: 5, FetchNow: true}},
		{name: "an empty log, the batch ends at the fetch offset", start: 6, end: 6, base: 4, recEnd: 6, leaderLSO: 4, stale: true},
		{name: "an empty log, the batch ends below the fetch offset", start: 6, end: 6, base: 2, recEnd: 4, leaderLSO: 2, stale: true},
		{name: "a log holding records", start: 3, end: 6, base: 4, recEnd: 9, leaderLSO: 4, stale: true},
		{name: "records above the fetch offset", start: 6, end: 6, base: 7, recEnd: 9, leaderLSO: 6, stale: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newCluster(t, 1, 1, 2)
			fl := c.nodes[2].log
			fl.reset(tc.start)
			for range tc.end - tc.start {
				fl.epochs = append(fl.epochs, 0)
			}
			f := c.nodes[2].r
			req, ok := f.NextFetch(c.now)
			if !ok || req.FetchOffset != tc.end {
				t.Fatalf("fetch %+v, %v", req, ok)
			}
			resp := FetchResponse{ReplicaEpoch: req.ReplicaEpoch, Seq: req.Seq, LeaderEpoch: c.state.LeaderEpoch,
				HighWatermark: 9, LogStartOffset: tc.leaderLSO, BaseOffset: tc.base, RecordsEnd: tc.recEnd}
			step, err := f.HandleFetchResponse(c.now, resp)
			if tc.stale {
				if !errors.Is(err, ErrStaleResponse) {
					t.Fatalf("step %+v, %v: want ErrStaleResponse", step, err)
				}
				return
			}
			if err != nil || step != tc.want {
				t.Fatalf("step %+v, %v: want %+v", step, err, tc.want)
			}
			if _, ok := f.NextFetch(c.now); ok {
				t.Fatal("fetched again before the step was confirmed")
			}
			f.Truncated()
			f.Appended()
			if next, ok := f.NextFetch(c.now); !ok || next.Seq != req.Seq+1 {
				t.Fatalf("next fetch %+v, %v", next, ok)
			}
		})
	}
}
