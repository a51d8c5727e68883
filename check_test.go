package commitlog

import (
	"context"
	"testing"

	"github.com/commitlog-go/commitlog/internal/vfs"
	"github.com/stretchr/testify/require"
)

// Under SyncAlways the high watermark is the durable end, which can lag
// inside a segment that a roll has sealed since: the roll fsyncs the
// sealed data but only the next fsync round publishes it. Check then
// verifies that segment up to the high watermark, and the bytes after it
// are not "after its last batch".
func TestCheckWithTheHighWatermarkInsideASealedSegment(t *testing.T) {
	ctx := context.Background()
	l := openTest(t, vfs.NewMem(), nil)
	defer l.Close()
	tp, err := l.CreateTopic(ctx, "t", smallTopic)
	require.NoError(t, err)
	p, _ := tp.Partition(0)
	_, err = p.Append(ctx, []Record{{Value: []byte("durable")}})
	require.NoError(t, err)
	hw := p.HighWatermark()
	var bb batchBuilder
	for p.EndOffset() < 40 {
		batch, _, err := p.build(&bb, []Record{{Value: make([]byte, 300)}})
		require.NoError(t, err)
		_, err = p.appendBatch(ctx, batch, appendOptions{Expected: -1, NoWait: true})
		require.NoError(t, err)
	}
	require.Equal(t, hw, p.HighWatermark(), "nothing after the first record is durable yet")
	require.Greater(t, len(p.segments()), 1, "the appends rolled the segment holding the high watermark")
	require.NoError(t, l.Check(ctx))
}
