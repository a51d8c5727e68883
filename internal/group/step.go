package group

import (
	"maps"
	"slices"
)

// Step is the next thing a member must do to converge on its target:
// give up Revoke (its consumer commits, calls OnRevoked, then Release),
// or start consuming Gain, which it owns from now on. Epoch is the group
// epoch the step belongs to.
type Step struct {
	Revoke []Partition
	Gain   []Partition
	Epoch  int32
}

// NextStep returns m's next step, or an empty step when m owns its target
// (or waits for partitions other members have not released yet). lost
// lists partitions m no longer owns without having revoked them: with a
// *FencedError, everything it owned (it was removed from the group, and
// other members may own them now); without, partitions of deleted topics.
// Each loss is reported once. Partitions are sorted.
//
// A cooperative member revokes only what left its target and gains what
// its target adds as soon as each partition is free. An eager member
// first revokes everything it owns at each new epoch, then gains its
// whole target at once, when no other member owns any of it.
func (c *Coordinator) NextStep(m *Member) (st Step, lost []Partition, err error) {
	if m.fenced != nil {
		lost = slices.SortedFunc(maps.Keys(m.owned), Compare)
		m.owned = map[Partition]bool{}
		return Step{}, lost, m.fenced
	}
	if len(m.dropped) > 0 {
		lost, m.dropped = m.dropped, nil
		slices.SortFunc(lost, Compare)
		return Step{}, lost, nil
	}
	if m.left {
		return Step{}, nil, nil
	}
	g := m.g
	st.Epoch = g.epoch
	if g.balancer.Cooperative() || m.revokedEpoch == g.epoch {
		for p := range m.owned {
			if !m.target[p] {
				st.Revoke = append(st.Revoke, p)
			}
		}
	} else {
		st.Revoke = slices.Collect(maps.Keys(m.owned))
		if len(st.Revoke) == 0 {
			m.revokedEpoch = g.epoch
		}
	}
	if len(st.Revoke) > 0 {
		slices.SortFunc(st.Revoke, Compare)
		return st, nil, nil
	}
	var pending int
	for p := range m.target {
		switch {
		case m.owned[p]:
		case g.owners[p] == nil:
			st.Gain = append(st.Gain, p)
		default:
			pending++
		}
	}
	if pending > 0 && !g.balancer.Cooperative() {
		st.Gain = nil // eager: take the whole target at once
	}
	for _, p := range st.Gain {
		g.owners[p] = m
		m.owned[p] = true
	}
	if pending == 0 {
		m.epoch = g.epoch
	}
	slices.SortFunc(st.Gain, Compare)
	return st, nil, nil
}

// HasWork reports whether m has a step to take or a loss to learn: what
// NextStep would return is not empty.
func (c *Coordinator) HasWork(m *Member) bool {
	if m.fenced != nil || len(m.dropped) > 0 {
		return true
	}
	if m.left {
		return false
	}
	g := m.g
	if !g.balancer.Cooperative() && m.revokedEpoch < g.epoch {
		return true
	}
	for p := range m.owned {
		if !m.target[p] {
			return true
		}
	}
	for p := range m.target {
		if !m.owned[p] && g.owners[p] == nil {
			return true
		}
	}
	return false
}

// Converged reports whether m has taken every step towards its target at
// the group's current epoch: it gives up nothing more and waits for
// nothing more (NextStep records the epoch it converged on).
func (c *Coordinator) Converged(m *Member) bool {
	return m.fenced == nil && !m.left && m.epoch == m.g.epoch
}

// Leaving returns, as m's consumer closes, the partitions m owns, or, if
// m was removed from the group, what it lost and why. Leave follows.
func (c *Coordinator) Leaving(m *Member) (owned, lost []Partition, fenced error) {
	all := slices.SortedFunc(maps.Keys(m.owned), Compare)
	if m.fenced != nil {
		m.owned = map[Partition]bool{}
		return nil, all, m.fenced
	}
	return all, nil, nil
}

// Release gives up ps, which m's consumer has revoked (committed and
// called OnRevoked for) in the step of epoch, and wakes the members whose
// target holds one of them. A fenced member's partitions were freed when
// it was removed, and a member that left has none.
func (c *Coordinator) Release(m *Member, ps []Partition, epoch int32) {
	if m.fenced != nil || m.left {
		return
	}
	g := m.g
	for _, p := range ps {
		if m.owned[p] {
			delete(m.owned, p)
			delete(g.owners, p)
		}
	}
	if !g.balancer.Cooperative() && len(m.owned) == 0 && m.revokedEpoch < epoch {
		m.revokedEpoch = epoch
	}
	g.wakeTargets(m, ps)
}

// Target returns m's target assignment, sorted.
func (c *Coordinator) Target(m *Member) []Partition {
	return slices.SortedFunc(maps.Keys(m.target), Compare)
}
