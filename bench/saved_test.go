package main

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// A run saved and loaded again renders the same report.
func TestSavedRunRendersTheSameReport(t *testing.T) {
	w := func(name string) workload { w, _ := workloadByName(name); return w }
	r := &runResults{
		plan:    runPlan{scale: fullScale, reps: 2, systems: []string{"commitlog", "bbolt"}, workloads: []workload{w("W1"), w("W3lat"), w("W4warm")}},
		started: time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC),
		elapsed: 6 * time.Minute,
		machine: machineFacts{CPU: "test CPU", CPUs: 2, Memory: 1 << 30, Kernel: "k", FileSystem: "ext4", GoVersion: "go"},
		limits:  machineLimits{MemcpyMBps: 10000, WriteMBps: 2000, FsyncP50: 100, FsyncP99: 200},
		runs: map[string]map[string][]measurement{
			"commitlog": {
				"W1":     {{result: result{Records: 1e6, Bytes: 116e6, Seconds: 0.1, PeakRSS: 40 << 20}, CPU: 0.2, DiskBytes: 120 << 20}, {result: result{Records: 1e6, Bytes: 116e6, Seconds: 0.12}}},
				"W3lat":  {{result: result{Records: 2000, Seconds: 0.2, P50: 105, P99: 150, BareP50: 100, BareP99: 140}}},
				"W4warm": {{result: result{Records: 1e6, Bytes: 116e6, Seconds: 0.03, Open: 0.001, Resident: 1}}},
			},
			"bbolt": {
				"W1":     {{result: result{Records: 1e6, Bytes: 100e6, Seconds: 1.5, Capped: true}}},
				"W4warm": {{result: result{Records: 1e6, Bytes: 100e6, Seconds: 0.025, Open: 0.1}}},
			},
		},
		errors:   []string{"kfake W1 rep 1: boom"},
		failures: 1,
	}
	path := filepath.Join(t.TempDir(), "RESULTS.json")
	require.Equal(t, path, rawPath(filepath.Join(filepath.Dir(path), "RESULTS.md")))
	require.NoError(t, r.save(path))
	back, err := loadResults(path)
	require.NoError(t, err)
	require.Equal(t, r.markdown(), back.markdown())
}
