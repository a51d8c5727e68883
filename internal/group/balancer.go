package group

import (
	"cmp"
	"strconv"
	"strings"
)

// Partition names one partition of one topic. It has the fields of the
// root's TopicPartition, so the two convert into each other with a type
// conversion at the boundary.
type Partition struct {
	Topic     string
	Partition int32
}

// String returns "topic-partition", Kafka's usual spelling.
func (p Partition) String() string { return p.Topic + "-" + strconv.Itoa(int(p.Partition)) }

// Compare orders partitions by topic, then partition number.
func Compare(a, b Partition) int {
	if c := strings.Compare(a.Topic, b.Topic); c != 0 {
		return c
	}
	return cmp.Compare(a.Partition, b.Partition)
}

// BalanceMember is what a Balancer knows about one member of a group.
type BalanceMember struct {
	ID         string
	InstanceID string // "" for a dynamic member
	Topics     []string
	// Owned is the member's previous target, the input for stickiness.
	Owned []Partition
}

// Balancer computes a group's target assignment. The root supplies it,
// wrapping the group's public Balancer.
type Balancer interface {
	// Name identifies the balancer: the members of a group must all use
	// the same one.
	Name() string
	// Cooperative reports whether members keep the partitions that do not
	// move during a rebalance; otherwise (eager) every member gives up
	// all its partitions at each new epoch and takes its whole target
	// back at once.
	Cooperative() bool
	// Balance returns each member's partitions. members are sorted by
	// join order, their Topics and Owned are the Balancer's to keep, and
	// partitions maps each subscribed topic that exists to its partition
	// count. The result must be valid: each partition of every subscribed
	// topic assigned to exactly one member that subscribes to its topic
	// (the root checks its user's Balancer and falls back to a valid
	// assignment). A member missing from the result is assigned nothing.
	Balance(members []BalanceMember, partitions map[string]int32) map[string][]Partition
}
