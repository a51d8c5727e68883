package group

import (
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestBalancerSeesPreviousTargetsAndExistingTopics(t *testing.T) {
	var calls [][]BalanceMember
	var counts []map[string]int32
	rec := recordingBalancer{Balancer: cooperative, balance: func(ms []BalanceMember, c map[string]int32) {
		calls = append(calls, ms)
		counts = append(counts, c)
	}}
	h := newHarness(t, map[string]int32{"t": 2})
	a := h.mustJoin(member{balancer: rec, topics: []string{"t", "gone"}})
	b := h.mustJoin(member{balancer: rec, instance: "i1"})
	require.Len(t, calls, 2)
	require.Equal(t, []BalanceMember{{ID: a.ID(), Topics: []string{"t", "gone"}}}, calls[0])
	require.Equal(t, []BalanceMember{
		{ID: a.ID(), Topics: []string{"t", "gone"}, Owned: parts("t", 0, 1)},
		{ID: b.ID(), InstanceID: "i1", Topics: []string{"t"}},
	}, calls[1], "join order, with each member's previous target")
	require.Equal(t, map[string]int32{"t": 2}, counts[1], "only topics that exist")
}

type recordingBalancer struct {
	Balancer
	balance func([]BalanceMember, map[string]int32)
}

func (b recordingBalancer) Balance(ms []BalanceMember, counts map[string]int32) map[string][]Partition {
	b.balance(ms, counts)
	return b.Balancer.Balance(ms, counts)
}

func TestPartitionStringAndOrder(t *testing.T) {
	require.Equal(t, "orders-12", Partition{"orders", 12}.String())
	ps := []Partition{{"b", 0}, {"a", 10}, {"a", 9}, {"a-1", 0}}
	slices.SortFunc(ps, Compare)
	require.Equal(t, []Partition{{"a", 9}, {"a", 10}, {"a-1", 0}, {"b", 0}}, ps)
	require.Zero(t, Compare(Partition{"a", 1}, Partition{"a", 1}))
}
