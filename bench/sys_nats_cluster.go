package main

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// natsCluster is o.replicas nats-servers in the process, clustered over
// routes on loopback TCP (nats-server has no in-memory transport between
// servers), each with JetStream and its file store in dir/node-i, and a
// stream with o.replicas replicas. The connection is in-process to the
// server that leads the stream, as the commitlog cluster produces on its
// leader; publishes and reads are natsStore's. A publish is acknowledged
// once the stream's Raft group has committed it: in the Raft logs of a
// majority of the replicas (2 of 3), which fsync every write under
// SyncAlways; the followers apply it to their streams after. JetStream
// has no setting to wait for all of the replicas.
type natsCluster struct {
	natsStore // srv is the stream leader's server
	servers   []*server.Server
	stream    jetstream.Stream // through the connection to the leader
}

// natsClusterName is the replicated runs' cluster name, which a
// JetStream cluster requires.
const natsClusterName = "bench"

func openNATSCluster(ctx context.Context, dir string, o storeOptions) (store, error) {
	if o.replicas < 2 {
		return nil, fmt.Errorf("a NATS cluster needs at least 2 servers, not %d", o.replicas)
	}
	// A server's routes must be configured when it starts, and a
	// JetStream cluster takes its expected size from them, so every server
	// is given every server's route port: ports free now, found by
	// listening on port 0, not ports the OS picks at start (the others
	// could not be told them).
	ports, err := freePorts(o.replicas)
	if err != nil {
		return nil, err
	}
	urls := make([]string, len(ports))
	for i, p := range ports {
		urls[i] = fmt.Sprintf("nats-route://127.0.0.1:%d", p)
	}
	routes := server.RoutesFromStr(strings.Join(urls, ","))
	// The ordered consumer read creates may be placed on another server
	// than the one the connection is to, and a pull request sent before
	// that server's interest has crossed the routes is lost; the reader
	// notices by the missing heartbeats and pulls again, after half the
	// pull's expiry and then a reset: 30 s by default, which read would
	// take for the end of the stream. Pulls that expire after 1 s recover
	// in about a second.
	c := &natsCluster{natsStore: natsStore{readOpts: []jetstream.PullMessagesOpt{jetstream.PullExpiry(time.Second)}}}
	for i, port := range ports {
		srv, err := server.NewServer(&server.Options{
			ServerName: fmt.Sprintf("node-%d", i+1),
			JetStream:  true,
			StoreDir:   filepath.Join(dir, fmt.Sprintf("node-%d", i+1)),
			// Clients connect in-process, but the server listens for
			// them anyway: it starts routing only once its client
			// listener is up, so with DontListen a clustered server
			// never routes (and Shutdown waits for it forever).
			Host: "127.0.0.1", Port: server.RANDOM_PORT,
			NoLog:      true,
			NoSigs:     true,
			SyncAlways: o.durable,
			Cluster:    server.ClusterOpts{Name: natsClusterName, Host: "127.0.0.1", Port: port},
			Routes:     routes,
		})
		if err != nil {
			c.close()
			return nil, err
		}
		srv.Start()
		c.servers = append(c.servers, srv)
	}
	fail := func(err error) (store, error) {
		c.close()
		return nil, err
	}
	for _, srv := range c.servers {
		if !srv.ReadyForConnections(clusterReadyTimeout) {
			return fail(fmt.Errorf("nats-server %s did not become ready", srv.Name()))
		}
	}
	deadline := time.Now().Add(clusterReadyTimeout)
	if err := c.connect(c.servers[0]); err != nil {
		return fail(err)
	}
	// The stream can be created once the servers have elected a meta
	// leader and it knows enough peers; until then creation fails.
	cfg := jetstream.StreamConfig{
		Name: "bench", Subjects: []string{natsSubject}, Storage: jetstream.FileStorage, Replicas: o.replicas,
	}
	var stream jetstream.Stream
	for {
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		stream, err = c.js.CreateStream(cctx, cfg)
		cancel()
		if err == nil {
			break
		}
		if ctx.Err() != nil || time.Now().After(deadline) {
			return fail(fmt.Errorf("create a stream of %d replicas: %w", o.replicas, err))
		}
		time.Sleep(50 * time.Millisecond)
	}
	leader, err := waitStreamReady(ctx, stream, o.replicas, deadline)
	if err != nil {
		return fail(err)
	}
	for _, srv := range c.servers {
		if srv.Name() == leader && srv != c.srv {
			c.nc.Close()
			if err := c.connect(srv); err != nil {
				return fail(err)
			}
		}
	}
	if c.srv.Name() != leader {
		return fail(fmt.Errorf("the stream's leader %q is none of the servers", leader))
	}
	if c.stream, err = c.js.Stream(ctx, cfg.Name); err != nil {
		return fail(err)
	}
	return c, nil
}

// connect connects in-process to srv, and makes it c.srv.
func (c *natsCluster) connect(srv *server.Server) error {
	nc, err := nats.Connect(srv.ClientURL(), nats.InProcessServer(srv))
	if err != nil {
		return err
	}
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncErrHandler(func(_ jetstream.JetStream, _ *nats.Msg, err error) {
		c.errs.set(err)
	}))
	if err != nil {
		nc.Close()
		return err
	}
	c.srv, c.nc, c.js = srv, nc, js
	return nil
}

// waitStreamReady waits until the stream has a leader and its replicas-1
// other replicas are current, and returns the leader's server name.
func waitStreamReady(ctx context.Context, stream jetstream.Stream, replicas int, deadline time.Time) (string, error) {
	var last string
	for {
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		info, err := stream.Info(cctx)
		cancel()
		if err == nil && info.Cluster != nil && info.Cluster.Leader != "" && len(info.Cluster.Replicas) == replicas-1 {
			current := true
			for _, p := range info.Cluster.Replicas {
				current = current && p.Current
			}
			if current {
				return info.Cluster.Leader, nil
			}
		}
		if err != nil {
			last = err.Error()
		} else if info.Cluster != nil {
			last = fmt.Sprintf("leader %q, %d other replicas", info.Cluster.Leader, len(info.Cluster.Replicas))
		}
		if ctx.Err() != nil || time.Now().After(deadline) {
			return "", fmt.Errorf("the stream's replicas were not ready in %v (%s)", clusterReadyTimeout, last)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// freePorts returns n distinct TCP ports on 127.0.0.1 that were free a
// moment ago.
func freePorts(n int) ([]int, error) {
	var ports []int
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// replicaRecords returns the messages each server's replica of the stream
// holds, in the order of the servers.
func (c *natsCluster) replicaRecords(context.Context) ([]int64, error) {
	counts := make([]int64, len(c.servers))
	for i, srv := range c.servers {
		acc, err := srv.JszAccount(&server.JSzOptions{Account: server.DEFAULT_GLOBAL_ACCOUNT, Streams: true})
		if err != nil {
			return nil, fmt.Errorf("%s: %w", srv.Name(), err)
		}
		found := false
		for _, sd := range acc.Streams {
			if sd.Name == "bench" {
				counts[i], found = int64(sd.State.Msgs), true
			}
		}
		if !found {
			return nil, fmt.Errorf("%s holds no replica of the stream", srv.Name())
		}
	}
	return counts, nil
}

// holdingAcknowledged counts the leader and the replicas its Raft group
// reports current: with no lag behind the leader's commit index, so
// holding every acknowledged message in their Raft logs.
func (c *natsCluster) holdingAcknowledged(ctx context.Context) (int, error) {
	info, err := c.stream.Info(ctx)
	if err != nil {
		return 0, err
	}
	if info.Cluster == nil || info.Cluster.Leader == "" {
		return 0, fmt.Errorf("the stream has no leader")
	}
	n := 1
	for _, p := range info.Cluster.Replicas {
		if p.Current && p.Lag == 0 {
			n++
		}
	}
	return n, nil
}

func (c *natsCluster) close() error {
	if c.nc != nil {
		c.nc.Close()
	}
	for _, srv := range c.servers {
		srv.Shutdown()
	}
	for _, srv := range c.servers {
		srv.WaitForShutdown()
	}
	return nil
}
