// Package balance holds the assignment algorithms of commitlog's built-in
// group balancers (Kafka's RangeAssignor, RoundRobinAssignor and
// StickyAssignor) as pure functions over a numbered view of one Balance
// call, Group. The public Balancer types convert their arguments to it and
// its result back; nothing here knows the public API.
package balance

import "slices"

// Members is what the algorithms know of a group's members, by index in
// the order of the Balance call: each one's id, subscribed topics, and the
// partitions it owns now (the input for stickiness; invalid ones are
// ignored), which Owned visits.
type Members interface {
	Len() int
	ID(i int) string
	Topics(i int) []string
	Owned(i int, visit func(topic string, partition int32))
}

// Group is the normalized view of a Balance call that the built-in
// balancers share. Members and topics are numbered: member m is the m-th
// distinct id in the given order, topic t the t-th in sorted order of the
// subscribed topics with at least one partition. The group's partitions are
// numbered too, topic by topic in sorted order: partition i of topic t is
// base[t]+i.
type Group struct {
	members     Members        // as given to NewGroup
	ids         []string       // ids[m] is member m's id
	member      []int          // member[m] is member m's index in the members argument
	subs        [][]int        // subs[m] are the topics member m subscribes to, ascending
	topics      []string       // topics[t] is topic t's name
	topicIndex  map[string]int // topicIndex[topics[t]] == t
	counts      []int          // counts[t] is topic t's partition count, >= 1
	base        []int          // base[t] is the number of topic t's partition 0
	subscribers [][]int        // subscribers[t] are the members subscribed to topic t, ascending, never empty
	total       int            // the number of partitions
}

// NewGroup numbers members (in the given order; a repeated id counts once,
// its first member) and the subscribed topics with at least one partition
// (sorted), as Group says.
func NewGroup(members Members, partitions map[string]int32) *Group {
	g := &Group{members: members, topicIndex: make(map[string]int)}
	seen := make(map[string]bool, members.Len())
	for i := range members.Len() {
		id := members.ID(i)
		if seen[id] {
			continue
		}
		seen[id] = true
		g.ids = append(g.ids, id)
		g.member = append(g.member, i)
		for _, topic := range members.Topics(i) {
			if _, ok := g.topicIndex[topic]; !ok && partitions[topic] > 0 {
				g.topicIndex[topic] = 0
				g.topics = append(g.topics, topic)
			}
		}
	}
	slices.Sort(g.topics)
	g.counts = make([]int, len(g.topics))
	g.base = make([]int, len(g.topics))
	for t, topic := range g.topics {
		g.topicIndex[topic] = t
		g.counts[t] = int(partitions[topic])
		g.base[t] = g.total
		g.total += g.counts[t]
	}
	g.subs = make([][]int, len(g.ids))
	g.subscribers = make([][]int, len(g.topics))
	for m, i := range g.member {
		topics := members.Topics(i)
		subs := make([]int, 0, len(topics))
		for _, topic := range topics {
			if t, ok := g.topicIndex[topic]; ok {
				subs = append(subs, t)
			}
		}
		slices.Sort(subs)
		g.subs[m] = slices.Compact(subs)
		for _, t := range g.subs[m] {
			g.subscribers[t] = append(g.subscribers[t], m)
		}
	}
	return g
}

// subscribes reports whether member m subscribes to topic t.
func (g *Group) subscribes(m, t int) bool {
	_, ok := slices.BinarySearch(g.subs[m], t)
	return ok
}

// homogeneous reports whether every member subscribes to every topic.
func (g *Group) homogeneous() bool {
	for _, subs := range g.subs {
		if len(subs) != len(g.topics) {
			return false
		}
	}
	return true
}

// Result turns owner, which maps every partition to its member, into a
// Balance result: every id present, each member's partitions sorted (by
// topic, then partition), empty slices non-nil; mk makes a result element
// of a topic and partition. The slices share one array but have their
// capacity capped, so appending to one never overwrites another.
func Result[P any](g *Group, owner []int, mk func(topic string, partition int32) P) map[string][]P {
	n := make([]int, len(g.ids))
	for _, m := range owner {
		n[m]++
	}
	all := make([]P, g.total)
	out := make(map[string][]P, len(g.ids))
	start := 0
	for m, id := range g.ids {
		out[id] = all[start : start : start+n[m]]
		start += n[m]
	}
	for t, topic := range g.topics {
		for i := range g.counts[t] {
			id := g.ids[owner[g.base[t]+i]]
			out[id] = append(out[id], mk(topic, int32(i)))
		}
	}
	return out
}
