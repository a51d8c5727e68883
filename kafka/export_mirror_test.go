package kafka

import (
	"context"

	"github.com/commitlog-go/commitlog"
)

// What the external tests of the Mirror reach inside it.

// ErrMirrorCrash is what Run returns at a fault point of SetMirrorCrashAt.
var ErrMirrorCrash = errCrash

// SetMirrorCrashAt installs a fault hook: Run ends abruptly, as if its
// process died, at the first point for which crashAt returns true
// ("produced", "acked", "synced", "resume"). Set it before Run.
func SetMirrorCrashAt(m *Mirror, crashAt func(point string) bool) { m.crashAt = crashAt }

// WaitMirrorCopied waits until m has copied the record at source offset
// s of tp, or a later one.
func WaitMirrorCopied(ctx context.Context, m *Mirror, tp commitlog.TopicPartition, s int64) error {
	return m.waitCopied(ctx, tp, s)
}

// EndpointOffsets returns the start offsets and high watermarks of
// topic's n partitions on e.
func EndpointOffsets(ctx context.Context, e Endpoint, topic string, n int32) (starts, ends []int64, err error) {
	return e.offsets(ctx, topic, n)
}
