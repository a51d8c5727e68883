package memnet_test

import (
	"context"
	"fmt"

	"github.com/commitlog-go/commitlog"
	"github.com/commitlog-go/commitlog/memnet"
)

// Two nodes exchange a fetch: the follower asks the leader for the
// records after its end, the leader answers with a batch.
func Example() {
	net := memnet.New(memnet.Config{Encode: true}) // a perfect network, through the binary encoding
	defer net.Close()

	const leader, follower commitlog.NodeID = 1, 2
	// deliver must not block: each node queues what it receives.
	toLeader, toFollower := make(chan commitlog.Message, 8), make(chan commitlog.Message, 8)
	if _, err := net.Listen(leader, func(m commitlog.Message) { toLeader <- m }); err != nil {
		fmt.Println(err)
		return
	}
	if _, err := net.Listen(follower, func(m commitlog.Message) { toFollower <- m }); err != nil {
		fmt.Println(err)
		return
	}

	ctx := context.Background()
	err := net.Send(ctx, commitlog.Message{Version: commitlog.MessageVersion, From: follower, To: leader,
		Body: &commitlog.FetchRequest{Topic: "orders", Partition: 0, ReplicaEpoch: 1, Seq: 1,
			CurrentLeaderEpoch: 3, FetchOffset: 40, AckedOffset: 40, LastFetchedEpoch: 3, MaxBytes: 1 << 20}})
	if err != nil {
		fmt.Println(err)
		return
	}
	m := <-toLeader
	req := m.Body.(*commitlog.FetchRequest)
	fmt.Printf("node %d: fetch #%d of %s-%d at offset %d from node %d\n",
		m.To, req.Seq, req.Topic, req.Partition, req.FetchOffset, m.From)

	err = net.Send(ctx, commitlog.Message{Version: commitlog.MessageVersion, From: leader, To: m.From,
		Body: &commitlog.FetchResponse{Topic: req.Topic, Partition: req.Partition, Seq: req.Seq,
			LeaderEpoch: 3, HighWatermark: 40, DivergingEpoch: -1, DivergingEndOffset: -1,
			BaseOffset: 40, Records: []byte("a batch")}})
	if err != nil {
		fmt.Println(err)
		return
	}
	m = <-toFollower
	resp := m.Body.(*commitlog.FetchResponse)
	fmt.Printf("node %d: %v for fetch #%d, %d bytes from offset %d, high watermark %d\n",
		m.To, resp.Error, resp.Seq, len(resp.Records), resp.BaseOffset, resp.HighWatermark)

	s := net.Stats()
	fmt.Printf("sent %d, delivered %d\n", s.Sent, s.Delivered)
	// Output:
	// node 1: fetch #1 of orders-0 at offset 40 from node 2
	// node 2: FetchOK for fetch #1, 7 bytes from offset 40, high watermark 40
	// sent 2, delivered 2
}
