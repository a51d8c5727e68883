package commitlog

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/commitlog-go/commitlog/internal/histcheck"
)

// The child of TestKillNine (kill_test.go): the workload it kills.

const (
	// The topic's segments are small, so that appends roll them often,
	// but hold a large batch: MaxBatchBytes is capped at SegmentBytes.
	killSegmentBytes = 320 << 10
	// A large batch, killLargeRecords values of killLargePad bytes
	// (about 276 KB), is appended with Partition.Append, which computes
	// the CRC of a batch this large aside (crcAsideBytes) while it writes
	// the records, and writes the header after them. One producer step in
	// killLargeEvery is one.
	killLargeRecords = 270
	killLargePad     = 1000
	killLargeEvery   = 50
)

// killValue returns a record value: id, a colon and pad bytes 'x', where
// id ends with "-<pad>", so that a reader can check the whole value.
func killValue(prefix string, seq, pad int) (id string, value []byte) {
	id = fmt.Sprintf("%s-%d-%d", prefix, seq, pad)
	value = make([]byte, len(id)+1+pad)
	copy(value, id)
	value[len(id)] = ':'
	for i := len(id) + 1; i < len(value); i++ {
		value[i] = 'x'
	}
	return id, value
}

// killValueID returns the id of a value made by killValue, or, for a value
// not of that form (damaged, cut or foreign), the value itself (at most
// its first 100 bytes, and its length), which no send has: the checker
// reports it as a phantom.
func killValueID(v []byte) string {
	if i := bytes.IndexByte(v, ':'); i >= 0 {
		id, pad := v[:i], v[i+1:]
		if j := bytes.LastIndexByte(id, '-'); j >= 0 {
			n, err := strconv.Atoi(string(id[j+1:]))
			if err == nil && n == len(pad) && bytes.Count(pad, []byte{'x'}) == n {
				return string(id)
			}
		}
	}
	if len(v) > 100 {
		return fmt.Sprintf("%s...(%d bytes)", v[:100], len(v))
	}
	return string(v)
}

// TestKillNineChild is the workload TestKillNine runs and kills.
func TestKillNineChild(t *testing.T) {
	dir := os.Getenv("COMMITLOG_KILL_CHILD")
	if dir == "" {
		return // run as a child of TestKillNine only
	}
	cycle, err1 := strconv.Atoi(os.Getenv("COMMITLOG_KILL_CYCLE"))
	seed, err2 := strconv.ParseUint(os.Getenv("COMMITLOG_KILL_CHILD_SEED"), 10, 64)
	if err1 != nil || err2 != nil {
		t.Fatal("COMMITLOG_KILL_CYCLE and COMMITLOG_KILL_CHILD_SEED must be numbers")
	}
	k := &killChild{cycle: cycle, rec: histcheck.NewRecorder(histcheck.Config{Output: os.Stdout, WriteOnly: true})}
	k.run(dir, seed) // returns never: the parent kills the process
}

// killChild is the state of the child's workload.
type killChild struct {
	cycle int
	rec   *histcheck.Recorder
	l     *Log
	parts []*Partition
}

// die reports an unexpected error and ends the child: the parent, which
// expects to kill it, fails.
func (k *killChild) die(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "TestKillNineChild, cycle %d: %s\n", k.cycle, fmt.Sprintf(format, args...))
	os.Exit(3)
}

func (k *killChild) run(dir string, seed uint64) {
	ctx := context.Background()
	// Lines not starting with "hc " are not events: this one lets a kill
	// target of 0 land during Open.
	fmt.Fprintln(os.Stdout, "opening")
	opts := &Options{CheckpointInterval: 5 * time.Millisecond} // many checkpoints to die in
	if k.cycle%2 == 1 {
		opts.Sync, opts.SyncInterval = SyncInterval, 5*time.Millisecond
	}
	l, err := Open(dir, opts)
	if err != nil {
		k.die("Open: %v", err)
	}
	k.l = l
	tp, err := l.Topic(killTopic)
	if errors.Is(err, ErrUnknownTopic) {
		tp, err = l.CreateTopic(ctx, killTopic, TopicConfig{Partitions: killPartitions, SegmentBytes: killSegmentBytes})
	}
	if err != nil {
		k.die("topic: %v", err)
	}
	for i := range int32(killPartitions) {
		p, err := tp.Partition(i)
		if err != nil {
			k.die("%v", err)
		}
		k.parts = append(k.parts, p)
	}
	for w := range 3 {
		go k.produce(w, rand.New(rand.NewPCG(seed, uint64(w))))
	}
	for m := range 2 {
		go k.consume(m, rand.New(rand.NewPCG(seed, uint64(100+m))))
	}
	select {} // until killed
}

// produce runs producer w: steps of async Produce (a run of records to one
// partition, which form batches while the previous batch is appended),
// ProduceSync (a few records over several partitions), and now and then a
// large Partition.Append. A record in a hundred has an empty header key:
// the Producer must refuse it, and nobody may ever read it.
func (k *killChild) produce(w int, rng *rand.Rand) {
	ctx := context.Background()
	name := fmt.Sprintf("c%d-p%d", k.cycle, w)
	prod, err := k.l.NewProducer(ProducerConfig{Partitioner: ManualPartitioner(), MaxBufferedRecords: 256})
	if err != nil {
		k.die("NewProducer: %v", err)
	}
	seq := 0
	record := func(part int32) (*Record, *histcheck.Send, bool) {
		seq++
		id, v := killValue(name, seq, rng.IntN(200))
		r := &Record{Topic: killTopic, Partition: part, Value: v}
		invalid := rng.IntN(100) == 0
		if invalid {
			r.Headers = []Header{{Key: "", Value: []byte("refused")}}
		}
		return r, k.rec.Send(name, histcheck.Partition{Topic: killTopic, ID: part}, id), invalid
	}
	for step := 0; ; step++ {
		part := int32(rng.IntN(killPartitions))
		switch {
		case step%killLargeEvery == killLargeEvery-1:
			// After the Producer's records: this producer's sends to a
			// partition are acknowledged in the order they were made.
			if err := prod.Flush(ctx); err != nil {
				k.die("Flush: %v", err)
			}
			recs := make([]Record, killLargeRecords)
			ids := make([]string, killLargeRecords)
			for i := range recs {
				seq++
				ids[i], recs[i].Value = killValue(name, seq, killLargePad)
			}
			s := k.rec.Send(name, histcheck.Partition{Topic: killTopic, ID: part}, ids...)
			res, err := k.parts[part].Append(ctx, recs)
			k.sent(s, res.BaseOffset, err, false)
		case rng.IntN(3) == 0:
			n := 1 + rng.IntN(8)
			recs := make([]*Record, n)
			sends := make([]*histcheck.Send, n)
			invalid := make([]bool, n)
			for i := range recs {
				recs[i], sends[i], invalid[i] = record(int32(rng.IntN(killPartitions)))
			}
			err := prod.ProduceSync(ctx, recs...)
			for i, r := range recs {
				var rerr error
				if r.Offset < 0 {
					rerr = err
					if rerr == nil {
						k.die("ProduceSync: record %d has no offset, and no error", i)
					}
				}
				k.sent(sends[i], r.Offset, rerr, invalid[i])
			}
		default:
			for range 1 + rng.IntN(30) {
				r, s, invalid := record(part)
				prod.Produce(ctx, r, func(r *Record, err error) { k.sent(s, r.Offset, err, invalid) })
			}
		}
	}
}

// sent records the outcome of a send. invalid says the record had to be
// refused.
func (k *killChild) sent(s *histcheck.Send, offset int64, err error, invalid bool) {
	switch {
	case err == nil && !invalid:
		s.Ok(offset)
	case err == nil:
		s.Unknown()
		k.die("a record with an empty header key was appended at offset %d", offset)
	case errors.Is(err, ErrInvalidArgument) || errors.Is(err, ErrRecordTooLarge) || errors.Is(err, ErrUnknownPartition):
		s.Fail() // refused before it was written
		if !invalid {
			k.die("send refused: %v", err)
		}
	default:
		s.Unknown()
		k.die("send failed: %v", err)
	}
}

// killMember is one consumer of the group and its checker epoch.
type killMember struct {
	name  string
	epoch int // touched only on the consumer's goroutine (callbacks run in Poll and Close)
}

// consume runs group member m. It polls, records what it polled, and
// commits it; one poll in ten it rewinds to the committed offsets instead
// (processing failed). Member 1 closes after a few polls and joins again
// as a new consumer, so that partitions move between the members.
func (k *killChild) consume(m int, rng *rand.Rand) {
	ctx := context.Background()
	for incarnation := 0; ; incarnation++ {
		km := &killMember{name: fmt.Sprintf("c%d-m%d-%d", k.cycle, m, incarnation)}
		newEpoch := func(context.Context, ConsumerClient, []TopicPartition) { km.epoch++ }
		c, err := k.l.NewConsumer(ConsumerConfig{
			Group: killGroup, Topics: []string{killTopic}, DisableAutoCommit: true,
			MaxPollRecords: 20 + rng.IntN(300),
			OnAssigned: func(ctx context.Context, c ConsumerClient, gained []TopicPartition) {
				km.epoch++
				// The first poll of a gained partition starts at the
				// group's committed offset, or at the start.
				committed, err := c.Committed(ctx, gained...)
				if err != nil {
					k.die("Committed: %v", err)
				}
				for _, tp := range gained {
					off, ok := committed[tp]
					if !ok {
						off = k.parts[tp.Partition].StartOffset()
					}
					k.rec.Seek(km.name, km.epoch, histcheck.Partition{Topic: tp.Topic, ID: tp.Partition}, off)
				}
			},
			OnRevoked: newEpoch,
			OnLost:    newEpoch,
		})
		if err != nil {
			k.die("NewConsumer: %v", err)
		}
		polls := math.MaxInt
		if m == 1 {
			polls = 1 + rng.IntN(40)
		}
		for range polls {
			recs, err := c.Poll(ctx)
			if err != nil {
				k.die("%s: Poll: %v", km.name, err)
			}
			reads := make([]histcheck.Read, len(recs))
			next := map[int32]int64{}
			for i, r := range recs {
				reads[i] = histcheck.Read{Partition: histcheck.Partition{Topic: r.Topic, ID: r.Partition}, Offset: r.Offset, Value: killValueID(r.Value)}
				next[r.Partition] = r.Offset + 1
			}
			k.rec.Poll(km.name, km.epoch, reads...)
			if rng.IntN(10) == 0 {
				k.rewind(c, km, next)
				continue
			}
			var commits []*histcheck.Commit
			for part := range int32(killPartitions) {
				if off, ok := next[part]; ok {
					commits = append(commits, k.rec.Commit(killGroup, histcheck.Partition{Topic: killTopic, ID: part}, off))
				}
			}
			err = c.CommitRecords(ctx, recs...)
			for _, h := range commits {
				switch {
				case err == nil:
					h.Ok()
				case errors.Is(err, ErrFenced) || errors.Is(err, ErrInvalidArgument):
					h.Fail()
				default:
					h.Unknown()
				}
			}
			if err != nil {
				k.die("%s: CommitRecords: %v", km.name, err)
			}
		}
		if err := c.Close(); err != nil {
			k.die("%s: Close: %v", km.name, err)
		}
	}
}

// rewind seeks the partitions polled last back to the group's committed
// offsets (or their start), and records the seeks.
func (k *killChild) rewind(c *Consumer, km *killMember, polled map[int32]int64) {
	tps := make([]TopicPartition, 0, len(polled))
	for part := range polled {
		tps = append(tps, TopicPartition{Topic: killTopic, Partition: part})
	}
	committed, err := c.Committed(context.Background(), tps...)
	if err != nil {
		k.die("%s: Committed: %v", km.name, err)
	}
	for _, tp := range tps {
		off, ok := committed[tp]
		if !ok {
			off = k.parts[tp.Partition].StartOffset()
		}
		if err := c.Seek(tp, off); err != nil {
			k.die("%s: Seek: %v", km.name, err)
		}
		k.rec.Seek(km.name, km.epoch, histcheck.Partition{Topic: tp.Topic, ID: tp.Partition}, off)
	}
}
