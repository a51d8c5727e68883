package commitlog

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/commitlog-go/commitlog/internal/vfs"
	"github.com/stretchr/testify/require"
)

// TestEveryCrashStateOfASmallTail enumerates every crash state of a small
// unflushed tail, ALICE-style: a log is checkpointed, then written under
// SyncNever until about a dozen file operations (data writes, index writes,
// a roll's creates and directory entries) are unsynced, and every subset of
// them is tried as the set that reached the disk. Each state must open,
// pass Check, hold every batch that was durable, and hold nothing but a
// prefix of what was written. (A roll adds a dozen operations more than can
// be enumerated here; TestCrashAtEveryPoint covers rolls at random.)
func TestEveryCrashStateOfASmallTail(t *testing.T) {
	ctx := context.Background()
	for _, tail := range []int{3, 5} {
		t.Run(fmt.Sprintf("tail=%d", tail), func(t *testing.T) {
			mem := vfs.NewMem()
			opts := testOptions(mem)
			opts.Sync = SyncNever
			l, err := Open(testDir, opts)
			require.NoError(t, err)
			cfg := smallTopic
			cfg.IndexIntervalBytes = 600
			tp, err := l.CreateTopic(ctx, "crash", cfg)
			require.NoError(t, err)
			p, _ := tp.Partition(0)
			rng := rand.New(rand.NewPCG(1, uint64(tail)))
			var written []batchSpec
			durable := map[int]AppendResult{}
			for i := 0; i < 10+tail; i++ {
				b := makeBatch(rng, i, 1+rng.IntN(3), 400)
				res, err := p.Append(ctx, b.recs)
				require.NoError(t, err)
				written = append(written, b)
				if i < 10 {
					durable[b.id] = res
				}
				if i == 9 {
					require.NoError(t, p.checkpoint(ctx))
				}
			}
			n := mem.UnsyncedOps()
			require.LessOrEqual(t, n, 10, "keep the state space small")
			require.GreaterOrEqual(t, n, tail)
			for mask := 0; mask < 1<<n; mask++ {
				for _, tear := range []bool{false, true} {
					keep := func(i int) bool { return mask&(1<<i) != 0 }
					clone := mem.CrashClone(vfs.CrashOptions{Keep: keep, Tear: tear, Seed: int64(mask)})
					checkRecovered(t, clone, written, durable, false, fmt.Sprintf("%d unsynced operations, surviving set %b, torn %v", n, mask, tear))
				}
			}
			t.Logf("%d unsynced operations: %d crash states checked", n, 2<<n)
			require.NoError(t, l.Close())
		})
	}
}
