package memnet

import "github.com/commitlog-go/commitlog"

// cuts are the links the Network does not carry messages over: those
// blocked one way by Block, those between the groups of a Partition, and
// those from and to isolated nodes. A node always reaches itself.
type cuts struct {
	blocked  map[Link]bool
	group    map[commitlog.NodeID]int // nil: no partition; a node absent from it is in group -1
	isolated map[commitlog.NodeID]bool
}

// cut reports whether l is cut.
func (c *cuts) cut(l Link) bool {
	if l.From == l.To {
		return false
	}
	if c.blocked[l] || c.isolated[l.From] || c.isolated[l.To] {
		return true
	}
	if c.group == nil {
		return false
	}
	return groupOf(c.group, l.From) != groupOf(c.group, l.To)
}

func groupOf(group map[commitlog.NodeID]int, node commitlog.NodeID) int {
	if g, ok := group[node]; ok {
		return g
	}
	return -1
}

// Block cuts the link from one node to another, in that direction only (a
// one-way partition): messages from from to to are dropped, those sent
// before Block and not yet delivered included, until Unblock or Heal.
// Blocking a node's link to itself has no effect.
func (n *Network) Block(from, to commitlog.NodeID) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cuts.blocked == nil {
		n.cuts.blocked = map[Link]bool{}
	}
	n.cuts.blocked[Link{From: from, To: to}] = true
}

// Unblock undoes Block(from, to). The link may stay cut by a Partition or
// an Isolate.
func (n *Network) Unblock(from, to commitlog.NodeID) {
	n.mu.Lock()
	defer n.mu.Unlock()
	delete(n.cuts.blocked, Link{From: from, To: to})
}

// Partition splits the network into groups: nodes in different groups
// cannot reach each other, in either direction, until Heal or the next
// Partition, which replaces this one. The nodes no group names form one
// more group, so Partition([]NodeID{1}) cuts node 1 off from all the
// others, which still reach one another. A node named in several groups
// belongs to the first. Partition() with no group undoes a partition.
// Messages in flight between nodes that the partition separates are
// dropped when they fall due. Block and Isolate are independent of it.
func (n *Network) Partition(groups ...[]commitlog.NodeID) {
	var group map[commitlog.NodeID]int
	for i, g := range groups {
		for _, node := range g {
			if group == nil {
				group = map[commitlog.NodeID]int{}
			}
			if _, ok := group[node]; !ok {
				group[node] = i
			}
		}
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	n.cuts.group = group
}

// Isolate cuts every link from and to node, except its link to itself,
// until Heal; messages in flight on them are dropped when they fall due.
// Isolating several nodes isolates each of them from all others.
func (n *Network) Isolate(node commitlog.NodeID) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cuts.isolated == nil {
		n.cuts.isolated = map[commitlog.NodeID]bool{}
	}
	n.cuts.isolated[node] = true
}

// Heal reconnects every node: it undoes every Block, Partition and
// Isolate. Messages dropped meanwhile stay lost. Faults are unchanged.
func (n *Network) Heal() {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.cuts = cuts{}
}
