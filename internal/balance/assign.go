package balance

import "slices"

// Range is RangeAssignor's assignment: each topic on its own, its
// partitions in numeric order cut into consecutive ranges over the members
// subscribed to it, in member order, the first ones one larger. It returns
// each partition's member (see Group).
func (g *Group) Range() []int {
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
	return owner
}

// RoundRobin is RoundRobinAssignor's assignment: every partition, topic by
// topic in sorted order, to the next subscribed member in circular member
// order. It returns each partition's member (see Group).
func (g *Group) RoundRobin() []int {
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
	return owner
}

// Sticky is StickyAssignor's assignment, starting from the members'
// Owned partitions. It returns each
// partition's member (see Group), working on a flat array owner[p] (-1
// for unassigned) over all subscribed partitions in sorted order:
//
//  1. Every valid owned partition (of a topic the member subscribes to, within its partition count, and not claimed by an earlier member) starts with its owner.
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
func (g *Group) Sticky() []int {
	owner := make([]int, g.total)
	for p := range owner {
		owner[p] = -1
	}
	count := make([]int, len(g.ids))
	m := 0 // the member whose partitions claim visits; one closure for all
	claim := func(topic string, partition int32) {
		t, ok := g.topicIndex[topic]
		if !ok || partition < 0 || int(partition) >= g.counts[t] || !g.subscribes(m, t) {
			return
		}
		if p := g.base[t] + int(partition); owner[p] < 0 {
			owner[p] = m
			count[m]++
		}
	}
	for mm, i := range g.member {
		m = mm
		g.members.Owned(i, claim)
	}
	if g.homogeneous() {
		g.stickyHomogeneous(owner, count)
	} else {
		g.stickyHeterogeneous(owner, count)
	}
	return owner
}

// stickyHomogeneous completes owner when every member subscribes to every
// topic: step 2 of Sticky.
func (g *Group) stickyHomogeneous(owner, count []int) {
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
// Sticky.
func (g *Group) stickyHeterogeneous(owner, count []int) {
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
