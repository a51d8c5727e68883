package commitlog

import (
	"context"
	"testing"

	"github.com/commitlog-go/commitlog/internal/vfs"
	"github.com/stretchr/testify/require"
)

func TestProducerAs(t *testing.T) {
	l := openTest(t, vfs.NewMem(), nil)
	p, err := l.NewProducer(ProducerConfig{})
	require.NoError(t, err)
	defer p.Close()
	var pc ProducerClient = p

	var gotP *Producer
	require.True(t, pc.As(&gotP))
	require.Same(t, p, gotP)
	var gotL *Log
	require.True(t, pc.As(&gotL))
	require.Same(t, l, gotL)
	var c *Consumer
	require.False(t, pc.As(&c), "a Producer is no Consumer")
	require.Nil(t, c, "a target As does not fill is left alone")
	require.False(t, pc.As(nil))
	require.False(t, pc.As(gotP), "a *Producer, not a **Producer")
}

func TestConsumerAs(t *testing.T) {
	l := openTest(t, vfs.NewMem(), nil)
	groupTopic(t, l, 1)
	var inCallback *Consumer
	c, err := l.NewConsumer(ConsumerConfig{Group: "g", Topics: []string{"t"},
		OnAssigned: func(_ context.Context, cc ConsumerClient, _ []TopicPartition) {
			if !cc.As(&inCallback) {
				t.Error("As(**Consumer) in OnAssigned: false")
			}
		}})
	require.NoError(t, err)
	defer c.Close()
	pollN(t, c, 1)
	require.Same(t, c, inCallback, "a callback reaches its *Consumer through As")

	var cc ConsumerClient = c
	var gotL *Log
	require.True(t, cc.As(&gotL))
	require.Same(t, l, gotL)
	var p *Producer
	require.False(t, cc.As(&p))
	require.Nil(t, p)
	require.False(t, cc.As(42))
}
