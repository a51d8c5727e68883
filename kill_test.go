package commitlog

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/commitlog-go/commitlog/internal/histcheck"
	"github.com/stretchr/testify/require"
)

// The kill -9 loop. A child process (TestKillNineChild) opens a Log on a
// real directory and runs producers and a consumer group on it until the
// parent kills it with SIGKILL; the parent reopens the directory, records
// what it holds, and has the history checker (internal/histcheck) check
// everything the children did and saw, after every cycle.
//
// Environment:
//
//	COMMITLOG_KILL_CYCLES  kill -9 cycles (default 50)
//	COMMITLOG_KILL_SEED    seed of the parent's choices (default 1)
//
// The seed fixes what the parent chooses (when to kill, the children's
// seeds), not when the kill lands: the children run concurrently with the
// parent and with each other, so a replay with the same seed kills at
// other points.

const (
	killTopic      = "kill"
	killGroup      = "g"
	killPartitions = 4
	// killStall bounds a cycle that does not reach its kill target: the
	// child is then stuck, and is made to dump its goroutines.
	killStall = 3 * time.Minute
)

// TestKillNine runs a workload in a child process and kills it with
// SIGKILL after a random number of acknowledged records, again and again
// on the same directory. Kills land anywhere: in Open (recovery of the
// previous kill, checkpoints, trimming), topic creation, appends, segment
// rolls, recovery checkpoints (every 5ms), producer id allocation, offset
// commits and the creation of __consumer_offsets. SIGKILL keeps the page
// cache, so this tests the process-crash paths: the lock of a dead
// process, half-done appends and rolls, checkpoint and snapshot
// replacement, group state. Power loss is what TestCrashAtEveryPoint
// covers.
//
// Each child runs 3 idempotent Producers over the topic's 4 partitions
// (async Produce with promises, ProduceSync, and now and then a large
// Partition.Append and a record the producer must refuse), and a consumer
// group of 2 members that poll, commit what they polled, sometimes rewind
// to the committed offsets instead, and (one of them) close and rejoin,
// so that partitions move. Every send, poll, seek and commit goes to a
// histcheck Recorder that writes it to stdout; the parent decodes it into
// its own Recorder. After each kill the parent records the crash, opens
// the directory, records every partition's contents (Final) and the
// group's committed offsets (FinalCommit), runs Log.Check, and checks the
// whole history so far.
//
// Even cycles run under SyncAlways, odd ones under SyncInterval (5ms).
// Under either, a process crash must lose nothing acknowledged (the
// SyncPolicy documentation says so: SyncInterval acknowledges once the
// data is written to the operating system, whose page cache a SIGKILL
// leaves intact). So every acknowledgement is recorded as durable (Ok,
// and Ok for commits), with no loss window, and reads count as durable
// (DurableReads) even where a consumer read data not yet fsynced: the
// strongest check, and a correct one as long as the only crash is a
// process kill. OkNotDurable would only let the checker excuse losses
// that a kill -9 may not cause.
//
// Consumers record where each partition they gain must start (the
// group's committed offset) and each rewind (Seek) as histcheck seeks,
// so a poll that starts elsewhere or skips records is reported.
//
// Close gives back the disk space reserved ahead of the data (under
// SyncInterval) and the zeros prepared ahead of it (SyncAlways), also
// when the Log that made them was killed: after each cycle's Close every
// segment occupies no more than its size.
func TestKillNine(t *testing.T) {
	cycles := killEnvInt(t, "COMMITLOG_KILL_CYCLES", 50)
	if cycles == 0 {
		t.Fatal("COMMITLOG_KILL_CYCLES=0: run at least one cycle")
	}
	seed := uint64(killEnvInt(t, "COMMITLOG_KILL_SEED", 1))
	replay := fmt.Sprintf("COMMITLOG_KILL_SEED=%d go test -run TestKillNine -count=1 .", seed)
	if cycles != 50 {
		replay = fmt.Sprintf("COMMITLOG_KILL_SEED=%d COMMITLOG_KILL_CYCLES=%d go test -run TestKillNine -count=1 -timeout 0 .", seed, cycles)
	}
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(seed, 0x6b696c6c))
	rec := histcheck.NewRecorder(histcheck.Config{})
	// PipelinedSends: each producer name is one goroutine driving one
	// Producer, which appends a partition's records in the order they
	// were produced; RequireSeen: every acknowledged record must be in
	// the next final read, at least.
	checkOpts := histcheck.Options{DurableReads: true, PipelinedSends: true, RequireSeen: true}
	var res *histcheck.Result
	for cycle := range cycles {
		where := fmt.Sprintf("cycle %d of %d, seed %d (replay: %s)", cycle, cycles, seed, replay)
		target := killTarget(rng, cycle)
		runKillChild(t, dir, rec, cycle, target, rng.Uint64(), where)
		rec.Crash() // after Wait: all of the child's output is applied
		verifyKilled(t, dir, rec, where)
		res = rec.Check(checkOpts)
		if err := res.Err(); err != nil {
			t.Fatalf("%s: %v", where, err)
		}
	}
	require.NotNil(t, res)
	require.Equal(t, cycles, res.Crashes)
	t.Logf("%s", res)
	t.Logf("%d kill -9 cycles: %d acknowledged records checked, %d records polled, %d commits (%d acknowledged)",
		cycles, res.Acked, res.Polled, res.Commits, res.CommitsOK)
}

// killEnvInt returns the environment variable name as a non-negative
// integer, or def when it is not set.
func killEnvInt(t *testing.T, name string, def int) int {
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

// killTarget returns after how many acknowledged records to kill the
// child of cycle: 0 (at its first line of output, written just before
// Open) one time in ten, a few (topic creation, producer ids, the first
// appends and commits, the creation of __consumer_offsets) one time in
// ten and in the first cycles, and otherwise log-uniformly from 10 to
// 5,000.
func killTarget(rng *rand.Rand, cycle int) int {
	if cycle < 4 {
		return rng.IntN(5)
	}
	switch rng.IntN(10) {
	case 0:
		return 0
	case 1:
		return 1 + rng.IntN(10)
	}
	return int(10 * math.Exp(rng.Float64()*math.Log(500)))
}

// runKillChild runs one child and kills it once rec has target more
// acknowledged records than before.
func runKillChild(t *testing.T, dir string, rec *histcheck.Recorder, cycle, target int, childSeed uint64, where string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestKillNineChild$")
	cmd.Env = append(os.Environ(),
		"COMMITLOG_KILL_CHILD="+dir,
		fmt.Sprintf("COMMITLOG_KILL_CYCLE=%d", cycle),
		fmt.Sprintf("COMMITLOG_KILL_CHILD_SEED=%d", childSeed),
		// Under -race, a race in the child ends it at once, so that the
		// parent sees it exit by itself instead of killing it.
		"GORACE="+strings.TrimSpace(os.Getenv("GORACE")+" halt_on_error=1"))
	w := &killWatcher{d: rec.NewDecoder(), r: rec, at: rec.Acked() + target, reached: make(chan struct{})}
	cmd.Stdout = w
	cmd.Stderr = os.Stderr
	require.NoError(t, cmd.Start(), where)
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stall := time.NewTimer(killStall)
	defer stall.Stop()
	var err error
	select {
	case <-w.reached:
		if kerr := cmd.Process.Signal(syscall.SIGKILL); kerr != nil && !errors.Is(kerr, os.ErrProcessDone) {
			t.Fatalf("%s: %v", where, kerr)
		}
		err = <-exited
	case err = <-exited:
		t.Fatalf("%s: the child exited by itself (%v) before %d acknowledged records", where, err, target)
	case <-stall.C:
		_ = cmd.Process.Signal(syscall.SIGQUIT) // the child prints its goroutines
		<-exited
		t.Fatalf("%s: the child did not reach %d acknowledged records within %v (%d so far)", where, target, killStall, rec.Acked()-(w.at-target))
	}
	if werr := w.error(); werr != nil {
		t.Fatalf("%s: decoding the child's output: %v", where, werr)
	}
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee, where)
	ws, ok := ee.Sys().(syscall.WaitStatus)
	require.True(t, ok, where)
	require.True(t, ws.Signaled() && ws.Signal() == syscall.SIGKILL, "%s: the child ended by itself: %v", where, err)
}

// killWatcher passes a child's output to a Decoder and closes reached
// once the Recorder has at acknowledged records, or the output is
// malformed.
type killWatcher struct {
	d       *histcheck.Decoder
	r       *histcheck.Recorder
	at      int
	once    sync.Once
	reached chan struct{}
	mu      sync.Mutex
	err     error // the first decoding error
}

// Write never fails: exec's Wait reports an exit status before a copying
// error, and a child whose output is no longer read would block.
func (w *killWatcher) Write(p []byte) (int, error) {
	_, err := w.d.Write(p)
	if err != nil {
		w.mu.Lock()
		if w.err == nil {
			w.err = err
		}
		w.mu.Unlock()
	}
	if err != nil || w.r.Acked() >= w.at {
		w.once.Do(func() { close(w.reached) })
	}
	return len(p), nil
}

func (w *killWatcher) error() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

// verifyKilled opens the directory a child was killed in and records its
// state: every partition's records, from its start offset to its end,
// and the group's committed offsets. It runs Log.Check, and checks that
// Close leaves no segment occupying more disk than its size.
func verifyKilled(t *testing.T, dir string, rec *histcheck.Recorder, where string) {
	t.Helper()
	ctx := context.Background()
	l, err := Open(dir, nil)
	require.NoError(t, err, "%s: Open after the kill (a dead process's lock must not block it)", where)
	defer l.Close()
	tp, err := l.Topic(killTopic)
	if err != nil {
		// Killed before the topic was created: nothing may have been
		// acknowledged, which the empty final reads check.
		require.ErrorIs(t, err, ErrUnknownTopic, where)
	}
	for i := range int32(killPartitions) {
		hp := histcheck.Partition{Topic: killTopic, ID: i}
		if tp == nil {
			rec.Final(hp, 0, 0, nil)
			continue
		}
		p, err := tp.Partition(i)
		require.NoError(t, err, where)
		start, end := p.StartOffset(), p.HighWatermark()
		require.Equal(t, p.EndOffset(), end, "%s: partition %d: after recovery every record is durable", where, i)
		reads := make([]histcheck.Read, 0, end-start)
		for r, err := range p.Scan(ctx, start) {
			require.NoError(t, err, "%s: partition %d", where, i)
			reads = append(reads, histcheck.Read{Partition: hp, Offset: r.Offset, Value: killValueID(r.Value)})
		}
		rec.Final(hp, start, end, reads)
	}
	committed := map[int32]int64{}
	d, err := l.DescribeGroup(killGroup)
	if err != nil {
		require.ErrorIs(t, err, ErrUnknownGroup, where) // no commit yet
	}
	for _, pl := range d.Partitions {
		if pl.Topic == killTopic && pl.Committed >= 0 {
			committed[pl.Partition] = pl.Committed
		}
	}
	for i := range int32(killPartitions) {
		off, ok := committed[i]
		rec.FinalCommit(killGroup, histcheck.Partition{Topic: killTopic, ID: i}, off, ok)
	}
	require.NoError(t, l.Check(ctx), where)
	require.NoError(t, l.Close(), where)
	var logs []string
	for _, pattern := range []string{killTopic + "-*", "__consumer_offsets-*"} {
		m, err := filepath.Glob(filepath.Join(dir, pattern, "*"+logSuffix))
		require.NoError(t, err)
		logs = append(logs, m...)
	}
	for _, path := range logs {
		fi, err := os.Stat(path)
		require.NoError(t, err)
		// Whole blocks up to the size, and the blocks of the file's
		// extent tree: ext4 counts them once the extents no longer fit
		// in the inode (more than 4: files written concurrently
		// fragment), one per 340 extents at worst. Space reserved ahead
		// of the data is at least reserveMinStep, unless the segment is
		// nearly full.
		blocks := (fi.Size() + 4095) / 4096
		require.LessOrEqual(t, diskBytes(t, path), (blocks+1+blocks/340)*4096,
			"%s: %s (%d bytes) still occupies space reserved past its data after Close", where, path, fi.Size())
	}
}
