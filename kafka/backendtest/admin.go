package backendtest

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/commitlog-go/commitlog"
)

// testAdminTopics creates topics with partitions, replication and
// configuration, describes, lists and deletes them.
func testAdminTopics(t *testing.T, b *Backend) {
	ctx := b.ctx(t)
	a := b.admin(t)
	cfg := commitlog.TopicConfig{
		Partitions:        4,
		ReplicationFactor: b.ReplicationFactor,
		Retention:         36 * time.Hour,
		RetentionBytes:    1 << 30,
		CleanupPolicy:     commitlog.CleanupCompact,
		MinCompactionLag:  time.Minute,
		Compression:       commitlog.CodecZstd,
		MaxBatchBytes:     2 << 20,
		LogAppendTime:     true,
	}
	if err := a.CreateTopic(ctx, "orders", cfg); err != nil {
		t.Fatalf("CreateTopic: %v", err)
	}
	if err := a.CreateTopic(ctx, "audit", commitlog.TopicConfig{Partitions: 1, ReplicationFactor: b.ReplicationFactor, Retention: commitlog.Forever}); err != nil {
		t.Fatalf("CreateTopic: %v", err)
	}
	if err := a.CreateTopic(ctx, "orders", cfg); !errors.Is(err, commitlog.ErrTopicExists) {
		t.Fatalf("CreateTopic of an existing topic: %v, want ErrTopicExists", err)
	}
	if err := a.CreateTopic(ctx, "bad/name", commitlog.TopicConfig{}); !errors.Is(err, commitlog.ErrInvalidTopicName) {
		t.Fatalf("CreateTopic of an invalid name: %v, want ErrInvalidTopicName", err)
	}
	if err := a.CreateTopic(ctx, "neg", commitlog.TopicConfig{Partitions: -1}); !errors.Is(err, commitlog.ErrInvalidConfig) {
		t.Fatalf("CreateTopic with -1 partitions: %v, want ErrInvalidConfig", err)
	}

	got, err := a.DescribeTopic(ctx, "orders")
	if err != nil {
		t.Fatalf("DescribeTopic: %v", err)
	}
	if got.Partitions != 4 || got.Retention != cfg.Retention || got.RetentionBytes != cfg.RetentionBytes ||
		got.CleanupPolicy != cfg.CleanupPolicy || got.MinCompactionLag != cfg.MinCompactionLag ||
		got.Compression != cfg.Compression || got.MaxBatchBytes != cfg.MaxBatchBytes || !got.LogAppendTime {
		t.Fatalf("DescribeTopic: %+v, created with %+v", got, cfg)
	}
	if b.ReplicationFactor > 0 && got.ReplicationFactor != b.ReplicationFactor {
		t.Fatalf("DescribeTopic: replication factor %d, created with %d", got.ReplicationFactor, b.ReplicationFactor)
	}
	audit, err := a.DescribeTopic(ctx, "audit")
	if err != nil || audit.Retention != commitlog.Forever {
		t.Fatalf("DescribeTopic(audit): retention %v, %v; want Forever", audit.Retention, err)
	}
	if _, err := a.DescribeTopic(ctx, "nope"); !errors.Is(err, commitlog.ErrUnknownTopic) {
		t.Fatalf("DescribeTopic of a missing topic: %v, want ErrUnknownTopic", err)
	}
	names, err := a.ListTopics(ctx)
	if err != nil || !slices.Equal(names, []string{"audit", "orders"}) {
		t.Fatalf("ListTopics: %v, %v", names, err)
	}
	if err := a.DeleteTopic(ctx, "audit"); err != nil {
		t.Fatalf("DeleteTopic: %v", err)
	}
	if err := a.DeleteTopic(ctx, "audit"); !errors.Is(err, commitlog.ErrUnknownTopic) {
		t.Fatalf("DeleteTopic of a deleted topic: %v, want ErrUnknownTopic", err)
	}
	names, err = a.ListTopics(ctx)
	if err != nil || !slices.Equal(names, []string{"orders"}) {
		t.Fatalf("ListTopics after DeleteTopic: %v, %v", names, err)
	}
	if err := a.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if _, err := a.ListTopics(ctx); !errors.Is(err, commitlog.ErrClosed) {
		t.Fatalf("ListTopics after Close: %v, want ErrClosed", err)
	}
}

// testAdminGroups lists, describes, resets and deletes a group, and
// checks that what needs an empty group is refused while it has members.
func testAdminGroups(t *testing.T, b *Backend) {
	ctx := b.ctx(t)
	const topic = "ag"
	b.createTopic(t, topic, 2, commitlog.TopicConfig{})
	p := b.producer(t, commitlog.ProducerConfig{Partitioner: commitlog.ManualPartitioner()})
	for part := range int32(2) {
		var recs []*commitlog.Record
		for range 10 {
			recs = append(recs, &commitlog.Record{Topic: topic, Partition: part, Value: []byte("x")})
		}
		if err := p.ProduceSync(ctx, recs...); err != nil {
			t.Fatalf("ProduceSync: %v", err)
		}
	}
	tps := allPartitions(topic, 2)
	a := b.admin(t)
	if _, err := a.DescribeGroup(ctx, "none"); !errors.Is(err, commitlog.ErrUnknownGroup) {
		t.Fatalf("DescribeGroup of an unknown group: %v, want ErrUnknownGroup", err)
	}

	notify := make(chan struct{}, 1)
	m := startMember(t, b, commitlog.ConsumerConfig{Group: "ops", Topics: []string{topic}}, notify)
	waitFor(t, ctx, notify, []*member{m}, "the member to read everything", func() bool { return len(m.records()) >= 20 && covers(tps, m) })
	// The member commits after each Poll: wait for the commits to show.
	var d commitlog.GroupDescription
	for {
		var err error
		if d, err = a.DescribeGroup(ctx, "ops"); err != nil {
			t.Fatalf("DescribeGroup: %v", err)
		}
		if len(d.Partitions) == 2 && d.Partitions[0].Committed == 10 && d.Partitions[1].Committed == 10 {
			break
		}
		select {
		case <-notify:
		case <-ctx.Done():
			t.Fatalf("waiting for the member's commits: %+v", d)
		}
	}
	if len(d.Members) != 1 || d.State != commitlog.GroupStable || d.Members[0].ID != m.c.MemberID() ||
		!slices.Equal(d.Members[0].Assigned, tps) || !slices.Equal(d.Members[0].Topics, []string{topic}) {
		t.Fatalf("DescribeGroup: %+v", d)
	}
	for _, pl := range d.Partitions {
		if pl.HighWatermark != 10 || pl.Lag != 0 || pl.Owner != d.Members[0].ID {
			t.Fatalf("DescribeGroup partition: %+v", pl)
		}
	}
	groups, err := a.ListGroups(ctx)
	if err != nil || !slices.Equal(groups, []string{"ops"}) {
		t.Fatalf("ListGroups: %v, %v", groups, err)
	}
	if _, err := a.ResetGroupOffsets(ctx, "ops", commitlog.EarliestOffset()); !errors.Is(err, commitlog.ErrGroupNotEmpty) {
		t.Fatalf("ResetGroupOffsets of a group with members: %v, want ErrGroupNotEmpty", err)
	}
	if err := a.DeleteGroup(ctx, "ops"); !errors.Is(err, commitlog.ErrGroupNotEmpty) {
		t.Fatalf("DeleteGroup of a group with members: %v, want ErrGroupNotEmpty", err)
	}
	m.stop()

	got, err := a.ResetGroupOffsets(ctx, "ops", commitlog.ExactOffset(4))
	if err != nil || got[tps[0]] != 4 || got[tps[1]] != 4 {
		t.Fatalf("ResetGroupOffsets to 4: %v, %v", got, err)
	}
	got, err = a.ResetGroupOffsets(ctx, "ops", commitlog.ExactOffset(99), tps[1])
	if err != nil || len(got) != 1 || got[tps[1]] != 10 {
		t.Fatalf("ResetGroupOffsets to 99 (clamped to the high watermark): %v, %v", got, err)
	}
	got, err = a.ResetGroupOffsets(ctx, "ops", commitlog.OffsetAtTime(time.Now().Add(time.Hour)), tps[0])
	if err != nil || got[tps[0]] != 10 {
		t.Fatalf("ResetGroupOffsets to a time after every record: %v, %v; want the high watermark", got, err)
	}
	if _, err := a.ResetGroupOffsets(ctx, "ops", commitlog.EarliestOffset(), commitlog.TopicPartition{Topic: "missing", Partition: 0}); !errors.Is(err, commitlog.ErrUnknownTopic) {
		t.Fatalf("ResetGroupOffsets of a missing topic: %v, want ErrUnknownTopic", err)
	}
	c := b.consumer(t, commitlog.ConsumerConfig{Group: "ops", Topics: []string{topic}})
	committed, err := c.Committed(ctx, tps...)
	if err != nil || committed[tps[0]] != 10 || committed[tps[1]] != 10 {
		t.Fatalf("Committed after the resets: %v, %v", committed, err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := a.DeleteGroup(ctx, "ops"); err != nil {
		t.Fatalf("DeleteGroup: %v", err)
	}
	if _, err := a.DescribeGroup(ctx, "ops"); !errors.Is(err, commitlog.ErrUnknownGroup) {
		t.Fatalf("DescribeGroup after DeleteGroup: %v, want ErrUnknownGroup", err)
	}
}
