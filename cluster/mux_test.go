package cluster

import (
	"context"
	"testing"
	"testing/synctest"

	"github.com/commitlog-go/commitlog"
	"github.com/commitlog-go/commitlog/memnet"
	"github.com/stretchr/testify/require"
)

// inbox collects what one listener receives.
type inbox struct{ got []commitlog.Message }

func (b *inbox) deliver(m commitlog.Message) { b.got = append(b.got, m) }

func ctrlMsg(from, to commitlog.NodeID, data string) commitlog.Message {
	return commitlog.Message{Version: commitlog.MessageVersion, From: from, To: to, Body: &commitlog.ControllerMessage{Data: []byte(data)}}
}

func fetchMsg(from, to commitlog.NodeID, seq uint64) commitlog.Message {
	return commitlog.Message{Version: commitlog.MessageVersion, From: from, To: to, Body: &commitlog.FetchRequest{Topic: "t", Seq: seq}}
}

// TestMuxDemultiplexes: ControllerMessages go to the controller's
// listener, everything else to the Log's, and each only to its node.
func TestMuxDemultiplexes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		net := memnet.New(memnet.Config{})
		defer net.Close()
		mux := NewMux(net)
		var log2, ctrl2, ctrl3 inbox
		for _, l := range []struct {
			node commitlog.NodeID
			ctrl bool
			b    *inbox
		}{{2, false, &log2}, {2, true, &ctrl2}, {3, true, &ctrl3}} {
			listen := mux.Listen
			if l.ctrl {
				listen = mux.ListenController
			}
			stop, err := listen(l.node, l.b.deliver)
			require.NoError(t, err)
			defer stop()
		}
		ctx := context.Background()
		for _, m := range []commitlog.Message{fetchMsg(1, 2, 1), ctrlMsg(1, 2, "to 2"), ctrlMsg(1, 3, "to 3"), fetchMsg(1, 3, 2)} {
			require.NoError(t, mux.Send(ctx, m))
		}
		synctest.Wait()
		require.Equal(t, []commitlog.Message{fetchMsg(1, 2, 1)}, log2.got)
		require.Equal(t, []commitlog.Message{ctrlMsg(1, 2, "to 2")}, ctrl2.got)
		require.Equal(t, []commitlog.Message{ctrlMsg(1, 3, "to 3")}, ctrl3.got, "node 3 has no Log listener: its fetch is dropped")
	})
}

// TestMuxStop: a stopped listener hears nothing more, the other keeps
// hearing, and once both are stopped the node can listen again (the
// wrapped Transport's listener was stopped too).
func TestMuxStop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		net := memnet.New(memnet.Config{})
		defer net.Close()
		mux := NewMux(net)
		ctx := context.Background()
		var log, ctrl inbox
		stopLog, err := mux.Listen(2, log.deliver)
		require.NoError(t, err)
		stopCtrl, err := mux.ListenController(2, ctrl.deliver)
		require.NoError(t, err)

		_, err = mux.Listen(2, log.deliver)
		require.ErrorIs(t, err, commitlog.ErrInvalidArgument, "a second Log listener")
		_, err = mux.ListenController(2, ctrl.deliver)
		require.ErrorIs(t, err, commitlog.ErrInvalidArgument, "a second controller listener")
		_, err = mux.Listen(2, nil)
		require.ErrorIs(t, err, commitlog.ErrInvalidArgument)
		_, err = net.Listen(2, log.deliver)
		require.ErrorIs(t, err, commitlog.ErrInvalidArgument, "the Mux holds the node's Transport listener")

		stopLog()
		stopLog() // idempotent
		require.NoError(t, mux.Send(ctx, fetchMsg(1, 2, 1)))
		require.NoError(t, mux.Send(ctx, ctrlMsg(1, 2, "x")))
		synctest.Wait()
		require.Empty(t, log.got)
		require.Equal(t, []commitlog.Message{ctrlMsg(1, 2, "x")}, ctrl.got)

		stopCtrl()
		stop, err := net.Listen(2, log.deliver)
		require.NoError(t, err, "both Mux listeners stopped: the Transport's is free")
		stop()
		stop, err = mux.Listen(2, log.deliver)
		require.NoError(t, err)
		stop()
	})
}

// TestMuxListenError: the wrapped Transport's refusal comes back.
func TestMuxListenError(t *testing.T) {
	net := memnet.New(memnet.Config{})
	require.NoError(t, net.Close())
	_, err := NewMux(net).ListenController(1, func(commitlog.Message) {})
	require.ErrorIs(t, err, commitlog.ErrClosed)
}
