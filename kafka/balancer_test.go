package kafka_test

import (
	"context"
	"maps"
	"slices"
	"sync"
	"testing"

	"github.com/commitlog-go/commitlog"
	"github.com/commitlog-go/commitlog/kafka"
)

// lowestTakesAll is a Balancer of a program's own: every partition to the
// member whose ID sorts first.
type lowestTakesAll struct{}

func (lowestTakesAll) Name() string      { return "lowest-takes-all" }
func (lowestTakesAll) Cooperative() bool { return false }
func (lowestTakesAll) Balance(members []commitlog.BalancerMember, partitions map[string]int32) map[string][]commitlog.TopicPartition {
	out := map[string][]commitlog.TopicPartition{}
	lowest := members[0].ID
	for _, m := range members {
		out[m.ID] = []commitlog.TopicPartition{}
		lowest = min(lowest, m.ID)
	}
	for _, t := range slices.Sorted(maps.Keys(partitions)) {
		for p := range partitions[t] {
			out[lowest] = append(out[lowest], commitlog.TopicPartition{Topic: t, Partition: p})
		}
	}
	return out
}

// TestCustomBalancer runs a group whose members use a Balancer of the
// program's own: the leader's Balance decides, under its Name.
func TestCustomBalancer(t *testing.T) {
	ctx := testCtx(t)
	f := newFake(t)
	createTopic(t, f, "cb", 4)
	notify := make(chan struct{}, 1)
	cfg := commitlog.ConsumerConfig{Group: "custom", Topics: []string{"cb"}, Balancer: lowestTakesAll{},
		OnAssigned: func(context.Context, commitlog.ConsumerClient, []commitlog.TopicPartition) {
			select {
			case notify <- struct{}{}:
			default:
			}
		}}
	var cs []commitlog.ConsumerClient
	var wg sync.WaitGroup
	pctx, stop := context.WithCancel(ctx)
	for range 2 {
		c, err := kafka.NewConsumer(f.config(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		cs = append(cs, c)
		wg.Go(func() {
			for pctx.Err() == nil {
				c.Poll(pctx) //nolint:errcheck // polled only to let the group rebalance
			}
		})
	}
	defer func() {
		stop()
		wg.Wait()
		for _, c := range cs {
			c.Close()
		}
	}()
	all := []commitlog.TopicPartition{{Topic: "cb", Partition: 0}, {Topic: "cb", Partition: 1}, {Topic: "cb", Partition: 2}, {Topic: "cb", Partition: 3}}
	settled := func() bool {
		a, b := cs[0], cs[1]
		if a.MemberID() == "" || b.MemberID() == "" {
			return false
		}
		if b.MemberID() < a.MemberID() {
			a, b = b, a
		}
		return slices.Equal(a.Assignment(), all) && len(b.Assignment()) == 0
	}
	for !settled() {
		select {
		case <-notify:
		case <-ctx.Done():
			t.Fatalf("the lowest member never took all: %v %v", cs[0].Assignment(), cs[1].Assignment())
		}
	}
	a, err := kafka.NewAdmin(f.config())
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	// The members hold their assignment a moment before the broker's
	// group is Stable again: describe it until it is (each call is a
	// round trip; ctx bounds the loop).
	var d commitlog.GroupDescription
	for {
		d, err = a.DescribeGroup(ctx, "custom")
		if err != nil || d.State == commitlog.GroupStable {
			break
		}
	}
	if err != nil || d.Balancer != "lowest-takes-all" || len(d.Members) != 2 {
		t.Fatalf("DescribeGroup: %+v, %v", d, err)
	}
}
