package main

import (
	"bytes"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestPercentilesNearestRank(t *testing.T) {
	var ds []time.Duration
	for i := 100; i >= 1; i-- {
		ds = append(ds, time.Duration(i)*time.Microsecond)
	}
	p50, p99 := percentiles(ds)
	require.Equal(t, 50.0, p50)
	require.Equal(t, 99.0, p99)

	p50, p99 = percentiles([]time.Duration{7 * time.Microsecond})
	require.Equal(t, 7.0, p50)
	require.Equal(t, 7.0, p99)

	p50, p99 = percentiles(nil)
	require.Zero(t, p50)
	require.Zero(t, p99)
}

func TestRecordSourceBatchesDoNotOverlap(t *testing.T) {
	for _, size := range []int{100, 1024} {
		src := newRecordSource(1, size, false)
		for range 5 {
			batch := src.records(1000)
			require.Len(t, batch, 1000)
			seen := map[*byte]bool{}
			for _, r := range batch {
				require.Len(t, r.value, size)
				require.Len(t, r.key, keySize)
				require.False(t, seen[&r.value[0]], "two values of one batch start at the same byte")
				seen[&r.value[0]] = true
			}
			// Consecutive values are disjoint windows of the pool.
			for i := 1; i < len(batch); i++ {
				a, b := batch[i-1].value, batch[i].value
				require.False(t, bytes.Equal(a, b))
			}
		}
	}
}

func TestJSONDocumentsCompress(t *testing.T) {
	src := newRecordSource(1, 0, true)
	var total int
	for range 100 {
		r := src.record()
		require.True(t, bytes.HasPrefix(r.value, []byte(`{"id":`)))
		require.True(t, bytes.HasSuffix(r.value, []byte(`"}`)))
		total += len(r.value)
	}
	require.Greater(t, total/100, 100)
}

func TestSelectWorkloads(t *testing.T) {
	all, err := selectWorkloads("")
	require.NoError(t, err)
	require.Len(t, all, len(workloads))

	ws, err := selectWorkloads("w3lat, W1")
	require.NoError(t, err)
	require.Equal(t, []string{"W1", "W3lat"}, names(ws))

	ws, err = selectWorkloads("W4")
	require.NoError(t, err)
	require.Equal(t, []string{"W4warm", "W4cold"}, names(ws))

	ws, err = selectWorkloads("W7")
	require.NoError(t, err)
	for _, w := range ws {
		require.True(t, w.Client, w.Name)
	}

	ws, err = selectWorkloads("r")
	require.NoError(t, err)
	require.Equal(t, []string{"R1", "R3lat"}, names(ws))

	ws, err = selectWorkloads("R3lat,W1")
	require.NoError(t, err)
	require.Equal(t, []string{"W1", "R3lat"}, names(ws))

	_, err = selectWorkloads("W9")
	require.ErrorContains(t, err, `unknown workload "W9"`)
}

func names(ws []workload) []string {
	var out []string
	for _, w := range ws {
		out = append(out, w.Name)
	}
	return out
}

func TestEveryReadHasItsWriteBeforeIt(t *testing.T) {
	for i, w := range workloads {
		if w.Kind != kindRead {
			continue
		}
		found := false
		for _, before := range workloads[:i] {
			if before.Name == w.Reads {
				require.Equal(t, kindWrite, before.Kind)
				require.Equal(t, w.Client, before.Client, w.Name)
				found = true
			}
		}
		require.True(t, found, "%s reads %s, which must come before it", w.Name, w.Reads)
	}
}

// TestReplicatedWorkloads checks what the replicated runs are: R1 is W1
// and R3lat is W3lat, on three replicas, run by the peers too.
func TestReplicatedWorkloads(t *testing.T) {
	for single, replicated := range map[string]string{"W1": "R1", "W3lat": "R3lat"} {
		w, ok := workloadByName(single)
		require.True(t, ok)
		r, ok := workloadByName(replicated)
		require.True(t, ok)
		require.Equal(t, 3, r.Replicas, r.Name)
		require.Zero(t, w.Replicas, w.Name)
		w.Name, w.Title, w.Replicas = r.Name, r.Title, r.Replicas
		require.Equal(t, w, r)
	}
	for _, w := range workloads {
		if w.Replicas > 0 {
			require.Contains(t, []string{"R1", "R3lat"}, w.Name)
		}
	}
}

func BenchmarkRecordSource(b *testing.B) {
	src := newRecordSource(1, 100, false)
	var sink int
	for i := 0; i < b.N; i++ {
		for _, r := range src.records(1000) {
			sink += len(r.value) + len(r.key)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*1000), "ns/record")
	_ = sink
}
