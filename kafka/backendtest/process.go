package backendtest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/commitlog-go/commitlog"
)

// processed records what ProcessPartitions handlers were given.
type processed struct {
	mu   sync.Mutex
	runs [][]commitlog.Record // per run, in handling order
}

func (p *processed) add(run int, recs []commitlog.Record) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	for len(p.runs) <= run {
		p.runs = append(p.runs, nil)
	}
	p.runs[run] = append(p.runs[run], recs...)
	n := 0
	for _, r := range p.runs {
		n += len(r)
	}
	return n
}

// errHandler is the failure the first run's handler injects.
var errHandler = errors.New("injected handler failure")

// testProcessPartitions runs ProcessPartitions until a handler fails,
// then again in a new consumer of the group until every record is
// processed, and checks at-least-once: every record processed, each
// partition's records in order within a run, commits never past what was
// processed, and a record processed twice only if it was not committed.
func testProcessPartitions(t *testing.T, b *Backend) {
	ctx := b.ctx(t)
	const topic, n, total = "proc", 4, 200
	b.createTopic(t, topic, n, commitlog.TopicConfig{})
	p := b.producer(t, commitlog.ProducerConfig{Partitioner: commitlog.Murmur2Partitioner()})
	produceValues(t, ctx, p, topic, names("job", total), func(i int) []byte { return fmt.Appendf(nil, "k%d", i) })
	tps := allPartitions(topic, n)
	cfg := commitlog.ConsumerConfig{Group: "workers", Topics: []string{topic}, MaxPollRecords: 9}
	var got processed

	// Run 0: a handler fails once 80 records are processed.
	c0 := b.consumer(t, cfg)
	err := c0.ProcessPartitions(ctx, func(_ context.Context, _ commitlog.TopicPartition, recs []commitlog.Record) error {
		got.mu.Lock()
		done := 0
		for _, r := range got.runs {
			done += len(r)
		}
		got.mu.Unlock()
		if done >= 80 {
			return errHandler
		}
		got.add(0, recs)
		return nil
	})
	if !errors.Is(err, errHandler) {
		t.Fatalf("ProcessPartitions with a failing handler: %v, want the handler's error", err)
	}
	committed, err := c0.Committed(ctx, tps...)
	if err != nil {
		t.Fatalf("Committed: %v", err)
	}
	if err := c0.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	run0 := byPartition(got.runs[0])
	for _, tp := range tps {
		want := int64(0)
		if rs := run0[tp]; len(rs) > 0 {
			want = rs[len(rs)-1].Offset + 1
		}
		if off, ok := committed[tp]; ok && off != want || !ok && want > 0 {
			t.Fatalf("%v: committed %d (committed: %v), but processed up to %d", tp, off, ok, want)
		}
	}

	// Run 1: a new consumer of the group processes the rest.
	c1 := b.consumer(t, cfg)
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	err = c1.ProcessPartitions(rctx, func(_ context.Context, _ commitlog.TopicPartition, recs []commitlog.Record) error {
		if got.add(1, recs) >= total {
			// Every job may be done: the test checks below whether it is.
			vals := map[string]bool{}
			got.mu.Lock()
			for _, run := range got.runs {
				for _, r := range run {
					vals[string(r.Value)] = true
				}
			}
			got.mu.Unlock()
			if len(vals) == total {
				cancel()
			}
		}
		return nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("second ProcessPartitions: %v, want its context's cancellation", err)
	}
	vals := map[string]int{}
	for run, recs := range got.runs {
		requireOrdered(t, recs)
		for _, r := range recs {
			vals[string(r.Value)]++
			if vals[string(r.Value)] > 1 && run == 1 {
				tp := commitlog.TopicPartition{Topic: r.Topic, Partition: r.Partition}
				if r.Offset < committed[tp] {
					t.Fatalf("%v@%d processed again, though committed (%d) after its first processing", tp, r.Offset, committed[tp])
				}
			}
		}
	}
	for _, v := range names("job", total) {
		if vals[v] == 0 {
			t.Fatalf("%s never processed", v)
		}
	}
	final, err := c1.Committed(ctx, tps...)
	if err != nil {
		t.Fatalf("Committed: %v", err)
	}
	for tp, rs := range byPartition(slices.Concat(got.runs...)) {
		if last := rs[len(rs)-1].Offset + 1; final[tp] > last {
			t.Fatalf("%v committed at %d, past the last processed offset %d", tp, final[tp], last-1)
		}
	}
}
