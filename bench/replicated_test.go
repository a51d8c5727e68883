package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestReplicatedSystemsReplicate runs R1's and R3lat's patterns at a small
// size on every system that replicates: every acknowledged record is on at
// least replicatedMinInSync replicas when its append returns, on all of
// them soon after, and readable in order from the leader.
func TestReplicatedSystemsReplicate(t *testing.T) {
	ran := 0
	for _, sys := range systems {
		if sys.replicated == nil {
			continue
		}
		ran++
		for _, durable := range []bool{false, true} {
			name := sys.name + "/no-fsync"
			if durable {
				name = sys.name + "/durable"
			}
			t.Run(name, func(t *testing.T) {
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
				defer cancel()
				st, err := sys.replicated(ctx, t.TempDir(), storeOptions{durable: durable, replicas: 3})
				require.NoError(t, err)
				defer func() { require.NoError(t, st.close()) }()
				src := newRecordSource(11, 100, false)
				var want [][]byte
				if durable {
					for range 20 {
						r := src.record()
						want = append(want, r.value)
						require.NoError(t, st.appendOne(ctx, r))
						requireOnQuorum(t, ctx, st, int64(len(want)))
					}
				} else {
					for range 3 {
						batch := src.records(500)
						for _, r := range batch {
							want = append(want, bytes.Clone(r.value))
						}
						require.NoError(t, st.appendBatch(ctx, batch))
						requireOnQuorum(t, ctx, st, int64(len(want)))
					}
					require.NoError(t, st.flush(ctx))
				}
				// The replicas outside the quorum catch up.
				n := int64(len(want))
				require.Eventually(t, func() bool {
					counts, err := st.(replicaCounter).replicaRecords(ctx)
					require.NoError(t, err)
					for _, c := range counts {
						if c != n {
							return false
						}
					}
					return true
				}, 20*time.Second, 10*time.Millisecond, "every replica holds the %d records", n)
				var got [][]byte
				read, err := st.read(ctx, n, func(v []byte) { got = append(got, bytes.Clone(v)) })
				require.NoError(t, err)
				require.Equal(t, n, read)
				for i := range want {
					require.Equal(t, want[i], got[i], "record %d", i)
				}
			})
		}
	}
	require.Equal(t, 2, ran, "commitlog and nats replicate")
}

// requireOnQuorum checks that the n records appended, all acknowledged,
// are in the logs of at least replicatedMinInSync of the three replicas,
// and that no replica stores more.
func requireOnQuorum(t *testing.T, ctx context.Context, st store, n int64) {
	t.Helper()
	rc := st.(replicaCounter)
	have, err := rc.holdingAcknowledged(ctx)
	require.NoError(t, err)
	require.GreaterOrEqual(t, have, replicatedMinInSync, "replicas holding the %d acknowledged records", n)
	require.LessOrEqual(t, have, 3)
	counts, err := rc.replicaRecords(ctx)
	require.NoError(t, err)
	require.Len(t, counts, 3)
	for _, c := range counts {
		require.LessOrEqual(t, c, n)
	}
	require.Contains(t, counts, n, "the leader stores every acknowledged record")
}

// TestReplicatedWorkloadsSkipTheOthers checks that each system either
// replicates or says why not, and that a replicated run of one that does
// not reports that reason without opening it.
func TestReplicatedWorkloadsSkipTheOthers(t *testing.T) {
	r1, ok := workloadByName("R1")
	require.True(t, ok)
	for _, sys := range systems {
		if sys.client {
			require.False(t, sys.runs(r1), sys.name)
			continue
		}
		require.True(t, sys.runs(r1), sys.name)
		require.Equal(t, sys.replicated == nil, sys.noReplication != "", "%s: replicated or a reason, not both", sys.name)
		require.Equal(t, sys.replicated != nil, sys.replicatedUsage != "", sys.name)
		if sys.replicated != nil {
			continue
		}
		dir := filepath.Join(t.TempDir(), "001")
		spec, err := json.Marshal(task{System: sys.name, Workload: "R1", Dir: dir, Scale: quickScale, ResultPath: dir + ".result.json"})
		require.NoError(t, err)
		require.NoError(t, runChild(string(spec)))
		data, err := os.ReadFile(dir + ".result.json")
		require.NoError(t, err)
		var res result
		require.NoError(t, json.Unmarshal(data, &res))
		require.Equal(t, "no replication: "+sys.noReplication, res.Skipped)
		require.Zero(t, res.Records)
		_, err = os.Stat(dir)
		require.True(t, os.IsNotExist(err), "%s was opened", sys.name)
	}
}
