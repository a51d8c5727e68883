package group

import "fmt"

// CheckCommit decides whether a commit of ps for group may be written: m
// must own every partition of ps at this moment, or, with m nil (a
// committer without membership), group must have no members. Its owner
// writes the commit in the same serialized step (see Coordinator).
//
// Errors: ErrClosed, ErrGroupNotEmpty, *FencedError (m was removed from
// the group, or a partition is not assigned to it).
func (c *Coordinator) CheckCommit(group string, m *Member, ps []Partition) error {
	if c.closed {
		return ErrClosed
	}
	if m == nil {
		if g := c.groups[group]; g != nil && len(g.members) > 0 {
			return fmt.Errorf("%w: group %q has %d members; a consumer without membership may commit only for an empty group",
				ErrGroupNotEmpty, group, len(g.members))
		}
		return nil
	}
	if m.fenced != nil {
		return m.fenced
	}
	for _, p := range ps {
		if !m.owned[p] {
			return &FencedError{Group: group, MemberID: m.id,
				Reason: fmt.Sprintf("partition %v is not assigned to this member (it was revoked or never assigned)", p)}
		}
	}
	return nil
}
