package commitlog

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// sampleMessages returns one message of each body kind with every field
// set to something distinct (extremes included), and a FetchResponse for
// every FetchError.
func sampleMessages() []Message {
	msgs := []Message{
		{Version: MessageVersion, From: 1, To: 2, Body: &FetchRequest{
			Topic: "orders", Partition: 3, ReplicaEpoch: 7, Seq: 42, CurrentLeaderEpoch: 5,
			FetchOffset: 1000, AckedOffset: 990, LastFetchedEpoch: 4, LogStartOffset: 10,
			MaxBytes: 1 << 20, MaxWait: 500 * time.Millisecond,
		}},
		{Version: MessageVersion, From: math.MaxInt32, To: 0, Body: &FetchRequest{
			Topic: string(make([]byte, maxTopicNameLength)), Partition: math.MinInt32, ReplicaEpoch: math.MinInt64,
			Seq: math.MaxUint64, CurrentLeaderEpoch: math.MaxInt32, FetchOffset: math.MaxInt64, AckedOffset: -1,
			LastFetchedEpoch: -1, LogStartOffset: math.MinInt64, MaxBytes: math.MinInt32, MaxWait: -time.Nanosecond,
		}},
		{Version: MessageVersion, From: 0, To: 0, Body: &FetchRequest{}},
		{Version: MessageVersion, From: 2, To: 1, Body: &FetchResponse{
			Topic: "orders", Partition: 3, Seq: 42, LeaderEpoch: 5, HighWatermark: 995, LogStartOffset: 10,
			DivergingEpoch: -1, DivergingEndOffset: -1, BaseOffset: 1000, Records: []byte("batches, verbatim"),
		}},
		{Version: MessageVersion, From: 2, To: 1, Body: &FetchResponse{
			Topic: "orders", Partition: 3, Seq: 43, LeaderEpoch: 5, HighWatermark: 995, LogStartOffset: 10,
			DivergingEpoch: 3, DivergingEndOffset: 900, BaseOffset: -1,
		}},
		{Version: MessageVersion, From: 3, To: 1, Body: &ControllerMessage{Data: []byte("a raft message")}},
		{Version: MessageVersion, From: 0, To: math.MaxInt32, Body: &ControllerMessage{}},
		{Version: MessageVersion, From: 1, To: 2, Body: &ProduceRequest{Topic: "orders", Partition: 2, ID: 77, Acks: AckAll, Batch: []byte("one batch")}},
		{Version: MessageVersion, From: 1, To: 2, Body: &ProduceRequest{Topic: string(make([]byte, maxTopicNameLength)), Partition: math.MinInt32, ID: math.MaxUint64, Acks: AckNone}},
		{Version: MessageVersion, From: 2, To: 1, Body: &ProduceResponse{Topic: "orders", Partition: 2, ID: 77, Leader: NoNode, LeaderEpoch: -1,
			BaseOffset: 10, LastOffset: 19, LogAppendTime: -1}},
		{Version: MessageVersion, From: 2, To: 1, Body: &ProduceResponse{Topic: "orders", ID: 78, Error: ProduceNotLeader, Message: strings.Repeat("m", maxProduceMessage),
			Leader: math.MaxInt32, LeaderEpoch: math.MaxInt32, BaseOffset: math.MinInt64, LastOffset: math.MaxInt64, LogAppendTime: math.MaxInt64}},
	}
	for e := ProduceOK; e < produceErrorCount; e++ {
		msgs = append(msgs, Message{Version: MessageVersion, From: 9, To: 8, Body: &ProduceResponse{Topic: "t", ID: uint64(e), Error: e, Message: e.String(), Leader: 3}})
	}
	for e := FetchOK; e < fetchErrorCount; e++ {
		msgs = append(msgs, Message{Version: MessageVersion, From: 9, To: 8, Body: &FetchResponse{
			Topic: "t", Partition: int32(e), Seq: uint64(e), LeaderEpoch: math.MinInt32, Error: e,
			HighWatermark: math.MinInt64, LogStartOffset: math.MaxInt64, DivergingEpoch: math.MaxInt32,
			DivergingEndOffset: math.MinInt64, BaseOffset: math.MaxInt64,
		}})
	}
	return msgs
}

func TestMessageFetchErrorStrings(t *testing.T) {
	want := []string{
		"FetchOK", "FetchNotLeader", "FetchNotReplica", "FetchFencedLeaderEpoch", "FetchUnknownLeaderEpoch",
		"FetchStaleReplicaEpoch", "FetchStaleFetch", "FetchOffsetOutOfRange", "FetchUnknownPartition",
	}
	require.Len(t, want, int(fetchErrorCount))
	for e := FetchOK; e < fetchErrorCount; e++ {
		require.Equal(t, want[e], e.String())
	}
	require.Equal(t, "FetchError(9)", fetchErrorCount.String())
	require.Equal(t, "FetchError(65535)", FetchError(math.MaxUint16).String())
}

func TestMessageClone(t *testing.T) {
	for _, m := range sampleMessages() {
		c := m.Clone()
		require.Equal(t, m, c)
		require.NotSame(t, m.Body, c.Body, "Clone shares the Body")
		if r, ok := c.Body.(*FetchResponse); ok && len(r.Records) > 0 {
			r.Records[0] ^= 0xff
			require.NotEqual(t, m.Body.(*FetchResponse).Records[0], r.Records[0], "Clone shares the Records")
		}
		if r, ok := c.Body.(*ControllerMessage); ok && len(r.Data) > 0 {
			r.Data[0] ^= 0xff
			require.NotEqual(t, m.Body.(*ControllerMessage).Data[0], r.Data[0], "Clone shares the Data")
		}
	}
	// Nil bodies, typed or not, clone to themselves.
	for _, m := range []Message{{}, {Body: (*FetchRequest)(nil)}, {Body: (*FetchResponse)(nil)}, {Body: (*ControllerMessage)(nil)}} {
		require.Equal(t, m, m.Clone())
	}
	// An empty but non-nil Records stays non-nil.
	c := Message{Body: &FetchResponse{Records: []byte{}}}.Clone()
	require.NotNil(t, c.Body.(*FetchResponse).Records)
	c = Message{Body: &ControllerMessage{Data: []byte{}}}.Clone()
	require.NotNil(t, c.Body.(*ControllerMessage).Data)
}
