package backendtest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/commitlog-go/commitlog"
	"github.com/commitlog-go/commitlog/internal/histcheck"
)

// testHistory runs two producers and two group members at once,
// recording every send, acknowledgement, poll and commit, then reads
// every partition and the group's commits, and checks the history for
// Jepsen's Kafka anomalies: no acknowledged record lost or moved, no
// offset holding two values, no duplicates, each producer's records in
// order within a partition, no poll skipping or reordering records
// within a member's epoch, no commit regressing or pointing past the
// data, and every acknowledged record seen.
func testHistory(t *testing.T, b *Backend) {
	ctx := b.ctx(t)
	const topic, group, n, perProducer = "hist", "hg", 3, 150
	b.createTopic(t, topic, n, commitlog.TopicConfig{})
	rec := histcheck.NewRecorder(histcheck.Config{})
	hp := func(p int32) histcheck.Partition { return histcheck.Partition{Topic: topic, ID: p} }

	// Two members, each recording its polls under an epoch that every
	// rebalance callback ends.
	notify := make(chan struct{}, 1)
	var members []*histMember
	for i := range 2 {
		members = append(members, startHistMember(t, b, rec, fmt.Sprintf("c%d", i), commitlog.ConsumerConfig{
			Group: group, Topics: []string{topic}, MaxPollRecords: 13}, notify))
	}

	var wg sync.WaitGroup
	acked := make(chan []string, 2)
	for pi := range 2 {
		producer := fmt.Sprintf("p%d", pi)
		prod := b.producer(t, commitlog.ProducerConfig{Partitioner: commitlog.ManualPartitioner(), Linger: 0})
		wg.Go(func() {
			var mu sync.Mutex
			var ok []string
			for i := range perProducer {
				v := fmt.Sprintf("%s-%d", producer, i)
				part := int32((i*7 + pi) % n)
				s := rec.Send(producer, hp(part), v)
				prod.Produce(ctx, &commitlog.Record{Topic: topic, Partition: part, Value: []byte(v)}, func(r *commitlog.Record, err error) {
					if err != nil {
						s.Unknown()
						return
					}
					s.Ok(r.Offset)
					mu.Lock()
					ok = append(ok, v)
					mu.Unlock()
				})
			}
			if err := prod.Flush(ctx); err != nil {
				t.Errorf("%s: Flush: %v", producer, err)
			}
			mu.Lock()
			acked <- ok
			mu.Unlock()
		})
	}
	wg.Wait()
	close(acked)
	var all []string
	for vs := range acked {
		all = append(all, vs...)
	}
	if len(all) != 2*perProducer {
		t.Fatalf("%d of %d records acknowledged", len(all), 2*perProducer)
	}
	ms := make([]*member, len(members))
	for i, m := range members {
		ms[i] = m.member
	}
	waitFor(t, ctx, notify, ms, "the members to read every acknowledged record", hasAll(all, ms...))
	for _, m := range members {
		m.stop()
	}

	// Final reads of every partition, and the group's commits.
	c := b.consumer(t, commitlog.ConsumerConfig{Partitions: allPartitions(topic, n)})
	got := pollUntil(t, ctx, c, atLeast(len(all)))
	a := b.admin(t)
	d, err := a.DescribeGroup(ctx, group)
	if err != nil {
		t.Fatalf("DescribeGroup: %v", err)
	}
	for tp, rs := range byPartition(got) {
		reads := make([]histcheck.Read, len(rs))
		for i, r := range rs {
			reads[i] = histcheck.Read{Partition: hp(tp.Partition), Offset: r.Offset, Value: string(r.Value)}
		}
		rec.Final(hp(tp.Partition), 0, rs[len(rs)-1].Offset+1, reads)
	}
	for _, pl := range d.Partitions {
		rec.FinalCommit(group, hp(pl.Partition), pl.Committed, pl.Committed >= 0)
	}
	res := rec.Check(histcheck.Options{PipelinedSends: true, RequireSeen: true})
	if err := res.Err(); err != nil {
		t.Fatal(err)
	}
	t.Log(res)
}

// histMember is a member whose polls and commits go into a history.
type histMember struct {
	*member
}

func startHistMember(t *testing.T, b *Backend, rec *histcheck.Recorder, name string, cfg commitlog.ConsumerConfig, notify chan struct{}) *histMember {
	t.Helper()
	var mu sync.Mutex
	epoch := 0
	bump := func(context.Context, commitlog.ConsumerClient, []commitlog.TopicPartition) {
		mu.Lock()
		epoch++
		mu.Unlock()
		select {
		case notify <- struct{}{}:
		default:
		}
	}
	cfg.DisableAutoCommit = true
	cfg.OnAssigned, cfg.OnRevoked, cfg.OnLost = bump, bump, bump
	c, err := b.NewConsumer(cfg)
	if err != nil {
		t.Fatalf("NewConsumer: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	m := &member{t: t, c: c, notify: notify, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(m.done)
		for {
			recs, err := c.Poll(ctx)
			if ctx.Err() != nil {
				return
			}
			if err != nil && !errors.Is(err, commitlog.ErrFenced) {
				m.fail(fmt.Errorf("Poll: %w", err))
				return
			}
			if len(recs) == 0 {
				continue
			}
			reads := make([]histcheck.Read, len(recs))
			for i, r := range recs {
				reads[i] = histcheck.Read{Partition: histcheck.Partition{Topic: r.Topic, ID: r.Partition}, Offset: r.Offset, Value: string(r.Value)}
			}
			mu.Lock()
			rec.Poll(name, epoch, reads...)
			mu.Unlock()
			m.mu.Lock()
			m.got = append(m.got, recs...)
			m.mu.Unlock()
			last := map[commitlog.TopicPartition]int64{}
			for _, r := range recs {
				last[commitlog.TopicPartition{Topic: r.Topic, Partition: r.Partition}] = r.Offset + 1
			}
			for tp, off := range last {
				hc := rec.Commit(cfg.Group, histcheck.Partition{Topic: tp.Topic, ID: tp.Partition}, off)
				switch err := c.CommitOffsets(ctx, map[commitlog.TopicPartition]int64{tp: off}); {
				case err == nil:
					hc.Ok()
				case errors.Is(err, commitlog.ErrFenced):
					hc.Fail() // refused: the member no longer owns it
				default:
					hc.Unknown()
				}
			}
			select {
			case notify <- struct{}{}:
			default:
			}
		}
	}()
	t.Cleanup(m.stop)
	return &histMember{m}
}
