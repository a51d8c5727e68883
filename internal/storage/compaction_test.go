package storage

import (
	"context"
	"math/rand/v2"
	"testing"
	"testing/synctest"
	"time"

	"github.com/commitlog-go/commitlog/internal/vfs"
	"github.com/stretchr/testify/require"
)

// While appends run, a pass rests after each slice of work so that it
// works CompactionDutyCycle of the time; with no appends it never rests.
func TestCompactionPacesItselfWhileAppendsRun(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		cfg := smallConfig(vfs.NewMem())
		cfg.Compacted, cfg.RetentionDeletes, cfg.DeleteRetention = true, false, time.Hour
		cfg.CompactionDutyCycle = 0.2
		// The Log sums the ends of all its partitions; this one is all.
		var p *PartitionLog
		cfg.AppendedEnds = func() int64 { return p.EndOffset() }
		p = openPartitionLog(t, cfg, true)
		rng := rand.New(rand.NewPCG(1, 2))
		appendKeyed := func() error {
			_, err := p.AppendBatch(ctx, buildBatch(t, rng, 1, 1), AppendOptions{Expected: -1})
			return err
		}
		cl := &cleaner{p: p, ctx: ctx, paceStart: time.Now(), paceEnds: p.appendedEnds()}

		time.Sleep(10 * time.Millisecond) // a slice of work, in virtual time
		start := time.Now()
		require.NoError(t, cl.pace(pacingSlice))
		require.Zero(t, time.Since(start), "nothing appended: no rest")

		time.Sleep(10 * time.Millisecond)
		require.NoError(t, appendKeyed())
		start = time.Now()
		require.NoError(t, cl.pace(pacingSlice/2))
		require.Zero(t, time.Since(start), "rests only after a whole slice")
		require.NoError(t, cl.pace(pacingSlice/2))
		require.Equal(t, 40*time.Millisecond, time.Since(start), "10 ms of work at a 0.2 duty cycle rests 40 ms")

		cancelled, cancel := context.WithCancel(ctx)
		cl.ctx = cancelled
		time.Sleep(10 * time.Millisecond)
		require.NoError(t, appendKeyed())
		cancel()
		require.ErrorIs(t, cl.pace(pacingSlice), context.Canceled, "a rest ends with the pass's context")
		require.NoError(t, p.Close())
	})
}
