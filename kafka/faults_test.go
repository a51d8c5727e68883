package kafka_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/commitlog-go/commitlog"
	"github.com/commitlog-go/commitlog/internal/histcheck"
	"github.com/commitlog-go/commitlog/kafka"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// The cases of this file use kfake's controls to give the kafka module's
// clients what a real cluster gives now and then: errors a retry cures,
// errors it does not, rebalances refused, leaders moving, brokers
// leaving and coming back, heartbeats held up.

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func createTopic(t *testing.T, f *fake, name string, partitions int32) {
	t.Helper()
	a, err := kafka.NewAdmin(f.config())
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if err := a.CreateTopic(testCtx(t), name, commitlog.TopicConfig{Partitions: partitions, ReplicationFactor: 3}); err != nil {
		t.Fatalf("CreateTopic: %v", err)
	}
}

// failProduce has the next produce request answered with code for every
// partition in it, and counts the requests it answered.
func failProduce(f *fake, code int16, answered *atomic.Int32) {
	f.c.ControlKey(int16(kmsg.Produce), func(req kmsg.Request) (kmsg.Response, error, bool) {
		answered.Add(1)
		return produceRefused(req, code), nil, true
	})
}

// produceRefused returns the answer to a produce request that refuses
// every partition in it with code.
func produceRefused(req kmsg.Request, code int16) kmsg.Response {
	r := req.(*kmsg.ProduceRequest)
	resp := r.ResponseKind().(*kmsg.ProduceResponse)
	for _, t := range r.Topics {
		rt := kmsg.NewProduceResponseTopic()
		rt.Topic, rt.TopicID = t.Topic, t.TopicID
		for _, p := range t.Partitions {
			rp := kmsg.NewProduceResponseTopicPartition()
			rp.Partition, rp.ErrorCode = p.Partition, code
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp
}

// history produces values through p to topic's partitions round robin,
// recording sends and acknowledgements in rec; between produces it calls
// between(i) (to move leaders, remove brokers). It returns the values
// acknowledged.
func history(t *testing.T, ctx context.Context, rec *histcheck.Recorder, p commitlog.ProducerClient, topic string, partitions int32, n int, between func(i int)) int {
	t.Helper()
	var acked atomic.Int32
	for i := range n {
		part := int32(i) % partitions
		v := fmt.Sprintf("v%d", i)
		s := rec.Send("p", histcheck.Partition{Topic: topic, ID: part}, v)
		p.Produce(ctx, &commitlog.Record{Topic: topic, Partition: part, Value: []byte(v)}, func(r *commitlog.Record, err error) {
			if err != nil {
				t.Errorf("%s: %v", v, err)
				s.Unknown()
				return
			}
			s.Ok(r.Offset)
			acked.Add(1)
		})
		if between != nil {
			between(i)
		}
	}
	if err := p.Flush(ctx); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	return int(acked.Load())
}

// checkFinal reads every partition of topic into rec as its final state
// and checks the history: every acknowledged record present once, at its
// offset, in produce order.
func checkFinal(t *testing.T, ctx context.Context, f *fake, rec *histcheck.Recorder, topic string, partitions int32, want int) {
	t.Helper()
	var tps []commitlog.TopicPartition
	for p := range partitions {
		tps = append(tps, commitlog.TopicPartition{Topic: topic, Partition: p})
	}
	c, err := kafka.NewConsumer(f.config(), commitlog.ConsumerConfig{Partitions: tps})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var got []commitlog.Record
	for len(got) < want {
		recs, err := c.Poll(ctx)
		if err != nil {
			t.Fatalf("Poll after %d of %d: %v", len(got), want, err)
		}
		got = append(got, recs...)
	}
	reads := map[int32][]histcheck.Read{}
	for _, r := range got {
		reads[r.Partition] = append(reads[r.Partition], histcheck.Read{Partition: histcheck.Partition{Topic: topic, ID: r.Partition}, Offset: r.Offset, Value: string(r.Value)})
	}
	for p, rs := range reads {
		rec.Final(histcheck.Partition{Topic: topic, ID: p}, 0, rs[len(rs)-1].Offset+1, rs)
	}
	res := rec.Check(histcheck.Options{PipelinedSends: true, RequireSeen: true})
	if err := res.Err(); err != nil {
		t.Fatal(err)
	}
	t.Log(res)
}

// TestProduceRetriedErrors answers a produce once with an error that
// Kafka's producers retry: the records are acknowledged, once each, in
// order (idempotence makes the retry safe).
func TestProduceRetriedErrors(t *testing.T) {
	for _, code := range []*kerr.Error{kerr.NotLeaderForPartition, kerr.RequestTimedOut} {
		t.Run(code.Message, func(t *testing.T) {
			ctx := testCtx(t)
			f := newFake(t)
			createTopic(t, f, "r", 3)
			var answered atomic.Int32
			failProduce(f, code.Code, &answered)
			p, err := kafka.NewProducer(f.config(), commitlog.ProducerConfig{Partitioner: commitlog.ManualPartitioner()})
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			rec := histcheck.NewRecorder(histcheck.Config{})
			acked := history(t, ctx, rec, p, "r", 3, 200, nil)
			if acked != 200 {
				t.Fatalf("%d of 200 acknowledged", acked)
			}
			if answered.Load() != 1 {
				t.Fatalf("the control answered %d produce requests, want 1", answered.Load())
			}
			checkFinal(t, ctx, f, rec, "r", 3, 200)
		})
	}
}

// TestProduceErrorMapped answers a produce with errors no retry cures:
// the promises get errors matching both the commitlog sentinel of the
// same meaning and Kafka's error.
func TestProduceErrorMapped(t *testing.T) {
	for _, c := range []struct {
		kafka *kerr.Error
		want  error
	}{
		{kerr.MessageTooLarge, commitlog.ErrRecordTooLarge},
		{kerr.InvalidRecord, commitlog.ErrInvalidArgument},
		{kerr.TopicAuthorizationFailed, nil},
	} {
		t.Run(c.kafka.Message, func(t *testing.T) {
			ctx := testCtx(t)
			f := newFake(t)
			createTopic(t, f, "e", 1)
			var answered atomic.Int32
			failProduce(f, c.kafka.Code, &answered)
			p, err := kafka.NewProducer(f.config(), commitlog.ProducerConfig{})
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			r := &commitlog.Record{Topic: "e", Value: []byte("x")}
			err = p.ProduceSync(ctx, r)
			if !errors.Is(err, c.kafka) {
				t.Fatalf("ProduceSync: %v, want an error matching %v", err, c.kafka)
			}
			if c.want != nil && !errors.Is(err, c.want) {
				t.Fatalf("ProduceSync: %v, want an error matching %v", err, c.want)
			}
			var ke *kafka.Error
			if c.want == nil && errors.As(err, &ke) {
				t.Fatalf("ProduceSync: %v has no commitlog counterpart, yet is a *kafka.Error", err)
			}
			if r.Offset != -1 {
				t.Fatalf("a failed record's Offset: %d, want -1", r.Offset)
			}
			// The next produce succeeds: the control answered one request.
			if err := p.ProduceSync(ctx, &commitlog.Record{Topic: "e", Value: []byte("y")}); err != nil {
				t.Fatalf("ProduceSync after the failure: %v", err)
			}
		})
	}
}

// TestLeadersMoveMidProduce moves partition leaders to other brokers,
// one partition at a time and all at once, while records are being
// produced: every record is acknowledged, stored once, in order.
func TestLeadersMoveMidProduce(t *testing.T) {
	ctx := testCtx(t)
	f := newFake(t)
	const topic, n = "moving", 4
	createTopic(t, f, topic, n)
	p, err := kafka.NewProducer(f.config(), commitlog.ProducerConfig{Partitioner: commitlog.ManualPartitioner()})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	rec := histcheck.NewRecorder(histcheck.Config{})
	moves := 0
	acked := history(t, ctx, rec, p, topic, n, 2000, func(i int) {
		switch {
		case i%400 == 200:
			f.c.ShufflePartitionLeaders()
			moves++
		case i%400 == 0 && i > 0:
			part := int32(i/400) % n
			leader := f.c.LeaderFor(topic, part)
			if err := f.c.MoveTopicPartition(topic, part, (leader+1)%3); err != nil {
				t.Fatalf("MoveTopicPartition: %v", err)
			}
			moves++
		}
	})
	if acked != 2000 || moves != 9 {
		t.Fatalf("%d of 2000 acknowledged across %d leader moves", acked, moves)
	}
	checkFinal(t, ctx, f, rec, topic, n, 2000)
}

// TestBrokerRemovedAndAdded removes a broker mid-produce (its partitions
// get other leaders) and adds a broker: every record is acknowledged,
// stored once, in order, and a consumer reads them all.
func TestBrokerRemovedAndAdded(t *testing.T) {
	ctx := testCtx(t)
	f := newFake(t)
	const topic, n = "nodes", 3
	createTopic(t, f, topic, n)
	p, err := kafka.NewProducer(f.config(), commitlog.ProducerConfig{Partitioner: commitlog.ManualPartitioner()})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	rec := histcheck.NewRecorder(histcheck.Config{})
	removed := f.c.LeaderFor(topic, 0)
	acked := history(t, ctx, rec, p, topic, n, 1200, func(i int) {
		switch i {
		case 300:
			if err := f.c.RemoveNode(removed); err != nil {
				t.Fatalf("RemoveNode: %v", err)
			}
			if l := f.c.LeaderFor(topic, 0); l == removed {
				t.Fatalf("partition 0 still led by removed node %d", l)
			}
		case 800:
			// A new broker, not the removed one under its old id:
			// kfake's RemoveNode closes the broker's listener but not
			// the connections clients have to it, and a client whose
			// metadata names the re-added id again reuses that
			// connection, reaching the removed broker, which answers
			// NOT_LEADER_OR_FOLLOWER for ever.
			if _, _, err := f.c.AddNode(-1, 0); err != nil {
				t.Fatalf("AddNode: %v", err)
			}
		}
	})
	if acked != 1200 {
		t.Fatalf("%d of 1200 acknowledged", acked)
	}
	checkFinal(t, ctx, f, rec, topic, n, 1200)
}

// TestJoinRebalanceInProgress answers a member's first JoinGroup with
// REBALANCE_IN_PROGRESS: it joins on the retry and reads everything.
func TestJoinRebalanceInProgress(t *testing.T) {
	ctx := testCtx(t)
	f := newFake(t)
	createTopic(t, f, "j", 2)
	var answered atomic.Int32
	f.c.ControlKey(int16(kmsg.JoinGroup), func(req kmsg.Request) (kmsg.Response, error, bool) {
		resp := req.(*kmsg.JoinGroupRequest).ResponseKind().(*kmsg.JoinGroupResponse)
		resp.ErrorCode = kerr.RebalanceInProgress.Code
		answered.Add(1)
		return resp, nil, true
	})
	p, err := kafka.NewProducer(f.config(), commitlog.ProducerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	var recs []*commitlog.Record
	for i := range 50 {
		recs = append(recs, &commitlog.Record{Topic: "j", Key: fmt.Appendf(nil, "%d", i), Value: []byte("x")})
	}
	if err := p.ProduceSync(ctx, recs...); err != nil {
		t.Fatal(err)
	}
	var assigned atomic.Int32
	c, err := kafka.NewConsumer(f.config(), commitlog.ConsumerConfig{Group: "jg", Topics: []string{"j"},
		OnAssigned: func(_ context.Context, _ commitlog.ConsumerClient, tps []commitlog.TopicPartition) {
			assigned.Add(int32(len(tps)))
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	got := 0
	for got < 50 {
		rs, err := c.Poll(ctx)
		if err != nil {
			t.Fatalf("Poll: %v", err)
		}
		got += len(rs)
	}
	if answered.Load() != 1 || assigned.Load() != 2 {
		t.Fatalf("JoinGroup refused %d times, %d partitions assigned; want 1 and 2", answered.Load(), assigned.Load())
	}
}

// TestCommitFenced answers a member's commit with ILLEGAL_GENERATION:
// CommitOffsets returns an error matching commitlog.ErrFenced, as a
// *commitlog.FencedError, and Kafka's code.
func TestCommitFenced(t *testing.T) {
	ctx := testCtx(t)
	f := newFake(t)
	createTopic(t, f, "c", 1)
	p, err := kafka.NewProducer(f.config(), commitlog.ProducerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := p.ProduceSync(ctx, &commitlog.Record{Topic: "c", Value: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	c, err := kafka.NewConsumer(f.config(), commitlog.ConsumerConfig{Group: "cg", Topics: []string{"c"}, DisableAutoCommit: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	recs, err := c.Poll(ctx)
	if err != nil {
		t.Fatal(err)
	}
	f.c.ControlKey(int16(kmsg.OffsetCommit), func(req kmsg.Request) (kmsg.Response, error, bool) {
		r := req.(*kmsg.OffsetCommitRequest)
		resp := r.ResponseKind().(*kmsg.OffsetCommitResponse)
		for _, t := range r.Topics {
			rt := kmsg.NewOffsetCommitResponseTopic()
			rt.Topic, rt.TopicID = t.Topic, t.TopicID
			for _, p := range t.Partitions {
				rp := kmsg.NewOffsetCommitResponseTopicPartition()
				rp.Partition, rp.ErrorCode = p.Partition, kerr.IllegalGeneration.Code
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		return resp, nil, true
	})
	err = c.CommitRecords(ctx, recs...)
	var fe *commitlog.FencedError
	if !errors.Is(err, commitlog.ErrFenced) || !errors.As(err, &fe) || !errors.Is(err, kerr.IllegalGeneration) {
		t.Fatalf("CommitRecords answered ILLEGAL_GENERATION: %v", err)
	}
	if fe.Group != "cg" || fe.MemberID == "" {
		t.Fatalf("FencedError: %+v", fe)
	}
	if err := c.CommitOffsets(ctx, map[commitlog.TopicPartition]int64{{Topic: "c", Partition: 7}: 1}); !errors.As(err, &fe) {
		t.Fatalf("a commit of a partition not assigned: %v, want a *FencedError", err)
	}
	if err := c.CommitRecords(ctx, recs...); err != nil {
		t.Fatalf("CommitRecords after the control: %v", err)
	}
}

// TestMemberFenced answers a member's heartbeat with UNKNOWN_MEMBER_ID,
// as a coordinator that evicted it does: OnLost gets its partitions, the
// next Poll returns a *commitlog.FencedError, a commit of what it had is
// refused, and the member rejoins and reads on.
func TestMemberFenced(t *testing.T) {
	ctx := testCtx(t)
	f := newFake(t)
	createTopic(t, f, "hb", 2)
	p, err := kafka.NewProducer(f.config(), commitlog.ProducerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	produce := func(v string) {
		if err := p.ProduceSync(ctx, &commitlog.Record{Topic: "hb", Value: []byte(v)}); err != nil {
			t.Fatal(err)
		}
	}
	produce("before")
	lost := make(chan []commitlog.TopicPartition, 1)
	c, err := kafka.NewConsumer(f.config(), commitlog.ConsumerConfig{Group: "hbg", Topics: []string{"hb"}, DisableAutoCommit: true,
		OnLost: func(_ context.Context, _ commitlog.ConsumerClient, tps []commitlog.TopicPartition) { lost <- tps }})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	recs, err := c.Poll(ctx)
	if err != nil || len(recs) != 1 {
		t.Fatalf("Poll: %v, %v", recs, err)
	}
	f.c.ControlKey(int16(kmsg.Heartbeat), func(req kmsg.Request) (kmsg.Response, error, bool) {
		resp := req.(*kmsg.HeartbeatRequest).ResponseKind().(*kmsg.HeartbeatResponse)
		resp.ErrorCode = kerr.UnknownMemberID.Code
		return resp, nil, true
	})
	_, err = c.Poll(ctx)
	var fe *commitlog.FencedError
	if !errors.As(err, &fe) || !errors.Is(err, commitlog.ErrFenced) || fe.Group != "hbg" {
		t.Fatalf("Poll after the eviction: %v, want a *FencedError", err)
	}
	if tps := <-lost; len(tps) != 2 {
		t.Fatalf("OnLost: %v, want both partitions", tps)
	}
	if err := c.CommitRecords(ctx, recs...); !errors.Is(err, commitlog.ErrFenced) {
		t.Fatalf("a commit of a lost partition: %v, want ErrFenced", err)
	}
	produce("after")
	for {
		recs, err := c.Poll(ctx)
		if err != nil {
			t.Fatalf("Poll after rejoining: %v", err)
		}
		if slices.ContainsFunc(recs, func(r commitlog.Record) bool { return string(r.Value) == "after" }) {
			break
		}
	}
}

// TestMemberSessionTimeout delays one member's heartbeat past its
// SessionTimeout (kfake's SleepControl holds the request unanswered): the
// coordinator evicts the member and the other member takes its
// partitions; once the heartbeat is answered (UNKNOWN_MEMBER_ID, the
// member being gone), the evicted member's OnLost gets its partitions,
// its next Poll returns a *commitlog.FencedError, and it rejoins and
// reads again. The member polled throughout: on Kafka, missing
// heartbeats is what evicts.
func TestMemberSessionTimeout(t *testing.T) {
	ctx := testCtx(t)
	f := newFake(t, kfake.GroupMinSessionTimeout(100*time.Millisecond))
	const topic, n = "st", 4
	createTopic(t, f, topic, n)
	p, err := kafka.NewProducer(f.config(), commitlog.ProducerConfig{Partitioner: commitlog.ManualPartitioner()})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	produce := func(v string) {
		t.Helper()
		for part := range int32(n) {
			if err := p.ProduceSync(ctx, &commitlog.Record{Topic: topic, Partition: part, Value: []byte(v)}); err != nil {
				t.Fatal(err)
			}
		}
	}
	produce("before")

	const sessionTimeout = 500 * time.Millisecond
	var (
		bHasAll   = make(chan struct{}) // closed when B owns every partition
		bOnce     sync.Once
		lost      = make(chan []commitlog.TopicPartition, 1)
		aAssigned = make(chan []commitlog.TopicPartition, 16)
	)
	member := func(name string, cfg commitlog.ConsumerConfig) commitlog.ConsumerClient {
		cfg.Group, cfg.Topics, cfg.DisableAutoCommit, cfg.SessionTimeout = "stg", []string{topic}, true, sessionTimeout
		c, err := kafka.NewConsumer(f.config(), cfg)
		if err != nil {
			t.Fatalf("NewConsumer %s: %v", name, err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	a := member("A", commitlog.ConsumerConfig{
		OnAssigned: func(_ context.Context, _ commitlog.ConsumerClient, tps []commitlog.TopicPartition) { aAssigned <- tps },
		OnLost:     func(_ context.Context, _ commitlog.ConsumerClient, tps []commitlog.TopicPartition) { lost <- tps },
	})
	// A joins alone and takes every partition.
	got := 0
	for got < n {
		recs, err := a.Poll(ctx)
		if err != nil {
			t.Fatalf("A's Poll: %v", err)
		}
		got += len(recs)
	}
	aID := a.MemberID()
	if aID == "" || len(a.Assignment()) != n {
		t.Fatalf("A: member %q with %v, want all %d partitions", aID, a.Assignment(), n)
	}

	// From now on A's heartbeats wait, unanswered, until B owns every
	// partition; the other members' heartbeats are answered as usual.
	var slept atomic.Bool
	f.c.ControlKey(int16(kmsg.Heartbeat), func(req kmsg.Request) (kmsg.Response, error, bool) {
		f.c.KeepControl()
		if req.(*kmsg.HeartbeatRequest).MemberID != aID || slept.Swap(true) {
			return nil, nil, false
		}
		f.c.SleepControl(func() {
			select {
			case <-bHasAll:
			case <-ctx.Done():
			}
		})
		f.c.DropControl()
		return nil, nil, false // answered by the coordinator, which no longer knows A
	})

	// A keeps polling (nothing new to read): it is not evicted for
	// failing to poll.
	aErr := make(chan error, 1)
	go func() {
		_, err := a.Poll(ctx)
		aErr <- err
	}()

	b := member("B", commitlog.ConsumerConfig{
		OnAssigned: func(_ context.Context, c commitlog.ConsumerClient, _ []commitlog.TopicPartition) {
			if len(c.Assignment()) == n {
				bOnce.Do(func() { close(bHasAll) })
			}
		},
	})
	bErr := make(chan error, 1)
	bRecs := make(chan []commitlog.Record, 16)
	go func() {
		for {
			recs, err := b.Poll(ctx)
			if err != nil {
				bErr <- err
				return
			}
			bRecs <- recs
		}
	}()
	// B reads what A had read: A committed nothing.
	for got := 0; got < n; {
		select {
		case recs := <-bRecs:
			got += len(recs)
		case err := <-bErr:
			t.Fatalf("B's Poll: %v", err)
		case <-ctx.Done():
			t.Fatalf("B read %d of the %d records", got, n)
		}
	}
	select {
	case <-bHasAll:
	case <-ctx.Done():
		t.Fatalf("B never owned every partition: %v", b.Assignment())
	}
	if !slept.Load() {
		t.Fatal("A's heartbeat was not held")
	}

	// A learns it was evicted: OnLost, then the FencedError.
	err = <-aErr
	var fe *commitlog.FencedError
	if !errors.As(err, &fe) || !errors.Is(err, commitlog.ErrFenced) || fe.Group != "stg" {
		t.Fatalf("A's Poll across the eviction: %v, want a *FencedError", err)
	}
	select {
	case tps := <-lost:
		if len(tps) != n {
			t.Fatalf("OnLost: %v, want all %d partitions", tps, n)
		}
	default:
		t.Fatal("the FencedError came before OnLost")
	}
	if len(a.Assignment()) != 0 {
		t.Fatalf("A still has %v after OnLost", a.Assignment())
	}

	// A rejoins, under a new member id, and takes partitions from B.
	for len(aAssigned) > 0 {
		<-aAssigned // its first assignment
	}
	produce("after")
	for {
		recs, err := a.Poll(ctx)
		if err != nil {
			t.Fatalf("A's Poll after the eviction: %v", err)
		}
		if slices.ContainsFunc(recs, func(r commitlog.Record) bool { return string(r.Value) == "after" }) {
			break
		}
	}
	if id := a.MemberID(); id == "" || id == aID {
		t.Fatalf("A rejoined as %q (evicted as %q)", id, aID)
	}
	if len(aAssigned) == 0 {
		t.Fatal("A read after rejoining without OnAssigned")
	}
}
