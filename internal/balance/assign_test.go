package balance

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// members is a Members of Member values.
type members []Member

// Member is one member of a test's group.
type Member struct {
	ID     string
	Topics []string
	Owned  []Partition
}

// Partition names a partition of a topic.
type Partition struct {
	Topic     string
	Partition int32
}

func (ms members) Len() int              { return len(ms) }
func (ms members) ID(i int) string       { return ms[i].ID }
func (ms members) Topics(i int) []string { return ms[i].Topics }
func (ms members) Owned(i int, visit func(string, int32)) {
	for _, p := range ms[i].Owned {
		visit(p.Topic, p.Partition)
	}
}

// owners returns Result's view of owner as member id -> "topic-partition"s.
func owners(g *Group, owner []int) map[string][]Partition {
	return Result(g, owner, func(topic string, partition int32) Partition { return Partition{topic, partition} })
}

func TestRangeCutsEachTopicIntoConsecutiveRanges(t *testing.T) {
	g := NewGroup(members{{ID: "a", Topics: []string{"t"}}, {ID: "b", Topics: []string{"t"}}}, map[string]int32{"t": 5})
	require.Equal(t, map[string][]Partition{
		"a": {{"t", 0}, {"t", 1}, {"t", 2}},
		"b": {{"t", 3}, {"t", 4}},
	}, owners(g, g.Range()))
}

func TestRoundRobinDealsPartitionsInMemberOrder(t *testing.T) {
	g := NewGroup(members{{ID: "a", Topics: []string{"t", "u"}}, {ID: "b", Topics: []string{"t", "u"}}}, map[string]int32{"t": 2, "u": 1})
	require.Equal(t, map[string][]Partition{
		"a": {{"t", 0}, {"u", 0}},
		"b": {{"t", 1}},
	}, owners(g, g.RoundRobin()))
}

func TestStickyKeepsValidOwnershipAndBalances(t *testing.T) {
	ms := []Member{
		// a owns too many, a partition past the count and one of a topic it
		// does not subscribe to: it keeps two valid ones.
		{ID: "a", Topics: []string{"t"}, Owned: []Partition{{"t", 0}, {"t", 1}, {"t", 2}, {"t", 9}, {"u", 0}}},
		{ID: "b", Topics: []string{"t"}, Owned: []Partition{{"t", 2}}}, // claimed by a first
		{ID: "c", Topics: []string{"t"}},
	}
	g := NewGroup(members(ms), map[string]int32{"t": 6})
	got := owners(g, g.Sticky())
	for id, ps := range got {
		require.Len(t, ps, 2, "member %s: every member gets 6/3", id)
	}
	require.Subset(t, got["a"], []Partition{{"t", 0}, {"t", 1}}, "a keeps what it owned, up to its quota")
}

func TestNewGroupCountsARepeatedIDOnceAndSkipsEmptyTopics(t *testing.T) {
	g := NewGroup(members{
		{ID: "a", Topics: []string{"t", "empty"}},
		{ID: "a", Topics: []string{"u"}},
	}, map[string]int32{"t": 2, "u": 3, "empty": 0})
	got := owners(g, g.Range())
	require.Equal(t, map[string][]Partition{"a": {{"t", 0}, {"t", 1}}}, got, "the first member with an id counts; topics without partitions have none")
}
