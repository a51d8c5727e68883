package kafka

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync/atomic"
	"time"

	"github.com/commitlog-go/commitlog"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Admin administers a Kafka cluster's topics and consumer groups with the
// contract of commitlog.AdminClient, the one a Log's Admin has; see the
// package documentation for what differs. It is safe for concurrent use.
// Close it when done.
type Admin struct {
	cl     *kgo.Client
	adm    *kadm.Client
	closed atomic.Bool
}

var _ commitlog.AdminClient = (*Admin)(nil)

// NewAdmin returns an Admin for the cluster kc names. It fails only with
// a *commitlog.ConfigError; it does not wait for the cluster.
func NewAdmin(kc Config) (*Admin, error) {
	if err := configError(kc.problems()); err != nil {
		return nil, err
	}
	cl, err := kgo.NewClient(append(kc.clientOpts(), kc.Options...)...)
	if err != nil {
		return nil, configError([]string{"kgo: " + err.Error()})
	}
	return &Admin{cl: cl, adm: kadm.NewClient(cl)}, nil
}

func (a *Admin) check(ctx context.Context) error {
	if a.closed.Load() {
		return commitlog.ErrClosed
	}
	return ctx.Err()
}

// CreateTopic creates topic name with cfg.Partitions partitions (zero:
// the cluster's num.partitions), cfg.ReplicationFactor replicas (zero:
// its default.replication.factor) or cfg.Replicas' assignment, and the
// topic configuration of every other non-zero field of cfg (Kafka's
// names: retention.ms, cleanup.policy, ...; the package documentation
// lists them); zero fields take the cluster's defaults.
//
// Errors: *commitlog.ConfigError for a cfg that fails Validate;
// ErrTopicExists, ErrInvalidTopicName, ErrInvalidConfig (a replication
// factor above the brokers, an invalid value) as the cluster reports
// them; ErrClosed; the context's error.
func (a *Admin) CreateTopic(ctx context.Context, name string, cfg commitlog.TopicConfig) error {
	if err := a.check(ctx); err != nil {
		return err
	}
	if err := validTopicName(name); err != nil {
		return err
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	req := kmsg.NewPtrCreateTopicsRequest()
	t := kmsg.NewCreateTopicsRequestTopic()
	t.Topic = name
	t.NumPartitions, t.ReplicationFactor = -1, -1
	if cfg.Partitions > 0 {
		t.NumPartitions = cfg.Partitions
	}
	if cfg.ReplicationFactor > 0 {
		t.ReplicationFactor = cfg.ReplicationFactor
	}
	if cfg.Replicas != nil {
		t.NumPartitions, t.ReplicationFactor = -1, -1
		for p, nodes := range cfg.Replicas {
			ra := kmsg.NewCreateTopicsRequestTopicReplicaAssignment()
			ra.Partition = int32(p)
			for _, n := range nodes {
				ra.Replicas = append(ra.Replicas, int32(n))
			}
			t.ReplicaAssignment = append(t.ReplicaAssignment, ra)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(topicConfigs(&cfg))) {
		c := kmsg.NewCreateTopicsRequestTopicConfig()
		c.Name, c.Value = k, topicConfigs(&cfg)[k]
		t.Configs = append(t.Configs, c)
	}
	req.Topics = append(req.Topics, t)
	req.TimeoutMillis = 30_000
	resp, err := req.RequestWith(ctx, a.cl)
	op := "create topic " + name
	if err != nil {
		return mapErr(op, err)
	}
	for _, rt := range resp.Topics {
		if rt.ErrorCode != 0 {
			return codeErr(op, rt.ErrorCode)
		}
	}
	return nil
}

// DescribeTopic returns the topic's configuration as the cluster applies
// it: partitions, replication factor and replica assignment from its
// metadata, and every field with a Kafka counterpart from its effective
// configuration, defaults included. Fields without one (MaxBatchBytes
// aside, which is max.message.bytes) are zero.
//
// Errors: ErrUnknownTopic, ErrClosed, the context's error.
func (a *Admin) DescribeTopic(ctx context.Context, name string) (commitlog.TopicConfig, error) {
	var cfg commitlog.TopicConfig
	if err := a.check(ctx); err != nil {
		return cfg, err
	}
	op := "describe topic " + name
	details, err := a.adm.ListTopics(fresh(ctx), name)
	if err != nil {
		return cfg, mapErr(op, err)
	}
	d, ok := details[name]
	if !ok || d.Err != nil {
		return cfg, &Error{Op: op, Mapped: commitlog.ErrUnknownTopic, Kafka: errOr(d.Err, errMissing)}
	}
	cfg.Partitions = int32(len(d.Partitions))
	cfg.Replicas = make([][]commitlog.NodeID, len(d.Partitions))
	for _, p := range d.Partitions.Sorted() {
		if p.Partition < 0 || int(p.Partition) >= len(cfg.Replicas) {
			continue // not numbered 0..n-1: a broker's error; skip rather than trust it
		}
		for _, r := range p.Replicas {
			cfg.Replicas[p.Partition] = append(cfg.Replicas[p.Partition], commitlog.NodeID(r))
		}
		cfg.ReplicationFactor = int16(len(p.Replicas))
	}
	rcs, err := a.adm.DescribeTopicConfigs(ctx, name)
	if err != nil {
		return cfg, mapErr(op, err)
	}
	rc, err := rcs.On(name, nil)
	if err != nil {
		return cfg, mapErr(op, err)
	}
	if rc.Err != nil {
		return cfg, mapErr(op, rc.Err)
	}
	set := map[string]string{}
	for _, c := range rc.Configs {
		if c.Value == nil {
			continue
		}
		applyTopicConfig(&cfg, c.Key, *c.Value)
		if c.Source == kmsg.ConfigSourceDynamicTopicConfig {
			set[c.Key] = *c.Value
		}
	}
	applyCompressionLevel(&cfg, set)
	return cfg, nil
}

// validTopicName applies Kafka's topic naming rules (its Topic.validate),
// which a Log applies too: the cluster would refuse the name, and some
// clusters accept what they should not.
func validTopicName(name string) error {
	rule := ""
	switch {
	case name == "":
		rule = "empty"
	case name == "." || name == "..":
		rule = `"." and ".." are not allowed`
	case len(name) > 249:
		rule = fmt.Sprintf("%d characters long; the limit is 249", len(name))
	default:
		for _, r := range name {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
				rule = fmt.Sprintf("character %q is not one of [a-zA-Z0-9._-]", r)
				break
			}
		}
	}
	if rule != "" {
		return &commitlog.TopicNameError{Name: name, Rule: rule}
	}
	return nil
}

// fresh returns ctx for a metadata request that bypasses the client's
// cache of metadata (kadm asks without the cache when authorized
// operations are wanted), so that a topic just created or deleted shows
// as it is now.
func fresh(ctx context.Context) context.Context { return kadm.WithAuthorizedOps(ctx) }

func errOr(err, or error) error {
	if err != nil {
		return err
	}
	return or
}

// DeleteTopic deletes the topic; Kafka deletes its committed offsets with
// it. Errors: ErrUnknownTopic, ErrClosed, the context's error.
func (a *Admin) DeleteTopic(ctx context.Context, name string) error {
	if err := a.check(ctx); err != nil {
		return err
	}
	resp, err := a.adm.DeleteTopic(ctx, name)
	if err == nil {
		err = resp.Err
	}
	return mapErr("delete topic "+name, err)
}

// ListTopics returns the names of the topics, internal ones excluded,
// sorted.
func (a *Admin) ListTopics(ctx context.Context) ([]string, error) {
	if err := a.check(ctx); err != nil {
		return nil, err
	}
	details, err := a.adm.ListTopics(fresh(ctx))
	if err != nil {
		return nil, mapErr("list topics", err)
	}
	details.FilterInternal()
	var names []string
	for name, d := range details {
		if d.Err == nil {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return names, nil
}

// ListGroups returns the names of the consumer groups the cluster's
// coordinators know (with members or committed offsets), sorted.
func (a *Admin) ListGroups(ctx context.Context) ([]string, error) {
	if err := a.check(ctx); err != nil {
		return nil, err
	}
	groups, err := a.adm.ListGroups(ctx)
	if err != nil {
		return nil, mapErr("list groups", err)
	}
	return slices.Sorted(maps.Keys(groups)), nil
}

// DescribeGroup describes group: its members and their assignments, and
// its committed offsets with each partition's lag against its high
// watermark. Kafka does not report a group's generation (Epoch is -1),
// when an offset was committed (CommittedAt is zero), or what a member
// owns apart from its assignment (Owned is Assigned).
//
// Errors: ErrUnknownGroup (neither members nor committed offsets),
// ErrClosed, the context's error.
func (a *Admin) DescribeGroup(ctx context.Context, group string) (commitlog.GroupDescription, error) {
	d := commitlog.GroupDescription{Name: group, Epoch: -1}
	if err := a.check(ctx); err != nil {
		return d, err
	}
	op := "describe group " + group
	dgs, err := a.adm.DescribeGroups(ctx, group)
	if err != nil {
		return d, mapErr(op, err)
	}
	dg, ok := dgs[group]
	if ok && dg.Err != nil && !errors.Is(mapErr(op, dg.Err), commitlog.ErrUnknownGroup) {
		return d, mapErr(op, dg.Err)
	}
	owners := map[commitlog.TopicPartition]string{}
	tps := map[commitlog.TopicPartition]bool{}
	switch dg.State {
	case "Stable":
		d.State = commitlog.GroupStable
	case "PreparingRebalance", "CompletingRebalance", "Reconciling", "Assigning":
		d.State = commitlog.GroupReconciling
	}
	if len(dg.Members) > 0 {
		d.Balancer = dg.Protocol
	}
	for _, m := range dg.Members {
		md := commitlog.MemberDescription{ID: m.MemberID}
		if m.InstanceID != nil {
			md.InstanceID = *m.InstanceID
		}
		if meta, ok := m.Join.AsConsumer(); ok {
			md.Topics = slices.Sorted(slices.Values(meta.Topics))
		}
		if as, ok := m.Assigned.AsConsumer(); ok {
			for _, t := range as.Topics {
				for _, p := range t.Partitions {
					tp := commitlog.TopicPartition{Topic: t.Topic, Partition: p}
					md.Assigned = append(md.Assigned, tp)
					owners[tp], tps[tp] = m.MemberID, true
				}
			}
		}
		slices.SortFunc(md.Assigned, compareTPs)
		md.Owned = md.Assigned
		d.Members = append(d.Members, md)
	}
	committed, err := fetchOffsets(ctx, a.adm, group)
	if err != nil {
		return d, mapErr(op, err)
	}
	committed.Each(func(r kadm.OffsetResponse) {
		if r.Err == nil && r.At >= 0 {
			tps[commitlog.TopicPartition{Topic: r.Topic, Partition: r.Partition}] = true
		}
	})
	if len(d.Members) == 0 && len(tps) == 0 {
		return commitlog.GroupDescription{}, fmt.Errorf("%w: %q", commitlog.ErrUnknownGroup, group)
	}
	var topics []string
	for tp := range tps {
		topics = append(topics, tp.Topic)
	}
	ends, err := a.adm.ListEndOffsets(ctx, slices.Compact(slices.Sorted(slices.Values(topics)))...)
	if err != nil {
		return d, mapErr(op, err)
	}
	for _, tp := range slices.SortedFunc(maps.Keys(tps), compareTPs) {
		pl := commitlog.PartitionLag{TopicPartition: tp, Committed: -1, HighWatermark: -1, Lag: -1, Owner: owners[tp]}
		if r, ok := committed.Lookup(tp.Topic, tp.Partition); ok && r.Err == nil && r.At >= 0 {
			pl.Committed = r.At
		}
		if e, ok := ends.Lookup(tp.Topic, tp.Partition); ok && e.Err == nil {
			pl.HighWatermark = e.Offset
		}
		if pl.Committed >= 0 && pl.HighWatermark >= 0 {
			pl.Lag = max(0, pl.HighWatermark-pl.Committed)
		}
		d.Partitions = append(d.Partitions, pl)
	}
	return d, nil
}

// ResetGroupOffsets sets group's committed offsets for tps (none given:
// every partition it has a committed offset for) to the offset to names
// in each partition, with the partitions' start offsets, high watermarks
// and time lookups the cluster reports (ListOffsets), and returns them.
// The group must have no members, as kafka-consumer-groups requires.
//
// Errors: ErrGroupNotEmpty, ErrUnknownGroup (no tps given and no
// committed offsets), ErrUnknownTopic, ErrUnknownPartition, ErrClosed,
// the context's error.
func (a *Admin) ResetGroupOffsets(ctx context.Context, group string, to commitlog.OffsetSpec, tps ...commitlog.TopicPartition) (map[commitlog.TopicPartition]int64, error) {
	if err := a.check(ctx); err != nil {
		return nil, err
	}
	op := fmt.Sprintf("reset offsets of group %q", group)
	if err := a.checkEmpty(ctx, op, group); err != nil {
		return nil, err
	}
	if len(tps) == 0 {
		committed, err := fetchOffsets(ctx, a.adm, group)
		if err != nil {
			return nil, mapErr(op, err)
		}
		committed.Each(func(r kadm.OffsetResponse) {
			if r.Err == nil && r.At >= 0 {
				tps = append(tps, commitlog.TopicPartition{Topic: r.Topic, Partition: r.Partition})
			}
		})
		if len(tps) == 0 {
			return nil, fmt.Errorf("%w: %q has no committed offsets to reset; name the partitions", commitlog.ErrUnknownGroup, group)
		}
	}
	var topics []string
	for _, tp := range tps {
		topics = append(topics, tp.Topic)
	}
	topics = slices.Compact(slices.Sorted(slices.Values(topics)))
	details, err := a.adm.ListTopics(fresh(ctx), topics...)
	if err != nil {
		return nil, mapErr(op, err)
	}
	for _, tp := range tps {
		d, ok := details[tp.Topic]
		if !ok || d.Err != nil {
			return nil, &Error{Op: op, Mapped: commitlog.ErrUnknownTopic, Kafka: errOr(d.Err, errMissing)}
		}
		if n := int32(len(d.Partitions)); tp.Partition < 0 || tp.Partition >= n {
			return nil, fmt.Errorf("%w: %s: %s has partitions [0, %d), not %d", commitlog.ErrUnknownPartition, op, tp.Topic, n, tp.Partition)
		}
	}
	starts, err := a.adm.ListStartOffsets(ctx, topics...)
	if err != nil {
		return nil, mapErr(op, err)
	}
	ends, err := a.adm.ListEndOffsets(ctx, topics...)
	if err != nil {
		return nil, mapErr(op, err)
	}
	out := map[commitlog.TopicPartition]int64{}
	os := kadm.Offsets{}
	for _, tp := range tps {
		s, okS := starts.Lookup(tp.Topic, tp.Partition)
		e, okE := ends.Lookup(tp.Topic, tp.Partition)
		switch {
		case !okS || !okE:
			return nil, fmt.Errorf("commitlog: kafka: %s: no offsets listed for %v", op, tp)
		case s.Err != nil:
			return nil, mapErr(op, s.Err)
		case e.Err != nil:
			return nil, mapErr(op, e.Err)
		}
		off, err := to.Resolve(s.Offset, e.Offset, func(t time.Time) (int64, error) {
			at, err := a.adm.ListOffsetsAfterMilli(ctx, t.UnixMilli(), tp.Topic)
			if err != nil {
				return 0, err
			}
			if o, ok := at.Lookup(tp.Topic, tp.Partition); ok && o.Err == nil && o.Offset >= 0 {
				return o.Offset, nil
			}
			return e.Offset, nil
		})
		if err != nil {
			return nil, mapErr(op, err)
		}
		out[tp] = off
		os.Add(kadm.Offset{Topic: tp.Topic, Partition: tp.Partition, At: off, LeaderEpoch: -1})
	}
	resp, err := a.adm.CommitOffsets(ctx, group, os)
	if err == nil {
		err = resp.Error()
	}
	if err != nil {
		return nil, mapErr(op, err)
	}
	return out, nil
}

// checkEmpty returns commitlog.ErrGroupNotEmpty when group has members.
func (a *Admin) checkEmpty(ctx context.Context, op, group string) error {
	dgs, err := a.adm.DescribeGroups(ctx, group)
	if err != nil {
		return mapErr(op, err)
	}
	if dg, ok := dgs[group]; ok && len(dg.Members) > 0 {
		return fmt.Errorf("%w: %s: %q has %d members; close its consumers first", commitlog.ErrGroupNotEmpty, op, group, len(dg.Members))
	}
	return nil
}

// DeleteGroup deletes group and its committed offsets. The group must
// have no members. Errors: ErrGroupNotEmpty, ErrUnknownGroup, ErrClosed,
// the context's error.
func (a *Admin) DeleteGroup(ctx context.Context, group string) error {
	if err := a.check(ctx); err != nil {
		return err
	}
	resp, err := a.adm.DeleteGroup(ctx, group)
	if err == nil {
		err = resp.Err
	}
	return mapErr(fmt.Sprintf("delete group %q", group), err)
}

// Close closes the Admin's client. It is idempotent; later calls of other
// methods return commitlog.ErrClosed.
func (a *Admin) Close() error {
	if !a.closed.Swap(true) {
		a.cl.Close()
	}
	return nil
}

// As fills a **kadm.Client or a **kgo.Client with the Admin's, and
// reports whether target was one of those.
func (a *Admin) As(target any) bool {
	switch t := target.(type) {
	case **kadm.Client:
		*t = a.adm
	case **kgo.Client:
		*t = a.cl
	default:
		return false
	}
	return true
}
