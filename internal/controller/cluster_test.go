package controller

import (
	"errors"
	"slices"
	"testing"
)

func newCluster(t *testing.T, nodes []NodeID, live ...NodeID) *Cluster {
	t.Helper()
	c, err := New(nodes)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range live {
		if _, err := c.NodeUp(n); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

func create(t *testing.T, c *Cluster, spec TopicSpec) *Topic {
	t.Helper()
	if _, err := c.CreateTopic(spec); err != nil {
		t.Fatal(err)
	}
	return c.Topic(spec.Name)
}

func TestNewRefusesBadNodes(t *testing.T) {
	for _, nodes := range [][]NodeID{nil, {1, 1}, {-1, 2}} {
		if _, err := New(nodes); !errors.Is(err, ErrInvalid) {
			t.Errorf("New(%v) = %v, want ErrInvalid", nodes, err)
		}
	}
}

// The assignment spreads leaders evenly and never puts two replicas of a
// partition on one node.
func TestAssignmentSpreadsReplicas(t *testing.T) {
	nodes := []NodeID{1, 2, 3, 4, 5}
	c := newCluster(t, nodes, nodes...)
	top := create(t, c, TopicSpec{Name: "t", Partitions: 10, ReplicationFactor: 3})
	leaders := map[NodeID]int{}
	replicas := map[NodeID]int{}
	for i, p := range top.Partitions {
		if len(p.Replicas) != 3 {
			t.Fatalf("partition %d: replicas %v", i, p.Replicas)
		}
		for j, r := range p.Replicas {
			if slices.Contains(p.Replicas[:j], r) {
				t.Fatalf("partition %d: node %d twice in %v", i, r, p.Replicas)
			}
			replicas[r]++
		}
		if p.Leader != p.Replicas[0] || !slices.Equal(p.ISR, p.Replicas) {
			t.Fatalf("partition %d: leader %d ISR %v, want the first replica of %v and all", i, p.Leader, p.ISR, p.Replicas)
		}
		leaders[p.Leader]++
	}
	for _, n := range nodes {
		if leaders[n] != 2 || replicas[n] != 6 {
			t.Errorf("node %d leads %d and holds %d replicas; want 2 and 6 (leaders %v replicas %v)", n, leaders[n], replicas[n], leaders, replicas)
		}
	}
}

func TestCreateTopicRefusesBadSpecs(t *testing.T) {
	c := newCluster(t, []NodeID{1, 2, 3}, 1, 2, 3)
	create(t, c, TopicSpec{Name: "exists", Partitions: 1, ReplicationFactor: 1})
	for _, tc := range []struct {
		name string
		spec TopicSpec
		want error
	}{
		{"exists", TopicSpec{Name: "exists", Partitions: 1, ReplicationFactor: 1}, ErrTopicExists},
		{"no partitions", TopicSpec{Name: "a", Partitions: 0, ReplicationFactor: 1}, ErrInvalid},
		{"rf 0", TopicSpec{Name: "a", Partitions: 1, ReplicationFactor: 0}, ErrInvalid},
		{"rf above nodes", TopicSpec{Name: "a", Partitions: 1, ReplicationFactor: 4}, ErrInvalid},
		{"assignment count", TopicSpec{Name: "a", Partitions: 2, ReplicationFactor: 1, Assignment: [][]NodeID{{1}}}, ErrInvalid},
		{"assignment rf", TopicSpec{Name: "a", Partitions: 1, ReplicationFactor: 2, Assignment: [][]NodeID{{1}}}, ErrInvalid},
		{"unknown node", TopicSpec{Name: "a", Partitions: 1, ReplicationFactor: 2, Assignment: [][]NodeID{{1, 9}}}, ErrUnknownNode},
		{"repeated node", TopicSpec{Name: "a", Partitions: 1, ReplicationFactor: 2, Assignment: [][]NodeID{{2, 2}}}, ErrInvalid},
	} {
		if _, err := c.CreateTopic(tc.spec); !errors.Is(err, tc.want) {
			t.Errorf("%s: CreateTopic = %v, want %v", tc.name, err, tc.want)
		}
	}
	if got := c.TopicNames(); !slices.Equal(got, []string{"exists"}) {
		t.Errorf("topics after refused creations: %v", got)
	}
}

// A partition created while none of its replicas is live starts offline
// with every replica in sync; the first to come up leads it.
func TestCreateWithNoLiveReplica(t *testing.T) {
	c := newCluster(t, []NodeID{1, 2, 3}, 3)
	top := create(t, c, TopicSpec{Name: "t", Partitions: 1, ReplicationFactor: 2, Assignment: [][]NodeID{{1, 2}}})
	p := top.Partitions[0]
	if p.Leader != NoNode || !slices.Equal(p.ISR, []NodeID{1, 2}) {
		t.Fatalf("leader %d ISR %v, want offline with ISR [1 2]", p.Leader, p.ISR)
	}
	changes, _ := c.NodeUp(2)
	if len(changes) != 1 {
		t.Fatalf("changes %v", changes)
	}
	p = c.Topic("t").Partitions[0]
	if p.Leader != 2 || p.LeaderEpoch != 1 || p.PartitionEpoch != 1 {
		t.Fatalf("after node 2 up: %+v, want leader 2 at epochs 1, 1", p)
	}
}

// Rule 8.6.1: the first live in-sync replica in assignment order leads,
// with a new leader epoch; the old leader leaves the in-sync set.
func TestRule8_6_1_CleanElectionOrder(t *testing.T) {
	c := newCluster(t, []NodeID{1, 2, 3}, 1, 2, 3)
	create(t, c, TopicSpec{Name: "t", Partitions: 1, ReplicationFactor: 3, Assignment: [][]NodeID{{1, 3, 2}}})
	if _, err := c.NodeDown(1); err != nil {
		t.Fatal(err)
	}
	p := c.Topic("t").Partitions[0]
	want := Partition{Replicas: []NodeID{1, 3, 2}, Leader: 3, LeaderEpoch: 1, ISR: []NodeID{3, 2}, PartitionEpoch: 1}
	if !equalPartition(p, want) {
		t.Fatalf("after the leader went down: %+v, want %+v", p, want)
	}
	// A follower going down leaves the ISR: the partition epoch moves, the
	// leader epoch does not.
	c.NodeDown(2)
	p = c.Topic("t").Partitions[0]
	want = Partition{Replicas: []NodeID{1, 3, 2}, Leader: 3, LeaderEpoch: 1, ISR: []NodeID{3}, PartitionEpoch: 2}
	if !equalPartition(p, want) {
		t.Fatalf("after a follower went down: %+v, want %+v", p, want)
	}
}

// Rules 8.6.2 and 8.6.4: with no live in-sync replica the partition goes
// offline and keeps its last in-sync member, which alone may bring it back
// (unclean election off); an out-of-sync replica coming up does not.
func TestRule8_6_2_OfflineWithoutUncleanElection(t *testing.T) {
	c := newCluster(t, []NodeID{1, 2}, 1, 2)
	create(t, c, TopicSpec{Name: "t", Partitions: 1, ReplicationFactor: 2, Assignment: [][]NodeID{{1, 2}}})
	c.NodeDown(2) // ISR {1}
	c.NodeDown(1) // the last member: offline, ISR stays {1}
	p := c.Topic("t").Partitions[0]
	if p.Leader != NoNode || !slices.Equal(p.ISR, []NodeID{1}) || p.LeaderEpoch != 1 {
		t.Fatalf("after both went down: %+v, want offline at leader epoch 1 with ISR [1]", p)
	}
	if ch, _ := c.NodeUp(2); len(ch) != 0 {
		t.Fatalf("out-of-sync node 2 coming up changed %v", ch)
	}
	if p := c.Topic("t").Partitions[0]; p.Leader != NoNode {
		t.Fatalf("out-of-sync node 2 was elected: %+v", p)
	}
	c.NodeUp(1)
	p = c.Topic("t").Partitions[0]
	if p.Leader != 1 || p.LeaderEpoch != 2 {
		t.Fatalf("after the last in-sync replica came back: %+v, want leader 1 at epoch 2", p)
	}
}

// Rule 8.6.2 with unclean election on: the first live replica leads with
// an in-sync set of itself.
func TestRule8_6_2_UncleanElection(t *testing.T) {
	c := newCluster(t, []NodeID{1, 2, 3}, 1, 2, 3)
	create(t, c, TopicSpec{Name: "t", Partitions: 1, ReplicationFactor: 3, Assignment: [][]NodeID{{1, 2, 3}}, Unclean: true})
	if _, err := c.AlterISR(AlterISRRequest{Topic: "t", Leader: 1, ISR: []NodeID{1}}); err != nil {
		t.Fatal(err)
	}
	c.NodeDown(1)
	p := c.Topic("t").Partitions[0]
	if p.Leader != 2 || !slices.Equal(p.ISR, []NodeID{2}) {
		t.Fatalf("unclean election: %+v, want leader 2 with ISR [2]", p)
	}
	// And an offline partition is brought back by any replica.
	c.NodeDown(2)
	c.NodeDown(3)
	if p := c.Topic("t").Partitions[0]; p.Leader != NoNode {
		t.Fatalf("with every node down: %+v", p)
	}
	c.NodeUp(3)
	if p := c.Topic("t").Partitions[0]; p.Leader != 3 || !slices.Equal(p.ISR, []NodeID{3}) {
		t.Fatalf("unclean election on node 3 coming up: %+v", p)
	}
}

// Rule 8.6.3: preferred leader election moves leadership back to the
// first replica when it is live and in sync, and says which partitions it
// could not move.
func TestRule8_6_3_PreferredLeader(t *testing.T) {
	c := newCluster(t, []NodeID{1, 2}, 1, 2)
	create(t, c, TopicSpec{Name: "t", Partitions: 2, ReplicationFactor: 2, Assignment: [][]NodeID{{1, 2}, {1, 2}}})
	c.NodeDown(1)
	c.NodeUp(1)
	// Partition 1's leader puts node 1 back in sync; partition 0's does not.
	p1 := c.Topic("t").Partitions[1]
	if _, err := c.AlterISR(AlterISRRequest{Topic: "t", Partition: 1, Leader: 2, LeaderEpoch: p1.LeaderEpoch, PartitionEpoch: p1.PartitionEpoch, ISR: []NodeID{2, 1}}); err != nil {
		t.Fatal(err)
	}
	ch, err := c.ElectPreferred("t", nil)
	if !errors.Is(err, ErrPreferredUnavailable) {
		t.Fatalf("ElectPreferred = %v, want ErrPreferredUnavailable for partition 0", err)
	}
	if !slices.Equal(ch.Partitions, []int32{1}) {
		t.Fatalf("moved %v, want [1]", ch.Partitions)
	}
	top := c.Topic("t")
	if top.Partitions[0].Leader != 2 || top.Partitions[1].Leader != 1 || top.Partitions[1].LeaderEpoch != p1.LeaderEpoch+1 {
		t.Fatalf("after preferred election: %+v", top.Partitions)
	}
	if !slices.Equal(top.Partitions[1].ISR, []NodeID{1, 2}) {
		t.Fatalf("ISR %v, want assignment order [1 2]", top.Partitions[1].ISR)
	}
}

// AlterISR is fenced by leader and both epochs: a delayed request from an
// earlier epoch changes nothing.
func TestAlterISRFencing(t *testing.T) {
	c := newCluster(t, []NodeID{1, 2, 3}, 1, 2, 3)
	create(t, c, TopicSpec{Name: "t", Partitions: 1, ReplicationFactor: 3, Assignment: [][]NodeID{{1, 2, 3}}})
	p := c.Topic("t").Partitions[0]
	ok := AlterISRRequest{Topic: "t", Leader: 1, LeaderEpoch: p.LeaderEpoch, PartitionEpoch: p.PartitionEpoch, ISR: []NodeID{1, 2}}
	c.NodeDown(3)
	c.NodeUp(3)
	for _, tc := range []struct {
		name string
		req  AlterISRRequest
		want error
	}{
		{"stale partition epoch", ok, ErrFenced},
		{"not the leader", AlterISRRequest{Topic: "t", Leader: 2, LeaderEpoch: 0, PartitionEpoch: 1, ISR: []NodeID{2}}, ErrFenced},
		{"stale leader epoch", AlterISRRequest{Topic: "t", Leader: 1, LeaderEpoch: -1, PartitionEpoch: 1, ISR: []NodeID{1}}, ErrFenced},
		{"leader left out", AlterISRRequest{Topic: "t", Leader: 1, PartitionEpoch: 1, ISR: []NodeID{2}}, ErrInvalid},
		{"not a replica", AlterISRRequest{Topic: "t", Leader: 1, PartitionEpoch: 1, ISR: []NodeID{1, 4}}, ErrInvalid},
		{"twice", AlterISRRequest{Topic: "t", Leader: 1, PartitionEpoch: 1, ISR: []NodeID{1, 2, 2}}, ErrInvalid},
		{"unknown topic", AlterISRRequest{Topic: "u"}, ErrUnknownTopic},
		{"unknown partition", AlterISRRequest{Topic: "t", Partition: 1}, ErrUnknownPartition},
	} {
		if _, err := c.AlterISR(tc.req); !errors.Is(err, tc.want) {
			t.Errorf("%s: AlterISR = %v, want %v", tc.name, err, tc.want)
		}
	}
	if p := c.Topic("t").Partitions[0]; p.PartitionEpoch != 1 || !slices.Equal(p.ISR, []NodeID{1, 2}) {
		t.Fatalf("refused requests changed the partition: %+v", p)
	}
	// Adding a node that is not live is refused (KIP-841).
	c.NodeDown(3)
	p = c.Topic("t").Partitions[0]
	if _, err := c.AlterISR(AlterISRRequest{Topic: "t", Leader: 1, LeaderEpoch: p.LeaderEpoch, PartitionEpoch: p.PartitionEpoch, ISR: []NodeID{1, 2, 3}}); !errors.Is(err, ErrIneligibleReplica) {
		t.Fatalf("adding a down node: %v, want ErrIneligibleReplica", err)
	}
}

func TestUnknownNodes(t *testing.T) {
	c := newCluster(t, []NodeID{1})
	if _, err := c.NodeUp(2); !errors.Is(err, ErrUnknownNode) {
		t.Errorf("NodeUp(2) = %v", err)
	}
	if _, err := c.NodeDown(2); !errors.Is(err, ErrUnknownNode) {
		t.Errorf("NodeDown(2) = %v", err)
	}
}

func TestDeleteTopic(t *testing.T) {
	c := newCluster(t, []NodeID{1}, 1)
	create(t, c, TopicSpec{Name: "t", Partitions: 1, ReplicationFactor: 1})
	if ch, err := c.DeleteTopic("t"); err != nil || !ch.Deleted {
		t.Fatalf("DeleteTopic = %+v, %v", ch, err)
	}
	if _, err := c.DeleteTopic("t"); !errors.Is(err, ErrUnknownTopic) {
		t.Fatalf("second DeleteTopic = %v", err)
	}
}

// Topic returns a copy: changing it does not change the cluster.
func TestTopicIsACopy(t *testing.T) {
	c := newCluster(t, []NodeID{1, 2}, 1, 2)
	top := create(t, c, TopicSpec{Name: "t", Partitions: 1, ReplicationFactor: 2})
	top.Partitions[0].ISR[0] = 99
	if c.Topic("t").Partitions[0].ISR[0] == 99 {
		t.Fatal("Topic's result aliases the cluster's record")
	}
}

func equalPartition(a, b Partition) bool {
	return slices.Equal(a.Replicas, b.Replicas) && a.Leader == b.Leader && a.LeaderEpoch == b.LeaderEpoch &&
		slices.Equal(a.ISR, b.ISR) && a.PartitionEpoch == b.PartitionEpoch
}
