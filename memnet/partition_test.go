package memnet

import (
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/commitlog-go/commitlog"
	"github.com/stretchr/testify/require"
)

// reachable sends one message over every link between nodes and returns
// the links over which it arrived, as "from->to" strings.
func reachable(t *testing.T, n *Network, recorders map[commitlog.NodeID]*recorder) map[string]bool {
	t.Helper()
	before := map[commitlog.NodeID]int{}
	for node, r := range recorders {
		before[node] = len(r.got())
	}
	for from := range recorders {
		for to := range recorders {
			send(t, n, fetch(from, to, 0))
		}
	}
	synctest.Wait()
	out := map[string]bool{}
	for node, r := range recorders {
		for _, a := range r.got()[before[node]:] {
			out[fmt.Sprintf("%d->%d", a.msg.From, a.msg.To)] = true
		}
	}
	return out
}

// links returns the set of links between nodes for which ok is true.
func links(nodes []commitlog.NodeID, ok func(from, to commitlog.NodeID) bool) map[string]bool {
	out := map[string]bool{}
	for _, from := range nodes {
		for _, to := range nodes {
			if ok(from, to) {
				out[fmt.Sprintf("%d->%d", from, to)] = true
			}
		}
	}
	return out
}

func listenAll(t *testing.T, n *Network, nodes []commitlog.NodeID) map[commitlog.NodeID]*recorder {
	out := map[commitlog.NodeID]*recorder{}
	for _, node := range nodes {
		out[node] = listen(t, n, node)
	}
	return out
}

func TestBlockIsOneWay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := New(Config{})
		defer n.Close()
		nodes := []commitlog.NodeID{1, 2, 3}
		rs := listenAll(t, n, nodes)
		all := links(nodes, func(_, _ commitlog.NodeID) bool { return true })
		require.Equal(t, all, reachable(t, n, rs))

		n.Block(1, 2)
		n.Block(3, 3) // no effect: a node always reaches itself
		require.Equal(t, links(nodes, func(from, to commitlog.NodeID) bool { return from != 1 || to != 2 }), reachable(t, n, rs))
		require.Equal(t, uint64(1), n.Stats().Links[Link{1, 2}].DroppedByPartition)

		n.Unblock(1, 2)
		require.Equal(t, all, reachable(t, n, rs))
		n.Block(2, 1)
		n.Block(1, 3)
		n.Heal()
		require.Equal(t, all, reachable(t, n, rs))
	})
}

func TestPartitionGroups(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := New(Config{})
		defer n.Close()
		nodes := []commitlog.NodeID{1, 2, 3, 4, 5}
		rs := listenAll(t, n, nodes)
		all := links(nodes, func(_, _ commitlog.NodeID) bool { return true })

		// 1 | 2 3 (and 1 again, which stays in the first group) | 4 5, unnamed
		n.Partition([]commitlog.NodeID{1}, []commitlog.NodeID{2, 3, 1})
		group := map[commitlog.NodeID]int{1: 0, 2: 1, 3: 1, 4: -1, 5: -1}
		require.Equal(t, links(nodes, func(from, to commitlog.NodeID) bool { return group[from] == group[to] }), reachable(t, n, rs))

		// A new partition replaces the old one.
		n.Partition([]commitlog.NodeID{1, 2}, []commitlog.NodeID{3, 4, 5})
		group = map[commitlog.NodeID]int{1: 0, 2: 0, 3: 1, 4: 1, 5: 1}
		require.Equal(t, links(nodes, func(from, to commitlog.NodeID) bool { return group[from] == group[to] }), reachable(t, n, rs))

		n.Partition()
		require.Equal(t, all, reachable(t, n, rs))

		n.Partition([]commitlog.NodeID{5})
		n.Heal()
		require.Equal(t, all, reachable(t, n, rs))
	})
}

func TestIsolate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := New(Config{})
		defer n.Close()
		nodes := []commitlog.NodeID{1, 2, 3, 4}
		rs := listenAll(t, n, nodes)
		n.Isolate(1)
		n.Isolate(2)
		isolated := map[commitlog.NodeID]bool{1: true, 2: true}
		require.Equal(t, links(nodes, func(from, to commitlog.NodeID) bool {
			return from == to || !isolated[from] && !isolated[to]
		}), reachable(t, n, rs))
		n.Heal()
		require.Equal(t, links(nodes, func(_, _ commitlog.NodeID) bool { return true }), reachable(t, n, rs))
	})
}

// TestCutDropsInFlight cuts a link while a message is on it: the message
// is dropped when it falls due, and stays dropped once the link is whole.
func TestCutDropsInFlight(t *testing.T) {
	cuts := map[string]func(n *Network){
		"Block":     func(n *Network) { n.Block(1, 2) },
		"Partition": func(n *Network) { n.Partition([]commitlog.NodeID{1}) },
		"Isolate":   func(n *Network) { n.Isolate(2) },
	}
	for name, cut := range cuts {
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				n := New(Config{Faults: Faults{MinDelay: 10 * time.Millisecond, MaxDelay: 10 * time.Millisecond}})
				defer n.Close()
				r := listen(t, n, 2)
				send(t, n, fetch(1, 2, 1))
				advance(5 * time.Millisecond)
				cut(n)
				advance(10 * time.Millisecond)
				require.Empty(t, r.got())
				n.Heal()
				send(t, n, fetch(1, 2, 2))
				advance(time.Second)
				require.Equal(t, []uint64{2}, r.seqs())
				require.Equal(t, Counters{Sent: 2, Delivered: 1, DroppedByPartition: 1}, n.Stats().Counters)
			})
		})
	}
}

// TestHealAfterSendLosesMessage checks that a message sent over a cut
// link is lost, even if the link heals before it would have arrived.
func TestHealAfterSendLosesMessage(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := New(Config{Faults: Faults{MinDelay: 10 * time.Millisecond, MaxDelay: 10 * time.Millisecond}})
		defer n.Close()
		r := listen(t, n, 2)
		n.Block(1, 2)
		send(t, n, fetch(1, 2, 1))
		n.Heal()
		advance(time.Second)
		require.Empty(t, r.got())
		require.Equal(t, Counters{Sent: 1, DroppedByPartition: 1}, n.Stats().Counters)
	})
}

// TestHealKeepsFaults checks that Heal undoes cuts only.
func TestHealKeepsFaults(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := New(Config{Faults: Faults{Drop: 1}})
		defer n.Close()
		r := listen(t, n, 2)
		n.Block(1, 2)
		n.Heal()
		send(t, n, fetch(1, 2, 1))
		synctest.Wait()
		require.Empty(t, r.got())
		require.Equal(t, uint64(1), n.Stats().DroppedByFault)
	})
}
