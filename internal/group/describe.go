package group

import (
	"maps"
	"slices"
)

// Groups returns the names of the groups that have members, sorted.
func (c *Coordinator) Groups() []string {
	return slices.Sorted(maps.Keys(c.groups))
}

// Description is a group's membership at one moment.
type Description struct {
	Balancer string // the members' balancer
	Epoch    int32  // bumped by every rebalance
	Members  []MemberDescription
	Owners   map[Partition]string // the id of the member owning each owned partition
}

// MemberDescription is one member of a Description.
type MemberDescription struct {
	ID         string
	InstanceID string
	Topics     []string
	Target     []Partition // sorted
	Owned      []Partition // sorted
	Departed   bool        // a static member that closed, reserved until its SessionTimeout
}

// Describe returns group's membership, members in join order, and false
// if it has no members.
func (c *Coordinator) Describe(group string) (Description, bool) {
	g := c.groups[group]
	if g == nil {
		return Description{}, false
	}
	d := Description{Balancer: g.balancer.Name(), Epoch: g.epoch, Owners: make(map[Partition]string, len(g.owners))}
	for _, m := range g.sortedMembers() {
		d.Members = append(d.Members, MemberDescription{
			ID: m.id, InstanceID: m.instanceID, Topics: slices.Clone(m.topics), Departed: m.departed,
			Target: slices.SortedFunc(maps.Keys(m.target), Compare),
			Owned:  slices.SortedFunc(maps.Keys(m.owned), Compare),
		})
	}
	for p, m := range g.owners {
		d.Owners[p] = m.id
	}
	return d, true
}
