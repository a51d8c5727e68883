package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/commitlog-go/commitlog"
	"github.com/commitlog-go/commitlog/cluster"
)

// The node process: one cluster member (cluster.OpenNode) that produces
// at its own Log whenever that Log leads the partition, and talks to the
// parent in lines: on stdout "ready", "acks <partition> <offset> <count>
// <prefix> <seq>" (count records acknowledged at consecutive offsets from
// offset, their values' ids prefix+seq, prefix+seq+1, ...),
// "state <leader> <isr> <end offset> <Raft leader>", "paused", "stopped"; on stdin
// "pause" (stop producing, wait for the records in flight), "resume", "stop"
// (close the node and exit). End of stdin (the parent died) ends the
// process at once.

const (
	topicName = "events"
	valueSize = 100
)

// nodeOptions returns the node's configuration: the library's defaults
// in bench mode, short timeouts for the demonstration.
func nodeConfig(id commitlog.NodeID, dir string, peers map[commitlog.NodeID]string, bench bool) cluster.NodeConfig {
	cfg := cluster.NodeConfig{ID: id, Dir: dir, Peers: peers, Options: &commitlog.Options{Sync: commitlog.SyncAlways}}
	if !bench {
		cfg.Options.ReplicaLagTime = 2 * time.Second
		cfg.Options.ReplicaFetchMaxWait = 20 * time.Millisecond
		cfg.Raft = cluster.RaftConfig{TickInterval: 10 * time.Millisecond}
		cfg.TCP = cluster.TCPConfig{ReconnectBackoff: 10 * time.Millisecond, MaxReconnectBackoff: 100 * time.Millisecond}
	}
	return cfg
}

// producerConfig is the producer of both the cluster and the single-node
// reference: AckAll, pipelined.
// maxBuffered is -buffer: the producer's MaxBufferedRecords (0: the
// default, a million), which bounds the records in flight.
var maxBuffered = 2048

func producerConfig() commitlog.ProducerConfig {
	return commitlog.ProducerConfig{Acks: commitlog.AckAll, MaxInFlight: 5, Partitioner: commitlog.ManualPartitioner(),
		MaxBufferedRecords: maxBuffered}
}

type nodeProc struct {
	id    commitlog.NodeID
	inc   int
	log   *commitlog.Log
	out   chan string
	pause chan struct{}

	mu   sync.Mutex
	runs []ackRun      // acknowledged, not yet printed
	kick chan struct{} // tells the printer there are runs
}

// ackRun is records acknowledged at consecutive offsets with consecutive
// sequence numbers: one line for many, so that reporting every
// acknowledgement costs little next to producing it.
type ackRun struct {
	offset, seq int64
	count       int
}

// ack records an acknowledged record for the printer.
func (np *nodeProc) ack(offset int64, seq int) {
	np.mu.Lock()
	if n := len(np.runs); n > 0 && np.runs[n-1].offset+int64(np.runs[n-1].count) == offset &&
		np.runs[n-1].seq+int64(np.runs[n-1].count) == int64(seq) {
		np.runs[n-1].count++
	} else {
		np.runs = append(np.runs, ackRun{offset: offset, seq: int64(seq), count: 1})
	}
	np.mu.Unlock()
	select {
	case np.kick <- struct{}{}:
	default:
	}
}

func (np *nodeProc) takeRuns() []ackRun {
	np.mu.Lock()
	defer np.mu.Unlock()
	r := np.runs
	np.runs = nil
	return r
}

func runNode(id commitlog.NodeID, inc int, dir, peerList string, create, bench bool) error {
	peers := map[commitlog.NodeID]string{}
	for i, a := range strings.Split(peerList, ",") {
		peers[commitlog.NodeID(i)] = a
	}
	stdin := make(chan string)
	go func() { // the watchdog: a dead parent closes our stdin
		sc := bufio.NewScanner(os.Stdin)
		for sc.Scan() {
			stdin <- sc.Text()
		}
		os.Exit(3)
	}()
	n, err := cluster.OpenNode(nodeConfig(id, filepath.Join(dir), peers, bench))
	if err != nil {
		return err
	}
	np := &nodeProc{id: id, inc: inc, log: n.Log(), out: make(chan string, 4096), pause: make(chan struct{}), kick: make(chan struct{}, 1)}
	var printer sync.WaitGroup
	printer.Go(func() {
		w := bufio.NewWriter(os.Stdout)
		prefix := fmt.Sprintf("n%d-i%d-", np.id, np.inc)
		for open := true; open; {
			select {
			case line, ok := <-np.out:
				if !ok {
					open = false
					break
				}
				// The acknowledgements first: "paused" and "stopped"
				// come after every one before them.
				for _, r := range np.takeRuns() {
					fmt.Fprintf(w, "acks 0 %d %d %s %d\n", r.offset, r.count, prefix, r.seq)
				}
				w.WriteString(line)
				w.WriteByte('\n')
			case <-np.kick:
				for _, r := range np.takeRuns() {
					fmt.Fprintf(w, "acks 0 %d %d %s %d\n", r.offset, r.count, prefix, r.seq)
				}
			}
			if len(np.out) == 0 {
				w.Flush()
			}
		}
		for _, r := range np.takeRuns() {
			fmt.Fprintf(w, "acks 0 %d %d %s %d\n", r.offset, r.count, prefix, r.seq)
		}
		w.Flush()
	})
	np.out <- "ready"
	if create {
		for deadline := time.Now().Add(20 * time.Second); ; {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_, err := n.Log().CreateTopic(ctx, topicName, commitlog.TopicConfig{Partitions: 1, ReplicationFactor: 3, MinInSyncReplicas: 2})
			cancel()
			if err == nil || errors.Is(err, commitlog.ErrTopicExists) {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("create topic: %w", err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	var producing, reporting sync.WaitGroup
	producing.Go(np.produceLoop)
	stopState := make(chan struct{})
	reporting.Go(func() { np.stateLoop(stopState) })
	paused := false
	for line := range stdin {
		switch line {
		case "pause":
			if !paused {
				paused = true
				close(np.pause)
			}
			producing.Wait()
			np.out <- "paused"
		case "resume":
			if paused {
				paused = false
				np.pause = make(chan struct{}) // the producer loop has returned
				producing.Go(np.produceLoop)
			}
		case "stop":
			if !paused {
				paused = true
				close(np.pause)
			}
			producing.Wait()
			close(stopState)
			reporting.Wait()
			err := n.Close()
			np.out <- "stopped"
			close(np.out)
			printer.Wait()
			return err
		}
	}
	return nil
}

// partitionState returns the partition's leader and ISR as this node's
// metadata has them, and the local replica's end offset.
func (np *nodeProc) partitionState() (leader commitlog.NodeID, isr []commitlog.NodeID, end int64) {
	leader, end = commitlog.NoNode, -1
	info, err := np.log.Cluster()
	if err != nil {
		return
	}
	for _, t := range info.Topics {
		if t.Name == topicName && len(t.Partitions) > 0 {
			leader, isr = t.Partitions[0].Leader, t.Partitions[0].ISR
		}
	}
	if tp, err := np.log.Topic(topicName); err == nil {
		if p, err := tp.Partition(0); err == nil {
			end = p.EndOffset()
		}
	}
	return
}

// stateLoop reports the partition's state when it changes, until stop.
func (np *nodeProc) stateLoop(stop chan struct{}) {
	last := ""
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for {
		leader, isr, end := np.partitionState()
		s := make([]string, len(isr))
		for i, n := range isr {
			s[i] = fmt.Sprint(n)
		}
		ctrl := commitlog.NoNode
		if info, err := np.log.Cluster(); err == nil {
			ctrl = info.ControllerLeader
		}
		line := fmt.Sprintf("state %d %s %d %d", leader, cmpOr(strings.Join(s, ","), "-"), end, ctrl)
		if line != last {
			np.out <- line
			last = line
		}
		select {
		case <-stop:
			return
		case <-t.C:
		}
	}
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// produceLoop produces while this node leads the partition, until pause.
func (np *nodeProc) produceLoop() {
	seq := 0
	pad := strings.Repeat("x", valueSize)
	for {
		select {
		case <-np.pause:
			return
		default:
		}
		if leader, _, _ := np.partitionState(); leader != np.id {
			select {
			case <-np.pause:
				return
			case <-time.After(5 * time.Millisecond):
			}
			continue
		}
		prod, err := np.log.NewProducer(producerConfig())
		if err != nil {
			time.Sleep(10 * time.Millisecond)
			continue
		}
		ctx, cancel := context.WithCancel(context.Background())
		var lost sync.Once
		lostLead := make(chan struct{})
		for done := false; !done; {
			id, mySeq := fmt.Sprintf("n%d-i%d-%d", np.id, np.inc, seq), seq
			seq++
			v := []byte(id + ":" + pad[:valueSize-len(id)-1])
			prod.Produce(ctx, &commitlog.Record{Topic: topicName, Partition: 0, Value: v}, func(r *commitlog.Record, err error) {
				if err == nil {
					np.ack(r.Offset, mySeq)
				} else {
					lost.Do(func() { close(lostLead) })
				}
			})
			select {
			case <-np.pause:
				done = true
			case <-lostLead:
				done = true
			default:
			}
		}
		// Wait for the records in flight (their promises), then start
		// over: a producer that saw an error gives up its leadership
		// claim and looks again.
		fctx, fcancel := context.WithTimeout(context.Background(), 30*time.Second)
		_ = prod.Flush(fctx)
		fcancel()
		cancel()
		_ = prod.Close()
	}
}
