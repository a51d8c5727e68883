package commitlog

import (
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// allBalancers are the built-in balancers under test.
func allBalancers() []Balancer {
	return []Balancer{RangeBalancer(), RoundRobinBalancer(), StickyBalancer(), CooperativeStickyBalancer()}
}

func stickyBalancers() []Balancer {
	return []Balancer{StickyBalancer(), CooperativeStickyBalancer()}
}

// tps builds a sorted-as-written list of partitions from "topic-partition"
// strings, e.g. tps("t0-0", "t1-2").
func tps(names ...string) []TopicPartition {
	out := make([]TopicPartition, 0, len(names))
	for _, s := range names {
		i := strings.LastIndexByte(s, '-')
		var p int32
		_, err := fmt.Sscanf(s[i+1:], "%d", &p)
		if err != nil {
			panic(err)
		}
		out = append(out, TopicPartition{Topic: s[:i], Partition: p})
	}
	return out
}

// member builds a dynamic member subscribed to topics.
func member(id string, topics ...string) BalancerMember {
	return BalancerMember{ID: id, Topics: topics}
}

func cloneMembers(ms []BalancerMember) []BalancerMember {
	if ms == nil {
		return nil
	}
	out := make([]BalancerMember, len(ms))
	for i, m := range ms {
		out[i] = BalancerMember{ID: m.ID, InstanceID: m.InstanceID, Topics: slices.Clone(m.Topics), Owned: slices.Clone(m.Owned)}
	}
	return out
}

// withOwned returns a copy of members whose Owned are taken from assignment.
func withOwned(members []BalancerMember, assignment map[string][]TopicPartition) []BalancerMember {
	out := cloneMembers(members)
	for i := range out {
		out[i].Owned = slices.Clone(assignment[out[i].ID])
	}
	return out
}

// balanceChecked runs b.Balance and verifies, independently of
// checkAssignment as well as with it, that the result is a valid assignment,
// that the inputs were not modified, and that a second run gives the same
// result.
func balanceChecked(t *testing.T, b Balancer, members []BalancerMember, partitions map[string]int32) map[string][]TopicPartition {
	t.Helper()
	membersBefore := cloneMembers(members)
	partitionsBefore := maps.Clone(partitions)

	got := b.Balance(members, partitions)

	require.Equal(t, membersBefore, members, "%s modified members", b.Name())
	require.Equal(t, partitionsBefore, partitions, "%s modified partitions", b.Name())
	require.NoError(t, checkAssignment(b, members, partitions, got))
	verifyAssignment(t, b, members, partitions, got)
	again := b.Balance(members, partitions)
	require.Equal(t, got, again, "%s is not deterministic", b.Name())
	return got
}

// verifyAssignment is an independent check of the Balance contract: a non-nil
// map with an entry (a non-nil slice) for every member id and no other key,
// each member's partitions sorted, subscribed and in range, and every
// partition of every subscribed topic assigned exactly once.
func verifyAssignment(t *testing.T, b Balancer, members []BalancerMember, partitions map[string]int32, got map[string][]TopicPartition) {
	t.Helper()
	require.NotNil(t, got, b.Name())
	subscribed := map[string]map[string]bool{} // member id -> topics (first member with the id)
	var ids []string
	for _, m := range members {
		if _, ok := subscribed[m.ID]; ok {
			continue
		}
		ids = append(ids, m.ID)
		subscribed[m.ID] = map[string]bool{}
		for _, topic := range m.Topics {
			subscribed[m.ID][topic] = true
		}
	}
	require.Len(t, got, len(ids), "%s: result keys", b.Name())
	owners := map[TopicPartition]int{}
	for _, id := range ids {
		list, ok := got[id]
		require.True(t, ok, "%s: member %q missing from result", b.Name(), id)
		require.NotNil(t, list, "%s: member %q has a nil slice", b.Name(), id)
		for i, tp := range list {
			switch {
			case i > 0 && compareTopicPartitions(list[i-1], tp) >= 0:
				t.Fatalf("%s: %q's partitions not sorted: %v", b.Name(), id, list)
			case !subscribed[id][tp.Topic]:
				t.Fatalf("%s: %s given to %q, not subscribed", b.Name(), tp, id)
			case tp.Partition < 0 || tp.Partition >= partitions[tp.Topic]:
				t.Fatalf("%s: %s out of range", b.Name(), tp)
			}
			owners[tp]++
		}
	}
	want := 0
	allTopics := map[string]bool{}
	for _, topics := range subscribed {
		for topic := range topics {
			allTopics[topic] = true
		}
	}
	for topic := range allTopics {
		for p := int32(0); p < partitions[topic]; p++ {
			want++
			if n := owners[TopicPartition{topic, p}]; n != 1 {
				t.Fatalf("%s: %s-%d has %d owners", b.Name(), topic, p, n)
			}
		}
	}
	require.Len(t, owners, want, "%s: assigned partitions", b.Name())
}

// requireStickyBalanced checks the sticky balance goal: no partition could
// move from its member, holding a partitions, to another member subscribed to
// its topic holding b with a > b+1.
func requireStickyBalanced(t *testing.T, b Balancer, members []BalancerMember, got map[string][]TopicPartition) {
	t.Helper()
	// fewest[topic] is the smallest count of a member subscribed to topic.
	fewest := map[string]int{}
	for _, m := range members {
		for _, topic := range m.Topics {
			if n, ok := fewest[topic]; !ok || len(got[m.ID]) < n {
				fewest[topic] = len(got[m.ID])
			}
		}
	}
	for _, from := range members {
		for _, tp := range got[from.ID] {
			if len(got[from.ID]) > fewest[tp.Topic]+1 {
				t.Fatalf("%s: %s could move from %q (%d partitions) to a member of topic %q with %d",
					b.Name(), tp, from.ID, len(got[from.ID]), tp.Topic, fewest[tp.Topic])
			}
		}
	}
}

func TestBalancerNames(t *testing.T) {
	for _, tc := range []struct {
		b           Balancer
		name        string
		cooperative bool
	}{
		{RangeBalancer(), "range", false},
		{RoundRobinBalancer(), "roundrobin", false},
		{StickyBalancer(), "sticky", false},
		{CooperativeStickyBalancer(), "cooperative-sticky", true},
	} {
		require.Equal(t, tc.name, tc.b.Name())
		require.Equal(t, tc.cooperative, tc.b.Cooperative(), tc.name)
	}
}

func TestRangeBalancer(t *testing.T) {
	for _, tc := range []struct {
		name       string
		members    []BalancerMember
		partitions map[string]int32
		want       map[string][]TopicPartition
	}{{
		name:       "kafka example",
		members:    []BalancerMember{member("C0", "t0", "t1"), member("C1", "t0", "t1")},
		partitions: map[string]int32{"t0": 3, "t1": 3},
		want: map[string][]TopicPartition{
			"C0": tps("t0-0", "t0-1", "t1-0", "t1-1"),
			"C1": tps("t0-2", "t1-2"),
		},
	}, {
		name:       "3 members 7 partitions",
		members:    []BalancerMember{member("C0", "t0"), member("C1", "t0"), member("C2", "t0")},
		partitions: map[string]int32{"t0": 7},
		want: map[string][]TopicPartition{
			"C0": tps("t0-0", "t0-1", "t0-2"),
			"C1": tps("t0-3", "t0-4"),
			"C2": tps("t0-5", "t0-6"),
		},
	}, {
		name: "different subscriptions",
		members: []BalancerMember{
			member("C0", "t0", "t1"), member("C1", "t0"), member("C2", "t1", "t2"), member("C3"),
		},
		partitions: map[string]int32{"t0": 3, "t1": 4, "t2": 1, "unsubscribed": 5},
		want: map[string][]TopicPartition{
			"C0": tps("t0-0", "t0-1", "t1-0", "t1-1"),
			"C1": tps("t0-2"),
			"C2": tps("t1-2", "t1-3", "t2-0"),
			"C3": {},
		},
	}, {
		name:       "more members than partitions",
		members:    []BalancerMember{member("C0", "t0"), member("C1", "t0"), member("C2", "t0")},
		partitions: map[string]int32{"t0": 2},
		want: map[string][]TopicPartition{
			"C0": tps("t0-0"),
			"C1": tps("t0-1"),
			"C2": {},
		},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			got := balanceChecked(t, RangeBalancer(), tc.members, tc.partitions)
			require.Equal(t, tc.want, got)
		})
	}
}

func TestRoundRobinBalancer(t *testing.T) {
	for _, tc := range []struct {
		name       string
		members    []BalancerMember
		partitions map[string]int32
		want       map[string][]TopicPartition
	}{{
		name:       "kafka example",
		members:    []BalancerMember{member("C0", "t0", "t1"), member("C1", "t0", "t1")},
		partitions: map[string]int32{"t0": 3, "t1": 3},
		want: map[string][]TopicPartition{
			"C0": tps("t0-0", "t0-2", "t1-1"),
			"C1": tps("t0-1", "t1-0", "t1-2"),
		},
	}, {
		name:       "3 members 7 partitions",
		members:    []BalancerMember{member("C0", "t0"), member("C1", "t0"), member("C2", "t0")},
		partitions: map[string]int32{"t0": 7},
		want: map[string][]TopicPartition{
			"C0": tps("t0-0", "t0-3", "t0-6"),
			"C1": tps("t0-1", "t0-4"),
			"C2": tps("t0-2", "t0-5"),
		},
	}, {
		// Kafka's RoundRobinAssignor documentation example for unequal subscriptions.
		name:       "kafka unequal subscriptions",
		members:    []BalancerMember{member("C0", "t0"), member("C1", "t0", "t1"), member("C2", "t0", "t1", "t2")},
		partitions: map[string]int32{"t0": 1, "t1": 2, "t2": 3},
		want: map[string][]TopicPartition{
			"C0": tps("t0-0"),
			"C1": tps("t1-0"),
			"C2": tps("t1-1", "t2-0", "t2-1", "t2-2"),
		},
	}, {
		name:       "member without topics",
		members:    []BalancerMember{member("C0"), member("C1", "t0", "t1"), member("C2", "t1")},
		partitions: map[string]int32{"t0": 2, "t1": 3},
		want: map[string][]TopicPartition{
			"C0": {},
			"C1": tps("t0-0", "t0-1", "t1-1"),
			"C2": tps("t1-0", "t1-2"),
		},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			got := balanceChecked(t, RoundRobinBalancer(), tc.members, tc.partitions)
			require.Equal(t, tc.want, got)
		})
	}
}

// TestStickyBalancerKafkaExamples replays the examples of Kafka's
// StickyAssignor documentation.
func TestStickyBalancerKafkaExamples(t *testing.T) {
	for _, b := range stickyBalancers() {
		t.Run(b.Name(), func(t *testing.T) {
			// Identical subscriptions: 3 members, 4 topics of 2 partitions.
			members := []BalancerMember{
				member("C0", "t0", "t1", "t2", "t3"),
				member("C1", "t0", "t1", "t2", "t3"),
				member("C2", "t0", "t1", "t2", "t3"),
			}
			partitions := map[string]int32{"t0": 2, "t1": 2, "t2": 2, "t3": 2}
			got := balanceChecked(t, b, members, partitions)
			require.Equal(t, map[string][]TopicPartition{
				"C0": tps("t0-0", "t1-1", "t3-0"),
				"C1": tps("t0-1", "t2-0", "t3-1"),
				"C2": tps("t1-0", "t2-1"),
			}, got)
			// C1 leaves: C0 and C2 keep theirs and split C1's.
			members = withOwned([]BalancerMember{members[0], members[2]}, got)
			got = balanceChecked(t, b, members, partitions)
			require.Equal(t, map[string][]TopicPartition{
				"C0": tps("t0-0", "t1-1", "t2-0", "t3-0"),
				"C2": tps("t0-1", "t1-0", "t2-1", "t3-1"),
			}, got)

			// Unequal subscriptions.
			members = []BalancerMember{member("C0", "t0"), member("C1", "t0", "t1"), member("C2", "t0", "t1", "t2")}
			partitions = map[string]int32{"t0": 1, "t1": 2, "t2": 3}
			got = balanceChecked(t, b, members, partitions)
			require.Equal(t, map[string][]TopicPartition{
				"C0": tps("t0-0"),
				"C1": tps("t1-0", "t1-1"),
				"C2": tps("t2-0", "t2-1", "t2-2"),
			}, got)
			// C0 leaves.
			members = withOwned(members[1:], got)
			got = balanceChecked(t, b, members, partitions)
			require.Equal(t, map[string][]TopicPartition{
				"C1": tps("t0-0", "t1-0", "t1-1"),
				"C2": tps("t2-0", "t2-1", "t2-2"),
			}, got)
		})
	}
}

// TestStickyBalancerOwnedValidity checks which owned partitions count.
func TestStickyBalancerOwnedValidity(t *testing.T) {
	members := []BalancerMember{
		// C0 owns t0-3 first, so C1's claim of it is ignored; "gone" and
		// t0-9 do not exist; C0 does not subscribe to t1.
		{ID: "C0", Topics: []string{"t0"}, Owned: tps("t0-3", "gone-0", "t0-9", "t1-0", "t0-3")},
		{ID: "C1", Topics: []string{"t0", "t1"}, Owned: tps("t0-3", "t0-2", "t1-0")},
	}
	partitions := map[string]int32{"t0": 4, "t1": 1}
	for _, b := range stickyBalancers() {
		got := balanceChecked(t, b, members, partitions)
		require.Equal(t, map[string][]TopicPartition{
			"C0": tps("t0-0", "t0-1", "t0-3"),
			"C1": tps("t0-2", "t1-0"),
		}, got, b.Name())
	}
}

// TestStickyBalancerChoices pins the deterministic choices of the sticky
// algorithm.
func TestStickyBalancerChoices(t *testing.T) {
	for _, b := range stickyBalancers() {
		t.Run(b.Name(), func(t *testing.T) {
			// Identical subscriptions: an over-quota member gives up its
			// highest-sorted partitions, which go, in order, to the member
			// with the fewest (ties: member order).
			members := []BalancerMember{
				{ID: "C0", Topics: []string{"t0"}, Owned: tps("t0-4", "t0-0", "t0-3", "t0-1", "t0-2")},
				{ID: "C1", Topics: []string{"t0"}, Owned: tps("t0-5")},
				{ID: "C2", Topics: []string{"t0"}},
			}
			got := balanceChecked(t, b, members, map[string]int32{"t0": 6})
			require.Equal(t, map[string][]TopicPartition{
				"C0": tps("t0-0", "t0-1"),
				"C1": tps("t0-3", "t0-5"),
				"C2": tps("t0-2", "t0-4"),
			}, got)

			// Different subscriptions: the most-loaded member (B) gives its
			// highest partitions to the least-loaded eligible member (C); A,
			// which can also give to C, keeps its partitions.
			members = []BalancerMember{
				{ID: "A", Topics: []string{"t0", "t1"}, Owned: tps("t0-0", "t0-1", "t1-0")},
				{ID: "B", Topics: []string{"t0", "t1"}, Owned: tps("t0-2", "t0-3", "t1-1", "t1-2", "t1-3")},
				{ID: "C", Topics: []string{"t1"}},
			}
			got = balanceChecked(t, b, members, map[string]int32{"t0": 4, "t1": 4})
			require.Equal(t, map[string][]TopicPartition{
				"A": tps("t0-0", "t0-1", "t1-0"),
				"B": tps("t0-2", "t0-3", "t1-1"),
				"C": tps("t1-2", "t1-3"),
			}, got)
		})
	}
}

// randomGroup builds a random group: 1-12 members (some static), 1-5 topics
// of 1-40 partitions, random subscriptions (all identical in about a third of
// the cases) and random prior ownership, including partitions of unsubscribed
// or unknown topics, out-of-range partitions and partitions several members
// claim.
func randomGroup(r *rand.Rand) ([]BalancerMember, map[string]int32) {
	nTopics := 1 + r.IntN(5)
	partitions := map[string]int32{}
	var topics []string
	for i := range nTopics {
		name := fmt.Sprintf("t%d", i)
		topics = append(topics, name)
		partitions[name] = int32(1 + r.IntN(40))
	}
	randomTopics := func() []string {
		var out []string
		for _, topic := range topics {
			if r.IntN(3) > 0 {
				out = append(out, topic)
			}
		}
		return out
	}
	homogeneous := r.IntN(3) == 0
	shared := randomTopics()

	nMembers := 1 + r.IntN(12)
	members := make([]BalancerMember, nMembers)
	for i, idx := range r.Perm(nMembers) {
		m := BalancerMember{ID: fmt.Sprintf("m%02d", idx)}
		if r.IntN(3) == 0 {
			m.InstanceID = fmt.Sprintf("i%02d", r.IntN(100))
		}
		if homogeneous {
			m.Topics = slices.Clone(shared)
		} else {
			m.Topics = randomTopics()
		}
		for range r.IntN(20) {
			topic := topics[r.IntN(len(topics))]
			tp := TopicPartition{Topic: topic, Partition: int32(r.IntN(int(partitions[topic])))}
			switch r.IntN(20) {
			case 0:
				tp.Topic = "gone"
			case 1:
				tp.Partition += partitions[topic]
			case 2:
				tp.Partition = -1 - tp.Partition
			}
			m.Owned = append(m.Owned, tp)
		}
		members[i] = m
	}
	sortBalancerMembers(members)
	return members, partitions
}

func TestBalancerRandomProperties(t *testing.T) {
	r := rand.New(rand.NewPCG(20240611, 7))
	for i := range 1000 {
		members, partitions := randomGroup(r)
		for _, b := range allBalancers() {
			got := balanceChecked(t, b, members, partitions)
			if b.Name() == "sticky" || b.Name() == "cooperative-sticky" {
				requireStickyBalanced(t, b, members, got)
				// Feeding the result back as ownership changes nothing.
				require.Equal(t, got, balanceChecked(t, b, withOwned(members, got), partitions), "case %d: %s not at a fixed point", i, b.Name())
				requireStickyKeepsMost(t, b, members, partitions, got)
			}
			if t.Failed() {
				t.Fatalf("case %d: %s: members %+v partitions %v", i, b.Name(), members, partitions)
			}
		}
	}
}

// requireStickyKeepsMost checks, with identical subscriptions, that the
// balancer keeps as many valid owned partitions as any balanced assignment
// can: each member keeps min(valid owned, quota), where the quota is the
// ceiling of P/N for the P%N members that own the most and the floor for the
// others.
func requireStickyKeepsMost(t *testing.T, b Balancer, members []BalancerMember, partitions map[string]int32, got map[string][]TopicPartition) {
	t.Helper()
	for _, m := range members[1:] {
		if !slices.Equal(m.Topics, members[0].Topics) {
			return
		}
	}
	total := 0
	for _, topic := range members[0].Topics {
		total += int(partitions[topic])
	}
	claimed := map[TopicPartition]bool{}
	valid := make([]int, len(members))
	kept := 0
	for i, m := range members {
		for _, tp := range m.Owned {
			if claimed[tp] || !slices.Contains(m.Topics, tp.Topic) || tp.Partition < 0 || tp.Partition >= partitions[tp.Topic] {
				continue
			}
			claimed[tp] = true
			valid[i]++
			if slices.Contains(got[m.ID], tp) {
				kept++
			}
		}
	}
	slices.Sort(valid)
	slices.Reverse(valid)
	best := 0
	for i, v := range valid {
		quota := total / len(members)
		if i < total%len(members) {
			quota++
		}
		best += min(v, quota)
	}
	require.Equal(t, best, kept, "%s kept %d owned partitions, could keep %d", b.Name(), kept, best)
}

// homogeneousGroup returns n members named m00, m01, ... subscribed to the
// same topics, and the topics' partition counts.
func homogeneousGroup(n int, topics int, perTopic int32) ([]BalancerMember, map[string]int32) {
	partitions := map[string]int32{}
	var names []string
	for i := range topics {
		name := fmt.Sprintf("topic%d", i)
		names = append(names, name)
		partitions[name] = perTopic
	}
	members := make([]BalancerMember, n)
	for i := range members {
		members[i] = BalancerMember{ID: fmt.Sprintf("m%02d", i), Topics: slices.Clone(names)}
	}
	return members, partitions
}

// ownerOf inverts an assignment.
func ownerOf(assignment map[string][]TopicPartition) map[TopicPartition]string {
	out := map[TopicPartition]string{}
	for id, list := range assignment {
		for _, tp := range list {
			out[tp] = id
		}
	}
	return out
}

// moved returns the partitions whose owner differs between before and after,
// sorted, and the members that received them.
func moved(before, after map[string][]TopicPartition) ([]TopicPartition, map[string]bool) {
	prev := ownerOf(before)
	var out []TopicPartition
	to := map[string]bool{}
	for tp, id := range ownerOf(after) {
		if prev[tp] != id {
			out = append(out, tp)
			to[id] = true
		}
	}
	slices.SortFunc(out, compareTopicPartitions)
	return out, to
}

func requireCountsWithinOne(t *testing.T, got map[string][]TopicPartition) {
	t.Helper()
	lo, hi := -1, -1
	for _, list := range got {
		if lo < 0 || len(list) < lo {
			lo = len(list)
		}
		hi = max(hi, len(list))
	}
	require.LessOrEqual(t, hi-lo, 1, "counts not balanced: %v", got)
}

func TestStickyBalancerStickiness(t *testing.T) {
	const total = 64
	for _, b := range stickyBalancers() {
		t.Run(b.Name(), func(t *testing.T) {
			members, partitions := homogeneousGroup(8, 2, total/2)
			initial := balanceChecked(t, b, members, partitions)
			requireCountsWithinOne(t, initial)
			members = withOwned(members, initial)

			t.Run("no change", func(t *testing.T) {
				got := balanceChecked(t, b, members, partitions)
				require.Equal(t, initial, got)
			})

			t.Run("add member", func(t *testing.T) {
				for _, newcomer := range []BalancerMember{
					{ID: "a-first", Topics: members[0].Topics},
					{ID: "m03x", Topics: members[0].Topics},
					{ID: "z-last", Topics: members[0].Topics},
					{ID: "z-static", InstanceID: "static", Topics: members[0].Topics},
				} {
					grown := append(cloneMembers(members), newcomer)
					sortBalancerMembers(grown)
					got := balanceChecked(t, b, grown, partitions)
					requireCountsWithinOne(t, got)
					mv, to := moved(initial, got)
					require.LessOrEqual(t, len(mv), (total+len(members))/(len(members)+1), "%s: moved %v", newcomer.ID, mv)
					require.Equal(t, map[string]bool{newcomer.ID: true}, to, "%s: moved %v", newcomer.ID, mv)
				}
			})

			t.Run("remove member", func(t *testing.T) {
				for i := range members {
					shrunk := slices.Delete(cloneMembers(members), i, i+1)
					got := balanceChecked(t, b, shrunk, partitions)
					requireCountsWithinOne(t, got)
					mv, _ := moved(initial, got)
					require.Equal(t, initial[members[i].ID], mv, "removing %s", members[i].ID)
				}
			})

			t.Run("grow one by one", func(t *testing.T) {
				group, _ := homogeneousGroup(1, 2, total/2)
				prev := balanceChecked(t, b, group, partitions)
				for n := 1; n < 20; n++ {
					group = withOwned(group, prev)
					group = append(group, BalancerMember{ID: fmt.Sprintf("n%02d", n), Topics: group[0].Topics})
					got := balanceChecked(t, b, group, partitions)
					requireCountsWithinOne(t, got)
					mv, to := moved(prev, got)
					require.LessOrEqual(t, len(mv), (total+n)/(n+1), "n=%d: moved %v", n, mv)
					require.Equal(t, map[string]bool{group[n].ID: true}, to, "n=%d: moved %v", n, mv)
					prev = got
				}
			})
		})
	}
}

// fakeBalancer is a deliberately wrong Balancer: it corrupts the range
// balancer's result with corrupt.
type fakeBalancer struct {
	corrupt func(map[string][]TopicPartition)
}

func (fakeBalancer) Name() string      { return "fake" }
func (fakeBalancer) Cooperative() bool { return false }
func (f fakeBalancer) Balance(members []BalancerMember, partitions map[string]int32) map[string][]TopicPartition {
	got := RangeBalancer().Balance(members, partitions)
	f.corrupt(got)
	return got
}

func TestBalancerCheckAssignment(t *testing.T) {
	members := []BalancerMember{member("C0", "t0", "t1"), member("C1", "t0")}
	partitions := map[string]int32{"t0": 3, "t1": 2}
	// The range balancer gives C0=[t0-0 t0-1 t1-0 t1-1], C1=[t0-2].
	for _, tc := range []struct {
		name    string
		corrupt func(map[string][]TopicPartition)
		wantErr string
	}{
		{"valid", func(map[string][]TopicPartition) {}, ""},
		{"member omitted", func(got map[string][]TopicPartition) {
			got["C0"] = append(got["C0"], got["C1"]...)
			delete(got, "C1")
		}, ""},
		{"missing partition", func(got map[string][]TopicPartition) {
			got["C0"] = got["C0"][:3]
		}, "did not assign t1-1"},
		{"duplicate", func(got map[string][]TopicPartition) {
			got["C1"] = append(got["C1"], TopicPartition{"t0", 0})
		}, `assigned t0-0 to both member "C0" and member "C1"`},
		{"unsubscribed member", func(got map[string][]TopicPartition) {
			got["C0"] = got["C0"][:3]
			got["C1"] = append(got["C1"], TopicPartition{"t1", 1})
		}, `assigned t1-1 to member "C1", which does not subscribe to topic "t1"`},
		{"unknown member", func(got map[string][]TopicPartition) {
			got["C9"] = got["C1"]
			delete(got, "C1")
		}, `unknown member "C9"`},
		{"unknown member with nothing", func(got map[string][]TopicPartition) {
			got["C9"] = nil
		}, `unknown member "C9"`},
		{"out of range", func(got map[string][]TopicPartition) {
			got["C1"] = append(got["C1"], TopicPartition{"t0", 3})
		}, `assigned t0-3 to member "C1", but topic "t0" has 3 partitions`},
		{"negative partition", func(got map[string][]TopicPartition) {
			got["C1"] = append(got["C1"], TopicPartition{"t0", -1})
		}, `assigned t0--1`},
		{"unsubscribed topic", func(got map[string][]TopicPartition) {
			got["C1"] = append(got["C1"], TopicPartition{"other", 0})
		}, `does not subscribe to topic "other"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := fakeBalancer{corrupt: tc.corrupt}
			err := checkAssignment(b, members, partitions, b.Balance(members, partitions))
			if tc.wantErr == "" {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			require.True(t, errors.Is(err, ErrInvalidArgument), "%v", err)
			require.Contains(t, err.Error(), `balancer "fake"`)
			require.Contains(t, err.Error(), tc.wantErr)
		})
	}

	t.Run("member without topics omitted", func(t *testing.T) {
		ms := []BalancerMember{member("C0", "t0"), member("C1")}
		require.NoError(t, checkAssignment(RangeBalancer(), ms, partitions, map[string][]TopicPartition{"C0": tps("t0-0", "t0-1", "t0-2")}))
	})
	t.Run("nil balancer", func(t *testing.T) {
		err := checkAssignment(nil, members, partitions, nil)
		require.ErrorIs(t, err, ErrInvalidArgument)
		require.Contains(t, err.Error(), `balancer "<nil>": did not assign t0-0`)
	})
}

func TestSortBalancerMembers(t *testing.T) {
	ms := []BalancerMember{
		{ID: "d"},
		{ID: "x", InstanceID: "inst-b"},
		{ID: "a"},
		{ID: "c", InstanceID: "inst-a"},
		{ID: "b", InstanceID: "inst-b"},
		{ID: "c2"},
	}
	sortBalancerMembers(ms)
	var got []string
	for _, m := range ms {
		got = append(got, m.InstanceID+"/"+m.ID)
	}
	require.Equal(t, []string{"inst-a/c", "inst-b/b", "inst-b/x", "/a", "/c2", "/d"}, got)

	sortBalancerMembers(nil) // must not panic
}

func TestBalancerEdgeCases(t *testing.T) {
	for _, b := range allBalancers() {
		t.Run(b.Name(), func(t *testing.T) {
			got := balanceChecked(t, b, nil, nil)
			require.NotNil(t, got)
			require.Empty(t, got)

			got = balanceChecked(t, b, []BalancerMember{member("a"), member("b")}, map[string]int32{"t0": 3})
			require.Equal(t, map[string][]TopicPartition{"a": {}, "b": {}}, got)

			// Zero, negative and unknown counts; unsorted, duplicated topics.
			members := []BalancerMember{
				member("a", "zero", "t0", "neg", "missing", "t0"),
				{ID: "b", Topics: []string{"t0", "zero"}, Owned: append(tps("zero-0", "neg-0", "missing-0"), TopicPartition{"t0", -5})},
			}
			got = balanceChecked(t, b, members, map[string]int32{"zero": 0, "neg": -4, "t0": 2})
			require.Len(t, got["a"], 1)
			require.Len(t, got["b"], 1)

			// A duplicated id: only the first member with it counts.
			members = []BalancerMember{member("a", "t0"), member("b", "t0"), member("a", "t1")}
			got = balanceChecked(t, b, members, map[string]int32{"t0": 4, "t1": 4})
			require.Len(t, got["a"], 2)
			require.Len(t, got["b"], 2)

			// More members than partitions, nil partitions map.
			got = balanceChecked(t, b, []BalancerMember{member("a", "t0")}, nil)
			require.Equal(t, map[string][]TopicPartition{"a": {}}, got)
		})
	}
}

// TestBalancerResultSlicesIndependent checks that the returned slices do not
// share storage visibly: appending to one leaves the others intact.
func TestBalancerResultSlicesIndependent(t *testing.T) {
	members, partitions := homogeneousGroup(3, 1, 6)
	for _, b := range allBalancers() {
		got := b.Balance(members, partitions)
		want := map[string][]TopicPartition{}
		for id, list := range got {
			want[id] = slices.Clone(list)
		}
		for id := range got {
			got[id] = append(got[id], TopicPartition{"junk", 99})
		}
		for id := range got {
			require.Equal(t, want[id], got[id][:len(got[id])-1], "%s: %s", b.Name(), id)
		}
	}
}

// stickyBenchGroup returns a group of n members subscribed to topics whose
// partitions add up to total, owning a balanced assignment made for all but
// the last member, which has just joined.
func stickyBenchGroup(b *testing.B, n, topics, total int) ([]BalancerMember, map[string]int32) {
	members, partitions := homogeneousGroup(n, topics, int32(total/topics))
	prior := StickyBalancer().Balance(members[:n-1], partitions)
	members = withOwned(members, prior)
	if err := checkAssignment(StickyBalancer(), members[:n-1], partitions, prior); err != nil {
		b.Fatal(err)
	}
	return members, partitions
}

func BenchmarkStickyBalance(b *testing.B) {
	for _, size := range []struct{ members, topics, partitions int }{
		{8, 2, 64},
		{100, 10, 1000},
	} {
		b.Run(fmt.Sprintf("%dx%d", size.members, size.partitions), func(b *testing.B) {
			members, partitions := stickyBenchGroup(b, size.members, size.topics, size.partitions)
			b.ReportAllocs()
			for b.Loop() {
				StickyBalancer().Balance(members, partitions)
			}
		})
	}
	// Heterogeneous subscriptions with the worst start for the balancing
	// loop: one member owns every partition it subscribes to.
	b.Run("100x1000-heterogeneous", func(b *testing.B) {
		r := rand.New(rand.NewPCG(1, 2))
		members, partitions := homogeneousGroup(100, 10, 100)
		for i := range members {
			members[i].Topics = slices.DeleteFunc(members[i].Topics, func(string) bool { return r.IntN(2) == 0 })
		}
		for _, topic := range members[0].Topics {
			for p := range partitions[topic] {
				members[0].Owned = append(members[0].Owned, TopicPartition{topic, p})
			}
		}
		b.ReportAllocs()
		for b.Loop() {
			StickyBalancer().Balance(members, partitions)
		}
	})
}
