package group

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestCheckCommit(t *testing.T) {
	h := newHarness(t, map[string]int32{"t": 4})
	a := h.mustJoin(member{maxPoll: time.Hour})
	h.converge(a)
	b := h.mustJoin(member{maxPoll: time.Second})
	st, _, _ := h.c.NextStep(a) // a revokes t-1 and t-3, not yet released
	require.Equal(t, parts("t", 1, 3), st.Revoke)
	h.c.Polling(a, true)

	notAssigned := func(m *Member, p Partition) string {
		return `commitlog: group "g" member ` + m.ID() + ` fenced: partition ` + p.String() +
			` is not assigned to this member (it was revoked or never assigned)`
	}
	for _, tc := range []struct {
		name   string
		group  string
		m      *Member
		ps     []Partition
		before func()
		is     error  // nil: no error
		msg    string // the error's message
	}{
		{name: "owner", group: "g", m: a, ps: parts("t", 0, 2)},
		{name: "owner of a partition being revoked", group: "g", m: a, ps: parts("t", 1, 3)},
		{name: "a target not yet gained", group: "g", m: b, ps: parts("t", 1), is: ErrFenced, msg: notAssigned(b, Partition{"t", 1})},
		{name: "released: a stale generation's commit", group: "g", m: a, ps: parts("t", 0, 1),
			before: func() { h.c.Release(a, st.Revoke, st.Epoch) }, is: ErrFenced, msg: notAssigned(a, Partition{"t", 1})},
		{name: "never assigned", group: "g", m: a, ps: parts("x", 0), is: ErrFenced, msg: notAssigned(a, Partition{"x", 0})},
		{name: "no partitions", group: "g", m: b},
		{name: "without membership, group with members", group: "g", is: ErrGroupNotEmpty,
			msg: `commitlog: consumer group has members: group "g" has 2 members; a consumer without membership may commit only for an empty group`},
		{name: "without membership, group without members", group: "empty"},
		{name: "evicted", group: "g", m: b, ps: parts("t", 1), before: func() { h.advance(time.Second) }, is: ErrFenced,
			msg: `commitlog: group "g" member ` + b.ID() + ` fenced: evicted: no Poll within MaxPollInterval (1s)`},
		{name: "closed", group: "g", m: a, ps: parts("t", 0), before: h.c.Close, is: ErrClosed, msg: ErrClosed.Error()},
		{name: "closed, without membership", group: "empty", is: ErrClosed, msg: ErrClosed.Error()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.before != nil {
				tc.before()
			}
			err := h.c.CheckCommit(tc.group, tc.m, tc.ps)
			if tc.is == nil {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, tc.is)
			require.EqualError(t, err, tc.msg)
		})
	}
}
