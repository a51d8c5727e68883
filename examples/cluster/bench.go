package main

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/commitlog-go/commitlog"
)

const benchWindow = 5 * time.Second

// runBench measures (b) a single-node Log in this process, then (a) the
// three-node cluster's throughput, then (c) its failover time.
func (p *parent) runBench(kills int) error {
	single, err := singleNode(p.root)
	if err != nil {
		return err
	}
	if err := p.startAll(); err != nil {
		return err
	}
	if err := p.waitAcked(1000, 30*time.Second); err != nil { // warm up
		return err
	}
	from := p.acked
	_, _ = p.waitFor("the window", benchWindow, func(event) bool { return false })
	clusterRate := float64(p.acked-from) / benchWindow.Seconds()
	// The single node again, with the cluster idle (its producer
	// paused), against the machine's load changing meanwhile.
	for id := range 3 {
		if err := p.send(id, "pause"); err != nil {
			return err
		}
	}
	if err := p.pauseWait(); err != nil {
		return err
	}
	single2, err := singleNode(p.root)
	if err != nil {
		return err
	}
	for id := range 3 {
		if err := p.send(id, "resume"); err != nil {
			return err
		}
	}
	fmt.Printf("defaults: RaftConfig TickInterval 50ms, ElectionTicks 10, HeartbeatTicks 1, SessionTimeout 30 ticks; Options ReplicaLagTime 30s, ReplicaFetchMaxWait 500ms; TCPConfig defaults\n")
	fmt.Printf("producer: AckAll, SyncAlways, MaxInFlight 5, MaxBufferedRecords %d (0: the default), %d-byte values, Produce with promises\n", maxBuffered, valueSize)
	fmt.Printf("(b) single-node Log, this process: %.0f records/s before the cluster ran, %.0f after (mean %.0f)\n", single, single2, (single+single2)/2)
	fmt.Printf("(a) three node processes on loopback: %.0f records/s acknowledged at the leader\n", clusterRate)
	fmt.Printf("    ratio: %.2fx the mean (%.2fx, %.2fx)\n", clusterRate/((single+single2)/2), clusterRate/single, clusterRate/single2)
	var values []time.Duration
	for i := range kills {
		killed, wasCtrl, elect, firstAck, err := p.failover()
		if err != nil {
			return err
		}
		values = append(values, firstAck)
		also := ""
		if wasCtrl {
			also = " (the Raft leader too)"
		}
		fmt.Printf("(c) kill %d: SIGKILL node %d%s: elected after %v, first acknowledged write after %v\n",
			i+1, killed, also, elect.Round(time.Millisecond), firstAck.Round(time.Millisecond))
		if _, err := p.rejoin(killed, 90*time.Second); err != nil {
			return err
		}
		if err := p.waitAcked(200, 30*time.Second); err != nil {
			return err
		}
	}
	if len(values) > 0 {
		sorted := slices.Clone(values)
		slices.Sort(sorted)
		var s []string
		for _, v := range values {
			s = append(s, v.Round(time.Millisecond).String())
		}
		fmt.Printf("(c) failover, kill to first acknowledged write: p50 %v; values %s\n",
			sorted[(len(sorted)-1)/2].Round(time.Millisecond), strings.Join(s, " "))
	}
	if err := p.stopAll(); err != nil {
		return err
	}
	n, err := p.verify()
	if err != nil {
		return err
	}
	fmt.Printf("%d records acknowledged, %d verified on every node's directory\n", p.acked, n)
	return nil
}

// singleNode measures a single-node Log's SyncAlways throughput with the
// cluster's producer settings, in records per second.
func singleNode(root string) (float64, error) {
	dir, err := os.MkdirTemp(root, "single-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	l, err := commitlog.Open(dir, &commitlog.Options{Sync: commitlog.SyncAlways})
	if err != nil {
		return 0, err
	}
	defer l.Close()
	ctx := context.Background()
	if _, err := l.CreateTopic(ctx, topicName, commitlog.TopicConfig{Partitions: 1}); err != nil {
		return 0, err
	}
	prod, err := l.NewProducer(producerConfig())
	if err != nil {
		return 0, err
	}
	defer prod.Close()
	pad := strings.Repeat("x", valueSize)
	var acked, failed atomic.Int64
	var counted int64
	start := time.Now()
	for seq := 0; ; seq++ {
		if seq%64 == 0 {
			el := time.Since(start)
			if el >= time.Second && counted == 0 {
				counted = acked.Load() // after a second of warm-up
				start = time.Now()
			} else if counted > 0 && el >= benchWindow {
				break
			}
		}
		id := fmt.Sprint("s-", seq)
		prod.Produce(ctx, &commitlog.Record{Topic: topicName, Value: []byte(id + ":" + pad[:valueSize-len(id)-1])}, func(_ *commitlog.Record, err error) {
			if err != nil {
				failed.Add(1)
			} else {
				acked.Add(1)
			}
		})
	}
	rate := float64(acked.Load()-counted) / time.Since(start).Seconds()
	if err := prod.Flush(ctx); err != nil {
		return 0, err
	}
	if failed.Load() > 0 {
		return 0, fmt.Errorf("single node: %d records failed", failed.Load())
	}
	return rate, nil
}
