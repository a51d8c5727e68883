package commitlog

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"
)

// The binary encoding of a Message, for transports that move bytes. Every
// integer is big-endian, as in Kafka's protocol; a string is a uint16
// length and its bytes, Records a uint32 length and its bytes. These
// layouts are part of the message format: a change of them comes with a
// new MessageVersion.
//
//	header, 11 bytes
//	   0  uint16  Version (MessageVersion: 1); always the first field
//	   2  uint8   body kind: 1 FetchRequest, 2 FetchResponse,
//	              3 ControllerMessage
//	   3  int32   From
//	   7  int32   To
//
//	FetchRequest body, 66 bytes + len(Topic)
//	      string  Topic (at most 249 bytes, Kafka's limit)
//	      int32   Partition
//	      int64   ReplicaEpoch
//	      uint64  Seq
//	      int32   CurrentLeaderEpoch
//	      int64   FetchOffset
//	      int64   AckedOffset
//	      int32   LastFetchedEpoch
//	      int64   LogStartOffset
//	      int32   MaxBytes
//	      int64   MaxWait, in nanoseconds
//
//	FetchResponse body, 68 bytes + len(Topic) + len(Records)
//	      string  Topic (at most 249 bytes)
//	      int32   Partition
//	      int64   ReplicaEpoch
//	      uint64  Seq
//	      int32   LeaderEpoch
//	      uint16  Error (a FetchError this version knows)
//	      int64   HighWatermark
//	      int64   LogStartOffset
//	      int32   DivergingEpoch
//	      int64   DivergingEndOffset
//	      int64   BaseOffset
//	      bytes   Records (at most 2^31-1 bytes)
//
//	ControllerMessage body, 4 bytes + len(Data)
//	      bytes   Data (at most 2^31-1 bytes; opaque to the Log)
//
//	ProduceRequest body, 19 bytes + len(Topic) + len(Batch)
//	      string  Topic (at most 249 bytes)
//	      int32   Partition
//	      uint64  ID
//	      uint8   Acks (0 AckAll, 1 AckLeader, 2 AckNone)
//	      bytes   Batch (at most 2^31-1 bytes)
//
//	ProduceResponse body, 50 bytes + len(Topic) + len(Message)
//	      string  Topic (at most 249 bytes)
//	      int32   Partition
//	      uint64  ID
//	      uint16  Error (a ProduceError this version knows)
//	      string  Message (at most 1024 bytes)
//	      int32   Leader (a node, or -1 for none)
//	      int32   LeaderEpoch
//	      int64   BaseOffset
//	      int64   LastOffset
//	      int64   LogAppendTime (Unix milliseconds, -1 for none)
//
// Body kinds 3, 4 and 5 joined version 1 without changing kinds 1 and 2:
// a build that does not know them refuses the bytes as malformed and
// drops them, as it drops any message it cannot read, so the replication
// protocol is unaffected (a forwarded produce to such a node goes
// unanswered and fails after its retries).
//
// Nothing follows the body. The encoding checks the message's structure
// only; what its numbers mean (an epoch fencing a request, Records holding
// whole batches with valid CRCs) is the replication protocol's to check.

const (
	messageHeaderSize        = 11
	fetchRequestFixedSize    = 66
	fetchResponseFixedSize   = 68
	maxMessageRecordsBytes   = math.MaxInt32
	messageKindFetchRequest  = 1
	messageKindFetchResponse = 2
	messageKindController    = 3
	messageKindProduceReq    = 4
	messageKindProduceResp   = 5
	produceRequestFixedSize  = 19
	produceResponseFixedSize = 50
)

var (
	// ErrUnknownMessageVersion is returned for a message whose Version
	// this build does not know: by UnmarshalBinary for bytes from a node
	// running another version (the receiver drops the message), and by
	// Validate, AppendBinary, MarshalBinary and Transport.Send for a
	// Message whose Version is not MessageVersion. The
	// *MessageVersionError carries the version.
	ErrUnknownMessageVersion = errors.New("commitlog: unknown message version")
	// ErrMalformedMessage is returned by UnmarshalBinary for bytes that do
	// not decode as a message of their version: truncated, with trailing
	// bytes, or with a field out of its bounds. The *MalformedMessageError
	// says where and why.
	ErrMalformedMessage = errors.New("commitlog: malformed message")
)

// MessageVersionError reports a message of a version this build does not
// know. It matches ErrUnknownMessageVersion.
type MessageVersionError struct {
	Version uint16
}

func (e *MessageVersionError) Error() string {
	return fmt.Sprintf("commitlog: unknown message version %d: this build knows version %d (MessageVersion) only; "+
		"senders set Message.Version to it, and receivers drop messages of other versions", e.Version, MessageVersion)
}

// Is reports whether target is ErrUnknownMessageVersion.
func (e *MessageVersionError) Is(target error) bool { return target == ErrUnknownMessageVersion }

// MalformedMessageError reports bytes that do not decode as a message:
// Offset is the position of the field at fault in the input, Reason what
// is wrong with it. It matches ErrMalformedMessage.
type MalformedMessageError struct {
	Offset int
	Reason string
}

func (e *MalformedMessageError) Error() string {
	return fmt.Sprintf("commitlog: malformed message at byte %d: %s (the sender's encoding is broken, "+
		"or the bytes were damaged on the way: drop the message)", e.Offset, e.Reason)
}

// Is reports whether target is ErrMalformedMessage.
func (e *MalformedMessageError) Is(target error) bool { return target == ErrMalformedMessage }

// Validate reports whether m can be sent: its Version is MessageVersion
// (else a *MessageVersionError), and (else an error matching
// ErrInvalidArgument) From and To are node ids (not negative), Body is a
// non-nil *FetchRequest, *FetchResponse or *ControllerMessage, a fetch's
// Topic at most 249 bytes long (Kafka's limit on topic names), a
// FetchResponse's Error a FetchError this version knows and its Records,
// like a ControllerMessage's Data, at most 2^31-1 bytes.
// These are the bounds of the binary encoding: AppendBinary and every
// Transport's Send check them, so that a message that one transport
// carries, every transport carries.
func (m Message) Validate() error {
	if m.Version != MessageVersion {
		return &MessageVersionError{Version: m.Version}
	}
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: message from node %d to node %d: %s", ErrInvalidArgument, m.From, m.To, fmt.Sprintf(format, args...))
	}
	if m.From < 0 || m.To < 0 {
		return bad("node ids are not negative")
	}
	var topic string
	switch b := m.Body.(type) {
	case *FetchRequest:
		if b == nil {
			return bad("Body is a nil *FetchRequest")
		}
		topic = b.Topic
	case *FetchResponse:
		if b == nil {
			return bad("Body is a nil *FetchResponse")
		}
		if b.Error >= fetchErrorCount {
			return bad("FetchResponse.Error is %v, not one of the FetchError constants", b.Error)
		}
		if len(b.Records) > maxMessageRecordsBytes {
			return bad("FetchResponse.Records is %d bytes; the limit is %d", len(b.Records), maxMessageRecordsBytes)
		}
		topic = b.Topic
	case *ControllerMessage:
		if b == nil {
			return bad("Body is a nil *ControllerMessage")
		}
		if len(b.Data) > maxMessageRecordsBytes {
			return bad("ControllerMessage.Data is %d bytes; the limit is %d", len(b.Data), maxMessageRecordsBytes)
		}
	case *ProduceRequest:
		if b == nil {
			return bad("Body is a nil *ProduceRequest")
		}
		if b.Acks > AckNone {
			return bad("ProduceRequest.Acks is %d, not one of the Acks constants", b.Acks)
		}
		if len(b.Batch) > maxMessageRecordsBytes {
			return bad("ProduceRequest.Batch is %d bytes; the limit is %d", len(b.Batch), maxMessageRecordsBytes)
		}
		topic = b.Topic
	case *ProduceResponse:
		if b == nil {
			return bad("Body is a nil *ProduceResponse")
		}
		if b.Error >= produceErrorCount {
			return bad("ProduceResponse.Error is %v, not one of the ProduceError constants", b.Error)
		}
		if len(b.Message) > maxProduceMessage {
			return bad("ProduceResponse.Message is %d bytes; the limit is %d", len(b.Message), maxProduceMessage)
		}
		if b.Leader < NoNode {
			return bad("ProduceResponse.Leader is %d; want a node or NoNode", b.Leader)
		}
		topic = b.Topic
	case nil:
		return bad("Body is nil: set a *FetchRequest, a *FetchResponse, a *ControllerMessage, a *ProduceRequest or a *ProduceResponse")
	default:
		return bad("Body is a %T, not a *FetchRequest, a *FetchResponse, a *ControllerMessage, a *ProduceRequest or a *ProduceResponse", b)
	}
	if len(topic) > maxTopicNameLength {
		return bad("topic is %d bytes long; the limit is %d", len(topic), maxTopicNameLength)
	}
	return nil
}

// BinarySize returns the length of m's binary encoding (what
// AppendBinary appends), for a message Validate accepts; for one it
// refuses, the result means nothing. Transports use it to size frames
// and buffers before encoding.
func (m Message) BinarySize() int { return m.encodedSize() }

// encodedSize returns the length of m's encoding. REQUIRES: m.Validate() is nil.
func (m Message) encodedSize() int {
	switch b := m.Body.(type) {
	case *FetchRequest:
		return messageHeaderSize + fetchRequestFixedSize + len(b.Topic)
	case *FetchResponse:
		return messageHeaderSize + fetchResponseFixedSize + len(b.Topic) + len(b.Records)
	case *ControllerMessage:
		return messageHeaderSize + 4 + len(b.Data)
	case *ProduceRequest:
		return messageHeaderSize + produceRequestFixedSize + len(b.Topic) + len(b.Batch)
	case *ProduceResponse:
		return messageHeaderSize + produceResponseFixedSize + len(b.Topic) + len(b.Message)
	}
	return messageHeaderSize
}

// AppendBinary appends the binary encoding of m to b and returns the
// extended slice (encoding.BinaryAppender). It returns b unchanged and the
// error of Validate for a message Validate refuses. It does not retain m
// or b's old contents beyond the returned slice.
func (m Message) AppendBinary(b []byte) ([]byte, error) {
	if err := m.Validate(); err != nil {
		return b, err
	}
	be := binary.BigEndian
	b = be.AppendUint16(b, m.Version)
	switch body := m.Body.(type) {
	case *FetchRequest:
		b = append(b, messageKindFetchRequest)
		b = be.AppendUint32(b, uint32(m.From))
		b = be.AppendUint32(b, uint32(m.To))
		b = appendMessageString(b, body.Topic)
		b = be.AppendUint32(b, uint32(body.Partition))
		b = be.AppendUint64(b, uint64(body.ReplicaEpoch))
		b = be.AppendUint64(b, body.Seq)
		b = be.AppendUint32(b, uint32(body.CurrentLeaderEpoch))
		b = be.AppendUint64(b, uint64(body.FetchOffset))
		b = be.AppendUint64(b, uint64(body.AckedOffset))
		b = be.AppendUint32(b, uint32(body.LastFetchedEpoch))
		b = be.AppendUint64(b, uint64(body.LogStartOffset))
		b = be.AppendUint32(b, uint32(body.MaxBytes))
		b = be.AppendUint64(b, uint64(body.MaxWait))
	case *FetchResponse:
		b = append(b, messageKindFetchResponse)
		b = be.AppendUint32(b, uint32(m.From))
		b = be.AppendUint32(b, uint32(m.To))
		b = appendMessageString(b, body.Topic)
		b = be.AppendUint32(b, uint32(body.Partition))
		b = be.AppendUint64(b, uint64(body.ReplicaEpoch))
		b = be.AppendUint64(b, body.Seq)
		b = be.AppendUint32(b, uint32(body.LeaderEpoch))
		b = be.AppendUint16(b, uint16(body.Error))
		b = be.AppendUint64(b, uint64(body.HighWatermark))
		b = be.AppendUint64(b, uint64(body.LogStartOffset))
		b = be.AppendUint32(b, uint32(body.DivergingEpoch))
		b = be.AppendUint64(b, uint64(body.DivergingEndOffset))
		b = be.AppendUint64(b, uint64(body.BaseOffset))
		b = be.AppendUint32(b, uint32(len(body.Records)))
		b = append(b, body.Records...)
	case *ControllerMessage:
		b = append(b, messageKindController)
		b = be.AppendUint32(b, uint32(m.From))
		b = be.AppendUint32(b, uint32(m.To))
		b = be.AppendUint32(b, uint32(len(body.Data)))
		b = append(b, body.Data...)
	case *ProduceRequest:
		b = append(b, messageKindProduceReq)
		b = be.AppendUint32(b, uint32(m.From))
		b = be.AppendUint32(b, uint32(m.To))
		b = appendMessageString(b, body.Topic)
		b = be.AppendUint32(b, uint32(body.Partition))
		b = be.AppendUint64(b, body.ID)
		b = append(b, byte(body.Acks))
		b = be.AppendUint32(b, uint32(len(body.Batch)))
		b = append(b, body.Batch...)
	case *ProduceResponse:
		b = append(b, messageKindProduceResp)
		b = be.AppendUint32(b, uint32(m.From))
		b = be.AppendUint32(b, uint32(m.To))
		b = appendMessageString(b, body.Topic)
		b = be.AppendUint32(b, uint32(body.Partition))
		b = be.AppendUint64(b, body.ID)
		b = be.AppendUint16(b, uint16(body.Error))
		b = appendMessageString(b, body.Message)
		b = be.AppendUint32(b, uint32(body.Leader))
		b = be.AppendUint32(b, uint32(body.LeaderEpoch))
		b = be.AppendUint64(b, uint64(body.BaseOffset))
		b = be.AppendUint64(b, uint64(body.LastOffset))
		b = be.AppendUint64(b, uint64(body.LogAppendTime))
	}
	return b, nil
}

func appendMessageString(b []byte, s string) []byte {
	return append(binary.BigEndian.AppendUint16(b, uint16(len(s))), s...)
}

// MarshalBinary returns the binary encoding of m (encoding.BinaryMarshaler)
// in a new slice, or the error of Validate for a message Validate refuses.
func (m Message) MarshalBinary() ([]byte, error) {
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return m.AppendBinary(make([]byte, 0, m.encodedSize()))
}

// UnmarshalBinary decodes data, the binary encoding of one message, into m
// (encoding.BinaryUnmarshaler), replacing all of m. The decoded Topic and
// Records are copies: m does not retain data. It returns a
// *MessageVersionError for a version this build does not know, and a
// *MalformedMessageError for bytes that are not a message of this version
// (truncated, followed by more bytes, or with a field outside the bounds
// Validate checks); on error m is unchanged. It never panics, and
// allocates at most a few hundred bytes more than len(data), whatever
// data holds.
func (m *Message) UnmarshalBinary(data []byte) error {
	d := messageDecoder{data: data}
	version := d.uint16("version")
	if d.err != nil {
		return d.err
	}
	if version != MessageVersion {
		return &MessageVersionError{Version: version}
	}
	kindAt := d.off
	kind := d.uint8("body kind")
	out := Message{Version: version, From: d.node("From"), To: d.node("To")}
	switch {
	case d.err != nil:
		return d.err
	case kind == messageKindFetchRequest:
		r := &FetchRequest{}
		r.Topic = d.topic()
		r.Partition = d.int32("Partition")
		r.ReplicaEpoch = d.int64("ReplicaEpoch")
		r.Seq = d.uint64("Seq")
		r.CurrentLeaderEpoch = d.int32("CurrentLeaderEpoch")
		r.FetchOffset = d.int64("FetchOffset")
		r.AckedOffset = d.int64("AckedOffset")
		r.LastFetchedEpoch = d.int32("LastFetchedEpoch")
		r.LogStartOffset = d.int64("LogStartOffset")
		r.MaxBytes = d.int32("MaxBytes")
		r.MaxWait = time.Duration(d.int64("MaxWait"))
		out.Body = r
	case kind == messageKindFetchResponse:
		r := &FetchResponse{}
		r.Topic = d.topic()
		r.Partition = d.int32("Partition")
		r.ReplicaEpoch = d.int64("ReplicaEpoch")
		r.Seq = d.uint64("Seq")
		r.LeaderEpoch = d.int32("LeaderEpoch")
		errorAt := d.off
		if r.Error = FetchError(d.uint16("Error")); d.err == nil && r.Error >= fetchErrorCount {
			d.fail(errorAt, fmt.Sprintf("Error is %d, not a FetchError of version %d", uint16(r.Error), MessageVersion))
		}
		r.HighWatermark = d.int64("HighWatermark")
		r.LogStartOffset = d.int64("LogStartOffset")
		r.DivergingEpoch = d.int32("DivergingEpoch")
		r.DivergingEndOffset = d.int64("DivergingEndOffset")
		r.BaseOffset = d.int64("BaseOffset")
		r.Records = d.records()
		out.Body = r
	case kind == messageKindController:
		out.Body = &ControllerMessage{Data: d.bytes("Data")}
	case kind == messageKindProduceReq:
		r := &ProduceRequest{}
		r.Topic = d.topic()
		r.Partition = d.int32("Partition")
		r.ID = d.uint64("ID")
		acksAt := d.off
		if r.Acks = Acks(d.uint8("Acks")); d.err == nil && r.Acks > AckNone {
			d.fail(acksAt, fmt.Sprintf("Acks is %d, not one of version %d's", r.Acks, MessageVersion))
		}
		r.Batch = d.bytes("Batch")
		out.Body = r
	case kind == messageKindProduceResp:
		r := &ProduceResponse{}
		r.Topic = d.topic()
		r.Partition = d.int32("Partition")
		r.ID = d.uint64("ID")
		errorAt := d.off
		if r.Error = ProduceError(d.uint16("Error")); d.err == nil && r.Error >= produceErrorCount {
			d.fail(errorAt, fmt.Sprintf("Error is %d, not a ProduceError of version %d", uint16(r.Error), MessageVersion))
		}
		msgAt := d.off
		n := int(d.uint16("Message length"))
		if d.err == nil && n > maxProduceMessage {
			d.fail(msgAt, fmt.Sprintf("Message is %d bytes long; the limit is %d", n, maxProduceMessage))
		}
		r.Message = string(d.take(n, "Message"))
		leaderAt := d.off
		if r.Leader = NodeID(d.int32("Leader")); d.err == nil && r.Leader < NoNode {
			d.fail(leaderAt, fmt.Sprintf("Leader is %d; want a node or -1", r.Leader))
		}
		r.LeaderEpoch = d.int32("LeaderEpoch")
		r.BaseOffset = d.int64("BaseOffset")
		r.LastOffset = d.int64("LastOffset")
		r.LogAppendTime = d.int64("LogAppendTime")
		out.Body = r
	default:
		d.fail(kindAt, fmt.Sprintf("body kind %d is not one of version %d's (1 FetchRequest, 2 FetchResponse, 3 ControllerMessage, 4 ProduceRequest, 5 ProduceResponse)", kind, MessageVersion))
	}
	if d.err == nil && d.off != len(data) {
		d.fail(d.off, fmt.Sprintf("%d bytes follow the end of the message", len(data)-d.off))
	}
	if d.err != nil {
		return d.err
	}
	*m = out
	return nil
}

// messageDecoder reads the fields of an encoded message in order. The
// first failure sticks: later reads return zero values and leave err as
// it is.
type messageDecoder struct {
	data []byte
	off  int
	err  error
}

func (d *messageDecoder) fail(at int, reason string) {
	if d.err == nil {
		d.err = &MalformedMessageError{Offset: at, Reason: reason}
	}
}

// take returns the next n bytes of the input, or nil (failing d) when
// fewer remain.
func (d *messageDecoder) take(n int, field string) []byte {
	if d.err != nil {
		return nil
	}
	if rest := len(d.data) - d.off; n > rest {
		d.fail(d.off, fmt.Sprintf("truncated: %s needs %d bytes, %d remain", field, n, rest))
		return nil
	}
	b := d.data[d.off : d.off+n]
	d.off += n
	return b
}

func (d *messageDecoder) uint8(field string) uint8 {
	if b := d.take(1, field); b != nil {
		return b[0]
	}
	return 0
}

func (d *messageDecoder) uint16(field string) uint16 {
	if b := d.take(2, field); b != nil {
		return binary.BigEndian.Uint16(b)
	}
	return 0
}

func (d *messageDecoder) uint32(field string) uint32 {
	if b := d.take(4, field); b != nil {
		return binary.BigEndian.Uint32(b)
	}
	return 0
}

func (d *messageDecoder) uint64(field string) uint64 {
	if b := d.take(8, field); b != nil {
		return binary.BigEndian.Uint64(b)
	}
	return 0
}

func (d *messageDecoder) int32(field string) int32 { return int32(d.uint32(field)) }
func (d *messageDecoder) int64(field string) int64 { return int64(d.uint64(field)) }

func (d *messageDecoder) node(field string) NodeID {
	at := d.off
	n := NodeID(d.int32(field))
	if d.err == nil && n < 0 {
		d.fail(at, fmt.Sprintf("%s is node %d; node ids are not negative", field, n))
	}
	return n
}

func (d *messageDecoder) topic() string {
	at := d.off
	n := int(d.uint16("topic length"))
	if d.err == nil && n > maxTopicNameLength {
		d.fail(at, fmt.Sprintf("topic is %d bytes long; the limit is %d", n, maxTopicNameLength))
	}
	return string(d.take(n, "topic"))
}

// records returns a copy of the Records field, nil when it is empty.
func (d *messageDecoder) records() []byte { return d.bytes("Records") }

// bytes returns a copy of a length-prefixed bytes field (Records, Data),
// nil when it is empty.
func (d *messageDecoder) bytes(field string) []byte {
	at := d.off
	n := d.uint32(field + " length")
	if d.err == nil && n > maxMessageRecordsBytes {
		d.fail(at, fmt.Sprintf("%s is %d bytes long; the limit is %d", field, n, maxMessageRecordsBytes))
	}
	b := d.take(int(n), field) // nil once d has failed, before int(n) can matter
	if len(b) == 0 {
		return nil
	}
	return append(make([]byte, 0, len(b)), b...)
}
