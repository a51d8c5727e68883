package commitlog

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"time"
)

// GroupState is the state of a consumer group.
type GroupState uint8

const (
	// GroupEmpty: no members; the group exists through its committed
	// offsets.
	GroupEmpty GroupState = iota
	// GroupStable: every member owns exactly its assignment.
	GroupStable
	// GroupReconciling: some members have partitions to give up or take
	// after a rebalance (they do so in their next Poll).
	GroupReconciling
)

// GroupDescription describes a consumer group at one moment.
type GroupDescription struct {
	Name     string
	State    GroupState
	Balancer string // the members' balancer; "" without members
	Epoch    int32  // the group's generation: bumped by every rebalance
	Members  []MemberDescription
	// Partitions lists every partition the group has a committed offset
	// for or a member is assigned, sorted.
	Partitions []PartitionLag
}

// MemberDescription describes one member of a group.
type MemberDescription struct {
	ID         string
	InstanceID string // "" for a dynamic member
	Topics     []string
	Assigned   []TopicPartition // its target assignment
	Owned      []TopicPartition // what it consumes now (differs while reconciling)
	// Departed is true for a static member that closed and whose
	// partitions stay reserved until its SessionTimeout.
	Departed bool
}

// PartitionLag is a group's progress in one partition.
type PartitionLag struct {
	TopicPartition
	Committed     int64     // committed offset; -1 if none
	CommittedAt   time.Time // when it was committed; zero if none
	HighWatermark int64     // the partition's high watermark; -1 if its topic no longer exists
	// Lag is HighWatermark - Committed, at least 0: records not yet
	// consumed by the group. It is -1 when either is unknown.
	Lag   int64
	Owner string // the member id owning it now; "" if none
}

// ListGroups returns the names of the consumer groups that have members or
// committed offsets, sorted. It reads what the Log keeps in memory and
// never waits for I/O, so it takes no context (see Concurrency in the
// package documentation).
func (l *Log) ListGroups() []string {
	names := l.offsets.groupNames()
	names = append(names, l.groups.groupNames()...)
	slices.Sort(names)
	return slices.Compact(names)
}

// DescribeGroup describes group: its members and their assignments, and
// its committed offsets with the lag of each partition. It reads what the
// Log keeps in memory and never waits for I/O, so it takes no context
// (see Concurrency in the package documentation).
//
// Errors: ErrUnknownGroup, ErrClosed.
func (l *Log) DescribeGroup(group string) (GroupDescription, error) {
	if l.isClosed() {
		return GroupDescription{}, ErrClosed
	}
	d := GroupDescription{Name: group}
	owners := map[TopicPartition]string{}
	assigned := map[TopicPartition]bool{}
	if g, ok := l.groups.describe(group); ok {
		d.Epoch = g.Epoch
		d.Balancer = g.Balancer
		d.State = GroupStable
		for _, m := range g.Members {
			md := MemberDescription{
				ID: m.ID, InstanceID: m.InstanceID, Topics: m.Topics, Departed: m.Departed,
				Assigned: topicPartitions(m.Target), Owned: topicPartitions(m.Owned),
			}
			if !slices.Equal(md.Assigned, md.Owned) {
				d.State = GroupReconciling
			}
			for _, tp := range md.Assigned {
				assigned[tp] = true
			}
			d.Members = append(d.Members, md)
		}
		for p, id := range g.Owners {
			owners[TopicPartition(p)] = id
		}
	}
	slices.SortFunc(d.Members, func(a, b MemberDescription) int { return compareMemberIDs(a.ID, b.ID) })

	committed, err := l.offsets.groupOffsets(group)
	if err != nil {
		return GroupDescription{}, err
	}
	if len(d.Members) == 0 && len(committed) == 0 {
		return GroupDescription{}, fmt.Errorf("%w: %q", ErrUnknownGroup, group)
	}
	for tp := range committed {
		assigned[tp] = true
	}
	for _, tp := range slices.SortedFunc(maps.Keys(assigned), compareTopicPartitions) {
		pl := PartitionLag{TopicPartition: tp, Committed: -1, HighWatermark: -1, Lag: -1, Owner: owners[tp]}
		if co, ok := committed[tp]; ok {
			pl.Committed, pl.CommittedAt = co.Offset, co.Time
		}
		if p, err := l.partition(tp); err == nil {
			pl.HighWatermark = p.HighWatermark()
		}
		if pl.Committed >= 0 && pl.HighWatermark >= 0 {
			pl.Lag = max(0, pl.HighWatermark-pl.Committed)
		}
		d.Partitions = append(d.Partitions, pl)
	}
	return d, nil
}

// compareMemberIDs orders "member-9" before "member-10".
func compareMemberIDs(a, b string) int {
	if len(a) != len(b) {
		return len(a) - len(b)
	}
	return cmp.Compare(a, b)
}

// OffsetSpec says where ResetGroupOffsets moves a group's offsets. Make
// one with EarliestOffset, LatestOffset, OffsetAtTime or ExactOffset.
type OffsetSpec struct {
	kind   offsetSpecKind
	offset int64
	time   time.Time
}

type offsetSpecKind uint8

const (
	specEarliest offsetSpecKind = iota
	specLatest
	specTime
	specExact
)

// EarliestOffset is each partition's start offset: reprocess everything
// that is kept.
func EarliestOffset() OffsetSpec { return OffsetSpec{kind: specEarliest} }

// LatestOffset is each partition's high watermark: skip everything so
// far.
func LatestOffset() OffsetSpec { return OffsetSpec{kind: specLatest} }

// OffsetAtTime is each partition's first record with a timestamp at or
// after t (the high watermark if there is none).
func OffsetAtTime(t time.Time) OffsetSpec { return OffsetSpec{kind: specTime, time: t} }

// ExactOffset is offset, clamped to each partition's [start, high
// watermark] as Kafka's reset tool does.
func ExactOffset(offset int64) OffsetSpec { return OffsetSpec{kind: specExact, offset: offset} }

func (s OffsetSpec) resolve(p *Partition) (int64, error) {
	return s.Resolve(p.StartOffset(), p.HighWatermark(), p.OffsetForTime)
}

// Resolve returns the offset s names in a partition whose start offset is
// start and whose high watermark is hw; atTime, called only for an
// OffsetAtTime spec, returns the partition's first offset with a
// timestamp at or after its argument (hw if none). It is how every
// backend's ResetGroupOffsets applies a spec the same way; the error is
// atTime's.
func (s OffsetSpec) Resolve(start, hw int64, atTime func(time.Time) (int64, error)) (int64, error) {
	switch s.kind {
	case specEarliest:
		return start, nil
	case specLatest:
		return hw, nil
	case specTime:
		return atTime(s.time)
	default:
		return min(max(s.offset, start), hw), nil
	}
}

// ResetGroupOffsets sets group's committed offsets for tps (none given:
// every partition it has a committed offset for) to the offset that to
// names in each partition, in one atomic, durable commit, and returns
// them. The group must have no members (close its consumers first), as
// with Kafka's kafka-consumer-groups --reset-offsets.
//
// It blocks until the commit is durable, as a commit does (under
// SyncAlways: fsynced, with the data below the new offsets). If ctx ends
// first it returns the context's error, wrapped; a reset whose commit was
// already written may then still take effect, as a ProduceSync cut short
// may.
//
// Errors: ErrGroupNotEmpty, ErrUnknownGroup (no tps given and no
// committed offsets), ErrUnknownTopic, ErrUnknownPartition, ErrClosed,
// the context's error.
func (l *Log) ResetGroupOffsets(ctx context.Context, group string, to OffsetSpec, tps ...TopicPartition) (map[TopicPartition]int64, error) {
	if l.isClosed() {
		return nil, ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("reset offsets of group %q: %w", group, err)
	}
	if len(tps) == 0 {
		committed, err := l.offsets.groupOffsets(group)
		if err != nil {
			return nil, fmt.Errorf("reset offsets of group %q: %w", group, err)
		}
		tps = slices.Collect(maps.Keys(committed))
		if len(tps) == 0 {
			return nil, fmt.Errorf("%w: %q has no committed offsets to reset; name the partitions", ErrUnknownGroup, group)
		}
	}
	out := map[TopicPartition]int64{}
	var writes []offsetWrite
	for _, tp := range slices.SortedFunc(slices.Values(tps), compareTopicPartitions) {
		if _, dup := out[tp]; dup {
			continue
		}
		p, err := l.partition(tp)
		if err != nil {
			return nil, err
		}
		off, err := to.resolve(p)
		if err != nil {
			return nil, err
		}
		if off > p.DurableOffset() {
			if err := p.syncTo(ctx, off); err != nil {
				return nil, fmt.Errorf("reset offsets of group %q: sync %v to offset %d: %w", group, tp, off, err)
			}
		}
		out[tp] = off
		writes = append(writes, offsetWrite{tp: tp, offset: off, epoch: noLeaderEpoch})
	}
	if err := l.groups.write(ctx, group, nil, writes); err != nil {
		return nil, fmt.Errorf("reset offsets of group %q: %w", group, err)
	}
	return out, nil
}

// DeleteGroup deletes group's committed offsets (durably, as tombstones
// in __consumer_offsets). The group must have no members (close its
// consumers first).
//
// It blocks until the deletion is durable, as a commit does. If ctx ends
// first it returns the context's error, wrapped; a deletion already
// written may then still take effect.
//
// Errors: ErrGroupNotEmpty, ErrUnknownGroup, ErrClosed, the context's
// error.
func (l *Log) DeleteGroup(ctx context.Context, group string) error {
	if l.isClosed() {
		return ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("delete group %q: %w", group, err)
	}
	committed, err := l.offsets.groupOffsets(group)
	if err != nil {
		return fmt.Errorf("delete group %q: %w", group, err)
	}
	if len(committed) == 0 {
		if _, ok := l.groups.describe(group); !ok {
			return fmt.Errorf("%w: %q", ErrUnknownGroup, group)
		}
	}
	writes := make([]offsetWrite, 0, len(committed))
	for _, tp := range slices.SortedFunc(maps.Keys(committed), compareTopicPartitions) {
		writes = append(writes, offsetWrite{tp: tp, delete: true})
	}
	if len(writes) == 0 {
		// Only members, no offsets: refused like any deletion of a group
		// with members.
		err = l.groups.checkEmpty(group)
	} else {
		err = l.groups.write(ctx, group, nil, writes)
	}
	if err != nil {
		return fmt.Errorf("delete group %q: %w", group, err)
	}
	return nil
}
