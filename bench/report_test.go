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
