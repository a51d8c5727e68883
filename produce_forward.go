package commitlog

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/commitlog-go/commitlog/internal/record"
	"github.com/commitlog-go/commitlog/internal/storage"
)

// Forwarding. A Producer on a node that does not lead a partition sends
// its batches to the leader: a ProduceRequest carries one batch, as the
// Producer built it (its producer id, epoch and base sequence set), and
// the leader appends it as its own Producer would and answers with a
// ProduceResponse once acks is satisfied. The transport may lose either;
// the Producer then sends the same batch again, in a new request, and
// the leader's idempotence check (the batch's producer id and sequence)
// turns a batch it already holds into the original offsets instead of a
// second copy. A leader change is the same: the batch goes to the new
// leader, which holds the producer's replicated state. Kafka's producer
// does the same with its brokers.

// ProduceRequest is a node's Producer asking a partition's leader to
// append a batch on its behalf.
type ProduceRequest struct {
	Topic     string
	Partition int32
	// ID names the request among the sender's; the response carries it
	// back, and a response to an earlier attempt is told from it.
	ID uint64
	// Acks is what the leader waits for before answering: the Producer's
	// ProducerConfig.Acks.
	Acks Acks
	// Batch is one RecordBatch v2 as the Producer built it (base offset
	// 0), at most 2^31-1 bytes.
	Batch []byte
}

// ProduceResponse is a leader's answer to a ProduceRequest.
type ProduceResponse struct {
	Topic     string
	Partition int32
	// ID is the request's.
	ID uint64
	// Error is ProduceOK or why the batch was not appended (or not
	// acknowledged, for the AfterAppend kind); Message says more.
	Error   ProduceError
	Message string
	// Leader and LeaderEpoch are, with ProduceNotLeader, the leader as
	// the responder knows it (NoNode and -1 when it knows none).
	Leader      NodeID
	LeaderEpoch int32
	// BaseOffset and LastOffset are the batch's offsets, and
	// LogAppendTime its timestamp under LogAppendTime in Unix
	// milliseconds (-1 otherwise), with ProduceOK.
	BaseOffset, LastOffset int64
	LogAppendTime          int64
}

func (*ProduceRequest) isMessageBody()  {}
func (*ProduceResponse) isMessageBody() {}

// ProduceError is why a leader did not append a forwarded batch. The
// values are part of the message format: new ones come with a new
// MessageVersion.
type ProduceError uint16

const (
	// ProduceOK: appended and acknowledged as asked.
	ProduceOK ProduceError = iota
	// ProduceNotLeader: the receiver does not lead the partition.
	ProduceNotLeader
	// ProduceNotEnoughReplicas: fewer in-sync replicas than
	// MinInSyncReplicas; nothing was appended.
	ProduceNotEnoughReplicas
	// ProduceNotEnoughReplicasAfterAppend: appended, but the in-sync set
	// shrank below MinInSyncReplicas before it was committed.
	ProduceNotEnoughReplicasAfterAppend
	// ProduceRecordTooLarge: the batch exceeds the topic's MaxBatchBytes.
	ProduceRecordTooLarge
	// ProduceOutOfOrderSequence: the batch's sequence leaves a gap.
	ProduceOutOfOrderSequence
	// ProduceProducerFenced: the batch's producer epoch is stale.
	ProduceProducerFenced
	// ProduceInvalid: the batch or request is malformed (ErrInvalidArgument).
	ProduceInvalid
	// ProduceCorrupt: the batch's CRC does not match.
	ProduceCorrupt
	// ProduceUnknownPartition: no such topic or partition here.
	ProduceUnknownPartition
	// ProduceDiskFull: the leader's disk is full.
	ProduceDiskFull
	// ProduceDurability: the leader's fsync failed.
	ProduceDurability
	// ProduceUnavailable: the leader is closing, or failed otherwise.
	ProduceUnavailable

	produceErrorCount // the number of ProduceError values this build knows
)

var produceErrorNames = [...]string{
	ProduceOK: "ProduceOK", ProduceNotLeader: "ProduceNotLeader", ProduceNotEnoughReplicas: "ProduceNotEnoughReplicas",
	ProduceNotEnoughReplicasAfterAppend: "ProduceNotEnoughReplicasAfterAppend", ProduceRecordTooLarge: "ProduceRecordTooLarge",
	ProduceOutOfOrderSequence: "ProduceOutOfOrderSequence", ProduceProducerFenced: "ProduceProducerFenced",
	ProduceInvalid: "ProduceInvalid", ProduceCorrupt: "ProduceCorrupt", ProduceUnknownPartition: "ProduceUnknownPartition",
	ProduceDiskFull: "ProduceDiskFull", ProduceDurability: "ProduceDurability", ProduceUnavailable: "ProduceUnavailable",
}

// String returns e's constant name, or ProduceError(n) for a value this
// build does not know.
func (e ProduceError) String() string {
	if e < produceErrorCount {
		return produceErrorNames[e]
	}
	return "ProduceError(" + strconv.Itoa(int(e)) + ")"
}

// maxServedProduces bounds the forwarded produce requests a leader
// serves at once.
const maxServedProduces = 256

// maxProduceMessage bounds a ProduceResponse's Message.
const maxProduceMessage = 1024

// produceErrorOf classifies an append error for the wire.
func produceErrorOf(err error) ProduceError {
	var nl *NotLeaderError
	switch {
	case err == nil:
		return ProduceOK
	case errors.As(err, &nl):
		return ProduceNotLeader
	case errors.Is(err, ErrNotEnoughReplicasAfterAppend):
		return ProduceNotEnoughReplicasAfterAppend
	case errors.Is(err, ErrNotEnoughReplicas):
		return ProduceNotEnoughReplicas
	case errors.Is(err, ErrRecordTooLarge):
		return ProduceRecordTooLarge
	case errors.Is(err, ErrOutOfOrderSequence):
		return ProduceOutOfOrderSequence
	case errors.Is(err, ErrProducerFenced):
		return ProduceProducerFenced
	case errors.Is(err, ErrCorrupt):
		return ProduceCorrupt
	case errors.Is(err, ErrUnknownTopic), errors.Is(err, ErrUnknownPartition):
		return ProduceUnknownPartition
	case errors.Is(err, ErrDiskFull):
		return ProduceDiskFull
	case errors.Is(err, ErrDurability):
		return ProduceDurability
	case errors.Is(err, ErrInvalidArgument):
		return ProduceInvalid
	}
	return ProduceUnavailable
}

// err returns the error a ProduceResponse reports, matching the same
// sentinels as the leader's own: a *NotLeaderError for ProduceNotLeader.
func (r *ProduceResponse) err(from NodeID) error {
	if r.Error == ProduceNotLeader {
		return &NotLeaderError{Topic: r.Topic, Partition: r.Partition, Node: from, Leader: r.Leader, LeaderEpoch: r.LeaderEpoch}
	}
	var sentinel error
	switch r.Error {
	case ProduceOK:
		return nil
	case ProduceNotEnoughReplicas:
		sentinel = ErrNotEnoughReplicas
	case ProduceNotEnoughReplicasAfterAppend:
		sentinel = ErrNotEnoughReplicasAfterAppend
	case ProduceRecordTooLarge:
		sentinel = ErrRecordTooLarge
	case ProduceOutOfOrderSequence:
		sentinel = ErrOutOfOrderSequence
	case ProduceProducerFenced:
		sentinel = ErrProducerFenced
	case ProduceInvalid:
		sentinel = ErrInvalidArgument
	case ProduceCorrupt:
		sentinel = ErrCorrupt
	case ProduceUnknownPartition:
		sentinel = ErrUnknownPartition
	case ProduceDiskFull:
		sentinel = ErrDiskFull
	case ProduceDurability:
		sentinel = ErrDurability
	default:
		sentinel = ErrLeaderUnreachable
	}
	return fmt.Errorf("%w: %s-%d on leader node %d: %s", sentinel, r.Topic, r.Partition, from, r.Message)
}

// retriable reports whether a forwarded batch that failed with e may be
// sent again: to the same leader or the next one, with the same
// sequence, so never twice in the log.
func (e ProduceError) retriable() bool {
	switch e {
	case ProduceNotLeader, ProduceNotEnoughReplicas, ProduceNotEnoughReplicasAfterAppend, ProduceUnavailable, ProduceUnknownPartition:
		return true
	}
	return false
}

// serveProduce appends a forwarded batch as the partition's leader and
// answers. It runs on a goroutine of its own (the replicator's wait
// group), since it waits for the append's acknowledgement.
func (r *replicator) serveProduce(from NodeID, req *ProduceRequest) {
	resp := &ProduceResponse{Topic: req.Topic, Partition: req.Partition, ID: req.ID, Leader: NoNode, LeaderEpoch: -1,
		BaseOffset: -1, LastOffset: -1, LogAppendTime: -1}
	res, err := r.appendForwarded(req)
	if resp.Error = produceErrorOf(err); err != nil {
		var nl *NotLeaderError
		if errors.As(err, &nl) {
			resp.Leader, resp.LeaderEpoch = nl.Leader, nl.LeaderEpoch
		}
		msg := err.Error()
		if len(msg) > maxProduceMessage {
			msg = msg[:maxProduceMessage]
		}
		resp.Message = msg
	} else {
		resp.BaseOffset, resp.LastOffset = res.BaseOffset, res.LastOffset
		if !res.LogAppendTime.IsZero() {
			resp.LogAppendTime = res.LogAppendTime.UnixMilli()
		}
	}
	r.send(from, resp)
	if req.Acks == AckNone && err == nil {
		// As the sender's Producer does after an AckNone batch: the fsync
		// that lets consumers (who see only durable records under
		// SyncAlways) have the records.
		if p, perr := r.l.partition(TopicPartition{req.Topic, req.Partition}); perr == nil {
			if aerr := p.acknowledge(r.ctx, res.LastOffset+1, appendOptions{}); aerr != nil && r.ctx.Err() == nil {
				r.l.opts.Logger.Warn("fsync after a forwarded AckNone produce failed", "topic", req.Topic, "partition", req.Partition, "err", aerr)
			}
		}
	}
}

// appendForwarded checks a forwarded batch as a broker checks a
// produce request's (whole, with a good CRC, records that decode) and
// appends it where this node leads.
func (r *replicator) appendForwarded(req *ProduceRequest) (AppendResult, error) {
	p, err := r.l.partition(TopicPartition{req.Topic, req.Partition})
	if err != nil {
		return AppendResult{}, err
	}
	if p.repl == nil {
		return AppendResult{}, r.notHosted(req.Topic, req.Partition)
	}
	if req.Acks > AckNone {
		return AppendResult{}, fmt.Errorf("%w: forwarded produce to %s-%d: acks %d", ErrInvalidArgument, req.Topic, req.Partition, req.Acks)
	}
	if err := record.CheckCRC(req.Batch); err != nil {
		return AppendResult{}, fmt.Errorf("%w: forwarded produce to %s-%d: %w", ErrCorrupt, req.Topic, req.Partition, err)
	}
	if err := record.Validate(req.Batch, storage.MaxDecompressedBatch); err != nil {
		return AppendResult{}, fmt.Errorf("%w: forwarded produce to %s-%d: %w", ErrInvalidArgument, req.Topic, req.Partition, err)
	}
	if err := p.topic.refuseWrites(); err != nil {
		return AppendResult{}, err
	}
	return p.repl.append(r.ctx, req.Batch, appendOptions{Expected: -1, NoWait: req.Acks == AckNone}, req.Acks)
}

// forwardAttempt is how long one forwarded batch waits for its answer
// before it is sent again: the leader waits at most ReplicaLagTime for
// a slow follower before shrinking the in-sync set, so an answer takes
// about that at worst.
func (r *replicator) forwardAttempt() time.Duration {
	return 2*r.l.opts.ReplicaLagTime + time.Second
}

// forwardTimeout bounds the attempts of one forwarded batch, as Kafka's
// delivery.timeout.ms (default two minutes) bounds a record's.
const forwardTimeout = 2 * time.Minute

// forward sends the batch to the partition's leader, again after a
// lost answer or a retriable refusal and to the next leader after a
// leader change, until it is acknowledged, refused for good, the node
// closes, or forwardTimeout passes. local is called instead when this
// node is the leader (the metadata moved while forwarding).
func (r *replicator) forward(tp TopicPartition, acks Acks, batch []byte, local func() (AppendResult, error)) (AppendResult, error) {
	deadline := time.Now().Add(forwardTimeout)
	var last error
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			// Back off briefly: a leader change takes the controller's
			// update to reach this node.
			select {
			case <-r.ctx.Done():
				return AppendResult{}, errors.Join(ErrClosed, last)
			case <-r.appliedChan():
			case <-time.After(min(time.Duration(attempt)*20*time.Millisecond, time.Second)):
			}
		}
		if time.Now().After(deadline) {
			return AppendResult{}, fmt.Errorf("%w: produce to %s-%d forwarded for %v: %w", ErrLeaderUnreachable, tp.Topic, tp.Partition, forwardTimeout, last)
		}
		leader := r.leaderOf(tp)
		switch leader {
		case NoNode:
			last = fmt.Errorf("%s-%d has no leader", tp.Topic, tp.Partition)
			continue
		case r.node:
			res, err := local()
			var nl *NotLeaderError
			if errors.As(err, &nl) {
				last = err
				continue
			}
			return res, err
		}
		resp, err := r.call(leader, &ProduceRequest{Topic: tp.Topic, Partition: tp.Partition, Acks: acks, Batch: batch})
		if err != nil {
			if errors.Is(err, ErrClosed) {
				return AppendResult{}, err
			}
			last = err // no answer: send it again
			continue
		}
		if resp.Error == ProduceOK {
			res := AppendResult{BaseOffset: resp.BaseOffset, LastOffset: resp.LastOffset}
			if resp.LogAppendTime >= 0 {
				res.LogAppendTime = time.UnixMilli(resp.LogAppendTime)
			}
			return res, nil
		}
		last = resp.err(leader)
		if !resp.Error.retriable() {
			return AppendResult{}, last
		}
	}
}

// call sends req to node and waits for its answer, at most one
// forwardAttempt. Errors: ErrClosed, ErrLeaderUnreachable for no answer
// in time.
func (r *replicator) call(node NodeID, req *ProduceRequest) (*ProduceResponse, error) {
	req.ID = r.nextCall.Add(1)
	ch := make(chan *ProduceResponse, 1)
	r.callsMu.Lock()
	r.calls[req.ID] = ch
	r.callsMu.Unlock()
	defer func() {
		r.callsMu.Lock()
		delete(r.calls, req.ID)
		r.callsMu.Unlock()
	}()
	r.send(node, req)
	timer := time.NewTimer(r.forwardAttempt())
	defer timer.Stop()
	select {
	case resp := <-ch:
		return resp, nil
	case <-timer.C:
		return nil, fmt.Errorf("%w: no answer from node %d to a produce to %s-%d within %v", ErrLeaderUnreachable, node, req.Topic, req.Partition, r.forwardAttempt())
	case <-r.ctx.Done():
		return nil, ErrClosed
	}
}

// answered hands a ProduceResponse to the call waiting for it; one
// nobody waits for (late, duplicated) is dropped.
func (r *replicator) answered(resp *ProduceResponse) {
	r.callsMu.Lock()
	ch := r.calls[resp.ID]
	r.callsMu.Unlock()
	if ch != nil {
		select {
		case ch <- resp:
		default:
		}
	}
}
