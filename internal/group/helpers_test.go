package group

import (
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// testClock is the injected clock and timer: Arm records the requests and
// advance calls Expire once the last one is due, as the root's timer does.
type testClock struct {
	now   time.Time
	armed []time.Time // every Arm request, in order
}

func (c *testClock) Now() time.Time   { return c.now }
func (c *testClock) Arm(at time.Time) { c.armed = append(c.armed, at) }
func (c *testClock) pending() (time.Time, bool) {
	if len(c.armed) == 0 {
		return time.Time{}, false
	}
	return c.armed[len(c.armed)-1], true
}

// roundRobin deals each topic's partitions over its subscribers in join
// order: deterministic, and with one more member some partitions stay
// where they are, so the cooperative protocol moves only the others.
type roundRobin struct {
	name        string
	cooperative bool
}

func (b roundRobin) Name() string      { return b.name }
func (b roundRobin) Cooperative() bool { return b.cooperative }

func (b roundRobin) Balance(members []BalanceMember, partitions map[string]int32) map[string][]Partition {
	out := map[string][]Partition{}
	for _, topic := range slices.Sorted(maps.Keys(partitions)) {
		var subs []string
		for _, m := range members {
			if slices.Contains(m.Topics, topic) {
				subs = append(subs, m.ID)
			}
		}
		for p := range partitions[topic] {
			id := subs[int(p)%len(subs)]
			out[id] = append(out[id], Partition{topic, p})
		}
	}
	return out
}

var (
	cooperative = roundRobin{name: "coop", cooperative: true}
	eager       = roundRobin{name: "eager"}
)

// harness is a Coordinator over topics, with a test clock, counting each
// member's wake-ups.
type harness struct {
	t      *testing.T
	c      *Coordinator
	clock  *testClock
	topics map[string]int32
	wakes  map[string]*int // by member id
	// rebalances are those Config.Rebalanced was told of.
	rebalances []Rebalance
}

var epoch0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func newHarness(t *testing.T, topics map[string]int32) *harness {
	h := &harness{t: t, clock: &testClock{now: epoch0}, topics: topics, wakes: map[string]*int{}}
	h.c = New(Config{
		Now: h.clock.Now,
		Arm: h.clock.Arm,
		Partitions: func(topic string) (int32, bool) {
			n, ok := h.topics[topic]
			return n, ok
		},
		Rebalanced: func(r Rebalance) { h.rebalances = append(h.rebalances, r) },
	})
	return h
}

// member describes a join; the zero durations are a minute.
type member struct {
	group, instance string
	topics          []string
	balancer        Balancer
	maxPoll         time.Duration
	session         time.Duration
}

func (h *harness) join(spec member) (*Member, error) {
	if spec.group == "" {
		spec.group = "g"
	}
	if spec.topics == nil {
		spec.topics = []string{"t"}
	}
	if spec.balancer == nil {
		spec.balancer = cooperative
	}
	if spec.maxPoll == 0 {
		spec.maxPoll = time.Minute
	}
	if spec.session == 0 {
		spec.session = time.Minute
	}
	wakes := new(int)
	m, err := h.c.Join(JoinRequest{
		Group: spec.group, InstanceID: spec.instance, Topics: spec.topics, Balancer: spec.balancer,
		MaxPollInterval: spec.maxPoll, SessionTimeout: spec.session,
		Wake: func() { *wakes++ },
	})
	if err == nil {
		h.wakes[m.ID()] = wakes
	}
	return m, err
}

func (h *harness) mustJoin(spec member) *Member {
	h.t.Helper()
	m, err := h.join(spec)
	require.NoError(h.t, err)
	return m
}

// advance moves the clock by d and, as the timer would, calls Expire if
// the last Arm request is due.
func (h *harness) advance(d time.Duration) {
	h.clock.now = h.clock.now.Add(d)
	if at, ok := h.clock.pending(); ok && !h.clock.now.Before(at) {
		h.c.Expire()
	}
}

// converge runs the members' steps, as their Polls would (revoking at
// once), until none has work; it fails after too many rounds. It returns
// what each member lost.
func (h *harness) converge(ms ...*Member) map[*Member][]Partition {
	h.t.Helper()
	lost := map[*Member][]Partition{}
	for range 100 {
		busy := false
		for _, m := range ms {
			if !h.c.HasWork(m) {
				continue
			}
			busy = true
			st, l, _ := h.c.NextStep(m)
			lost[m] = append(lost[m], l...)
			if len(st.Revoke) > 0 {
				h.c.Release(m, st.Revoke, st.Epoch)
			}
		}
		if !busy {
			return lost
		}
	}
	h.t.Fatalf("members did not converge in 100 rounds")
	return nil
}

// owned returns m's partitions by its Description.
func (h *harness) owned(m *Member) []Partition {
	return h.memberDescription(m).Owned
}

func (h *harness) memberDescription(m *Member) MemberDescription {
	h.t.Helper()
	d, ok := h.c.Describe(m.g.name)
	require.True(h.t, ok, "group %q has members", m.g.name)
	for _, md := range d.Members {
		if md.ID == m.ID() {
			return md
		}
	}
	h.t.Fatalf("%s is not a member of %q", m.ID(), m.g.name)
	return MemberDescription{}
}

// checkOwners fails unless every partition of every group has at most one
// owner, each member's owned set agrees with the group's owners, and no
// member owns a partition outside what the group's topics hold.
func (h *harness) checkOwners() {
	h.t.Helper()
	for _, name := range h.c.Groups() {
		d, _ := h.c.Describe(name)
		seen := map[Partition]string{}
		for _, md := range d.Members {
			for _, p := range md.Owned {
				prev, dup := seen[p]
				require.False(h.t, dup, "%v owned by %s and %s", p, prev, md.ID)
				seen[p] = md.ID
				require.Equal(h.t, md.ID, d.Owners[p], "owners of %v", p)
			}
		}
		require.Len(h.t, d.Owners, len(seen), "owners of group %q: %v", name, d.Owners)
	}
}

func parts(topic string, ns ...int32) []Partition {
	out := make([]Partition, len(ns))
	for i, n := range ns {
		out[i] = Partition{topic, n}
	}
	return out
}
