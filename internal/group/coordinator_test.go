package group

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestJoinGivesMemberIDsAndBumpsTheEpoch(t *testing.T) {
	h := newHarness(t, map[string]int32{"t": 4})
	a := h.mustJoin(member{})
	b := h.mustJoin(member{group: "other"})
	c := h.mustJoin(member{})
	require.Equal(t, []string{"member-1", "member-2", "member-3"}, []string{a.ID(), b.ID(), c.ID()})
	d, ok := h.c.Describe("g")
	require.True(t, ok)
	require.Equal(t, int32(2), d.Epoch, "two joins, two rebalances")
	require.Equal(t, "coop", d.Balancer)
	require.Equal(t, []string{"g", "other"}, h.c.Groups())
	_, ok = h.c.Describe("none")
	require.False(t, ok)
}

func TestJoinRefusesAnotherBalancer(t *testing.T) {
	h := newHarness(t, map[string]int32{"t": 2})
	h.mustJoin(member{})
	_, err := h.join(member{balancer: eager})
	var mismatch *BalancerMismatchError
	require.ErrorAs(t, err, &mismatch)
	require.Equal(t, BalancerMismatchError{Group: "g", Balancer: "coop", Requested: "eager"}, *mismatch)
	d, _ := h.c.Describe("g")
	require.Len(t, d.Members, 1)
	require.Equal(t, int32(1), d.Epoch, "a refused join does not rebalance")
	// Another group may use another balancer.
	h.mustJoin(member{group: "h", balancer: eager})
}

func TestLeaveMovesPartitionsToTheOthers(t *testing.T) {
	h := newHarness(t, map[string]int32{"t": 4})
	a := h.mustJoin(member{})
	b := h.mustJoin(member{})
	h.converge(a, b)
	owned, lost, err := h.c.Leaving(b)
	require.NoError(t, err)
	require.Empty(t, lost)
	require.Equal(t, parts("t", 1, 3), owned)
	h.c.Leave(b)
	d, _ := h.c.Describe("g")
	require.Len(t, d.Members, 1)
	require.Equal(t, int32(3), d.Epoch)
	require.NotContains(t, d.Owners, Partition{"t", 1}, "a leaving member's partitions are free at once")
	h.converge(a)
	require.Equal(t, parts("t", 0, 1, 2, 3), h.owned(a))

	h.c.Leave(a)
	require.Empty(t, h.c.Groups(), "a group without members is gone")
	_, ok := h.c.Describe("g")
	require.False(t, ok)
	// A new member starts a new group from epoch 1.
	c := h.mustJoin(member{balancer: eager})
	st, _, _ := h.c.NextStep(c)
	require.Equal(t, int32(1), st.Epoch)
}

func TestStaticMemberKeepsItsPartitionsAcrossRestart(t *testing.T) {
	h := newHarness(t, map[string]int32{"t": 4})
	s := h.mustJoin(member{instance: "i1", session: 30 * time.Second})
	d := h.mustJoin(member{})
	h.converge(s, d)
	h.c.Leave(s)
	desc := h.memberDescription(s)
	require.True(t, desc.Departed)
	require.Equal(t, parts("t", 0, 2), desc.Owned, "reserved while departed")
	before, _ := h.c.Describe("g")
	require.False(t, h.c.HasWork(d), "no rebalance: d waits for nothing")

	h.advance(29 * time.Second)
	s2 := h.mustJoin(member{instance: "i1"})
	after, _ := h.c.Describe("g")
	require.Equal(t, before.Epoch, after.Epoch, "the same subscription takes its place without a rebalance")
	require.Len(t, after.Members, 2)
	st, _, err := h.c.NextStep(s2)
	require.NoError(t, err)
	require.Equal(t, parts("t", 0, 2), st.Gain)
	// The departed member was replaced: fenced.
	_, _, err = h.c.NextStep(s)
	require.ErrorIs(t, err, ErrFenced)
	h.checkOwners()
}

func TestDepartedStaticMemberExpiresAfterItsSession(t *testing.T) {
	h := newHarness(t, map[string]int32{"t": 4})
	s := h.mustJoin(member{instance: "i1", session: 30 * time.Second, maxPoll: time.Hour})
	d := h.mustJoin(member{maxPoll: time.Hour})
	h.converge(s, d)
	h.c.Polling(d, true)
	h.c.Leave(s)
	at, _ := h.clock.pending()
	require.Equal(t, epoch0.Add(30*time.Second), at, "the session deadline is asked for")
	h.advance(30 * time.Second)
	desc, _ := h.c.Describe("g")
	require.Len(t, desc.Members, 1, "removed at its deadline")
	require.Equal(t, int32(3), desc.Epoch)
	h.converge(d)
	require.Equal(t, parts("t", 0, 1, 2, 3), h.owned(d))
	// Removed, not fenced: the departed member learns nothing.
	_, lost, err := h.c.NextStep(s)
	require.NoError(t, err)
	require.Empty(t, lost)
}

func TestDepartedStaticMemberFreesWhatARebalanceTakes(t *testing.T) {
	h := newHarness(t, map[string]int32{"t": 4})
	s := h.mustJoin(member{instance: "i1"})
	h.converge(s)
	h.c.Leave(s)
	b := h.mustJoin(member{})
	// s cannot revoke: what it no longer gets is free at once.
	require.Equal(t, parts("t", 0, 2), h.owned(s))
	st, _, _ := h.c.NextStep(b)
	require.Equal(t, parts("t", 1, 3), st.Gain)
	h.checkOwners()
}

func TestStaticMemberReplacedWhileAliveIsFenced(t *testing.T) {
	h := newHarness(t, map[string]int32{"t": 2})
	s := h.mustJoin(member{instance: "i1"})
	h.converge(s)
	s2 := h.mustJoin(member{instance: "i1"})
	require.True(t, h.c.HasWork(s))
	st, lost, err := h.c.NextStep(s)
	require.Empty(t, st.Gain)
	require.Equal(t, parts("t", 0, 1), lost, "it lost everything it owned")
	var fenced *FencedError
	require.ErrorAs(t, err, &fenced)
	require.Equal(t, FencedError{Group: "g", MemberID: s.ID(), Reason: `replaced by a new consumer with the same InstanceID "i1"`}, *fenced)
	_, lost, err = h.c.NextStep(s)
	require.Empty(t, lost, "a loss is reported once")
	require.ErrorIs(t, err, ErrFenced, "the fence stays")
	st, _, _ = h.c.NextStep(s2)
	require.Equal(t, parts("t", 0, 1), st.Gain)
	// Leave and Release of the fenced member change nothing.
	h.c.Release(s, parts("t", 0), 1)
	h.c.Leave(s)
	require.Equal(t, parts("t", 0, 1), h.owned(s2))
}

func TestStaticMemberWithAnotherSubscriptionRebalances(t *testing.T) {
	h := newHarness(t, map[string]int32{"t": 2, "u": 2})
	s := h.mustJoin(member{instance: "i1"})
	h.converge(s)
	s2 := h.mustJoin(member{instance: "i1", topics: []string{"t", "u"}})
	d, _ := h.c.Describe("g")
	require.Equal(t, int32(2), d.Epoch)
	h.converge(s2)
	require.Equal(t, append(parts("t", 0, 1), parts("u", 0, 1)...), h.owned(s2))
}

func TestCloseRefusesJoinsAndWakesEveryMember(t *testing.T) {
	h := newHarness(t, map[string]int32{"t": 2})
	m := h.mustJoin(member{})
	s := h.mustJoin(member{instance: "i1"})
	h.converge(m, s)
	wakes := *h.wakes[m.ID()]
	armed := len(h.clock.armed)
	h.c.Close()
	require.Equal(t, wakes+1, *h.wakes[m.ID()], "Close wakes every member")
	_, err := h.join(member{})
	require.ErrorIs(t, err, ErrClosed)
	require.ErrorIs(t, h.c.CheckCommit("g", m, h.owned(m)), ErrClosed)
	// A static member leaving a closed coordinator leaves for good, and
	// nothing asks for a timer any more.
	h.c.Leave(s)
	h.c.Polling(m, false)
	require.False(t, h.memberDescription(m).Departed)
	d, _ := h.c.Describe("g")
	require.Len(t, d.Members, 1)
	require.Len(t, h.clock.armed, armed)
	h.advance(time.Hour)
	d, _ = h.c.Describe("g")
	require.Len(t, d.Members, 1, "Expire does nothing after Close")
}

func TestTopicDeletedIsALossWithoutFencing(t *testing.T) {
	h := newHarness(t, map[string]int32{"t": 2, "u": 2})
	a := h.mustJoin(member{topics: []string{"t", "u"}})
	b := h.mustJoin(member{group: "other", topics: []string{"u"}})
	h.converge(a)
	h.converge(b)
	delete(h.topics, "t")
	h.c.TopicDeleted("t")
	require.True(t, h.c.HasWork(a))
	require.False(t, h.c.HasWork(b), "a group not subscribed to the topic does not rebalance")
	st, lost, err := h.c.NextStep(a)
	require.NoError(t, err)
	require.Empty(t, st.Revoke)
	require.Equal(t, parts("t", 0, 1), lost)
	_, lost, _ = h.c.NextStep(a)
	require.Empty(t, lost, "reported once")
	require.Equal(t, parts("u", 0, 1), h.owned(a))
	require.NoError(t, h.c.CheckCommit("g", a, parts("u", 0)), "still a member")

	// The topic comes back under the same name: the group rebalances.
	h.topics["t"] = 3
	h.c.TopicCreated("t")
	h.c.TopicCreated("unrelated")
	d, _ := h.c.Describe("g")
	require.Equal(t, int32(3), d.Epoch, "one rebalance per deletion and creation of a subscribed topic")
	h.converge(a)
	require.Equal(t, append(parts("t", 0, 1, 2), parts("u", 0, 1)...), h.owned(a))
}

func TestExpiry(t *testing.T) {
	const maxPoll = 10 * time.Second
	type action func(h *harness, m *Member)
	var (
		enterPoll = func(h *harness, m *Member) { h.c.Polling(m, true) }
		leavePoll = func(h *harness, m *Member) { h.c.Polling(m, false) }
		wait      = func(d time.Duration) action { return func(h *harness, m *Member) { h.advance(d) } }
	)
	for _, tc := range []struct {
		name    string
		actions []action
		evicted bool
	}{
		{"never polled, within MaxPollInterval", []action{wait(maxPoll - time.Millisecond)}, false},
		{"never polled, evicted MaxPollInterval after joining", []action{wait(maxPoll)}, true},
		{"inside Poll, alive however long it waits", []action{enterPoll, wait(maxPoll), wait(time.Hour)}, false},
		{"left Poll, the interval runs from then", []action{enterPoll, wait(time.Hour), leavePoll, wait(maxPoll - time.Millisecond)}, false},
		{"left Poll past MaxPollInterval", []action{enterPoll, wait(time.Hour), leavePoll, wait(maxPoll)}, true},
		{"each Poll starts the interval again", []action{
			wait(maxPoll / 2), enterPoll, leavePoll, wait(maxPoll / 2), enterPoll, leavePoll, wait(maxPoll - time.Millisecond),
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, map[string]int32{"t": 2})
			m := h.mustJoin(member{maxPoll: maxPoll})
			other := h.mustJoin(member{maxPoll: 24 * time.Hour})
			h.converge(m, other)
			h.c.Polling(other, true)
			for _, a := range tc.actions {
				a(h, m)
			}
			_, lost, err := h.c.NextStep(m)
			if !tc.evicted {
				require.NoError(t, err)
				require.Equal(t, parts("t", 0), h.owned(m))
				return
			}
			var fenced *FencedError
			require.ErrorAs(t, err, &fenced)
			require.Equal(t, FencedError{Group: "g", MemberID: m.ID(), Reason: "evicted: no Poll within MaxPollInterval (10s)"}, *fenced)
			require.Equal(t, parts("t", 0), lost, "it learns what it lost")
			require.False(t, h.c.Converged(m))
			require.ErrorIs(t, h.c.CheckCommit("g", m, lost), ErrFenced, "its commits are fenced")
			d, _ := h.c.Describe("g")
			require.Len(t, d.Members, 1)
			require.NotContains(t, d.Owners, Partition{"t", 0}, "its partitions are free at once")
			h.converge(other)
			require.Equal(t, parts("t", 0, 1), h.owned(other))
		})
	}
}

func TestArmAsksForTheEarliestDeadline(t *testing.T) {
	h := newHarness(t, map[string]int32{"t": 2})
	a := h.mustJoin(member{maxPoll: 10 * time.Second})
	require.Equal(t, []time.Time{epoch0.Add(10 * time.Second)}, h.clock.armed)
	h.mustJoin(member{maxPoll: 20 * time.Second})
	require.Len(t, h.clock.armed, 1, "a later deadline asks for nothing new")
	c := h.mustJoin(member{maxPoll: 5 * time.Second})
	require.Equal(t, epoch0.Add(5*time.Second), h.clock.armed[1], "an earlier one replaces the request")

	// c polls; at 5s Expire finds nobody due and asks for a's deadline.
	h.c.Polling(c, true)
	h.advance(5 * time.Second)
	require.Equal(t, epoch0.Add(10*time.Second), h.clock.armed[2])
	d, _ := h.c.Describe("g")
	require.Len(t, d.Members, 3)

	// An early or repeated Expire is harmless.
	h.c.Expire()
	h.c.Expire()
	d, _ = h.c.Describe("g")
	require.Len(t, d.Members, 3)

	h.advance(5 * time.Second) // a is evicted; b's deadline is next
	d, _ = h.c.Describe("g")
	require.Len(t, d.Members, 2)
	_, _, err := h.c.NextStep(a)
	require.ErrorIs(t, err, ErrFenced)
	at, _ := h.clock.pending()
	require.Equal(t, epoch0.Add(20*time.Second), at)
}

// TestRandomSequences runs seeded random joins, leaves, polls, steps,
// commits and expiries on several groups and checks after every call that
// no partition has two owners, and at the end that the survivors converge
// on an assignment covering every partition.
func TestRandomSequences(t *testing.T) {
	for seed := range int64(40) {
		t.Run(fmt.Sprint("seed ", seed), func(t *testing.T) {
			rnd := rand.New(rand.NewPCG(uint64(seed), 1))
			h := newHarness(t, map[string]int32{"t": 5, "u": 3})
			balancer := []Balancer{cooperative, eager}[seed%2]
			type consumer struct {
				m      *Member
				static string
			}
			var live []*consumer
			revoking := map[*Member]Step{}
			for range 300 {
				switch op := rnd.IntN(10); {
				case op < 2 && len(live) < 6:
					spec := member{balancer: balancer, topics: [][]string{{"t"}, {"t", "u"}, {"u"}}[rnd.IntN(3)],
						maxPoll: time.Duration(1+rnd.IntN(5)) * time.Second, session: 3 * time.Second}
					if rnd.IntN(3) == 0 {
						spec.instance = fmt.Sprint("i", rnd.IntN(3))
					}
					live = append(live, &consumer{m: h.mustJoin(spec), static: spec.instance})
				case op < 3 && len(live) > 0:
					i := rnd.IntN(len(live))
					c := live[i]
					if _, _, err := h.c.Leaving(c.m); err == nil {
						h.c.Leave(c.m)
					}
					delete(revoking, c.m)
					live = append(live[:i], live[i+1:]...)
				case op < 4:
					h.advance(time.Duration(rnd.IntN(2000)) * time.Millisecond)
				case len(live) > 0:
					c := live[rnd.IntN(len(live))]
					h.c.Polling(c.m, true)
					if st, ok := revoking[c.m]; ok && rnd.IntN(2) == 0 {
						// Commit what it revokes, then release it.
						err := h.c.CheckCommit("g", c.m, st.Revoke)
						if err == nil {
							h.c.Release(c.m, st.Revoke, st.Epoch)
						} else {
							require.ErrorIs(t, err, ErrFenced)
						}
						delete(revoking, c.m)
					} else if !ok {
						st, lost, err := h.c.NextStep(c.m)
						if err != nil {
							require.ErrorIs(t, err, ErrFenced)
							require.ErrorIs(t, h.c.CheckCommit("g", c.m, lost), ErrFenced)
						} else if len(st.Revoke) > 0 {
							revoking[c.m] = st
						} else if len(st.Gain) > 0 {
							require.NoError(t, h.c.CheckCommit("g", c.m, st.Gain), "it owns what it gained")
						}
					}
					h.c.Polling(c.m, false)
				}
				h.checkOwners()
			}
			// The survivors still members settle down.
			var ms []*Member
			for _, c := range live {
				if _, _, err := h.c.Leaving(c.m); err == nil {
					ms = append(ms, c.m)
				}
			}
			for m, st := range revoking {
				if h.c.CheckCommit("g", m, nil) == nil {
					h.c.Release(m, st.Revoke, st.Epoch)
				}
			}
			h.converge(ms...)
			h.checkOwners()
			d, ok := h.c.Describe("g")
			if !ok {
				return
			}
			// Every partition of a subscribed topic is owned by its
			// target member, except those reserved for a departed static
			// member that it did not own when it closed.
			targets := map[Partition]MemberDescription{}
			for _, md := range d.Members {
				if !md.Departed {
					require.Equal(t, md.Target, md.Owned, "%s converged: %+v", md.ID, d)
				}
				for _, p := range md.Target {
					targets[p] = md
				}
			}
			for _, md := range d.Members {
				for _, topic := range md.Topics {
					for p := range h.topics[topic] {
						require.Contains(t, targets, Partition{topic, p}, "every partition is someone's target")
					}
				}
			}
			for p, md := range targets {
				if !md.Departed {
					require.Equal(t, md.ID, d.Owners[p], "%v", p)
				}
			}
		})
	}
}

// Regression: a static member that closed before its next step gave up
// what a rebalance took from it kept that reserved too, and the
// partition's new owner waited for the whole SessionTimeout.
func TestStaticMemberLeavingMidRebalanceReservesOnlyItsTarget(t *testing.T) {
	for _, b := range []Balancer{cooperative, eager} {
		t.Run(b.Name(), func(t *testing.T) {
			h := newHarness(t, map[string]int32{"t": 4})
			s := h.mustJoin(member{balancer: b, instance: "i1", session: time.Hour})
			h.converge(s)
			d := h.mustJoin(member{balancer: b})
			_, _, _ = h.c.NextStep(d) // waits for s
			wakes := *h.wakes[d.ID()]
			h.c.Leave(s) // its consumer committed and revoked everything
			require.Equal(t, wakes+1, *h.wakes[d.ID()], "the member waiting for what s gave up is woken")
			require.Equal(t, parts("t", 0, 2), h.owned(s), "only its target stays reserved")
			st, _, err := h.c.NextStep(d)
			require.NoError(t, err)
			require.Equal(t, parts("t", 1, 3), st.Gain)
			require.True(t, h.c.Converged(d))
			h.checkOwners()
		})
	}
}

func TestCallsAfterLeaveDoNothing(t *testing.T) {
	h := newHarness(t, map[string]int32{"t": 2})
	a := h.mustJoin(member{})
	h.converge(a)
	h.c.Leave(a)
	require.Empty(t, h.c.Groups())
	armed := len(h.clock.armed)
	require.False(t, h.c.HasWork(a))
	require.False(t, h.c.Converged(a))
	st, lost, err := h.c.NextStep(a)
	require.NoError(t, err)
	require.Empty(t, lost)
	require.Equal(t, Step{}, st)
	h.c.Release(a, parts("t", 0), 1)
	h.c.Polling(a, false)
	h.c.Leave(a)
	require.Len(t, h.clock.armed, armed, "no deadline for a member that left")
	var fenced *FencedError
	require.ErrorAs(t, h.c.CheckCommit("g", a, parts("t", 0)), &fenced, "it owns nothing")
}

func TestResignFencesTheResignedGroupsOnly(t *testing.T) {
	h := newHarness(t, map[string]int32{"t": 2})
	a := h.mustJoin(member{group: "a"})
	s := h.mustJoin(member{group: "a", instance: "i1"})
	b := h.mustJoin(member{group: "b"})
	h.converge(a, s, b)
	h.c.Leave(s) // departed static member: reserved, still a member
	wakes := *h.wakes[a.ID()]
	h.c.Resign(func(g string) bool { return g == "a" }, "coordinator moved to node 2")
	require.Equal(t, wakes+1, *h.wakes[a.ID()], "a resigned member is woken")
	_, lost, err := h.c.NextStep(a)
	var fenced *FencedError
	require.ErrorAs(t, err, &fenced)
	require.Equal(t, FencedError{Group: "a", MemberID: a.ID(), Reason: "coordinator moved to node 2"}, *fenced)
	require.NotEmpty(t, lost, "what it owned is reported lost")
	require.ErrorIs(t, h.c.CheckCommit("a", a, lost), ErrFenced)
	_, ok := h.c.Describe("a")
	require.False(t, ok, "the group ends here, departed static members with it")
	require.Equal(t, []string{"b"}, h.c.Groups())
	require.NoError(t, h.c.CheckCommit("b", b, h.owned(b)), "other groups go on")
}

// Config.Rebalanced hears of every rebalance, with the group's new
// epoch, its members, the partitions assigned and why.
func TestRebalancedReportsEveryRebalance(t *testing.T) {
	h := newHarness(t, map[string]int32{"t": 3, "u": 2})
	a := h.mustJoin(member{topics: []string{"t", "u"}, maxPoll: time.Hour})
	b := h.mustJoin(member{topics: []string{"t"}, maxPoll: time.Minute})
	c := h.mustJoin(member{topics: []string{"t"}, maxPoll: time.Hour})
	h.converge(a, b, c)
	h.c.Leave(c)
	delete(h.topics, "u")
	h.c.TopicDeleted("u")
	h.topics["u"] = 4
	h.c.TopicCreated("u")
	h.c.Polling(a, true)
	h.advance(2 * time.Minute) // b, outside Poll past its minute, is evicted
	// A static member rejoining with another subscription rebalances; with
	// the same one, it takes its place without.
	h.mustJoin(member{instance: "s", topics: []string{"t"}})
	h.mustJoin(member{instance: "s", topics: []string{"t"}})
	h.mustJoin(member{instance: "s", topics: []string{"t", "u"}})
	require.Equal(t, []Rebalance{
		{Group: "g", Epoch: 1, Members: 1, Partitions: 5, Reason: RebalanceJoin},
		{Group: "g", Epoch: 2, Members: 2, Partitions: 5, Reason: RebalanceJoin},
		{Group: "g", Epoch: 3, Members: 3, Partitions: 5, Reason: RebalanceJoin},
		{Group: "g", Epoch: 4, Members: 2, Partitions: 5, Reason: RebalanceLeave},
		{Group: "g", Epoch: 5, Members: 2, Partitions: 3, Reason: RebalanceTopicDeleted},
		{Group: "g", Epoch: 6, Members: 2, Partitions: 7, Reason: RebalanceTopicCreated},
		{Group: "g", Epoch: 7, Members: 1, Partitions: 7, Reason: RebalanceEvicted},
		{Group: "g", Epoch: 8, Members: 2, Partitions: 7, Reason: RebalanceJoin},
		{Group: "g", Epoch: 9, Members: 2, Partitions: 7, Reason: RebalanceJoin},
	}, h.rebalances)
}
