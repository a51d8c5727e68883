package replica

import (
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"testing"
)

// TestRule8_5_7_PrefixAfterLeaderChanges checks the invariant of rule
// 8.5.7 over random histories: leaders elected in quick succession among
// replicas that may not have finished truncating (KIP-279's case), records
// written on leaders only some followers fetch, restarts, and fetch
// rounds in any order. Whenever a follower appends (its truncation step
// done) and once every follower has caught up at the end, its log is a
// prefix of the current leader's, epoch for epoch.
//
// COMMITLOG_REPLICA_SEEDS sets how many seeds run (default 300);
// COMMITLOG_REPLICA_SEED runs one, as a failure prints.
func TestRule8_5_7_PrefixAfterLeaderChanges(t *testing.T) {
	seeds := []uint64{}
	if s := os.Getenv("COMMITLOG_REPLICA_SEED"); s != "" {
		seed, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("COMMITLOG_REPLICA_SEED=%q: %v", s, err)
		}
		seeds = append(seeds, seed)
	} else {
		n := uint64(300)
		if s := os.Getenv("COMMITLOG_REPLICA_SEEDS"); s != "" {
			v, err := strconv.ParseUint(s, 10, 64)
			if err != nil {
				t.Fatalf("COMMITLOG_REPLICA_SEEDS=%q: %v", s, err)
			}
			n = v
		}
		for seed := range n {
			seeds = append(seeds, seed+1)
		}
	}
	for _, seed := range seeds {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			runPrefixHistory(t, seed)
			if t.Failed() {
				t.Logf("replay: COMMITLOG_REPLICA_SEED=%d go test ./internal/replica -run 'TestRule8_5_7_PrefixAfterLeaderChanges' -v", seed)
			}
		})
	}
}

func runPrefixHistory(t *testing.T, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 857))
	ids := []NodeID{1, 2, 3}
	if rng.IntN(2) == 0 {
		ids = append(ids, 4, 5)
	}
	c := newCluster(t, 1, ids...)
	var history []string
	defer func() {
		if t.Failed() {
			t.Logf("history: %v", history)
		}
	}()
	// requireAppendedPrefix checks follower id after a fetch round whose
	// step appended: its truncation is over.
	requireAppendedPrefix := func(id NodeID, step FollowerStep) {
		t.Helper()
		if !step.Append {
			return
		}
		l := c.nodes[c.state.Leader].log
		f := c.nodes[id].log
		if len(f.epochs) > len(l.epochs) || !slices.Equal(f.epochs, l.epochs[:len(f.epochs)]) {
			t.Fatalf("node %d appended with a log %v that is not a prefix of leader %d's %v", id, f.epochs, c.state.Leader, l.epochs)
		}
	}
	for range 60 {
		switch op := rng.IntN(10); {
		case op < 3: // records on the leader
			k := 1 + rng.IntN(3)
			history = append(history, fmt.Sprintf("produce %d on %d", k, c.state.Leader))
			c.produce(k)
		case op < 7: // one fetch round of one follower
			id := ids[rng.IntN(len(ids))]
			if id == c.state.Leader || c.nodes[id].r.Role() != Follower {
				continue
			}
			history = append(history, fmt.Sprintf("fetch %d", id))
			step, _, err := c.fetch(id)
			if err != nil {
				continue // a refusal: the next round asks again
			}
			requireAppendedPrefix(id, step)
		case op < 9: // a new leader, any replica, with an ISR around it
			leader := ids[rng.IntN(len(ids))]
			isr := []NodeID{leader}
			for _, id := range ids {
				if id != leader && rng.IntN(2) == 0 {
					isr = append(isr, id)
				}
			}
			history = append(history, fmt.Sprintf("elect %d isr %v", leader, isr))
			c.elect(leader, isr...)
		default: // a restart: a new incarnation over the same log
			id := ids[rng.IntN(len(ids))]
			history = append(history, fmt.Sprintf("restart %d", id))
			c.restart(id, 1)
		}
	}
	// Every follower finishes: fetch rounds, in order, until none changes
	// anything.
	for range 4 * len(ids) {
		for _, id := range ids {
			if id != c.state.Leader && c.nodes[id].r.Role() == Follower {
				step, _, err := c.fetch(id)
				if err == nil {
					requireAppendedPrefix(id, step)
				}
			}
		}
	}
	c.requirePrefix()
	for _, id := range ids {
		if got, want := c.nodes[id].log.EndOffset(), c.nodes[c.state.Leader].log.EndOffset(); got != want {
			t.Fatalf("node %d ends at %d after catching up, the leader at %d", id, got, want)
		}
	}
}
