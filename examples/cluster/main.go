// Command cluster runs a three-node commitlog cluster as three processes
// on loopback: each is this program re-executed with -node, one
// cluster.OpenNode (TCP transport, Raft controller, Log) in a directory
// of its own. It creates a topic with replication factor 3 and
// MinInSyncReplicas 2; the process whose Log leads the partition
// produces with AckAll under SyncAlways and reports each acknowledged
// record to this parent. The parent kills the leader's process with
// SIGKILL, watches another node take over (and its process take over
// producing), restarts the killed node from its directory, waits for it
// to rejoin the in-sync replicas, stops every node and opens each
// directory read-only to check that every acknowledged record is there,
// at the offset it was acknowledged at, on every node.
//
// With -bench it measures instead, with the library's default timeouts:
// the cluster's AckAll throughput against a single-node Log's in this
// process, and the failover time over several SIGKILLs of the leader.
//
// There is no client protocol yet: a producer appends at its own
// process's Log, so producing follows the leader from process to process.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/commitlog-go/commitlog"
)

func main() {
	node := flag.Int("node", -1, "run as this node of the cluster (set by the parent)")
	dir := flag.String("dir", "", "the node's directory (with -node)")
	peers := flag.String("peers", "", "every node's address, comma-separated, by id (with -node)")
	inc := flag.Int("inc", 0, "the node process's incarnation (with -node)")
	create := flag.Bool("create", false, "create the topic (with -node)")
	bench := flag.Bool("bench", false, "measure throughput and failover time instead")
	kills := flag.Int("kills", 5, "SIGKILLs of the leader to time (with -bench)")
	flag.IntVar(&maxBuffered, "buffer", maxBuffered, "the producers' MaxBufferedRecords (0: the library's default)")
	flag.Parse()
	var err error
	if *node >= 0 {
		err = runNode(commitlog.NodeID(*node), *inc, *dir, *peers, *create, *bench)
	} else {
		err = runParent(*bench, *kills)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "cluster:", err)
		os.Exit(1)
	}
}

// event is a line from a node process, or its exit (exited).
type event struct {
	node   int
	at     time.Time
	fields []string
	exited bool
	err    error
}

type child struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	alive bool
}

type state struct {
	leader commitlog.NodeID
	isr    []commitlog.NodeID
	end    int64
	ctrl   commitlog.NodeID // the Raft leader
}

// parent runs the node processes and keeps what they report.
type parent struct {
	root     string
	addrs    []string
	bench    bool
	children []*child
	incs     []int
	events   chan event
	states   []state
	runs     []run       // what was acknowledged, partition 0
	acked    int         // records acknowledged
	byNode   map[int]int // records acknowledged by each node
	lastAck  event
}

func runParent(bench bool, kills int) (err error) {
	root, err := os.MkdirTemp("", "commitlog-cluster-")
	if err != nil {
		return err
	}
	p := &parent{root: root, bench: bench, events: make(chan event, 1024), byNode: map[int]int{},
		children: make([]*child, 3), incs: make([]int, 3), states: make([]state, 3)}
	defer func() {
		p.killAll()
		os.RemoveAll(root)
	}()
	for range 3 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		p.addrs = append(p.addrs, ln.Addr().String())
		ln.Close()
	}
	if bench {
		return p.runBench(kills)
	}
	return p.runDemo()
}

func (p *parent) start(id int, create bool) error {
	args := []string{"-node", fmt.Sprint(id), "-dir", filepath.Join(p.root, fmt.Sprint("node", id)),
		"-peers", strings.Join(p.addrs, ","), "-inc", fmt.Sprint(p.incs[id])}
	if create {
		args = append(args, "-create")
	}
	if p.bench {
		args = append(args, "-bench")
	}
	args = append(args, "-buffer", fmt.Sprint(maxBuffered))
	p.incs[id]++
	cmd := exec.Command(os.Args[0], args...)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	p.children[id] = &child{cmd: cmd, stdin: stdin, alive: true}
	p.states[id] = state{leader: commitlog.NoNode, end: -1}
	go func() {
		// A line the kill cut short (no newline at the end of the
		// output) is dropped: it may hold half a value.
		r := bufio.NewReader(stdout)
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				break
			}
			p.events <- event{node: id, at: time.Now(), fields: strings.Fields(line)}
		}
		err := cmd.Wait()
		p.events <- event{node: id, at: time.Now(), exited: true, err: err}
	}()
	return nil
}

// kill SIGKILLs node id's process and waits for its exit.
func (p *parent) kill(id int) (time.Time, error) {
	c := p.children[id]
	at := time.Now()
	if err := c.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		return at, err
	}
	_, err := p.waitFor(fmt.Sprintf("node %d's exit", id), 10*time.Second, func(ev event) bool { return ev.exited && ev.node == id })
	return at, err
}

// killAll kills every child still running (on failure) and reaps them.
func (p *parent) killAll() {
	for _, c := range p.children {
		if c != nil && c.alive {
			c.cmd.Process.Signal(syscall.SIGKILL)
			c.stdin.Close()
			c.cmd.Process.Wait()
		}
	}
}

func (p *parent) send(id int, cmd string) error {
	_, err := io.WriteString(p.children[id].stdin, cmd+"\n")
	return err
}

// waitFor handles the nodes' events until done returns true for one, for
// at most d.
func (p *parent) waitFor(what string, d time.Duration, done func(event) bool) (event, error) {
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		select {
		case ev := <-p.events:
			if err := p.apply(ev); err != nil {
				return ev, err
			}
			if done(ev) {
				return ev, nil
			}
		case <-timer.C:
			return event{}, fmt.Errorf("no %s within %v", what, d)
		}
	}
}

// apply records what an event says.
func (p *parent) apply(ev event) error {
	if ev.exited {
		c := p.children[ev.node]
		if c.alive && ev.err != nil {
			var ee *exec.ExitError
			if !errors.As(ev.err, &ee) || !ee.Sys().(syscall.WaitStatus).Signaled() {
				return fmt.Errorf("node %d exited: %v", ev.node, ev.err)
			}
		}
		c.alive = false
		return nil
	}
	if len(ev.fields) == 0 {
		return nil
	}
	switch ev.fields[0] {
	case "acks":
		if len(ev.fields) != 6 {
			return fmt.Errorf("node %d: bad line %q", ev.node, ev.fields)
		}
		off, err1 := strconv.ParseInt(ev.fields[2], 10, 64)
		count, err2 := strconv.Atoi(ev.fields[3])
		seq, err3 := strconv.ParseInt(ev.fields[5], 10, 64)
		if err := errors.Join(err1, err2, err3); err != nil {
			return fmt.Errorf("node %d: bad line %q: %w", ev.node, ev.fields, err)
		}
		p.runs = append(p.runs, run{offset: off, count: count, prefix: ev.fields[4], seq: seq})
		p.acked += count
		p.byNode[ev.node] += count
		p.lastAck = ev
	case "state":
		if len(ev.fields) != 5 {
			return fmt.Errorf("node %d: bad line %q", ev.node, ev.fields)
		}
		leader, _ := strconv.Atoi(ev.fields[1])
		end, _ := strconv.ParseInt(ev.fields[3], 10, 64)
		var isr []commitlog.NodeID
		if ev.fields[2] != "-" {
			for _, s := range strings.Split(ev.fields[2], ",") {
				n, _ := strconv.Atoi(s)
				isr = append(isr, commitlog.NodeID(n))
			}
		}
		ctrl, _ := strconv.Atoi(ev.fields[4])
		p.states[ev.node] = state{leader: commitlog.NodeID(leader), isr: isr, end: end, ctrl: commitlog.NodeID(ctrl)}
	}
	return nil
}

// run is records acknowledged at consecutive offsets: values prefix+seq,
// prefix+seq+1, ... from offset.
type run struct {
	offset int64
	count  int
	prefix string
	seq    int64
}

func isLine(ev event, word string) bool {
	return !ev.exited && len(ev.fields) > 0 && ev.fields[0] == word
}

// startAll starts the three nodes together (each OpenNode waits for a
// quorum) and waits until they are ready.
func (p *parent) startAll() error {
	for id := range 3 {
		if err := p.start(id, id == 0); err != nil {
			return err
		}
	}
	ready := 0
	_, err := p.waitFor("three ready nodes", 30*time.Second, func(ev event) bool {
		if isLine(ev, "ready") {
			ready++
		}
		return ready == 3
	})
	return err
}

// waitAcked waits for n more acknowledgements.
func (p *parent) waitAcked(n int, d time.Duration) error {
	want := p.acked + n
	_, err := p.waitFor(fmt.Sprintf("%d more acknowledged records", n), d, func(ev event) bool { return p.acked >= want })
	return err
}

// failover kills the node leading the partition and returns the times
// from the kill to a new leader in a survivor's metadata, and to the
// first record acknowledged through it.
func (p *parent) failover() (killed int, wasCtrl bool, elect, firstAck time.Duration, err error) {
	killed = p.lastAck.node
	wasCtrl = p.states[killed].ctrl == commitlog.NodeID(killed)
	at, err := p.kill(killed)
	if err != nil {
		return
	}
	var elected time.Time
	ev, err := p.waitFor("a record acknowledged by a new leader", 30*time.Second, func(ev event) bool {
		if isLine(ev, "state") && elected.IsZero() {
			if l := p.states[ev.node].leader; l != commitlog.NoNode && int(l) != killed {
				elected = ev.at
			}
		}
		return isLine(ev, "acks") && ev.node != killed
	})
	if err != nil {
		return
	}
	if elected.IsZero() {
		elected = ev.at
	}
	return killed, wasCtrl, elected.Sub(at), ev.at.Sub(at), nil
}

// rejoin restarts node id and waits until the leader has it in the ISR.
func (p *parent) rejoin(id int, d time.Duration) (time.Duration, error) {
	start := time.Now()
	if err := p.start(id, false); err != nil {
		return 0, err
	}
	_, err := p.waitFor(fmt.Sprintf("node %d back in the ISR", id), d, func(ev event) bool {
		s := p.states[ev.node]
		return isLine(ev, "state") && p.children[ev.node].alive && int(s.leader) == ev.node && len(s.isr) == 3
	})
	return time.Since(start), err
}

// pauseWait waits for the three nodes to say their producers paused.
func (p *parent) pauseWait() error {
	paused := 0
	_, err := p.waitFor("paused producers", 60*time.Second, func(ev event) bool {
		if isLine(ev, "paused") {
			paused++
		}
		return paused == 3
	})
	return err
}

// stopAll pauses the producers, waits for every node to hold the same
// end offset, and stops the nodes.
func (p *parent) stopAll() error {
	for id := range 3 {
		if err := p.send(id, "pause"); err != nil {
			return err
		}
	}
	if err := p.pauseWait(); err != nil {
		return err
	}
	caughtUp := func() bool {
		for _, s := range p.states {
			if s.end != p.states[0].end || s.end < int64(p.acked) {
				return false
			}
		}
		return true
	}
	if !caughtUp() {
		if _, err := p.waitFor("every node at the same end offset", 30*time.Second, func(event) bool { return caughtUp() }); err != nil {
			return fmt.Errorf("%w (states %v, %d acknowledged)", err, p.states, p.acked)
		}
	}
	for id := range 3 {
		if err := p.send(id, "stop"); err != nil {
			return err
		}
	}
	stopped := 0
	_, err := p.waitFor("stopped nodes", 60*time.Second, func(ev event) bool {
		if ev.exited {
			stopped++
		}
		return stopped == 3
	})
	return err
}

// verify opens every node's directory read-only and checks that each
// holds every acknowledged record at its offset, and that they hold the
// same records.
func (p *parent) verify() (int, error) {
	var first []string
	for id := range 3 {
		l, err := commitlog.Open(filepath.Join(p.root, fmt.Sprint("node", id), "log"), &commitlog.Options{ReadOnly: true})
		if err != nil {
			return 0, fmt.Errorf("node %d: %w", id, err)
		}
		got, err := readAll(l)
		l.Close()
		if err != nil {
			return 0, fmt.Errorf("node %d: %w", id, err)
		}
		seen := make([]bool, len(got))
		for _, r := range p.runs {
			for i := range r.count {
				off, v := r.offset+int64(i), r.prefix+strconv.FormatInt(r.seq+int64(i), 10)
				if off >= int64(len(got)) || got[off] != v {
					at := ""
					if off < int64(len(got)) {
						at = got[off]
					}
					return 0, fmt.Errorf("node %d: acknowledged %s at offset %d is not there (%d records; there: %q; %s is at %d)",
						id, v, off, len(got), at, v, slices.Index(got, v))
				}
				if seen[off] {
					return 0, fmt.Errorf("offset %d acknowledged twice", off)
				}
				seen[off] = true
			}
		}
		if id == 0 {
			first = got
		} else if !slices.Equal(first, got) {
			return 0, fmt.Errorf("node %d's records (%d) differ from node 0's (%d)", id, len(got), len(first))
		}
	}
	return len(first), nil
}

// readAll returns the values' ids of partition 0, by offset from 0.
func readAll(l *commitlog.Log) ([]string, error) {
	tp, err := l.Topic(topicName)
	if err != nil {
		return nil, err
	}
	part, err := tp.Partition(0)
	if err != nil {
		return nil, err
	}
	if part.StartOffset() != 0 {
		return nil, fmt.Errorf("starts at %d", part.StartOffset())
	}
	var out []string
	for r, err := range part.Scan(context.Background(), 0) {
		if err != nil {
			return nil, err
		}
		if r.Offset != int64(len(out)) {
			return nil, fmt.Errorf("offset %d after %d records", r.Offset, len(out))
		}
		id, _, _ := strings.Cut(string(r.Value), ":")
		out = append(out, id)
	}
	return out, nil
}

func (p *parent) runDemo() error {
	began := time.Now()
	if err := p.startAll(); err != nil {
		return err
	}
	fmt.Printf("three node processes on %s, ready in %v\n", strings.Join(p.addrs, ", "), time.Since(began).Round(time.Millisecond))
	if err := p.waitAcked(500, 30*time.Second); err != nil {
		return err
	}
	before := p.acked
	leader := p.lastAck.node
	fmt.Printf("node %d leads %s-0; %d records acknowledged (AckAll, SyncAlways, MinInSyncReplicas 2)\n", leader, topicName, before)
	killed, _, elect, firstAck, err := p.failover()
	if err != nil {
		return err
	}
	fmt.Printf("SIGKILL node %d: node %d leads after %v, first record acknowledged through it after %v\n",
		killed, p.lastAck.node, elect.Round(time.Millisecond), firstAck.Round(time.Millisecond))
	if err := p.waitAcked(500, 30*time.Second); err != nil {
		return err
	}
	back, err := p.rejoin(killed, 30*time.Second)
	if err != nil {
		return err
	}
	fmt.Printf("node %d restarted from its directory, back in the in-sync replicas after %v\n", killed, back.Round(time.Millisecond))
	if err := p.waitAcked(200, 30*time.Second); err != nil {
		return err
	}
	if err := p.stopAll(); err != nil {
		return err
	}
	n, err := p.verify()
	if err != nil {
		return err
	}
	fmt.Printf("stopped; %d records acknowledged (%v by node), all %d verified on every node's directory, in order, in %v in all\n",
		p.acked, p.byNode, n, time.Since(began).Round(time.Millisecond))
	return nil
}
