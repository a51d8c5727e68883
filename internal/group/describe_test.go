package group

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestDescribeReportsTargetsAndOwners(t *testing.T) {
	h := newHarness(t, map[string]int32{"t": 2})
	a := h.mustJoin(member{})
	h.converge(a)
	b := h.mustJoin(member{instance: "i1"})
	d, ok := h.c.Describe("g")
	require.True(t, ok)
	require.Equal(t, Description{
		Balancer: "coop", Epoch: 2,
		Members: []MemberDescription{
			{ID: a.ID(), Topics: []string{"t"}, Target: parts("t", 0), Owned: parts("t", 0, 1)},
			{ID: b.ID(), InstanceID: "i1", Topics: []string{"t"}, Target: parts("t", 1)},
		},
		Owners: map[Partition]string{{"t", 0}: a.ID(), {"t", 1}: a.ID()},
	}, d)
	require.Equal(t, parts("t", 1), h.c.Target(b))
	d.Members[0].Topics[0] = "changed"
	d2, _ := h.c.Describe("g")
	require.Equal(t, "t", d2.Members[0].Topics[0], "a Description is a copy")
}
