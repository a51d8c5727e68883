package commitlog

import (
	"context"
	"encoding/binary"
	"fmt"
	"strconv"
	"sync"
	"testing"

	"github.com/commitlog-go/commitlog/internal/histcheck"
	"github.com/commitlog-go/commitlog/internal/record"
	"github.com/commitlog-go/commitlog/internal/vfs"
	"github.com/stretchr/testify/require"
)

// producerCrashTopic has two partitions with tiny segments, so that a small
// workload rolls, checkpoints and snapshots often.
var producerCrashTopic = TopicConfig{
	Partitions:         2,
	SegmentBytes:       4096,
	IndexIntervalBytes: 256,
	SegmentIndexBytes:  1024,
	MaxBatchBytes:      2048,
}

// producedRecord is where an acknowledged record landed.
type producedRecord struct {
	partition int32
	offset    int64
}

// producerCrashWorkload produces records "r<i>" with keys through
// idempotent producers under SyncAlways: a first producer, a clean close
// and reopen, then a second producer, with checkpoints (and so producer
// state snapshots) every few records. acked receives every record whose
// promise reported success; rec records each record as a send of its own,
// to the partition the default partitioner chooses for its key.
func producerCrashWorkload(fs vfs.FS, acked map[int]producedRecord, mu *sync.Mutex, rec *histcheck.Recorder, records int) error {
	ctx := context.Background()
	opts := testOptions(fs)
	l, err := Open(testDir, opts)
	if err != nil {
		return err
	}
	defer func() { l.Close() }()
	if _, err := l.CreateTopic(ctx, "prod", producerCrashTopic); err != nil {
		return err
	}
	for phase := 0; phase < 2; phase++ {
		if phase == 1 {
			if err := l.Close(); err != nil {
				return err
			}
			if l, err = Open(testDir, opts); err != nil {
				return err
			}
		}
		prod, err := l.NewProducer(ProducerConfig{BatchBytes: 300})
		if err != nil {
			return err
		}
		var failed error
		producer := fmt.Sprint("producer ", phase+1)
		partitioner := KeyHashPartitioner().ForTopic("prod")
		for i := phase * records / 2; i < (phase+1)*records/2; i++ {
			r := &Record{Topic: "prod", Key: []byte(strconv.Itoa(i % 5)), Value: fmt.Appendf(nil, "r%d", i)}
			hp := histcheck.Partition{Topic: "prod", ID: partitioner.Partition(r, producerCrashTopic.Partitions)}
			s := rec.Send(producer, hp, string(r.Value))
			prod.Produce(ctx, r, func(r *Record, err error) {
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					s.Unknown()
					failed = err
					return
				}
				s.Ok(r.Offset)
				acked[i] = producedRecord{r.Partition, r.Offset}
			})
			if i%6 == 5 {
				if err := prod.Flush(ctx); err != nil {
					return err
				}
				for _, p := range l.allPartitions() {
					if err := p.checkpoint(ctx); err != nil {
						return err
					}
				}
			}
		}
		if err := prod.Close(); err != nil {
			return err
		}
		if failed != nil {
			return failed
		}
	}
	return l.Close()
}

// TestProducerCrashAtEveryPoint crashes the producer workload before every
// mutating file operation, reopens, and checks that every record whose
// promise reported success is at its offset, that no record appears twice,
// and that the recovered producer state still recognises each producer's
// last batch as a duplicate and refuses a gap. internal/histcheck checks
// each state against the history up to the crash too: nothing
// acknowledged lost or moved, nothing stored twice or out of each
// producer's order, nothing read that was never sent.
func TestProducerCrashAtEveryPoint(t *testing.T) {
	const records = 40
	keeps := []vfs.CrashOptions{{KeepUnsynced: 0}, {KeepUnsynced: 0.7, Tear: true}}
	states := 0
	for k := 0; ; k++ {
		mem := vfs.NewMem()
		var mu sync.Mutex
		acked := map[int]producedRecord{}
		hist := newCrashHistory()
		var clones []*vfs.MemFS
		var ackedAtCrash map[int]producedRecord
		var historyAtCrash []byte
		ops := 0
		var opsMu sync.Mutex
		inj := vfs.InjectorFunc(func(op vfs.Op, path string) error {
			if !op.Mutating() {
				return nil
			}
			opsMu.Lock()
			defer opsMu.Unlock()
			if ops == k {
				mu.Lock()
				ackedAtCrash = make(map[int]producedRecord, len(acked))
				for i, r := range acked {
					ackedAtCrash[i] = r
				}
				mu.Unlock()
				historyAtCrash = hist.lines()
				for i, c := range keeps {
					c.Seed = int64(k*10 + i)
					clones = append(clones, mem.CrashClone(c))
				}
			}
			ops++
			return nil
		})
		require.NoError(t, producerCrashWorkload(vfs.WithInjector(mem, inj, vfs.InjectOptions{}), acked, &mu, hist.rec, records))
		if clones == nil {
			require.Greater(t, k, 100, "the workload should have many crash points")
			break
		}
		for i, clone := range clones {
			states++
			checkProducerRecovery(t, clone, ackedAtCrash, historyAtCrash, records, fmt.Sprintf("crash before op %d, %+v", k, keeps[i%len(keeps)]))
		}
	}
	t.Logf("%d crash states recovered and checked", states)
}

// checkProducerRecovery opens a crash state and checks it against acked
// and, with internal/histcheck, against history, the lines recorded up to
// the crash.
func checkProducerRecovery(t *testing.T, fs *vfs.MemFS, acked map[int]producedRecord, history []byte, records int, what string) {
	t.Helper()
	ctx := context.Background()
	l, err := Open(testDir, testOptions(fs))
	require.NoError(t, err, what)
	defer l.Close()
	rec := replayCrashHistory(t, history, what)
	// SyncAlways: every acknowledgement is durable. Each producer keeps
	// the order of its records in flight.
	opts := histcheck.Options{PipelinedSends: true, RequireSeen: true}
	tp, err := l.Topic("prod")
	if err != nil {
		require.ErrorIs(t, err, ErrUnknownTopic, what)
		require.Empty(t, acked, what)
		for id := range producerCrashTopic.Partitions {
			rec.Final(histcheck.Partition{Topic: "prod", ID: id}, 0, 0, nil)
		}
		requireHistory(t, rec, opts, what)
		return
	}
	found := map[int]producedRecord{}
	for id := int32(0); id < tp.NumPartitions(); id++ {
		p, _ := tp.Partition(id)
		hp := histcheck.Partition{Topic: "prod", ID: id}
		var reads []histcheck.Read
		for r, err := range p.Scan(ctx, 0) {
			require.NoError(t, err, what)
			reads = append(reads, histcheck.Read{Partition: hp, Offset: r.Offset, Value: string(r.Value)})
			i, err := strconv.Atoi(string(r.Value[1:]))
			require.NoError(t, err, what)
			require.Less(t, i, records, what)
			_, dup := found[i]
			require.False(t, dup, "%s: record %d appears twice", what, i)
			found[i] = producedRecord{id, r.Offset}
		}
		rec.Final(hp, p.StartOffset(), p.EndOffset(), reads)
		checkLastBatchIsDuplicate(t, p, what)
	}
	for i, want := range acked {
		require.Equal(t, want, found[i], "%s: acknowledged record %d", what, i)
	}
	requireHistory(t, rec, opts, what)
	require.NoError(t, l.Check(ctx), what)
}

// checkLastBatchIsDuplicate appends the raw bytes of the partition's last
// idempotent batch again: the partition must answer with the original
// offsets and append nothing; and a batch leaving a gap after it must be
// refused.
func checkLastBatchIsDuplicate(t *testing.T, p *Partition, what string) {
	t.Helper()
	var last []byte
	err := p.store.VisitBatches(false, func(b []byte, h record.Header) bool {
		if h.ProducerID >= 0 {
			last = append(last[:0], b...)
		}
		return true
	})
	require.NoError(t, err, what)
	if last == nil {
		return
	}
	h, err := record.ParseHeader(last, len(last))
	require.NoError(t, err)
	end := p.EndOffset()
	res, err := p.appendBatch(context.Background(), append([]byte(nil), last...), appendOptions{Expected: -1})
	require.NoError(t, err, "%s: resending the last batch of producer %d", what, h.ProducerID)
	require.Equal(t, AppendResult{BaseOffset: h.BaseOffset, LastOffset: h.LastOffset()}, res, what)
	require.Equal(t, end, p.EndOffset(), "%s: a duplicate appends nothing", what)

	gap := append([]byte(nil), last...)
	record.SetBaseOffset(gap, 0)
	setBaseSequence(gap, nextSequence(h.BaseSequence, h.LastOffsetDelta+2))
	_, err = p.appendBatch(context.Background(), gap, appendOptions{Expected: -1})
	require.ErrorIs(t, err, ErrOutOfOrderSequence, what)
	require.Equal(t, end, p.EndOffset(), what)
}

// setBaseSequence rewrites a batch's base sequence and CRC.
func setBaseSequence(batch []byte, seq int32) {
	binary.BigEndian.PutUint32(batch[53:], uint32(seq))
	binary.BigEndian.PutUint32(batch[17:], record.ComputeCRC(batch))
}
