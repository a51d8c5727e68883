package kafka

import (
	"github.com/commitlog-go/commitlog"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// balancerAdapter runs a commitlog.Balancer of the program's own as a
// kgo.GroupBalancer: under its Name as the protocol, with Kafka's consumer
// protocol metadata (subscribed topics and owned partitions), so that
// when this member leads the group its Balance assigns the partitions.
// A cooperative one's plan is adjusted as Kafka's incremental protocol
// requires (partitions that move are first only revoked).
type balancerAdapter struct{ b commitlog.Balancer }

func (a balancerAdapter) ProtocolName() string { return a.b.Name() }
func (a balancerAdapter) IsCooperative() bool  { return a.b.Cooperative() }

func (a balancerAdapter) JoinGroupMetadata(interests []string, owned map[string][]int32, generation int32) []byte {
	meta := kmsg.NewConsumerMemberMetadata()
	meta.Version = 3
	meta.Topics = interests
	meta.Generation = generation
	for t, ps := range owned {
		o := kmsg.NewConsumerMemberMetadataOwnedPartition()
		o.Topic, o.Partitions = t, ps
		meta.OwnedPartitions = append(meta.OwnedPartitions, o)
	}
	return meta.AppendTo(nil)
}

func (balancerAdapter) ParseSyncAssignment(assignment []byte) (map[string][]int32, error) {
	return kgo.ParseConsumerSyncAssignment(assignment)
}

func (a balancerAdapter) MemberBalancer(members []kmsg.JoinGroupResponseMember) (kgo.GroupMemberBalancer, map[string]struct{}, error) {
	b, err := kgo.NewConsumerBalancer(a, members)
	if err != nil {
		return nil, nil, err
	}
	return b, b.MemberTopics(), nil
}

// Balance asks the commitlog.Balancer, with the members as Kafka's
// coordinator reported them.
func (a balancerAdapter) Balance(cb *kgo.ConsumerBalancer, topics map[string]int32) kgo.IntoSyncAssignment {
	var members []commitlog.BalancerMember
	byID := map[string]*kmsg.JoinGroupResponseMember{}
	cb.EachMember(func(m *kmsg.JoinGroupResponseMember, meta *kmsg.ConsumerMemberMetadata) {
		bm := commitlog.BalancerMember{ID: m.MemberID, Topics: meta.Topics}
		if m.InstanceID != nil {
			bm.InstanceID = *m.InstanceID
		}
		for _, o := range meta.OwnedPartitions {
			for _, p := range o.Partitions {
				bm.Owned = append(bm.Owned, commitlog.TopicPartition{Topic: o.Topic, Partition: p})
			}
		}
		members = append(members, bm)
		byID[m.MemberID] = m
	})
	plan := cb.NewPlan()
	for id, tps := range a.b.Balance(members, topics) {
		m := byID[id]
		if m == nil {
			continue // the balancer named no member of the group
		}
		for _, tp := range tps {
			plan.AddPartition(m, tp.Topic, tp.Partition)
		}
	}
	if a.b.Cooperative() {
		plan.AdjustCooperative(cb)
	}
	return plan
}
