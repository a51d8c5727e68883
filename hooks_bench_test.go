package commitlog

import (
	"context"
	"testing"
	"time"
)

// BenchmarkAppendHookCost appends W1's batches (1,000 records of 100 B,
// SyncNever) to two Logs in one process, one without hooks and one with a
// hook, alternating in chunks of 50 batches (which goes first alternates
// too), so that both see the same machine; it reports the time per batch
// of each and hooked/plain, their ratio. An op is a batch appended to
// each. Sub-benchmarks: a hook counting every event with atomics, as a
// metrics exporter would, and one recording every call in slices under a
// lock (the tests' recordingHook).
func BenchmarkAppendHookCost(b *testing.B) {
	for _, tc := range []struct {
		name string
		hook func() Hook
	}{
		{"counting", func() Hook { return &countingHook{} }},
		{"recording", func() Hook { return &recordingHook{} }},
	} {
		b.Run("hook="+tc.name, func(b *testing.B) {
			ctx := context.Background()
			recs := benchRecords(1000, 100)
			_, plain := benchPartition(b, &Options{Sync: SyncNever}, TopicConfig{})
			_, hooked := benchPartition(b, &Options{Sync: SyncNever, Hooks: []Hook{tc.hook()}}, TopicConfig{})
			appendN := func(p *Partition, n int) time.Duration {
				start := time.Now()
				for range n {
					if _, err := p.Append(ctx, recs); err != nil {
						b.Fatal(err)
					}
				}
				return time.Since(start)
			}
			const chunk = 50
			var tPlain, tHooked time.Duration
			b.ResetTimer()
			for n, round := 0, 0; n < b.N; round++ {
				k := min(chunk, b.N-n)
				if round%2 == 0 {
					tPlain += appendN(plain, k)
					tHooked += appendN(hooked, k)
				} else {
					tHooked += appendN(hooked, k)
					tPlain += appendN(plain, k)
				}
				n += k
			}
			b.ReportMetric(float64(tPlain.Nanoseconds())/float64(b.N), "plain-ns/batch")
			b.ReportMetric(float64(tHooked.Nanoseconds())/float64(b.N), "hooked-ns/batch")
			b.ReportMetric(float64(tHooked)/float64(tPlain), "hooked/plain")
		})
	}
}
