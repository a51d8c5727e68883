package commitlog

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/commitlog-go/commitlog/internal/vfs"
	"github.com/stretchr/testify/require"
)

// crashWorkload appends batches to a small-segment topic under the given
// sync policy, with explicit checkpoints, a clean close and reopen in the
// middle, and rolls every few batches. It records every attempted batch,
// every acknowledged one and every one known durable in h. With writers >
// 1, that many goroutines append concurrently in the second half, so that
// group commit leaves many batches unsynced at once. It stops at the first
// error (a crash test has none; fault tests inject them).
func crashWorkload(fs vfs.FS, h *history, batches int, policy SyncPolicy, writers int) error {
	ctx := context.Background()
	opts := testOptions(fs)
	opts.Sync = policy
	l, err := Open(testDir, opts)
	if err != nil {
		return err
	}
	defer func() {
		if l != nil {
			l.Close()
		}
	}()
	tp, err := l.CreateTopic(ctx, "crash", smallTopic)
	if err != nil {
		return err
	}
	p, _ := tp.Partition(0)
	rng := rand.New(rand.NewPCG(7, 7))
	appendOne := func(b batchSpec) error {
		h.attempt(b)
		res, err := p.Append(ctx, b.recs)
		if err != nil {
			return err
		}
		h.ack(b.id, res, policy == SyncAlways)
		return nil
	}
	for i := 0; i < batches; i++ {
		if i == batches/2 {
			if err := l.Close(); err != nil {
				return err
			}
			h.markDurable()
			if l, err = Open(testDir, opts); err != nil {
				l = nil
				return err
			}
			p = mustPartitionErr(l, "crash")
			if p == nil {
				return fmt.Errorf("topic lost across reopen")
			}
			if writers > 1 {
				// The second half: concurrent writers, batch ids by writer.
				var wg sync.WaitGroup
				errs := make(chan error, writers)
				specs := make([][]batchSpec, writers)
				for j := i; j < batches; j++ {
					specs[j%writers] = append(specs[j%writers], makeBatch(rng, j, 1+rng.IntN(4), 300))
				}
				for w := 0; w < writers; w++ {
					wg.Go(func() {
						for _, b := range specs[w] {
							if err := appendOne(b); err != nil {
								errs <- err
								return
							}
						}
					})
				}
				wg.Wait()
				close(errs)
				if err := <-errs; err != nil {
					return err
				}
				break
			}
		}
		if err := appendOne(makeBatch(rng, i, 1+rng.IntN(4), 300)); err != nil {
			return err
		}
		if i%7 == 3 {
			if err := p.checkpoint(ctx); err != nil {
				return err
			}
			h.markDurable()
		}
	}
	if err := l.Close(); err != nil {
		return err
	}
	h.markDurable()
	return nil
}

func mustPartitionErr(l *Log, topic string) *Partition {
	tp, err := l.Topic(topic)
	if err != nil {
		return nil
	}
	p, _ := tp.Partition(0)
	return p
}

// TestCrashAtEveryPoint runs the workload once per mutating file operation
// k, crashes the file system just before operation k (in several ways:
// keeping no unsynced write, some, all, torn at sector boundaries), reopens
// the crashed file system and checks that every acknowledged record is
// present at its offset with its bytes, that the log is a prefix of what
// was written, that Check passes, and that the recovered log accepts
// appends and recovers identically again.
// crashSeeds repeats the crash test with other random seeds for the crash
// clones: go test -run TestCrashAtEveryPoint -crashseeds=50 explores more
// crash states than the default run in CI.
var crashSeeds = flag.Int("crashseeds", 1, "rounds of crash-clone seeds for TestCrashAtEveryPoint")

func TestCrashAtEveryPoint(t *testing.T) {
	for _, tc := range []struct {
		name    string
		policy  SyncPolicy
		writers int
	}{
		{"SyncAlways", SyncAlways, 1},
		{"SyncAlways/concurrent", SyncAlways, 4},
		{"SyncNever", SyncNever, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for round := 0; round < *crashSeeds; round++ {
				testCrashAtEveryPoint(t, tc.policy, tc.writers, int64(round))
			}
		})
	}
}

func testCrashAtEveryPoint(t *testing.T, policy SyncPolicy, writers int, round int64) {
	const batches = 24
	keeps := []vfs.CrashOptions{
		{KeepUnsynced: 0},
		{KeepUnsynced: 0.5, Tear: true},
		{KeepUnsynced: 1},
		{KeepUnsynced: 0.8, Tear: true},
	}
	// A dry run counts the mutating operations (with concurrent writers the
	// count varies from run to run, so the loop runs until no crash point
	// is reached).
	counter := vfs.OnIndex(-1, vfs.Op.Mutating, nil)
	require.NoError(t, crashWorkload(vfs.WithInjector(vfs.NewMem(), counter, vfs.InjectOptions{}), newHistory(), batches, policy, writers))
	require.Greater(t, counter.Count(), int64(100), "the workload should have many crash points")

	states := 0
	for k := 0; ; k++ {
		mem := vfs.NewMem()
		h := newHistory()
		var (
			mu      sync.Mutex
			clones  []*vfs.MemFS
			used    []vfs.CrashOptions
			durable map[int]AppendResult
			ops     int
		)
		inj := vfs.InjectorFunc(func(op vfs.Op, path string) error {
			if !op.Mutating() {
				return nil
			}
			mu.Lock()
			defer mu.Unlock()
			if ops == k {
				durable = h.snapshotDurable()
				for i, c := range keeps {
					c.Seed = round<<32 | int64(k*10+i)
					clones = append(clones, mem.CrashClone(c))
					used = append(used, c)
				}
			}
			ops++
			return nil
		})
		require.NoError(t, crashWorkload(vfs.WithInjector(mem, inj, vfs.InjectOptions{}), h, batches, policy, writers))
		if clones == nil {
			require.Greater(t, k, 100)
			break
		}
		attempted := h.attemptedByID()
		for i, clone := range clones {
			states++
			checkRecovered(t, clone, attempted, durable, writers > 1, fmt.Sprintf("crash before op %d with %+v", k, used[i]))
		}
	}
	t.Logf("%d crash states recovered and checked", states)
}

// checkRecovered opens a crashed file system and checks it; see
// TestCrashAtEveryPoint.
func checkRecovered(t *testing.T, fs *vfs.MemFS, attempted []batchSpec, acked map[int]AppendResult, concurrent bool, what string) {
	t.Helper()
	ctx := context.Background()
	l, err := Open(testDir, testOptions(fs))
	require.NoError(t, err, what)
	tp, err := l.Topic("crash")
	if err != nil {
		// The topic's creation was not durable yet: nothing can have been
		// acknowledged.
		require.ErrorIs(t, err, ErrUnknownTopic, what)
		require.Empty(t, acked, what)
		require.NoError(t, l.Close())
		return
	}
	p, _ := tp.Partition(0)
	t.Run("", func(t *testing.T) {
		defer func() {
			if t.Failed() {
				t.Log(what)
			}
		}()
		if concurrent {
			verifyConcurrent(t, p, attempted, acked)
		} else {
			verifyPartition(t, p, attempted, acked)
		}
		require.NoError(t, l.Check(ctx))
		end := p.EndOffset()
		res, err := p.Append(ctx, []Record{{Value: []byte("after recovery")}})
		require.NoError(t, err)
		require.Equal(t, end, res.BaseOffset)
	})
	require.NoError(t, l.Close())
	// Recovery is idempotent: reopening finds the same log.
	l, err = Open(testDir, testOptions(fs))
	require.NoError(t, err, what)
	p = mustPartitionErr(l, "crash")
	require.NotNil(t, p)
	var last Record
	for r, err := range p.Scan(ctx, 0) {
		require.NoError(t, err)
		last = r.Clone()
	}
	require.Equal(t, "after recovery", string(last.Value), what)
	require.NoError(t, l.Check(ctx), what)
	require.NoError(t, l.Close())
}
