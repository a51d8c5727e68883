package cluster

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/commitlog-go/commitlog"
)

// The child of TestProcessKill (process_kill_test.go): one node process.
//
// It opens its node (OpenNode, short timeouts), produces with AckAll
// under SyncAlways at every partition its Log leads, and runs a member
// of the consumer group procKillGroup wherever the group's coordinator
// lets it (the node leading its __consumer_offsets partition), polling
// and committing what it polled. It writes to stdout, one line each:
//
//	pk ready
//	pk ack <partition> <offset> <value>       a record acknowledged
//	pk commit <partition> <offset>            a commit acknowledged
//	pk state <partition> <leader> <isr> <end> the partition as this node sees it, on a change
//	pk paused                                 after "pause": nothing in flight
//	pk rec <partition> <offset> <value>       after "dump <p> <from>": the local replica from from
//	pk dumped <partition> <end>
//
// and reads from stdin "pause", "resume", "dump <partition> <from>" and
// "stop" (close the node and exit). End of stdin means the parent died:
// the child exits at once.

const (
	procKillTopic      = "pk"
	procKillGroup      = "pkg"
	procKillPartitions = 2
)

// TestProcessKillChild is the node process TestProcessKill runs.
func TestProcessKillChild(t *testing.T) {
	dir := os.Getenv("COMMITLOG_CLUSTER_KILL_CHILD")
	if dir == "" {
		return // run as a child of TestProcessKill only
	}
	id, err1 := strconv.Atoi(os.Getenv("COMMITLOG_CLUSTER_KILL_NODE"))
	inc, err2 := strconv.Atoi(os.Getenv("COMMITLOG_CLUSTER_KILL_INC"))
	if err1 != nil || err2 != nil {
		t.Fatal("COMMITLOG_CLUSTER_KILL_NODE and COMMITLOG_CLUSTER_KILL_INC must be numbers")
	}
	peers := map[commitlog.NodeID]string{}
	for i, a := range strings.Split(os.Getenv("COMMITLOG_CLUSTER_KILL_PEERS"), ",") {
		peers[commitlog.NodeID(i)] = a
	}
	c := &procChild{id: commitlog.NodeID(id), inc: inc, out: make(chan string, 4096), pause: make(chan struct{})}
	if err := c.run(dir, peers, os.Getenv("COMMITLOG_CLUSTER_KILL_CREATE") != ""); err != nil {
		fmt.Fprintf(os.Stderr, "node %d (incarnation %d): %v\n", id, inc, err)
		os.Exit(1)
	}
	os.Exit(0) // past the testing framework's output: the parent reads stdout
}

type procChild struct {
	id    commitlog.NodeID
	inc   int
	log   *commitlog.Log
	out   chan string
	pause chan struct{}
	work  sync.WaitGroup
	seq   [procKillPartitions]int // the next value's number per partition (its loop's, across pauses)
}

// printer writes the lines of out to stdout, whole lines only and at
// most 4 KB per write, so that a kill never cuts a line (the parent also
// drops an unterminated last line).
func (c *procChild) printer(done chan struct{}) {
	defer close(done)
	var buf []byte
	flush := func() {
		if len(buf) > 0 {
			os.Stdout.Write(buf)
			buf = buf[:0]
		}
	}
	for line := range c.out {
		if len(buf)+len(line)+4 > 4096 {
			flush()
		}
		buf = append(buf, "pk "...)
		buf = append(buf, line...)
		buf = append(buf, '\n')
		if len(c.out) == 0 {
			flush()
		}
	}
	flush()
}

func (c *procChild) run(dir string, peers map[commitlog.NodeID]string, create bool) error {
	stdin := make(chan string)
	go func() {
		sc := bufio.NewScanner(os.Stdin)
		for sc.Scan() {
			stdin <- sc.Text()
		}
		os.Exit(3) // the parent is gone
	}()
	printed := make(chan struct{})
	go c.printer(printed)
	n, err := OpenNode(NodeConfig{ID: c.id, Dir: dir, Peers: peers,
		Options: &commitlog.Options{ReplicaLagTime: time.Second, ReplicaFetchMaxWait: 20 * time.Millisecond},
		Raft:    RaftConfig{TickInterval: 10 * time.Millisecond},
		TCP:     TCPConfig{ReconnectBackoff: 10 * time.Millisecond, MaxReconnectBackoff: 100 * time.Millisecond}})
	if err != nil {
		return err
	}
	c.log = n.Log()
	if create {
		for deadline := time.Now().Add(30 * time.Second); ; {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_, err := c.log.CreateTopic(ctx, procKillTopic, commitlog.TopicConfig{Partitions: procKillPartitions, ReplicationFactor: 3, MinInSyncReplicas: 2})
			cancel()
			if err == nil || errors.Is(err, commitlog.ErrTopicExists) {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("create topic: %w", err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	c.out <- "ready"
	stopState := make(chan struct{})
	var reporting sync.WaitGroup
	reporting.Go(func() { c.stateLoop(stopState) })
	c.resume()
	paused := false
	for line := range stdin {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		switch f[0] {
		case "pause", "stop":
			if !paused {
				paused = true
				close(c.pause)
				c.work.Wait()
			}
			if f[0] == "pause" {
				c.out <- "paused"
				continue
			}
			close(stopState)
			reporting.Wait()
			err := n.Close()
			close(c.out)
			<-printed
			return err
		case "resume":
			if paused {
				paused = false
				c.pause = make(chan struct{})
				c.resume()
			}
		case "dump":
			p, _ := strconv.Atoi(f[1])
			from, _ := strconv.ParseInt(f[2], 10, 64)
			if err := c.dump(int32(p), from); err != nil {
				return err
			}
		}
	}
	return nil
}

func (c *procChild) resume() {
	pause := c.pause
	for p := range int32(procKillPartitions) {
		c.work.Go(func() { c.produceLoop(p, pause) })
	}
	c.work.Go(func() { c.consumeLoop(pause) })
}

func (c *procChild) partition(p int32) *commitlog.Partition {
	tp, err := c.log.Topic(procKillTopic)
	if err != nil {
		return nil
	}
	part, err := tp.Partition(p)
	if err != nil {
		return nil
	}
	return part
}

// leader returns partition p's leader and ISR as this node knows them.
func (c *procChild) leader(p int32) (commitlog.NodeID, []commitlog.NodeID) {
	info, err := c.log.Cluster()
	if err != nil {
		return commitlog.NoNode, nil
	}
	for _, t := range info.Topics {
		if t.Name == procKillTopic && int(p) < len(t.Partitions) {
			return t.Partitions[p].Leader, t.Partitions[p].ISR
		}
	}
	return commitlog.NoNode, nil
}

func (c *procChild) stateLoop(stop chan struct{}) {
	last := make([]string, procKillPartitions)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		for p := range int32(procKillPartitions) {
			leader, isr := c.leader(p)
			end := int64(-1)
			if part := c.partition(p); part != nil {
				end = part.EndOffset()
			}
			s := make([]string, len(isr))
			for i, n := range isr {
				s[i] = fmt.Sprint(n)
			}
			is := strings.Join(s, ",")
			if is == "" {
				is = "-"
			}
			line := fmt.Sprintf("state %d %d %s %d", p, leader, is, end)
			if line != last[p] {
				c.out <- line
				last[p] = line
			}
		}
		select {
		case <-stop:
			return
		case <-tick.C:
		}
	}
}

// produceLoop produces at partition p while this node leads it, a record
// every millisecond or so, until pause.
func (c *procChild) produceLoop(p int32, pause chan struct{}) {
	for {
		select {
		case <-pause:
			return
		case <-time.After(2 * time.Millisecond):
		}
		if leader, _ := c.leader(p); leader != c.id {
			continue
		}
		prod, err := c.log.NewProducer(commitlog.ProducerConfig{Acks: commitlog.AckAll, MaxInFlight: 5,
			Partitioner: commitlog.ManualPartitioner(), MaxBufferedRecords: 64})
		if err != nil {
			continue
		}
		ctx, cancel := context.WithCancel(context.Background())
		var once sync.Once
		lost := make(chan struct{})
		for done := false; !done; {
			v := fmt.Sprintf("n%d-i%d-p%d-%d", c.id, c.inc, p, c.seq[p])
			c.seq[p]++
			prod.Produce(ctx, &commitlog.Record{Topic: procKillTopic, Partition: p, Value: []byte(v)}, func(r *commitlog.Record, err error) {
				if err == nil {
					c.out <- fmt.Sprintf("ack %d %d %s", r.Partition, r.Offset, v)
				} else {
					once.Do(func() { close(lost) })
				}
			})
			select {
			case <-pause:
				done = true
			case <-lost:
				done = true
			case <-time.After(time.Millisecond):
			}
		}
		fctx, fcancel := context.WithTimeout(context.Background(), 20*time.Second)
		_ = prod.Flush(fctx)
		fcancel()
		cancel()
		_ = prod.Close()
	}
}

// consumeLoop runs a group member where the coordinator allows it:
// polls, and commits what it polled, reporting acknowledged commits.
func (c *procChild) consumeLoop(pause chan struct{}) {
	var cons *commitlog.Consumer
	defer func() {
		if cons != nil {
			_ = cons.Close()
		}
	}()
	for {
		select {
		case <-pause:
			return
		default:
		}
		if cons == nil {
			var err error
			cons, err = c.log.NewConsumer(commitlog.ConsumerConfig{Group: procKillGroup, Topics: []string{procKillTopic},
				DisableAutoCommit: true, AutoOffsetReset: commitlog.ResetEarliest})
			if err != nil {
				cons = nil
				select {
				case <-pause:
					return
				case <-time.After(50 * time.Millisecond):
				}
				continue
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		recs, err := cons.Poll(ctx)
		cancel()
		if err != nil && !errors.Is(err, context.DeadlineExceeded) {
			_ = cons.Close()
			cons = nil
			continue
		}
		if len(recs) == 0 {
			continue
		}
		next := map[commitlog.TopicPartition]int64{}
		for _, r := range recs {
			next[commitlog.TopicPartition{Topic: r.Topic, Partition: r.Partition}] = r.Offset + 1
		}
		ctx, cancel = context.WithTimeout(context.Background(), 2*time.Second)
		err = cons.CommitOffsets(ctx, next)
		cancel()
		if err == nil {
			for tp, off := range next {
				c.out <- fmt.Sprintf("commit %d %d", tp.Partition, off)
			}
		}
	}
}

// dump writes partition p's local records from offset from to its end.
func (c *procChild) dump(p int32, from int64) error {
	part := c.partition(p)
	if part == nil {
		c.out <- fmt.Sprintf("dumped %d -1", p)
		return nil
	}
	// Scan stops at the high watermark: wait for it to reach the end,
	// which it does once the leader has heard this replica caught up.
	end := part.EndOffset()
	for deadline := time.Now().Add(10 * time.Second); part.HighWatermark() < end && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	if hw := part.HighWatermark(); hw < end {
		return fmt.Errorf("dump %d: high watermark %d below the end %d after 10s", p, hw, end)
	}
	if from < end {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		for r, err := range part.Scan(ctx, from) {
			if err != nil {
				return fmt.Errorf("dump %d from %d: %w", p, from, err)
			}
			if r.Offset >= end {
				break
			}
			c.out <- fmt.Sprintf("rec %d %d %s", p, r.Offset, r.Value)
		}
	}
	c.out <- fmt.Sprintf("dumped %d %d", p, end)
	return nil
}
