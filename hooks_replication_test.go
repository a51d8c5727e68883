package commitlog_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/commitlog-go/commitlog"
	"github.com/stretchr/testify/require"
)

// appendRecorder is an AppendHook recording every call. check, when
// set, is called with each.
type appendRecorder struct {
	mu      sync.Mutex
	appends []commitlog.AppendInfo
	check   func(commitlog.AppendInfo)
}

func (r *appendRecorder) OnAppend(i commitlog.AppendInfo) {
	r.mu.Lock()
	r.appends = append(r.appends, i)
	check := r.check
	r.mu.Unlock()
	if check != nil {
		check(i)
	}
}

// A follower's appends of its leader's batches reach the AppendHook too,
// marked Follower, with the leader's offsets.
func TestAppendHookSeesFollowerAppends(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		leader, follower := &appendRecorder{}, &appendRecorder{}
		c := newTestCluster(t, commitlog.Options{}, 1, 2)
		// Each node again, with a hook of its own.
		for id, h := range map[commitlog.NodeID]commitlog.Hook{1: leader, 2: follower} {
			c.stop(id)
			c.opts.Hooks = []commitlog.Hook{h}
			c.start(id)
		}
		_, err := c.logs[1].CreateTopic(ctx, "t", commitlog.TopicConfig{ReplicationFactor: 2, Replicas: [][]commitlog.NodeID{{1, 2}}})
		require.NoError(t, err)
		synctest.Wait()
		require.Equal(t, commitlog.NodeID(1), c.leader("t", 0))
		p := c.partition(1, "t", 0)
		// The leader's appends are reported once its replica lock is
		// released: a hook may call ReplicaStatus, which takes it (under
		// the lock, this call would never return).
		var leaderChecked int
		leader.check = func(i commitlog.AppendInfo) {
			if i.Topic != "t" {
				return
			}
			_, err := c.logs[1].ReplicaStatus("t", 0)
			require.NoError(t, err)
			leaderChecked++
		}
		for i := range 5 {
			_, err := p.Append(ctx, []commitlog.Record{{Value: fmt.Appendf(nil, "v%d", i)}})
			require.NoError(t, err)
		}
		settle(time.Second)

		var leaderRecords int
		for _, a := range leader.appends {
			if a.Topic == "t" {
				require.False(t, a.Follower)
				leaderRecords += a.Records
			}
		}
		require.Equal(t, 5, leaderRecords)
		require.Equal(t, 5, leaderChecked)
		next := int64(0)
		for _, a := range follower.appends {
			if a.Topic != "t" {
				continue
			}
			require.True(t, a.Follower, "%+v", a)
			require.Equal(t, next, a.BaseOffset, "the follower appends the leader's batches in order")
			require.Equal(t, a.Records, int(a.LastOffset-a.BaseOffset+1))
			require.Equal(t, a.Records, a.Batches, "one record per batch")
			next = a.LastOffset + 1
		}
		require.Equal(t, int64(5), next, "every batch reached the follower")
	})
}
