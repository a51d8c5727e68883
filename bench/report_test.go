package main

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestSummariseMedianAndSpread(t *testing.T) {
	ms := []measurement{
		{result: result{Records: 100, Bytes: 3e6, Seconds: 1}},
		{result: result{Records: 100, Bytes: 1e6, Seconds: 1}},
		{result: result{Records: 100, Bytes: 2e6, Seconds: 1, Capped: true}},
	}
	s := summarise(ms, metricOf(workloads[0]))
	require.Equal(t, 2.0, s.median)
	require.Equal(t, 1.0, s.lo)
	require.Equal(t, 3.0, s.hi)
	require.Equal(t, 1, s.capped)
	require.Equal(t, int64(100), s.cappedRecords)
}

// TestMarkdownTargets checks the limits and targets tables against
// hand-computed figures: W3 and W4cold against the limits measured for them,
// W1 at 2× the best peer but 0.4× the plain writes timed in its process,
// W2 (which timed none) at 1.0× the parent's write bandwidth, W3lat at
// 1.11× the bare fdatasync timed in its own process (1.05× the one the
// parent timed, which the verdict does not use), W5 inside its bounds, W6
// no faster than the single durable rate and below a peer.
func TestMarkdownTargets(t *testing.T) {
	w := func(name string) workload { w, _ := workloadByName(name); return w }
	r := &runResults{
		plan:   runPlan{scale: fullScale, reps: 1, workloads: []workload{w("W1"), w("W2"), w("W3"), w("W3lat"), w("W4cold"), w("W5"), w("W6")}},
		limits: machineLimits{MemcpyMBps: 10000, WriteMBps: 2000, FsyncP50: 100, FsyncP99: 200, DurableBatchRate: 4e6, ColdReadMBps: 1250},
		runs: map[string]map[string][]measurement{
			"commitlog": {
				"W1":     {{result: result{Records: 1e6, Bytes: 1000e6, Seconds: 1, PeakRSS: 40 << 20, BareWriteMBps: 2500}}},
				"W2":     {{result: result{Records: 1e6, Bytes: 1000e6, Seconds: 0.5}}},
				"W3":     {{result: result{Records: 1e6, Bytes: 116e6, Seconds: 0.5}}},
				"W3lat":  {{result: result{Records: 2000, Seconds: 0.21, P50: 105, P99: 150, BareP50: 95, BareP99: 140}}},
				"W4cold": {{result: result{Records: 1e6, Bytes: 100e6, Seconds: 0.1, Open: 0.01}}},
				"W5":     {{result: result{Records: 30000, Seconds: 3, P50: 8, P99: 60}}},
				"W6":     {{result: result{Records: 28572, Seconds: 3}}},
			},
			"bbolt": {
				"W4cold": {{result: result{Records: 1e6, Bytes: 100e6, Seconds: 0.05, Open: 1}}},
			},
			"pebble": {
				"W1": {{result: result{Records: 1e6, Bytes: 500e6, Seconds: 1}}},
				"W5": {{result: result{Skipped: errNoTail.Error()}}},
				"W6": {{result: result{Records: 30000, Seconds: 3}}},
			},
		},
	}
	md := r.markdown()
	for _, want := range []string{
		"| append batches of 1000 × 116 B (keys and values, no format) to a new file, one write + fdatasync each | 4,000,000 records/s |",
		"| sequential 1 MiB reads of a 110.6 MiB file not in the page cache | 1,250 MB/s |",
		// W3 against the bare durable batches, W4cold against the cold read.
		// W1 against the plain writes timed in its own process, W2 (which
		// timed none) against the parent's.
		"| *commitlog ÷ machine limit* | 0.40× | 1.00× | 0.50× | 1.11× | 0.80× | | 1.00× |",
		"| W1 ≥ 1.5× the best peer | 1,000 vs pebble 500 MB/s: 2.00× | yes |",
		"| W1 ≥ 0.7× plain writes of the same bytes into a new file, timed in the same processes | 1,000 vs 2,500 MB/s: 0.40× | **no** |",
		"| W2 ≥ 0.9× new-file write bandwidth | 2,000 vs 2,000 MB/s: 1.00× | yes |",
		"| W3lat p50 ≤ 1.1× bare fdatasync p50 | 105 µs vs 95.0 µs: 1.11× | **no** |",
		"| commitlog | 105 | 105–105 | 150 |  | 95.0 / 140 | 1.11× |",
		"| W4cold ≥ 1.0× the best peer | 1,000 vs bbolt 2,000 MB/s: 0.50× | **no** |",
		"| W4cold ≥ 1.0× the best peer, counting the time to open | 909 vs bbolt 95.2 MB/s: 9.55× | yes |",
		"| W5 p50 ≤ 20 µs | 8.00 µs | yes |",
		"| W6 ≥ 20× the single-goroutine durable rate | 9,524 vs 9,524 records/s: 1.0× | **no** |",
		"| W6 ≥ every peer | 9,524 vs pebble 10,000 records/s | **no** |",
		"| W1 peak RSS ≤ 64 MiB | 40.0 MiB | yes |",
		"| pebble | n/a: " + errNoTail.Error() + " |",
	} {
		require.Contains(t, md, want)
	}
	require.NotContains(t, md, "Failed runs")
}

func TestNum(t *testing.T) {
	for v, want := range map[float64]string{
		1234567: "1,234,567", 999.6: "1,000", 12.34: "12.3", 1.234: "1.23", -4321: "-4,321",
	} {
		require.Equal(t, want, num(v), "%v", v)
	}
	require.True(t, strings.HasPrefix(formatBytes(3<<20), "3.0 MiB"))
}

// TestMarkdownReplicated checks the replicated workloads' columns, cells
// and tables: commitlog against NATS (the one peer that replicates),
// bbolt skipped with its reason, a capped NATS run, and no target.
func TestMarkdownReplicated(t *testing.T) {
	w := func(name string) workload { w, ok := workloadByName(name); require.True(t, ok, name); return w }
	bbolt, _ := systemByName("bbolt")
	skip := result{Skipped: bbolt.skipNoReplication()}
	r := &runResults{
		plan:   runPlan{scale: fullScale, reps: 1, workloads: []workload{w("W5"), w("R1"), w("R3lat")}},
		limits: machineLimits{MemcpyMBps: 10000, WriteMBps: 2000, FsyncP50: 100, FsyncP99: 200, DurableBatchRate: 4e6, ColdReadMBps: 1250},
		runs: map[string]map[string][]measurement{
			"commitlog": {
				"W5":    {{result: result{Records: 30000, Seconds: 3, P50: 8, P99: 60}}},
				"R1":    {{result: result{Records: 1e6, Bytes: 116e6, Seconds: 2, BareWriteMBps: 2320}}},
				"R3lat": {{result: result{Records: 2000, Seconds: 0.8, P50: 400, P99: 700, BareP50: 200, BareP99: 380}}},
			},
			"bbolt": {
				"W5":    {{result: result{Skipped: errNoTail.Error()}}},
				"R1":    {{result: skip}},
				"R3lat": {{result: skip}},
			},
			"nats": {
				"W5":    {{result: result{Records: 30000, Seconds: 3, P50: 40, P99: 300}}},
				"R1":    {{result: result{Records: 400_000, Bytes: 40e6, Seconds: 5, Capped: true, BareWriteMBps: 2000}}},
				"R3lat": {{result: result{Records: 2000, Seconds: 1.2, P50: 600, P99: 1200, BareP50: 210, BareP99: 390}}},
			},
		},
	}
	md := r.markdown()
	for _, want := range []string{
		"| system | W5 p50 µs | R1 MB/s | R3lat p50 µs |",
		"| commitlog | 8.00 | 58.0 | 400 |",
		"| bbolt | n/a: no tail API | n/a: no replication | n/a: no replication |",
		"| nats | 40.0 | 8.00 (capped) | 600 |",
		"| *commitlog ÷ best peer* | 0.20× (nats) | 7.25× (nats) | 0.67× (nats) |",
		// R1 against the plain writes timed in its process, R3lat against
		// the bare fdatasync timed interleaved with it.
		"| *commitlog ÷ machine limit* | | 0.03× | 2.00× |",
		"R1 as W1 and R3lat as W3lat",
		"### R1 — append 100 B × batches of 1,000 to 3 replicas in one process, acknowledged by all in-sync replicas, no fsync",
		"| commitlog | 58.0 | 58.0–58.0 | 500,000 | 7.25× | 0.03× |",
		"| nats | 8.00 (1 of 1 runs capped, at 400,000 records or more) |",
		"| bbolt | n/a: no replication: " + bbolt.noReplication + " |",
		"| commitlog | 400 | 400–400 | 700 | 0.67× | 200 / 380 | 2.00× |",
		"| nats | 600 | 600–600 | 1,200 | 1.00× | 210 / 390 | 2.86× |",
		"Replicated runs (R1, R3lat)",
		"`MinInSyncReplicas` 2",
		"a stream of 3 replicas",
		"- bbolt: n/a, no replication (the reasons are in the tables).",
	} {
		require.Contains(t, md, want)
	}
	// The targets are W5's alone: the replicated runs have none.
	_, targets, ok := strings.Cut(md, "## Targets")
	require.True(t, ok)
	targets, _, ok = strings.Cut(targets, "## Workloads")
	require.True(t, ok)
	require.Contains(t, targets, "| W5 p50 ≤ 20 µs |")
	require.NotContains(t, targets, "R1")
	require.NotContains(t, targets, "R3lat")

	// Without a replicated workload the report says nothing of them.
	r.plan.workloads = r.plan.workloads[:1]
	md = r.markdown()
	require.NotContains(t, md, "Replicated runs")
	require.NotContains(t, md, "R1 as W1")
}
