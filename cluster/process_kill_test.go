package cluster

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/commitlog-go/commitlog"
)

// TestProcessKill is the cluster's kill -9 loop: three node processes
// (TestProcessKillChild, the test binary re-executed) on loopback, each
// an OpenNode that produces with AckAll (SyncAlways) at the partitions
// its Log leads and runs a member of a consumer group where the group's
// coordinator is; every cycle SIGKILLs one of them at random, leader or
// follower, after a random short delay, and restarts it from its
// directory on its port (one time in five it kills it again, after up to
// 300ms, while it recovers or rejoins). Once the restarted node is back in every
// partition's in-sync set, the producers pause until every replica holds
// the same end, and the parent reads each node's records past what it
// checked before (asking the children over stdin) and checks:
//
//   - every node holds the same records at the same offsets (no
//     divergence, nothing rewritten below what was checked before);
//   - every acknowledged record is there, at the offset it was
//     acknowledged at (no acknowledged record lost, per-partition order);
//   - no two acknowledgements name one offset or one value twice;
//   - every acknowledged commit of the group is at most the partition's
//     end.
//
// At the end every node stops and its directory is opened read-only:
// the same checks over the whole of each partition, and the group's
// committed offsets within the records.
//
// Environment:
//
//	COMMITLOG_CLUSTER_KILL_CYCLES  kill -9 cycles (default 20)
//	COMMITLOG_CLUSTER_KILL_SEED    seed of the parent's choices (default 1)
//
// The seed fixes which node is killed and after which delay, not where
// the kill lands in the children's work.
func TestProcessKill(t *testing.T) {
	cycles := procKillEnvInt(t, "COMMITLOG_CLUSTER_KILL_CYCLES", 20)
	if cycles == 0 {
		t.Fatal("COMMITLOG_CLUSTER_KILL_CYCLES=0: run at least one cycle")
	}
	seed := uint64(procKillEnvInt(t, "COMMITLOG_CLUSTER_KILL_SEED", 1))
	replay := fmt.Sprintf("COMMITLOG_CLUSTER_KILL_SEED=%d COMMITLOG_CLUSTER_KILL_CYCLES=%d go test -race -run '^TestProcessKill$' -count=1 .", seed, cycles)
	pk := &procKill{t: t, root: t.TempDir(), rng: rand.New(rand.NewPCG(seed, 0x636c6b)),
		events: make(chan procEvent, 4096), acks: map[int32]map[int64]string{}, ackedValues: map[string]bool{},
		commits: map[int32]int64{}, canon: make([][]string, procKillPartitions)}
	for p := range int32(procKillPartitions) {
		pk.acks[p] = map[int64]string{}
	}
	for range 3 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		pk.addrs = append(pk.addrs, ln.Addr().String())
		require.NoError(t, ln.Close())
	}
	t.Cleanup(pk.killAll)
	began := time.Now()
	pk.where = fmt.Sprintf("seed %d, start (replay: %s)", seed, replay)
	for id := range 3 {
		pk.start(id, id == 0)
	}
	for id := range 3 {
		pk.waitFor(fmt.Sprintf("node %d ready", id), 60*time.Second, func(ev procEvent) bool { return pk.nodes[id].ready })
	}
	kills := map[string]int{}
	for cycle := range cycles {
		pk.where = fmt.Sprintf("cycle %d of %d, seed %d (replay: %s)", cycle, cycles, seed, replay)
		delay := time.Duration(50+pk.rng.IntN(350)) * time.Millisecond
		victim := pk.rng.IntN(3)
		pk.waitFor("", delay, func(procEvent) bool { return false })
		role := "follower"
		for p := range procKillPartitions {
			if s := pk.nodes[victim].states[p]; s.leader == commitlog.NodeID(victim) {
				role = "leader"
			}
		}
		kills[role]++
		pk.kill(victim)
		pk.start(victim, false)
		if pk.rng.IntN(5) == 0 {
			// Again, while it recovers its directory or rejoins.
			pk.waitFor("", time.Duration(pk.rng.IntN(300))*time.Millisecond, func(procEvent) bool { return false })
			kills["restarting"]++
			pk.kill(victim)
			pk.start(victim, false)
		}
		pk.waitFor(fmt.Sprintf("node %d ready again", victim), 60*time.Second, func(procEvent) bool { return pk.nodes[victim].ready })
		pk.settleAndCheck()
		if cycle < cycles-1 {
			pk.sendAll("resume")
		}
	}
	pk.stopAll()
	pk.verifyDirs()
	total := 0
	for _, a := range pk.acks {
		total += len(a)
	}
	require.Positive(t, total, "no record acknowledged")
	t.Logf("%d SIGKILL cycles (%d of a partition leader, %d of a follower, %d again while restarting) in %v: %d acknowledged records, %d stored per node, %d acknowledged commits; every node's directory holds every acknowledged record at its offset, and the same records",
		cycles, kills["leader"], kills["follower"], kills["restarting"], time.Since(began).Round(time.Millisecond), total, len(pk.canon[0])+len(pk.canon[1]), pk.commitCount)
}

func procKillEnvInt(t *testing.T, name string, def int) int {
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		t.Fatalf("%s=%q: want a non-negative integer", name, s)
	}
	return n
}

type procEvent struct {
	node   int
	fields []string
	exited bool
	err    error
}

type procState struct {
	leader commitlog.NodeID
	isr    []commitlog.NodeID
	end    int64
}

type procNode struct {
	cmd    *exec.Cmd
	stdin  *os.File
	inc    int
	alive  bool
	killed bool
	ready  bool
	paused bool
	states []procState
	dump   [][]string // records received in the current dump, per partition
	dumped []bool
}

type procKill struct {
	t      *testing.T
	root   string
	addrs  []string
	rng    *rand.Rand
	where  string
	events chan procEvent
	nodes  [3]*procNode
	incs   [3]int

	acks        map[int32]map[int64]string // partition -> offset -> value acknowledged
	ackedValues map[string]bool
	commits     map[int32]int64 // highest acknowledged commit per partition
	commitCount int
	canon       [][]string // per partition, the records every node was found to hold
}

func (pk *procKill) fatalf(format string, args ...any) {
	pk.t.Helper()
	pk.t.Fatalf("%s: %s", pk.where, fmt.Sprintf(format, args...))
}

func (pk *procKill) start(id int, create bool) {
	cmd := exec.Command(os.Args[0], "-test.run=^TestProcessKillChild$")
	cmd.Env = append(os.Environ(),
		"COMMITLOG_CLUSTER_KILL_CHILD="+filepath.Join(pk.root, fmt.Sprint("node", id)),
		fmt.Sprintf("COMMITLOG_CLUSTER_KILL_NODE=%d", id),
		fmt.Sprintf("COMMITLOG_CLUSTER_KILL_INC=%d", pk.incs[id]),
		"COMMITLOG_CLUSTER_KILL_PEERS="+strings.Join(pk.addrs, ","),
		"GORACE="+strings.TrimSpace(os.Getenv("GORACE")+" halt_on_error=1"))
	if create {
		cmd.Env = append(cmd.Env, "COMMITLOG_CLUSTER_KILL_CREATE=1")
	}
	pk.incs[id]++
	// The child's stdin is a pipe whose writing end only this process
	// holds: when it dies, the child reads EOF and exits.
	r, w, err := os.Pipe()
	require.NoError(pk.t, err)
	cmd.Stdin = r
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	require.NoError(pk.t, err)
	require.NoError(pk.t, cmd.Start(), pk.where)
	r.Close()
	n := &procNode{cmd: cmd, stdin: w, inc: pk.incs[id] - 1, alive: true,
		states: make([]procState, procKillPartitions), dump: make([][]string, procKillPartitions), dumped: make([]bool, procKillPartitions)}
	for p := range n.states {
		n.states[p] = procState{leader: commitlog.NoNode, end: -1}
	}
	pk.nodes[id] = n
	go func() {
		br := bufio.NewReader(stdout)
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				break // an unterminated last line is dropped
			}
			if f := strings.Fields(line); len(f) > 1 && f[0] == "pk" {
				pk.events <- procEvent{node: id, fields: f[1:]}
			}
		}
		err := cmd.Wait()
		pk.events <- procEvent{node: id, exited: true, err: err}
	}()
}

func (pk *procKill) kill(id int) {
	n := pk.nodes[id]
	n.killed = true
	if err := n.cmd.Process.Signal(syscall.SIGKILL); err != nil && !errors.Is(err, os.ErrProcessDone) {
		pk.fatalf("kill node %d: %v", id, err)
	}
	pk.waitFor(fmt.Sprintf("node %d's exit", id), 30*time.Second, func(procEvent) bool { return !n.alive })
	n.stdin.Close()
	// The reader goroutine's Wait set ProcessState before the exit event.
	if ws, ok := n.cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() {
		pk.fatalf("node %d ended by itself before the kill: %v", id, n.cmd.ProcessState)
	}
}

// killAll kills and reaps every child still running: after a failure.
func (pk *procKill) killAll() {
	for _, n := range pk.nodes {
		if n != nil && n.alive {
			_ = n.cmd.Process.Signal(syscall.SIGKILL)
			n.stdin.Close()
			_, _ = n.cmd.Process.Wait()
		}
	}
}

func (pk *procKill) send(id int, line string) {
	if _, err := fmt.Fprintln(pk.nodes[id].stdin, line); err != nil {
		pk.fatalf("to node %d: %v", id, err)
	}
}

func (pk *procKill) sendAll(line string) {
	for id := range 3 {
		pk.send(id, line)
	}
}

// waitFor applies the children's events until done returns true, for at
// most d: a failure then, unless what is empty (a pause).
func (pk *procKill) waitFor(what string, d time.Duration, done func(procEvent) bool) {
	pk.t.Helper()
	if done(procEvent{node: -1}) {
		return
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		select {
		case ev := <-pk.events:
			pk.apply(ev)
			if done(ev) {
				return
			}
		case <-timer.C:
			if what != "" {
				pk.fatalf("no %s within %v; states: %s", what, d, pk.describe())
			}
			return
		}
	}
}

func (pk *procKill) describe() string {
	var b strings.Builder
	for id, n := range pk.nodes {
		fmt.Fprintf(&b, "node %d (alive %v):", id, n.alive)
		for p, s := range n.states {
			fmt.Fprintf(&b, " p%d leader %d isr %v end %d;", p, s.leader, s.isr, s.end)
		}
		b.WriteString(" ")
	}
	return b.String()
}

func (pk *procKill) apply(ev procEvent) {
	pk.t.Helper()
	n := pk.nodes[ev.node]
	if ev.exited {
		n.alive = false
		if !n.killed && ev.err != nil {
			pk.fatalf("node %d (incarnation %d) failed: %v", ev.node, n.inc, ev.err)
		}
		return
	}
	f := ev.fields
	if want, ok := map[string]int{"ack": 4, "commit": 3, "state": 5, "rec": 4, "dumped": 3}[f[0]]; ok && len(f) != want {
		pk.fatalf("node %d: bad line %q", ev.node, f)
	}
	num := func(i int) int64 {
		v, err := strconv.ParseInt(f[i], 10, 64)
		if err != nil {
			pk.fatalf("node %d: bad line %q", ev.node, f)
		}
		return v
	}
	switch f[0] {
	case "ready":
		n.ready = true
	case "paused":
		n.paused = true
	case "ack":
		p, off, v := int32(num(1)), num(2), f[3]
		if prev, ok := pk.acks[p][off]; ok {
			pk.fatalf("partition %d offset %d acknowledged twice: %s, then %s (node %d)", p, off, prev, v, ev.node)
		}
		if pk.ackedValues[v] {
			pk.fatalf("%s acknowledged twice", v)
		}
		pk.acks[p][off], pk.ackedValues[v] = v, true
	case "commit":
		p, off := int32(num(1)), num(2)
		pk.commits[p] = max(pk.commits[p], off)
		pk.commitCount++
	case "state":
		p := num(1)
		var isr []commitlog.NodeID
		if f[3] != "-" {
			for _, s := range strings.Split(f[3], ",") {
				id, _ := strconv.Atoi(s)
				isr = append(isr, commitlog.NodeID(id))
			}
		}
		n.states[p] = procState{leader: commitlog.NodeID(num(2)), isr: isr, end: num(4)}
	case "rec":
		p, off := num(1), num(2)
		if want := int64(len(pk.canon[p]) + len(n.dump[p])); off != want {
			pk.fatalf("node %d partition %d: record at offset %d, want %d", ev.node, p, off, want)
		}
		n.dump[p] = append(n.dump[p], f[3])
	case "dumped":
		n.dumped[num(1)] = true
	}
}

// settleAndCheck waits for every partition to have all three nodes in
// its in-sync set, pauses the producers and consumers, waits for every
// replica to hold the same end, and checks the records past those
// checked before.
func (pk *procKill) settleAndCheck() {
	pk.t.Helper()
	inSync := func(procEvent) bool {
		for p := range procKillPartitions {
			ok := false
			for id, n := range pk.nodes {
				s := n.states[p]
				ok = ok || (n.alive && n.ready && s.leader == commitlog.NodeID(id) && len(s.isr) == 3)
			}
			if !ok {
				return false
			}
		}
		return true
	}
	pk.waitFor("every partition with three in-sync replicas", 60*time.Second, inSync)
	for _, n := range pk.nodes {
		n.paused = false
	}
	pk.sendAll("pause")
	pk.waitFor("paused nodes", 60*time.Second, func(procEvent) bool {
		return !slices.ContainsFunc(pk.nodes[:], func(n *procNode) bool { return !n.paused })
	})
	pk.waitFor("every replica at the same end", 30*time.Second, func(procEvent) bool {
		for p := range procKillPartitions {
			for _, n := range pk.nodes {
				if n.states[p].end != pk.nodes[0].states[p].end {
					return false
				}
			}
		}
		return true
	})
	for id, n := range pk.nodes {
		for p := range procKillPartitions {
			n.dump[p], n.dumped[p] = nil, false
			pk.send(id, fmt.Sprintf("dump %d %d", p, len(pk.canon[p])))
		}
	}
	pk.waitFor("the nodes' records", 60*time.Second, func(procEvent) bool {
		for _, n := range pk.nodes {
			if slices.Contains(n.dumped, false) {
				return false
			}
		}
		return true
	})
	for p := range procKillPartitions {
		for id, n := range pk.nodes {
			if !slices.Equal(n.dump[p], pk.nodes[0].dump[p]) {
				pk.fatalf("partition %d: node %d holds %d records past offset %d, node 0 %d, or others: %s",
					p, id, len(n.dump[p]), len(pk.canon[p]), len(pk.nodes[0].dump[p]), firstDiff(n.dump[p], pk.nodes[0].dump[p]))
			}
		}
		pk.canon[p] = append(pk.canon[p], pk.nodes[0].dump[p]...)
	}
	pk.checkAcks()
}

func firstDiff(a, b []string) string {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return fmt.Sprintf("first difference at +%d: %s vs %s", i, a[i], b[i])
		}
	}
	return "one is a prefix of the other"
}

// checkAcks checks every acknowledged record and commit against canon.
func (pk *procKill) checkAcks() {
	pk.t.Helper()
	for p, acks := range pk.acks {
		for off, v := range acks {
			if off >= int64(len(pk.canon[p])) {
				pk.fatalf("partition %d: acknowledged %s at offset %d lost: the nodes hold %d records", p, v, off, len(pk.canon[p]))
			}
			if got := pk.canon[p][off]; got != v {
				pk.fatalf("partition %d: acknowledged %s at offset %d, the nodes hold %s there", p, v, off, got)
			}
		}
		if c := pk.commits[p]; c > int64(len(pk.canon[p])) {
			pk.fatalf("partition %d: commit %d acknowledged past the end %d", p, c, len(pk.canon[p]))
		}
	}
}

func (pk *procKill) stopAll() {
	pk.t.Helper()
	pk.sendAll("stop")
	pk.waitFor("stopped nodes", 60*time.Second, func(procEvent) bool {
		return !slices.ContainsFunc(pk.nodes[:], func(n *procNode) bool { return n.alive })
	})
	for _, n := range pk.nodes {
		n.stdin.Close()
	}
}

// verifyDirs opens each stopped node's directory read-only and checks
// it holds exactly canon, and committed offsets within it.
func (pk *procKill) verifyDirs() {
	pk.t.Helper()
	ctx := context.Background()
	for id := range 3 {
		l, err := commitlog.Open(filepath.Join(pk.root, fmt.Sprint("node", id), "log"), &commitlog.Options{ReadOnly: true})
		require.NoError(pk.t, err, "node %d", id)
		tp, err := l.Topic(procKillTopic)
		require.NoError(pk.t, err, "node %d", id)
		for p := range int32(procKillPartitions) {
			part, err := tp.Partition(p)
			require.NoError(pk.t, err)
			var got []string
			for r, err := range part.Scan(ctx, 0) {
				require.NoError(pk.t, err)
				require.Equal(pk.t, int64(len(got)), r.Offset)
				got = append(got, string(r.Value))
			}
			if !slices.Equal(got, pk.canon[p]) {
				pk.fatalf("node %d's directory, partition %d: %d records, %d checked while running: %s", id, p, len(got), len(pk.canon[p]), firstDiff(got, pk.canon[p]))
			}
		}
		if d, err := l.DescribeGroup(procKillGroup); err == nil {
			for _, pl := range d.Partitions {
				if pl.Topic == procKillTopic && pl.Committed > int64(len(pk.canon[pl.Partition])) {
					pk.fatalf("node %d: group %s committed %d on partition %d, past its %d records", id, procKillGroup, pl.Committed, pl.Partition, len(pk.canon[pl.Partition]))
				}
			}
		} else {
			pk.t.Logf("node %d: DescribeGroup on the read-only directory: %v", id, err)
		}
		require.NoError(pk.t, l.Check(ctx), "node %d", id)
		require.NoError(pk.t, l.Close())
	}
	pk.checkAcks()
}
