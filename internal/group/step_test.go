package group

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestSingleMemberTakesEveryPartition(t *testing.T) {
	for _, b := range []Balancer{cooperative, eager} {
		t.Run(b.Name(), func(t *testing.T) {
			h := newHarness(t, map[string]int32{"t": 3})
			m := h.mustJoin(member{balancer: b})
			require.False(t, h.c.Converged(m))
			require.True(t, h.c.HasWork(m))
			st, lost, err := h.c.NextStep(m)
			require.NoError(t, err)
			require.Empty(t, lost)
			require.Empty(t, st.Revoke)
			require.Equal(t, parts("t", 0, 1, 2), st.Gain)
			require.Equal(t, int32(1), st.Epoch)
			require.True(t, h.c.Converged(m))
			require.False(t, h.c.HasWork(m))
			st, _, _ = h.c.NextStep(m)
			require.Equal(t, Step{Epoch: 1}, st, "nothing more to do")
		})
	}
}

func TestCooperativeRebalanceRevokesBeforeAssigning(t *testing.T) {
	h := newHarness(t, map[string]int32{"t": 4})
	a := h.mustJoin(member{})
	h.converge(a)
	b := h.mustJoin(member{})
	require.Equal(t, parts("t", 0, 1, 2, 3), h.owned(a), "a keeps everything until it revokes")

	// b's target is still a's: b waits, without taking anything.
	st, _, err := h.c.NextStep(b)
	require.NoError(t, err)
	require.Empty(t, st.Gain)
	require.False(t, h.c.Converged(b))
	require.False(t, h.c.HasWork(b))

	// a gives up only what moves, and keeps the rest.
	st, _, err = h.c.NextStep(a)
	require.NoError(t, err)
	require.Equal(t, parts("t", 1, 3), st.Revoke)
	require.Equal(t, int32(2), st.Epoch)
	st2, _, _ := h.c.NextStep(a)
	require.Equal(t, st, st2, "the revoke stands until released")
	require.Empty(t, h.owned(b))

	wakes := *h.wakes[b.ID()]
	h.c.Release(a, st.Revoke, st.Epoch)
	require.Equal(t, wakes+1, *h.wakes[b.ID()], "release wakes the member waiting for the partitions")
	require.Equal(t, parts("t", 0, 2), h.owned(a))
	st, _, _ = h.c.NextStep(a)
	require.Empty(t, st.Revoke)
	require.Empty(t, st.Gain)
	require.True(t, h.c.Converged(a))

	st, _, _ = h.c.NextStep(b)
	require.Equal(t, parts("t", 1, 3), st.Gain)
	require.True(t, h.c.Converged(b))
	h.checkOwners()
}

func TestEagerRebalanceRevokesEverything(t *testing.T) {
	h := newHarness(t, map[string]int32{"t": 4})
	a := h.mustJoin(member{balancer: eager})
	h.converge(a)
	b := h.mustJoin(member{balancer: eager})

	st, _, _ := h.c.NextStep(a)
	require.Equal(t, parts("t", 0, 1, 2, 3), st.Revoke, "eager: everything, also what a keeps")
	// b owns nothing: it has given everything up at once, and waits.
	require.True(t, h.c.HasWork(b))
	st2, _, _ := h.c.NextStep(b)
	require.Empty(t, st2.Revoke)
	require.Empty(t, st2.Gain, "eager: the whole target at once, not while a holds some")
	require.False(t, h.c.HasWork(b))

	h.c.Release(a, st.Revoke, st.Epoch)
	require.Empty(t, h.owned(a))
	st, _, _ = h.c.NextStep(a)
	require.Equal(t, parts("t", 0, 2), st.Gain)
	st, _, _ = h.c.NextStep(b)
	require.Equal(t, parts("t", 1, 3), st.Gain)
	require.True(t, h.c.Converged(a))
	require.True(t, h.c.Converged(b))
	h.checkOwners()
}

func TestEagerPartialReleaseKeepsRevoking(t *testing.T) {
	h := newHarness(t, map[string]int32{"t": 4})
	a := h.mustJoin(member{balancer: eager})
	h.converge(a)
	h.mustJoin(member{balancer: eager})
	st, _, _ := h.c.NextStep(a)
	h.c.Release(a, st.Revoke[:1], st.Epoch)
	st, _, _ = h.c.NextStep(a)
	require.Equal(t, parts("t", 1, 2, 3), st.Revoke, "the rest is still to revoke")
}

func TestLeavingReportsOwnedOrLost(t *testing.T) {
	h := newHarness(t, map[string]int32{"t": 2})
	a := h.mustJoin(member{maxPoll: time.Second})
	h.converge(a)
	owned, lost, err := h.c.Leaving(a)
	require.NoError(t, err)
	require.Equal(t, parts("t", 0, 1), owned)
	require.Empty(t, lost)

	h.advance(time.Second) // evicted
	owned, lost, err = h.c.Leaving(a)
	require.ErrorIs(t, err, ErrFenced)
	require.Empty(t, owned)
	require.Equal(t, parts("t", 0, 1), lost)
	_, lost, _ = h.c.Leaving(a)
	require.Empty(t, lost, "reported once")
}

func TestReleaseWakesOnlyTheMembersWaiting(t *testing.T) {
	h := newHarness(t, map[string]int32{"t": 4, "u": 2})
	a := h.mustJoin(member{topics: []string{"t", "u"}})
	h.converge(a)
	b := h.mustJoin(member{topics: []string{"t"}})
	c := h.mustJoin(member{topics: []string{"u"}})
	st, _, _ := h.c.NextStep(a)
	require.Equal(t, append(parts("t", 1, 3), parts("u", 1)...), st.Revoke)
	wb, wc := *h.wakes[b.ID()], *h.wakes[c.ID()]
	h.c.Release(a, parts("t", 1), st.Epoch)
	require.Equal(t, wb+1, *h.wakes[b.ID()])
	require.Equal(t, wc, *h.wakes[c.ID()], "c waits for nothing released")
	// b gains what is free already, and waits for the rest.
	bst, _, _ := h.c.NextStep(b)
	require.Equal(t, parts("t", 1), bst.Gain)
	require.False(t, h.c.Converged(b))
	h.c.Release(a, parts("u", 1), st.Epoch)
	require.Equal(t, wc+1, *h.wakes[c.ID()])
	require.Equal(t, wb+1, *h.wakes[b.ID()])
	require.Equal(t, append(parts("t", 0, 2, 3), parts("u", 0)...), h.owned(a))
}

// TestHasWorkAgreesWithNextStep checks, along random sequences, that a
// member without work would get nothing from NextStep.
func TestHasWorkAgreesWithNextStep(t *testing.T) {
	for seed := range uint64(20) {
		rnd := rand.New(rand.NewPCG(seed, 2))
		h := newHarness(t, map[string]int32{"t": 4, "u": 2})
		b := []Balancer{cooperative, eager}[seed%2]
		var ms []*Member
		for range 200 {
			switch op := rnd.IntN(6); {
			case op == 0 && len(ms) < 5:
				ms = append(ms, h.mustJoin(member{balancer: b, topics: [][]string{{"t"}, {"t", "u"}}[rnd.IntN(2)]}))
			case op == 1 && len(ms) > 1:
				i := rnd.IntN(len(ms))
				h.c.Leave(ms[i])
				ms = append(ms[:i], ms[i+1:]...)
			case len(ms) > 0:
				m := ms[rnd.IntN(len(ms))]
				work := h.c.HasWork(m)
				st, lost, err := h.c.NextStep(m)
				if !work {
					require.Empty(t, st.Revoke, "seed %d", seed)
					require.Empty(t, st.Gain, "seed %d", seed)
					require.Empty(t, lost, "seed %d", seed)
					require.NoError(t, err, "seed %d", seed)
				}
				if len(st.Revoke) > 0 && rnd.IntN(3) > 0 {
					h.c.Release(m, st.Revoke, st.Epoch)
				}
			}
			h.checkOwners()
		}
	}
}
