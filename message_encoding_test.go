package commitlog

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/commitlog-go/commitlog/internal/alloctest"
	"github.com/stretchr/testify/require"
)

func mustMarshal(t testing.TB, m Message) []byte {
	t.Helper()
	b, err := m.MarshalBinary()
	require.NoError(t, err)
	return b
}

func TestMessageRoundTrip(t *testing.T) {
	for _, m := range sampleMessages() {
		b := mustMarshal(t, m)
		require.Len(t, b, m.encodedSize())
		require.Equal(t, len(b), m.BinarySize())
		var got Message
		require.NoError(t, got.UnmarshalBinary(b))
		require.Equal(t, m, got)

		// AppendBinary appends after what b holds.
		prefix := []byte("prefix")
		appended, err := m.AppendBinary(prefix)
		require.NoError(t, err)
		require.Equal(t, append([]byte("prefix"), b...), appended)

		// The decoded message does not alias the input.
		if r, ok := got.Body.(*FetchResponse); ok && len(r.Records) > 0 {
			want := bytes.Clone(r.Records)
			clear(b)
			require.Equal(t, want, r.Records, "UnmarshalBinary kept a reference to its input")
		}
		if c, ok := got.Body.(*ControllerMessage); ok && len(c.Data) > 0 {
			want := bytes.Clone(c.Data)
			clear(b)
			require.Equal(t, want, c.Data, "UnmarshalBinary kept a reference to its input")
		}
	}
}

// TestMessageEncodingLayout pins the encoding to the layout documented in
// message_encoding.go: a change here is a change of the message format.
func TestMessageEncodingLayout(t *testing.T) {
	req := Message{Version: 1, From: 1, To: 2, Body: &FetchRequest{
		Topic: "ab", Partition: 3, ReplicaEpoch: 4, Seq: 5, CurrentLeaderEpoch: 6, FetchOffset: 7,
		AckedOffset: 8, LastFetchedEpoch: 9, LogStartOffset: 10, MaxBytes: 11, MaxWait: 12,
	}}
	want := "0001" + "01" + "00000001" + "00000002" + // header
		"0002" + "6162" + "00000003" + "0000000000000004" + "0000000000000005" + "00000006" +
		"0000000000000007" + "0000000000000008" + "00000009" + "000000000000000a" + "0000000b" + "000000000000000c"
	require.Equal(t, want, hex.EncodeToString(mustMarshal(t, req)))

	resp := Message{Version: 1, From: 2, To: 1, Body: &FetchResponse{
		Topic: "ab", Partition: 3, ReplicaEpoch: 13, Seq: 4, LeaderEpoch: 5, Error: FetchStaleFetch, HighWatermark: 7,
		LogStartOffset: 8, DivergingEpoch: -1, DivergingEndOffset: 10, BaseOffset: 11, Records: []byte{0xcc},
	}}
	want = "0001" + "02" + "00000002" + "00000001" + // header
		"0002" + "6162" + "00000003" + "000000000000000d" + "0000000000000004" + "00000005" + "0006" + "0000000000000007" +
		"0000000000000008" + "ffffffff" + "000000000000000a" + "000000000000000b" + "00000001" + "cc"
	require.Equal(t, want, hex.EncodeToString(mustMarshal(t, resp)))

	ctrl := Message{Version: 1, From: 3, To: 4, Body: &ControllerMessage{Data: []byte{0xde, 0xad}}}
	want = "0001" + "03" + "00000003" + "00000004" + // header
		"00000002" + "dead"
	require.Equal(t, want, hex.EncodeToString(mustMarshal(t, ctrl)))

	preq := Message{Version: 1, From: 1, To: 2, Body: &ProduceRequest{Topic: "ab", Partition: 3, ID: 4, Acks: AckLeader, Batch: []byte{0xbb}}}
	want = "0001" + "04" + "00000001" + "00000002" + // header
		"0002" + "6162" + "00000003" + "0000000000000004" + "01" + "00000001" + "bb"
	require.Equal(t, want, hex.EncodeToString(mustMarshal(t, preq)))

	presp := Message{Version: 1, From: 2, To: 1, Body: &ProduceResponse{Topic: "ab", Partition: 3, ID: 4, Error: ProduceNotLeader,
		Message: "m", Leader: -1, LeaderEpoch: 5, BaseOffset: 6, LastOffset: 7, LogAppendTime: -1}}
	want = "0001" + "05" + "00000002" + "00000001" + // header
		"0002" + "6162" + "00000003" + "0000000000000004" + "0001" + "0001" + "6d" + "ffffffff" + "00000005" +
		"0000000000000006" + "0000000000000007" + "ffffffffffffffff"
	require.Equal(t, want, hex.EncodeToString(mustMarshal(t, presp)))
}

func TestMessageUnknownVersion(t *testing.T) {
	for _, v := range []uint16{0, 2, 0xffff} {
		m := sampleMessages()[0]
		m.Version = v
		var verr *MessageVersionError
		require.ErrorIs(t, m.Validate(), ErrUnknownMessageVersion)
		_, err := m.MarshalBinary()
		require.ErrorAs(t, err, &verr)
		require.Equal(t, v, verr.Version)
		out, err := m.AppendBinary([]byte("x"))
		require.ErrorIs(t, err, ErrUnknownMessageVersion)
		require.Equal(t, []byte("x"), out, "AppendBinary appended despite its error")

		// Bytes of another version: refused on the version alone, whatever follows.
		b := mustMarshal(t, sampleMessages()[0])
		binary.BigEndian.PutUint16(b, v)
		for _, data := range [][]byte{b, b[:2]} {
			err := new(Message).UnmarshalBinary(data)
			require.ErrorAs(t, err, &verr)
			require.Equal(t, v, verr.Version)
			require.NotErrorIs(t, err, ErrMalformedMessage)
			require.Contains(t, err.Error(), "MessageVersion")
		}
	}
}

func TestMessageValidate(t *testing.T) {
	cases := map[string]Message{
		"nil body":               {Version: MessageVersion, From: 1, To: 2},
		"nil *FetchRequest":      {Version: MessageVersion, From: 1, To: 2, Body: (*FetchRequest)(nil)},
		"nil *FetchResponse":     {Version: MessageVersion, From: 1, To: 2, Body: (*FetchResponse)(nil)},
		"negative From":          {Version: MessageVersion, From: NoNode, To: 2, Body: &FetchRequest{}},
		"negative To":            {Version: MessageVersion, From: 1, To: NoNode, Body: &FetchRequest{}},
		"long request topic":     {Version: MessageVersion, From: 1, To: 2, Body: &FetchRequest{Topic: strings.Repeat("x", 250)}},
		"long response topic":    {Version: MessageVersion, From: 1, To: 2, Body: &FetchResponse{Topic: strings.Repeat("x", 250)}},
		"unknown FetchError":     {Version: MessageVersion, From: 1, To: 2, Body: &FetchResponse{Error: fetchErrorCount}},
		"FetchError 1000":        {Version: MessageVersion, From: 1, To: 2, Body: &FetchResponse{Error: 1000}},
		"nil *ControllerMessage": {Version: MessageVersion, From: 1, To: 2, Body: (*ControllerMessage)(nil)},
		"controller to NoNode":   {Version: MessageVersion, From: 1, To: NoNode, Body: &ControllerMessage{}},
		"nil *ProduceRequest":    {Version: MessageVersion, From: 1, To: 2, Body: (*ProduceRequest)(nil)},
		"unknown Acks":           {Version: MessageVersion, From: 1, To: 2, Body: &ProduceRequest{Acks: AckNone + 1}},
		"long produce topic":     {Version: MessageVersion, From: 1, To: 2, Body: &ProduceRequest{Topic: strings.Repeat("x", 250)}},
		"nil *ProduceResponse":   {Version: MessageVersion, From: 1, To: 2, Body: (*ProduceResponse)(nil)},
		"unknown ProduceError":   {Version: MessageVersion, From: 1, To: 2, Body: &ProduceResponse{Error: produceErrorCount}},
		"long produce message":   {Version: MessageVersion, From: 1, To: 2, Body: &ProduceResponse{Message: strings.Repeat("m", maxProduceMessage+1)}},
		"produce leader -2":      {Version: MessageVersion, From: 1, To: 2, Body: &ProduceResponse{Leader: -2}},
	}
	for name, m := range cases {
		t.Run(name, func(t *testing.T) {
			err := m.Validate()
			require.ErrorIs(t, err, ErrInvalidArgument)
			require.Contains(t, err.Error(), "message from node")
			out, err := m.AppendBinary([]byte("x"))
			require.ErrorIs(t, err, ErrInvalidArgument)
			require.Equal(t, []byte("x"), out)
			_, err = m.MarshalBinary()
			require.ErrorIs(t, err, ErrInvalidArgument)
		})
	}
	m := Message{Version: MessageVersion, From: 1, To: 2,
		Body: &FetchResponse{Topic: strings.Repeat("x", maxTopicNameLength), Error: fetchErrorCount - 1}}
	require.NoError(t, m.Validate())
}

// malformed checks that data is refused as malformed at byte offset, with
// a reason containing reason, and that the refusal leaves m unchanged.
func malformed(t *testing.T, data []byte, offset int, reason string) {
	t.Helper()
	m := sampleMessages()[0]
	before := m.Clone()
	err := m.UnmarshalBinary(data)
	var merr *MalformedMessageError
	require.ErrorAs(t, err, &merr)
	require.ErrorIs(t, err, ErrMalformedMessage)
	require.Equal(t, offset, merr.Offset, "%v", err)
	require.Contains(t, merr.Reason, reason)
	require.Equal(t, before, m, "a failed UnmarshalBinary changed the message")
}

func TestMessageUnmarshalTruncated(t *testing.T) {
	for _, m := range sampleMessages() {
		b := mustMarshal(t, m)
		for n := range len(b) {
			m := Message{}
			err := m.UnmarshalBinary(b[:n])
			require.ErrorIs(t, err, ErrMalformedMessage, "prefix of %d of %d bytes", n, len(b))
			require.Contains(t, err.Error(), "truncated")
			require.Equal(t, Message{}, m)
		}
	}
}

func TestMessageUnmarshalOutOfBounds(t *testing.T) {
	req := mustMarshal(t, Message{Version: 1, From: 1, To: 2, Body: &FetchRequest{Topic: "ab"}})
	resp := mustMarshal(t, Message{Version: 1, From: 2, To: 1, Body: &FetchResponse{Topic: "ab", Records: []byte("xyz")}})
	const topicAt = messageHeaderSize
	errorAt := topicAt + 2 + 2 + 4 + 8 + 8 + 4
	recordsAt := len(resp) - 4 - 3
	edit := func(b []byte, f func(b []byte)) []byte {
		b = bytes.Clone(b)
		f(b)
		return b
	}

	malformed(t, append(bytes.Clone(req), 0), len(req), "1 bytes follow")
	malformed(t, append(bytes.Clone(resp), "more"...), len(resp), "4 bytes follow")
	malformed(t, edit(req, func(b []byte) { b[2] = 6 }), 2, "body kind 6")
	malformed(t, edit(req, func(b []byte) { b[2] = 0 }), 2, "body kind 0")
	malformed(t, edit(req, func(b []byte) { binary.BigEndian.PutUint32(b[3:], 0xffffffff) }), 3, "From is node -1")
	malformed(t, edit(resp, func(b []byte) { binary.BigEndian.PutUint32(b[7:], 0x80000000) }), 7, "To is node -2147483648")
	malformed(t, edit(req, func(b []byte) { binary.BigEndian.PutUint16(b[topicAt:], 250) }), topicAt, "topic is 250 bytes long")
	malformed(t, edit(req, func(b []byte) { binary.BigEndian.PutUint16(b[topicAt:], 0xffff) }), topicAt, "limit is 249")
	malformed(t, edit(resp, func(b []byte) { binary.BigEndian.PutUint16(b[errorAt:], uint16(fetchErrorCount)) }), errorAt, "Error is 9")
	malformed(t, edit(resp, func(b []byte) { binary.BigEndian.PutUint32(b[recordsAt:], 4) }), recordsAt+4, "Records needs 4 bytes, 3 remain")
	malformed(t, edit(resp, func(b []byte) { binary.BigEndian.PutUint32(b[recordsAt:], 2) }), len(resp)-1, "1 bytes follow")
	malformed(t, edit(resp, func(b []byte) { binary.BigEndian.PutUint32(b[recordsAt:], 0x80000000) }), recordsAt, "limit is 2147483647")

	ctrl := mustMarshal(t, Message{Version: 1, From: 1, To: 2, Body: &ControllerMessage{Data: []byte("xyz")}})
	const dataAt = messageHeaderSize
	malformed(t, append(bytes.Clone(ctrl), 0), len(ctrl), "1 bytes follow")
	malformed(t, edit(ctrl, func(b []byte) { binary.BigEndian.PutUint32(b[dataAt:], 4) }), dataAt+4, "Data needs 4 bytes, 3 remain")
	malformed(t, edit(ctrl, func(b []byte) { binary.BigEndian.PutUint32(b[dataAt:], 0x80000000) }), dataAt, "Data is 2147483648 bytes long")

	preq := mustMarshal(t, Message{Version: 1, From: 1, To: 2, Body: &ProduceRequest{Topic: "ab", Batch: []byte("xyz")}})
	acksAt := topicAt + 2 + 2 + 4 + 8
	malformed(t, edit(preq, func(b []byte) { b[acksAt] = 3 }), acksAt, "Acks is 3")
	malformed(t, edit(preq, func(b []byte) { binary.BigEndian.PutUint32(b[acksAt+1:], 4) }), acksAt+5, "Batch needs 4 bytes, 3 remain")
	presp := mustMarshal(t, Message{Version: 1, From: 2, To: 1, Body: &ProduceResponse{Topic: "ab", Message: "m", Leader: NoNode}})
	perrAt := topicAt + 2 + 2 + 4 + 8
	malformed(t, edit(presp, func(b []byte) { binary.BigEndian.PutUint16(b[perrAt:], uint16(produceErrorCount)) }), perrAt, "not a ProduceError")
	malformed(t, edit(presp, func(b []byte) { binary.BigEndian.PutUint16(b[perrAt+2:], maxProduceMessage+1) }), perrAt+2, "Message is 1025 bytes long")
	leaderAt := perrAt + 2 + 2 + 1
	malformed(t, edit(presp, func(b []byte) { binary.BigEndian.PutUint32(b[leaderAt:], 0xfffffffe) }), leaderAt, "Leader is -2")

	// A length field claiming more than the input holds allocates nothing
	// for it.
	huge := edit(resp, func(b []byte) { binary.BigEndian.PutUint32(b[recordsAt:], 0x7fffffff) })
	alloctest.Check(t, 1<<10, nil, func() { _ = new(Message).UnmarshalBinary(huge) })
	malformed(t, huge, recordsAt+4, "Records needs 2147483647 bytes")
}

// FuzzMessageUnmarshal decodes arbitrary bytes: decoding never panics,
// allocates at most a little more than the input's size, and whatever
// decodes re-encodes to exactly the input (the encoding is canonical) and
// decodes again to the same message.
func FuzzMessageUnmarshal(f *testing.F) {
	for _, m := range sampleMessages() {
		f.Add(mustMarshal(f, m))
	}
	f.Add([]byte{})
	f.Add([]byte{0, 1})
	f.Add([]byte{0, 2, 1})
	f.Fuzz(func(t *testing.T, data []byte) {
		var m Message
		var err error
		alloctest.Check(t, uint64(len(data))+1<<10, nil, func() { err = m.UnmarshalBinary(data) })
		if err != nil {
			if !errors.Is(err, ErrMalformedMessage) && !errors.Is(err, ErrUnknownMessageVersion) {
				t.Fatalf("UnmarshalBinary: an error matching neither sentinel: %v", err)
			}
			return
		}
		require.NoError(t, m.Validate(), "decoded a message Validate refuses")
		b, err := m.MarshalBinary()
		require.NoError(t, err)
		require.Equal(t, data, b, "re-encoding the decoded message")
		var again Message
		require.NoError(t, again.UnmarshalBinary(b))
		require.Equal(t, m, again)
	})
}
