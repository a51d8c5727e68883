package cluster_test

import (
	"context"
	"fmt"

	"github.com/commitlog-go/commitlog"
	"github.com/commitlog-go/commitlog/cluster"
)

// Two nodes on loopback, each told where the other listens: node 1
// receives what node 0 sends it.
func ExampleTCPTransport() {
	b, err := cluster.NewTCPTransport(cluster.TCPConfig{Node: 1})
	if err != nil {
		panic(err)
	}
	defer b.Close()
	a, err := cluster.NewTCPTransport(cluster.TCPConfig{Node: 0,
		Peers: map[commitlog.NodeID]string{1: b.Addr().String()}})
	if err != nil {
		panic(err)
	}
	defer a.Close()

	got := make(chan commitlog.Message, 1)
	stop, err := b.Listen(1, func(m commitlog.Message) { got <- m })
	if err != nil {
		panic(err)
	}
	defer stop()
	err = a.Send(context.Background(), commitlog.Message{Version: commitlog.MessageVersion, From: 0, To: 1,
		Body: &commitlog.ControllerMessage{Data: []byte("hello")}})
	if err != nil {
		panic(err)
	}
	m := <-got
	fmt.Printf("node %d got %q from node %d\n", m.To, m.Body.(*commitlog.ControllerMessage).Data, m.From)
	// Output: node 1 got "hello" from node 0
}
