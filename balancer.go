package commitlog

import (
	"fmt"
	"slices"
	"strings"
)

// BalancerMember is what a Balancer knows about one member of a group.
type BalancerMember struct {
	// ID is the member id, unique in the group.
	ID string
	// InstanceID is the static membership id (KIP-345); "" for a dynamic member.
	InstanceID string
	// Topics are the subscribed topics, sorted, without duplicates. The built-in
	// balancers tolerate unsorted or duplicated names and treat them as a set.
	Topics []string
	// Owned are the partitions the member owns now, the input for stickiness. It
	// may include partitions of topics the member no longer subscribes to, of
	// topics or partitions that no longer exist, or that another member also
	// lists; balancers must tolerate all of these.
	Owned []TopicPartition
}

// Balancer assigns a group's partitions to its members. The group's
// coordinator calls Balance serially (never concurrently for one group)
// whenever membership or subscriptions change.
type Balancer interface {
	// Name identifies the balancer, e.g. "range".
	Name() string
	// Cooperative reports whether members keep the partitions that do not
	// move during a rebalance (incremental, KIP-429); otherwise every member
	// gives up all its partitions at the start of each rebalance (eager).
	Cooperative() bool
	// Balance returns each member's partitions. The coordinator passes
	// members sorted: static members (InstanceID set) first, by InstanceID
	// and then ID, then dynamic members by ID, IDs and InstanceIDs compared
	// as strings. partitions maps each subscribed topic to its partition
	// count.
	//
	// Every partition of every topic some member subscribes to must be
	// assigned to exactly one member subscribed to that topic. The result
	// must be a deterministic function of the arguments. Balance must not
	// retain or modify its arguments; the returned slices are owned by the
	// caller. The coordinator checks the result: an invalid one is logged
	// (at Error, on Options.Logger) and that rebalance uses RangeBalancer's
	// assignment instead.
	//
	// The built-in balancers return a non-nil map with an entry for every
	// member id; a member that gets nothing maps to an empty, non-nil slice.
	// Each member's partitions are sorted by topic, then partition. They
	// never panic: a topic missing from partitions or with a count <= 0 has
	// no partitions, a member without topics gets nothing, and if an id
	// occurs more than once only its first member is used.
	Balance(members []BalancerMember, partitions map[string]int32) map[string][]TopicPartition
}

// RangeBalancer returns the eager "range" balancer (Kafka's RangeAssignor).
// Each topic is balanced on its own: its partitions, in numeric order, are cut
// into consecutive ranges over the members subscribed to it, in member order.
// With P partitions and N subscribers each member gets P/N partitions and the
// first P%N members one more. For example, members C0 and C1 both subscribed
// to t0 and t1 with 3 partitions each get C0=[t0-0 t0-1 t1-0 t1-1] and
// C1=[t0-2 t1-2].
func RangeBalancer() Balancer { return rangeBalancer{} }

// RoundRobinBalancer returns the eager "roundrobin" balancer (Kafka's
// RoundRobinAssignor). All subscribed partitions, sorted by topic and
// partition, are dealt over the members in order with a circular iterator:
// for each partition the iterator advances to the next member subscribed to
// the partition's topic, which gets it, and then moves past that member. For
// the example of RangeBalancer the result is C0=[t0-0 t0-2 t1-1] and
// C1=[t0-1 t1-0 t1-2].
func RoundRobinBalancer() Balancer { return roundRobinBalancer{} }

// StickyBalancer returns the eager "sticky" balancer (Kafka's
// StickyAssignor). Its goals, in priority order:
//
//  1. Balance: no partition could move from its member, holding a
//     partitions, to another member subscribed to its topic holding b
//     partitions with a > b+1. With identical subscriptions the members'
//     counts differ by at most one.
//  2. Stickiness: subject to 1, members keep as many of the partitions in
//     their Owned as possible. An owned partition counts only if it exists,
//     the member subscribes to its topic, and no earlier member (in the
//     given order) claims it too.
//
// With identical subscriptions the result keeps as many owned partitions as
// any balanced assignment can. With different subscriptions stickiness is
// greedy: partitions move only to restore balance, one at a time, but the
// number of moves is not minimized.
func StickyBalancer() Balancer { return stickyBalancer{} }

// CooperativeStickyBalancer returns the "cooperative-sticky" balancer
// (Kafka's CooperativeStickyAssignor). It assigns exactly like
// StickyBalancer but reports Cooperative, so members keep their partitions
// that do not move across a rebalance.
func CooperativeStickyBalancer() Balancer { return stickyBalancer{cooperative: true} }

type rangeBalancer struct{}

func (rangeBalancer) Name() string      { return "range" }
func (rangeBalancer) Cooperative() bool { return false }

func (rangeBalancer) Balance(members []BalancerMember, partitions map[string]int32) map[string][]TopicPartition {
	g := newBalanceGroup(members, partitions)
	owner := make([]int, g.total)
	for t, subs := range g.subscribers {
		n := len(subs)
		per, extra := g.counts[t]/n, g.counts[t]%n
		p := g.base[t]
		for i, m := range subs {
			size := per
			if i < extra {
				size++
			}
			for end := p + size; p < end; p++ {
				owner[p] = m
			}
		}
	}
	return g.result(owner)
}

type roundRobinBalancer struct{}

func (roundRobinBalancer) Name() string      { return "roundrobin" }
func (roundRobinBalancer) Cooperative() bool { return false }

func (roundRobinBalancer) Balance(members []BalancerMember, partitions map[string]int32) map[string][]TopicPartition {
	g := newBalanceGroup(members, partitions)
	owner := make([]int, g.total)
	next := 0 // the circular iterator: the next member to consider
	for t := range g.topics {
		// Every topic in g.topics has at least one subscriber, so the inner
		// loop ends within len(g.ids) steps.
		for p := g.base[t]; p < g.base[t]+g.counts[t]; p++ {
			for !g.subscribes(next, t) {
				next = (next + 1) % len(g.ids)
			}
			owner[p] = next
			next = (next + 1) % len(g.ids)
		}
	}
	return g.result(owner)
}

type stickyBalancer struct{ cooperative bool }

func (b stickyBalancer) Name() string {
	if b.cooperative {
		return "cooperative-sticky"
	}
	return "sticky"
}

func (b stickyBalancer) Cooperative() bool { return b.cooperative }

// Balance works on a flat array owner[p] (-1 for unassigned) over all
// subscribed partitions in sorted order:
//
//  1. Every valid owned partition (see StickyBalancer) starts with its owner.
//  2. With identical subscriptions (homogeneous), members get quotas: P/N,
//     and P/N+1 for P%N of them, preferring the members that own the most
//     (ties: member order). Members over quota give up their highest-sorted
//     partitions, then the unassigned partitions, in sorted order, go to the
//     member with the fewest (ties: member order). This keeps the most owned
//     partitions that any balanced assignment can keep.
//  3. Otherwise (heterogeneous), the unassigned partitions, in sorted order,
//     go to the eligible member with the fewest (ties: member order). Then,
//     while goal 1 is violated, one partition moves: the giver is the
//     most-loaded member (ties: member order) holding a partition that an
//     eligible member with at least two fewer could take; of its topics with
//     such a receiver it picks the one whose least-loaded subscriber holds
//     the fewest (ties: topic order), and gives its highest-numbered
//     partition of that topic to that topic's least-loaded subscriber (ties:
//     member order). Each move lowers the sum of the squared counts by at
//     least 2, so the loop ends, and it ends only when goal 1 holds.
func (b stickyBalancer) Balance(members []BalancerMember, partitions map[string]int32) map[string][]TopicPartition {
	g := newBalanceGroup(members, partitions)
	owner := make([]int, g.total)
	for p := range owner {
		owner[p] = -1
	}
	count := make([]int, len(g.ids))
	for m, i := range g.member {
		for _, tp := range members[i].Owned {
			t, ok := g.topicIndex[tp.Topic]
			if !ok || tp.Partition < 0 || int(tp.Partition) >= g.counts[t] || !g.subscribes(m, t) {
				continue
			}
			if p := g.base[t] + int(tp.Partition); owner[p] < 0 {
				owner[p] = m
				count[m]++
			}
		}
	}
	if g.homogeneous() {
		stickyHomogeneous(g, owner, count)
	} else {
		stickyHeterogeneous(g, owner, count)
	}
	return g.result(owner)
}

// stickyHomogeneous completes owner when every member subscribes to every
// topic: step 2 of stickyBalancer.Balance.
func stickyHomogeneous(g *balanceGroup, owner, count []int) {
	n := len(g.ids)
	if n == 0 || g.total == 0 {
		return
	}
	quota := make([]int, n)
	byOwned := make([]int, n)
	for m := range byOwned {
		byOwned[m] = m
		quota[m] = g.total / n
	}
	slices.SortFunc(byOwned, func(a, b int) int {
		if count[a] != count[b] {
			return count[b] - count[a]
		}
		return a - b
	})
	for _, m := range byOwned[:g.total%n] {
		quota[m]++
	}
	for p := len(owner) - 1; p >= 0; p-- {
		if m := owner[p]; m >= 0 && count[m] > quota[m] {
			owner[p] = -1
			count[m]--
		}
	}
	h := memberHeap{count: count}
	for m := range n {
		h.push(m)
	}
	for p, m := range owner {
		if m >= 0 {
			continue
		}
		m = h.pop()
		owner[p] = m
		count[m]++
		h.push(m)
	}
}

// memberHeap is a binary min-heap of member indexes ordered by (count,
// index). The count of a member must not change while it is in the heap.
type memberHeap struct {
	items []int
	count []int
}

func (h *memberHeap) less(i, j int) bool {
	a, b := h.items[i], h.items[j]
	if h.count[a] != h.count[b] {
		return h.count[a] < h.count[b]
	}
	return a < b
}

func (h *memberHeap) push(m int) {
	h.items = append(h.items, m)
	for i := len(h.items) - 1; i > 0; {
		parent := (i - 1) / 2
		if !h.less(i, parent) {
			break
		}
		h.items[i], h.items[parent] = h.items[parent], h.items[i]
		i = parent
	}
}

func (h *memberHeap) pop() int {
	top := h.items[0]
	last := len(h.items) - 1
	h.items[0] = h.items[last]
	h.items = h.items[:last]
	for i := 0; ; {
		smallest, l, r := i, 2*i+1, 2*i+2
		if l < last && h.less(l, smallest) {
			smallest = l
		}
		if r < last && h.less(r, smallest) {
			smallest = r
		}
		if smallest == i {
			break
		}
		h.items[i], h.items[smallest] = h.items[smallest], h.items[i]
		i = smallest
	}
	return top
}

// stickyHeterogeneous completes owner for arbitrary subscriptions: step 3 of
// stickyBalancer.Balance.
func stickyHeterogeneous(g *balanceGroup, owner, count []int) {
	// firstWith returns the first subscriber of topic t holding c partitions.
	firstWith := func(t, c int) int {
		for _, m := range g.subscribers[t] {
			if count[m] == c {
				return m
			}
		}
		return -1 // unreachable: callers pass a count some subscriber holds
	}
	// minCount[t] is the fewest partitions a subscriber of topic t holds, and
	// atMin[t] how many of its subscribers hold that many.
	minCount := make([]int, len(g.topics))
	atMin := make([]int, len(g.topics))
	scan := func(t int) {
		minCount[t], atMin[t] = count[g.subscribers[t][0]], 0
		for _, m := range g.subscribers[t] {
			switch c := count[m]; {
			case c < minCount[t]:
				minCount[t], atMin[t] = c, 1
			case c == minCount[t]:
				atMin[t]++
			}
		}
	}
	// dec and inc record that member m's count has just gone down or up by
	// one. inc rescans only a topic whose last least-loaded subscriber was m.
	dec := func(m int) {
		c := count[m]
		for _, t := range g.subs[m] {
			switch {
			case c < minCount[t]:
				minCount[t], atMin[t] = c, 1
			case c == minCount[t]:
				atMin[t]++
			}
		}
	}
	inc := func(m int) {
		for _, t := range g.subs[m] {
			if count[m]-1 == minCount[t] {
				if atMin[t]--; atMin[t] == 0 {
					scan(t)
				}
			}
		}
	}

	for t := range g.topics {
		scan(t)
	}
	for t := range g.topics {
		for p := g.base[t]; p < g.base[t]+g.counts[t]; p++ {
			if owner[p] < 0 {
				m := firstWith(t, minCount[t])
				owner[p] = m
				count[m]++
				inc(m)
			}
		}
	}

	// held[m][k] counts the partitions member m holds of topic g.subs[m][k];
	// members hold partitions only of topics they subscribe to.
	held := make([][]int, len(g.ids))
	for m := range held {
		held[m] = make([]int, len(g.subs[m]))
	}
	for t := range g.topics {
		for p := g.base[t]; p < g.base[t]+g.counts[t]; p++ {
			m := owner[p]
			k, _ := slices.BinarySearch(g.subs[m], t)
			held[m][k]++
		}
	}
	// bestMove returns member m's best move: the topic (as an index into
	// g.subs[m]) whose least-loaded subscriber holds the fewest (ties: topic
	// order), if that subscriber holds at least two fewer than m; k is -1 if
	// m has no move.
	bestMove := func(m int) (k int) {
		k = -1
		limit := count[m] - 1 // a receiver must hold fewer than limit
		for i, t := range g.subs[m] {
			if held[m][i] > 0 && minCount[t] < limit {
				k, limit = i, minCount[t]
			}
		}
		return k
	}
	for {
		from, k := -1, -1
		for m := range g.ids {
			if from >= 0 && count[m] <= count[from] {
				continue
			}
			if i := bestMove(m); i >= 0 {
				from, k = m, i
			}
		}
		if from < 0 {
			return
		}
		t := g.subs[from][k]
		to := firstWith(t, minCount[t])
		p := g.base[t] + g.counts[t] - 1
		for owner[p] != from {
			p--
		}
		owner[p] = to
		held[from][k]--
		j, _ := slices.BinarySearch(g.subs[to], t)
		held[to][j]++
		count[from]--
		dec(from)
		count[to]++
		inc(to)
	}
}

// balanceGroup is the normalized view of a Balance call that the built-in
// balancers share. Members and topics are numbered: member m is the m-th
// distinct id in the given order, topic t the t-th in sorted order of the
// subscribed topics with at least one partition. The group's partitions are
// numbered too, topic by topic in sorted order: partition i of topic t is
// base[t]+i.
type balanceGroup struct {
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

func newBalanceGroup(members []BalancerMember, partitions map[string]int32) *balanceGroup {
	g := &balanceGroup{topicIndex: make(map[string]int)}
	seen := make(map[string]bool, len(members))
	for i, bm := range members {
		if seen[bm.ID] {
			continue
		}
		seen[bm.ID] = true
		g.ids = append(g.ids, bm.ID)
		g.member = append(g.member, i)
		for _, topic := range bm.Topics {
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
		subs := make([]int, 0, len(members[i].Topics))
		for _, topic := range members[i].Topics {
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
func (g *balanceGroup) subscribes(m, t int) bool {
	_, ok := slices.BinarySearch(g.subs[m], t)
	return ok
}

// homogeneous reports whether every member subscribes to every topic.
func (g *balanceGroup) homogeneous() bool {
	for _, subs := range g.subs {
		if len(subs) != len(g.topics) {
			return false
		}
	}
	return true
}

// result turns owner, which maps every partition to its member, into
// Balance's result: every id present, each member's partitions sorted, empty
// slices non-nil. The slices share one array but have their capacity capped,
// so appending to one never overwrites another.
func (g *balanceGroup) result(owner []int) map[string][]TopicPartition {
	n := make([]int, len(g.ids))
	for _, m := range owner {
		n[m]++
	}
	all := make([]TopicPartition, g.total)
	out := make(map[string][]TopicPartition, len(g.ids))
	start := 0
	for m, id := range g.ids {
		out[id] = all[start : start : start+n[m]]
		start += n[m]
	}
	for t, topic := range g.topics {
		for i := range g.counts[t] {
			id := g.ids[owner[g.base[t]+i]]
			out[id] = append(out[id], TopicPartition{Topic: topic, Partition: int32(i)})
		}
	}
	return out
}

// sortBalancerMembers sorts ms into the order in which the coordinator passes
// members to Balance: static members (InstanceID != "") first, by InstanceID
// and then ID, followed by dynamic members by ID. The sort is stable.
func sortBalancerMembers(ms []BalancerMember) {
	slices.SortStableFunc(ms, func(a, b BalancerMember) int {
		if aStatic, bStatic := a.InstanceID != "", b.InstanceID != ""; aStatic != bStatic {
			if aStatic {
				return -1
			}
			return 1
		}
		if c := strings.Compare(a.InstanceID, b.InstanceID); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
}

// checkAssignment verifies the result got of b.Balance(members, partitions):
// every partition of every subscribed topic (with a count > 0) assigned
// exactly once, only to members subscribed to its topic, only to known member
// ids, and only partitions in [0, count). A member missing from got counts as
// assigned nothing; if an id occurs more than once in members, its first
// member's subscriptions apply. It returns nil if got is valid and otherwise
// an error wrapping ErrInvalidArgument that names the balancer and the first
// problem found, checking members in the given order and their partitions in
// the order got lists them, then missing partitions in sorted order.
func checkAssignment(b Balancer, members []BalancerMember, partitions map[string]int32, got map[string][]TopicPartition) error {
	name := "<nil>"
	if b != nil {
		name = b.Name()
	}
	fail := func(format string, args ...any) error {
		return fmt.Errorf("%w: balancer %q: %s", ErrInvalidArgument, name, fmt.Sprintf(format, args...))
	}

	known := make(map[string]int, len(members)) // id -> index in members of its first member
	for i, bm := range members {
		if _, ok := known[bm.ID]; !ok {
			known[bm.ID] = i
		}
	}
	ids := make([]string, 0, len(got))
	for id := range got {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		if _, ok := known[id]; !ok {
			return fail("assigned %d partitions to unknown member %q", len(got[id]), id)
		}
	}

	assignedTo := make(map[TopicPartition]string)
	for i, bm := range members {
		if known[bm.ID] != i {
			continue
		}
		for _, tp := range got[bm.ID] {
			if !slices.Contains(bm.Topics, tp.Topic) {
				return fail("assigned %s to member %q, which does not subscribe to topic %q", tp, bm.ID, tp.Topic)
			}
			if n := partitions[tp.Topic]; tp.Partition < 0 || tp.Partition >= n {
				return fail("assigned %s to member %q, but topic %q has %d partitions", tp, bm.ID, tp.Topic, max(n, 0))
			}
			if prev, dup := assignedTo[tp]; dup {
				return fail("assigned %s to both member %q and member %q", tp, prev, bm.ID)
			}
			assignedTo[tp] = bm.ID
		}
	}

	var topics []string
	for i, bm := range members {
		if known[bm.ID] == i {
			topics = append(topics, bm.Topics...)
		}
	}
	slices.Sort(topics)
	for _, topic := range slices.Compact(topics) {
		for p := range max(partitions[topic], 0) {
			tp := TopicPartition{Topic: topic, Partition: p}
			if _, ok := assignedTo[tp]; !ok {
				return fail("did not assign %s", tp)
			}
		}
	}
	return nil
}
