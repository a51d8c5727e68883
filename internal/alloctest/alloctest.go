// Package alloctest measures the heap bytes a call allocates, for tests
// (fuzz targets above all) that hold a decoder to a declared allocation
// bound. Only tests import it.
package alloctest

import (
	"runtime"
	"runtime/metrics"
	"testing"
)

// Slack is the fixed allowance Check adds to every bound, for allocations
// unrelated to the measured call that land in the same interval: the
// heap statistics are process-wide, so they include what the runtime and
// the testing framework's own goroutines allocate meanwhile. A few KiB
// covers them; a decoder that allocates from a length field it read
// allocates far more.
const Slack = 4 << 10

const allocsMetric = "/gc/heap/allocs:bytes"

// Bytes returns the heap bytes allocated, process-wide, while fn ran, read
// from runtime/metrics (no stop-the-world). Objects of more than 32 KiB are
// counted as they are allocated; smaller ones only when the span holding
// them leaves its P's cache, so the figure can be off in either direction
// by up to a span (8 KiB for most size classes) per size class fn touched.
// Use it as a cheap first measurement and Precise to confirm.
func Bytes(fn func()) uint64 {
	s := []metrics.Sample{{Name: allocsMetric}}
	metrics.Read(s)
	before := s[0].Value.Uint64()
	fn()
	metrics.Read(s)
	return s[0].Value.Uint64() - before
}

// Precise returns the heap bytes allocated, process-wide, while fn ran,
// exactly: runtime.ReadMemStats flushes every P's cache before it counts,
// at the cost of stopping the world twice.
func Precise(fn func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	fn()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// preciseRuns is how many times Check measures precisely before it fails.
const preciseRuns = 3

// Check fails t if one run of fn allocates more than bound+Slack bytes.
// It measures with Bytes and, only when that figure exceeds the limit,
// runs setup and fn again, up to preciseRuns times, measured with Precise,
// and fails if every one of those runs exceeds the limit. The heap
// statistics are process-wide: fn's own allocations are in every run, and
// a goroutine that allocates meanwhile (the testing framework finishing
// the previous input's goroutine, say) is rarely in all of them. fn must
// therefore do the same work each time it runs: setup (unmeasured, and may
// be nil) runs before each run of fn and recreates whatever fn consumes.
// An excess below a span per size class can go unnoticed by the first
// measurement; one from a large allocation cannot.
func Check(t testing.TB, bound uint64, setup, fn func()) {
	t.Helper()
	if setup != nil {
		setup()
	}
	if Bytes(fn) <= bound+Slack {
		return
	}
	var got [preciseRuns]uint64
	for i := range got {
		if setup != nil {
			setup()
		}
		if got[i] = Precise(fn); got[i] <= bound+Slack {
			return
		}
	}
	t.Fatalf("allocated %v bytes in %d runs, more than the bound of %d (+%d slack) each time", got, preciseRuns, bound, Slack)
}
