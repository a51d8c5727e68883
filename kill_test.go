package commitlog

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
)

var killCycles = flag.Int("killcycles", 12, "kill -9 cycles for TestKillNine")

// TestKillNine runs a writer in a child process on a real directory and
// kills it with SIGKILL after a random number of acknowledged appends —
// possibly in the middle of an append, a roll or a checkpoint — then
// reopens the directory and checks that every acknowledged batch is
// present at its offsets with its values, and that Check passes. Killing
// keeps the page cache, so this tests the process-crash paths: the lock of
// a dead process, half-done appends, rolls and checkpoint replacement.
// Power loss is what TestCrashAtEveryPoint covers. Odd cycles write under
// SyncNever, whose segments reserve space ahead of their data: the Close
// after each cycle gives back what the killed writer reserved. Every 50th
// append of a writer is a batch large enough to be written in two writes
// (records, then header).
func TestKillNine(t *testing.T) {
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(11, uint64(*killCycles)))
	acked := map[string]ackedBatch{} // first value -> batch
	for cycle := 0; cycle < *killCycles; cycle++ {
		cmd := exec.Command(os.Args[0], "-test.run=^TestKillNineChild$")
		cmd.Env = append(os.Environ(), "COMMITLOG_KILL_CHILD="+dir, fmt.Sprintf("COMMITLOG_KILL_CYCLE=%d", cycle))
		stdout, err := cmd.StdoutPipe()
		require.NoError(t, err)
		cmd.Stderr = os.Stderr
		require.NoError(t, cmd.Start())
		killAfter := 1 + rng.IntN(400)
		sc := bufio.NewScanner(stdout)
		n := 0
		for sc.Scan() {
			line := sc.Text()
			if !strings.HasPrefix(line, "ack ") {
				continue
			}
			b, err := parseAck(line)
			require.NoError(t, err, line)
			acked[b.first] = b
			if n++; n == killAfter {
				require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
				break
			}
		}
		_ = cmd.Wait() // killed: an error is expected
		verifyKilled(t, dir, acked, cycle)
	}
	t.Logf("%d kill -9 cycles, %d acknowledged batches verified", *killCycles, len(acked))
}

type ackedBatch struct {
	partition        int32
	base, last       int64
	first, lastValue string
}

// parseAck parses "ack <partition> <base> <last> <first value> <last value>".
func parseAck(line string) (ackedBatch, error) {
	f := strings.Fields(line)
	if len(f) != 6 {
		return ackedBatch{}, fmt.Errorf("malformed ack line")
	}
	p, err1 := strconv.Atoi(f[1])
	base, err2 := strconv.ParseInt(f[2], 10, 64)
	last, err3 := strconv.ParseInt(f[3], 10, 64)
	if err1 != nil || err2 != nil || err3 != nil {
		return ackedBatch{}, fmt.Errorf("malformed numbers")
	}
	return ackedBatch{partition: int32(p), base: base, last: last, first: f[4], lastValue: f[5]}, nil
}

func verifyKilled(t *testing.T, dir string, acked map[string]ackedBatch, cycle int) {
	t.Helper()
	ctx := context.Background()
	l, err := Open(dir, nil)
	require.NoError(t, err, "cycle %d: the lock of a killed process must not block Open", cycle)
	defer l.Close()
	tp, err := l.Topic("kill")
	if err != nil {
		require.Empty(t, acked, "cycle %d", cycle)
		return
	}
	for _, b := range acked {
		p, _ := tp.Partition(b.partition)
		recs, err := p.Read(ctx, b.base, 1) // the whole batch at base, and no more
		require.NoError(t, err, "cycle %d: batch %s", cycle, b.first)
		require.GreaterOrEqual(t, len(recs), int(b.last-b.base+1), "cycle %d: batch %s cut short", cycle, b.first)
		require.Equal(t, b.first, string(recs[0].Value), "cycle %d: wrong record at offset %d", cycle, b.base)
		require.Equal(t, b.lastValue, string(recs[b.last-b.base].Value), "cycle %d: wrong record at offset %d", cycle, b.last)
	}
	require.NoError(t, l.Check(ctx), "cycle %d", cycle)
	require.NoError(t, l.Close())
	logs, err := filepath.Glob(filepath.Join(dir, "kill-*", "*"+logSuffix))
	require.NoError(t, err)
	for _, path := range logs {
		fi, err := os.Stat(path)
		require.NoError(t, err)
		require.LessOrEqual(t, diskBytes(t, path), fi.Size()+4096,
			"cycle %d: %s still occupies space reserved past its data after Close", cycle, path)
	}
}

// TestKillNineChild is the writer TestKillNine runs and kills.
func TestKillNineChild(t *testing.T) {
	dir := os.Getenv("COMMITLOG_KILL_CHILD")
	if dir == "" {
		return // run as a child of TestKillNine only
	}
	cycle, _ := strconv.Atoi(os.Getenv("COMMITLOG_KILL_CYCLE"))
	ctx := context.Background()
	opts := &Options{CheckpointInterval: 5 * 1e6} // 5ms: many checkpoints to die in
	if cycle%2 == 1 {
		opts.Sync = SyncNever // reserved space ahead of the data instead of prepared zeros
	}
	l, err := Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	tp, err := l.Topic("kill")
	if err != nil {
		if tp, err = l.CreateTopic(ctx, "kill", TopicConfig{Partitions: 3, SegmentBytes: 64 << 10}); err != nil {
			t.Fatal(err)
		}
	}
	out := bufio.NewWriter(os.Stdout)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for w := 0; w < 3; w++ {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(cycle), uint64(w)))
			p, _ := tp.Partition(int32(w))
			for i := 0; ; i++ {
				n, large := 1+rng.IntN(20), i%50 == 49 // 300 KB: a batch whose CRC is computed aside
				if large {
					n = 300
				}
				recs := make([]Record, n)
				for j := range recs {
					v := fmt.Sprintf("c%d-w%d-%d-%d-", cycle, w, i, j)
					pad := rng.IntN(200)
					if large {
						pad = 1000
					}
					recs[j].Value = []byte(v + strings.Repeat("x", pad))
				}
				res, err := p.Append(ctx, recs)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				fmt.Fprintf(out, "ack %d %d %d %s %s\n", w, res.BaseOffset, res.LastOffset, recs[0].Value, recs[len(recs)-1].Value)
				out.Flush()
				mu.Unlock()
			}
		})
	}
	wg.Wait()
}
