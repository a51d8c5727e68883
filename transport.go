package commitlog

import (
	"context"
	"strconv"
	"strings"
	"time"
)

// NodeID names a node: one Log in a replicated cluster. Node ids are
// non-negative; NoNode stands for none.
type NodeID int32

// NoNode is the NodeID of no node: the leader of a partition that has
// none, for instance. No message is ever from or to NoNode.
const NoNode NodeID = -1

// MessageVersion is the version of the messages this build sends: the
// Version every Message must carry. Receivers drop messages of versions
// they do not know; a change of a message's fields or of their meaning
// comes with a new version.
const MessageVersion = 1

// Message is one message between nodes: a header naming the sender and the
// receiver, and a body. Each body kind is one of the replication
// protocol's requests or responses; the protocol is Kafka's replica fetch
// (followers pull from the leader), one partition per message.
//
// A Message is a value, but its Body is a pointer and a FetchResponse's
// Records a slice: copying a Message does not copy them (Clone does). See
// Transport for who owns what once a Message is sent or delivered.
type Message struct {
	// Version is the version of the message's format and meaning:
	// MessageVersion for messages this build sends.
	Version uint16
	// From is the sending node, To the receiving one.
	From, To NodeID
	// Body is the message proper: a *FetchRequest, a *FetchResponse, a
	// *ControllerMessage, or a *ProduceRequest or *ProduceResponse (a
	// Producer's batch forwarded to the partition's leader).
	Body MessageBody
}

// MessageBody is the body of a Message: *FetchRequest, *FetchResponse or
// *ControllerMessage. The set is closed (only this package implements MessageBody) but will
// grow as the protocol gains messages, so a type switch over bodies should
// have a default case that drops what it does not know.
type MessageBody interface {
	isMessageBody()
}

// FetchRequest is a follower asking a partition's leader for the batches
// after its log's end: Kafka's replica Fetch, one partition per request.
// The fetch is also the follower's acknowledgement: the leader takes
// AckedOffset as the offset below which the follower holds the
// partition's records, and advances the high watermark from it.
//
// A follower numbers its fetches with Seq and its incarnations with
// ReplicaEpoch, so that a leader can tell a delayed or duplicated request,
// or one from before the follower restarted, from the latest one
// (KIP-903); CurrentLeaderEpoch fences requests meant for an earlier or
// later leader (KIP-320's current leader epoch).
type FetchRequest struct {
	Topic     string
	Partition int32
	// ReplicaEpoch is the follower's incarnation: it rises each time the
	// follower's Log opens (KIP-903's broker epoch), so that requests sent
	// before a restart are told from those sent after it.
	ReplicaEpoch int64
	// Seq rises with every fetch within one incarnation (ReplicaEpoch),
	// and the response carries it back.
	Seq uint64
	// CurrentLeaderEpoch is the leader epoch the follower believes
	// current; the leader refuses a request for another epoch
	// (FetchFencedLeaderEpoch, FetchUnknownLeaderEpoch).
	CurrentLeaderEpoch int32
	// FetchOffset is where to read from: the follower's written end (log
	// end offset).
	FetchOffset int64
	// AckedOffset is the follower's acknowledged end: the offset below
	// which its records are durable under SyncAlways, or written under the
	// other policies. It is at most FetchOffset.
	AckedOffset int64
	// LastFetchedEpoch is the leader epoch of the follower's last batch
	// (below FetchOffset), -1 for an empty log: the leader compares it with
	// its own epochs to detect divergence (Kafka's Fetch v12).
	LastFetchedEpoch int32
	// LogStartOffset is the follower's log start offset.
	LogStartOffset int64
	// MaxBytes is the most record bytes the follower wants in the
	// response. As in Kafka, the leader returns at least the first batch
	// at FetchOffset even when it is larger, so that a fetch always makes
	// progress.
	MaxBytes int32
	// MaxWait is how long the leader may hold the request when it has no
	// records at FetchOffset (a long poll), before answering with none.
	// Zero: answer at once.
	MaxWait time.Duration
}

// FetchResponse is a leader's answer to a FetchRequest: batches starting
// at the request's FetchOffset, or an Error saying why there are none.
type FetchResponse struct {
	Topic     string
	Partition int32
	// ReplicaEpoch and Seq are those of the request answered: a
	// follower takes only the answer to its outstanding fetch, never one
	// to a fetch of an earlier incarnation.
	ReplicaEpoch int64
	Seq          uint64
	// LeaderEpoch is the responding leader's epoch.
	LeaderEpoch int32
	// Error is FetchOK or why the request was refused; with an error the
	// response carries no records.
	Error FetchError
	// HighWatermark is the leader's high watermark; the follower's is the
	// smaller of it and its own log end, as in Kafka.
	HighWatermark int64
	// LogStartOffset is the leader's log start offset.
	LogStartOffset int64
	// DivergingEpoch and DivergingEndOffset report that the follower's log
	// diverges from the leader's (Kafka's Fetch v12): the largest
	// leader epoch the two share at most the request's LastFetchedEpoch,
	// and the leader's end offset for it, to which the follower truncates
	// before fetching again. DivergingEpoch is -1 when the logs do not
	// diverge; the response then carries no records.
	DivergingEpoch     int32
	DivergingEndOffset int64
	// BaseOffset is the first offset of the first batch in Records, -1
	// when Records is empty.
	BaseOffset int64
	// Records are whole RecordBatch v2 batches, verbatim as the leader
	// stores them (each stamped with the leader epoch that appended it).
	Records []byte
}

// ControllerMessage is a message between the controllers of two nodes:
// bytes that only a Controller implementation reads (a consensus
// protocol's message, say), carried by the same Transport as replication.
// The Log does not read them: a Log's listener drops ControllerMessages,
// so a controller that uses them receives them by wrapping the Transport
// and taking them out of the stream before the Log's delivery function
// sees it (package cluster does so). Data's own format is the
// controller's to version; the Message's Version covers only the
// envelope.
type ControllerMessage struct {
	// Data is the controller's message, at most 2^31-1 bytes.
	Data []byte
}

func (*FetchRequest) isMessageBody()      {}
func (*FetchResponse) isMessageBody()     {}
func (*ControllerMessage) isMessageBody() {}

// FetchError is why a leader refused a FetchRequest (FetchOK: it did not).
// The values are part of the message format: new ones come with a new
// MessageVersion.
type FetchError uint16

const (
	// FetchOK: no error; the response carries records, or none when there
	// are none past FetchOffset.
	FetchOK FetchError = iota
	// FetchNotLeader: the receiver does not lead the partition (any more,
	// or yet). The follower should learn the current leader from the
	// controller.
	FetchNotLeader
	// FetchNotReplica: the sender does not hold a replica of the partition
	// (Kafka's NOT_LEADER_OR_FOLLOWER, from the follower's side).
	FetchNotReplica
	// FetchFencedLeaderEpoch: the request's CurrentLeaderEpoch is older
	// than the leader's: the follower has missed a leader change.
	FetchFencedLeaderEpoch
	// FetchUnknownLeaderEpoch: the request's CurrentLeaderEpoch is newer
	// than the leader's: the receiver has not yet learnt of the change.
	FetchUnknownLeaderEpoch
	// FetchStaleReplicaEpoch: the request's ReplicaEpoch is older than one
	// the leader has seen from the same follower: it was sent before the
	// follower restarted (KIP-903).
	FetchStaleReplicaEpoch
	// FetchStaleFetch: the request's Seq is not above the last one the
	// leader has answered in the same incarnation: a delayed or
	// duplicated request.
	FetchStaleFetch
	// FetchOffsetOutOfRange: FetchOffset is outside the leader's
	// [log start offset, log end offset] range.
	FetchOffsetOutOfRange
	// FetchUnknownPartition: the receiver has no such topic or partition.
	FetchUnknownPartition

	fetchErrorCount // the number of FetchError values this build knows
)

var fetchErrorNames = [...]string{
	FetchOK:                 "FetchOK",
	FetchNotLeader:          "FetchNotLeader",
	FetchNotReplica:         "FetchNotReplica",
	FetchFencedLeaderEpoch:  "FetchFencedLeaderEpoch",
	FetchUnknownLeaderEpoch: "FetchUnknownLeaderEpoch",
	FetchStaleReplicaEpoch:  "FetchStaleReplicaEpoch",
	FetchStaleFetch:         "FetchStaleFetch",
	FetchOffsetOutOfRange:   "FetchOffsetOutOfRange",
	FetchUnknownPartition:   "FetchUnknownPartition",
}

// String returns e's constant name, or FetchError(n) for a value this
// build does not know.
func (e FetchError) String() string {
	if e < fetchErrorCount {
		return fetchErrorNames[e]
	}
	return "FetchError(" + strconv.Itoa(int(e)) + ")"
}

// Transport carries Messages between nodes. It is the seam between a
// replicated Log and the network: package memnet implements it in memory,
// with seeded faults, for tests; a network transport implements it over
// sockets.
//
// # Delivery
//
// A Transport promises nothing about delivery: a message may be lost,
// delayed by any amount, delivered more than once, and delivered in
// another order than it was sent, also between the same two nodes. The
// replication protocol is correct anyway, because it fences every message
// with epochs and sequence numbers (leader epoch, the follower's
// incarnation, the fetch's Seq) and drops any that a newer one has
// overtaken; a lost message costs a retry after a timeout, never
// correctness. A Transport therefore needs no acknowledgements, retries,
// ordering or deduplication of its own; it should only deliver most
// messages soon, unaltered, and each to its addressee.
//
// # Ownership
//
// Send must not retain m, nor anything m refers to, after it returns: it
// copies or encodes the message, since the sender may reuse the memory of
// a FetchResponse's Records (or a ControllerMessage's Data) at once. A
// delivered Message, its Body and its Records (or Data) belong to the receiver, which may keep and modify them.
//
// # Concurrency
//
// Send and Listen are safe for concurrent use. Deliveries to one node are
// serial; deliveries to different nodes are concurrent.
type Transport interface {
	// Listen registers node as reachable at this transport and calls
	// deliver with every message addressed to it, one at a time (never
	// concurrently for one node), until stop is called. After stop
	// returns, deliver is not called again; messages to node not yet
	// delivered are dropped. stop is idempotent, and waits for a call of
	// deliver in progress: calling it from deliver deadlocks.
	//
	// deliver must not block: it queues the message for the receiver's
	// own goroutine and returns. The delivered Message and its slices
	// belong to the receiver.
	//
	// Listen returns an error matching ErrInvalidArgument for a negative
	// node, a nil deliver, or a node already listening (stop its listener
	// first), and ErrClosed once the transport is closed.
	Listen(node NodeID, deliver func(Message)) (stop func(), err error)

	// Send hands m to the network for delivery to m.To, and does not wait
	// for the delivery. It does not retain m or anything m refers to after
	// it returns. Loss is silent: a message to a node not listening, or
	// one the network drops, returns nil.
	//
	// Send returns an error only for a message no transport can carry
	// (one that Message.Validate refuses, whose error it returns), when
	// ctx is done (ctx.Err()), and once the transport is closed
	// (ErrClosed). It is safe for concurrent use.
	Send(ctx context.Context, m Message) error
}

// Clone returns a deep copy of m: a new Body, with its Topic, a
// FetchResponse's Records and a ControllerMessage's Data in memory of
// their own. A Transport that keeps messages in
// memory clones them in Send.
func (m Message) Clone() Message {
	switch b := m.Body.(type) {
	case *FetchRequest:
		if b != nil {
			c := *b
			c.Topic = strings.Clone(b.Topic)
			m.Body = &c
		}
	case *FetchResponse:
		if b != nil {
			c := *b
			c.Topic = strings.Clone(b.Topic)
			if b.Records != nil {
				c.Records = append(make([]byte, 0, len(b.Records)), b.Records...)
			}
			m.Body = &c
		}
	case *ControllerMessage:
		if b != nil {
			c := *b
			if b.Data != nil {
				c.Data = append(make([]byte, 0, len(b.Data)), b.Data...)
			}
			m.Body = &c
		}
	case *ProduceRequest:
		if b != nil {
			c := *b
			c.Topic = strings.Clone(b.Topic)
			if b.Batch != nil {
				c.Batch = append(make([]byte, 0, len(b.Batch)), b.Batch...)
			}
			m.Body = &c
		}
	case *ProduceResponse:
		if b != nil {
			c := *b
			c.Topic, c.Message = strings.Clone(b.Topic), strings.Clone(b.Message)
			m.Body = &c
		}
	}
	return m
}
