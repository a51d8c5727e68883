package commitlog

import (
	"context"
	"errors"
	"time"

	"github.com/commitlog-go/commitlog/internal/record"
	"github.com/commitlog-go/commitlog/internal/vfs"
)

// Exports for the replication tests of package commitlog_test, which use
// memnet (a package that imports this one, so only external tests can).

// SetFS makes o's Log use fs instead of the operating system's.
func SetFS(o *Options, fs vfs.FS) { o.fs = fs }

// AppendIdempotent appends one batch of values as producer pid at epoch 0
// with base sequence seq, acknowledged under acks: what an idempotent
// producer's retry sends again after an ambiguous failure.
func (p *Partition) AppendIdempotent(ctx context.Context, pid int64, seq int32, acks Acks, values ...[]byte) (AppendResult, error) {
	var b record.Builder
	b.Reset(record.BuildOptions{ProducerID: pid, ProducerEpoch: 0, BaseSequence: seq})
	now := p.log.opts.now().UnixMilli()
	for _, v := range values {
		b.Append(now, nil, v, nil)
	}
	batch, err := b.Build()
	if err != nil {
		return AppendResult{}, err
	}
	return p.appendBatchAcks(ctx, batch, appendOptions{Expected: -1}, acks)
}

// LeaderEpochs returns the partition's leader-epoch cache: each epoch and
// its start offset.
func (p *Partition) LeaderEpochs() [][2]int64 {
	var out [][2]int64
	for _, e := range p.store.LeaderEpochs() {
		out = append(out, [2]int64{int64(e.Epoch), e.StartOffset})
	}
	return out
}

// SetClock replaces o's clock (time.Now).
func SetClock(o *Options, now func() time.Time) { o.now = now }

// ProduceErrorRoundTrip turns err into a ProduceResponse from node and
// back into the error a forwarding Producer reports.
func ProduceErrorRoundTrip(err error, from NodeID) error {
	r := &ProduceResponse{Topic: "t", Partition: 1, Error: produceErrorOf(err), Leader: NoNode, LeaderEpoch: -1}
	var nl *NotLeaderError
	if errors.As(err, &nl) {
		r.Leader, r.LeaderEpoch = nl.Leader, nl.LeaderEpoch
	}
	if err != nil {
		r.Message = err.Error()
	}
	return r.err(from)
}
