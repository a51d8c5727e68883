package cluster

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/commitlog-go/commitlog"
	"github.com/stretchr/testify/require"
)

// testWait bounds every wait of these tests for something to happen on
// loopback: far longer than it takes, so that a failure means it never
// happens.
const testWait = 20 * time.Second

// logCapture is a slog handler's store: the tests wait for the records
// the transports log.
type logCapture struct {
	mu      sync.Mutex
	records []capturedLog
	notify  chan struct{} // capacity 1: a record was added
}

type capturedLog struct {
	Level slog.Level
	Msg   string
	Attrs map[string]any
}

func (r capturedLog) err() error {
	err, _ := r.Attrs["err"].(error)
	return err
}

func newLogCapture() *logCapture { return &logCapture{notify: make(chan struct{}, 1)} }

func (c *logCapture) logger() *slog.Logger { return slog.New(captureHandler{c: c}) }

type captureHandler struct {
	c     *logCapture
	attrs []slog.Attr
}

func (h captureHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h captureHandler) Handle(_ context.Context, r slog.Record) error {
	rec := capturedLog{Level: r.Level, Msg: r.Message, Attrs: map[string]any{}}
	add := func(a slog.Attr) bool {
		rec.Attrs[a.Key] = a.Value.Resolve().Any()
		return true
	}
	for _, a := range h.attrs {
		add(a)
	}
	r.Attrs(add)
	h.c.mu.Lock()
	h.c.records = append(h.c.records, rec)
	h.c.mu.Unlock()
	signal(h.c.notify)
	return nil
}

func (h captureHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return captureHandler{c: h.c, attrs: append(slices.Clip(h.attrs), as...)}
}

func (h captureHandler) WithGroup(string) slog.Handler { return h }

// waitFor returns the first record that match accepts, waiting for it.
func (c *logCapture) waitFor(t testing.TB, what string, match func(capturedLog) bool) capturedLog {
	t.Helper()
	timeout := time.After(testWait)
	for {
		c.mu.Lock()
		for _, r := range c.records {
			if match(r) {
				c.mu.Unlock()
				return r
			}
		}
		c.mu.Unlock()
		select {
		case <-c.notify:
		case <-timeout:
			t.Fatalf("never logged: %s; logged: %v", what, c.all())
		}
	}
}

// waitErr waits for a record at Warn or above whose err matches target.
func (c *logCapture) waitErr(t testing.TB, target error) capturedLog {
	t.Helper()
	return c.waitFor(t, fmt.Sprintf("an error matching %v", target), func(r capturedLog) bool {
		return r.Level >= slog.LevelWarn && errors.Is(r.err(), target)
	})
}

func (c *logCapture) all() []capturedLog {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.records)
}

// checkNoTCPGoroutines registers a cleanup, to run after every cleanup
// registered later (the transports' Close), that fails t if a goroutine
// of the TCP transport is still running.
func checkNoTCPGoroutines(t *testing.T) {
	t.Cleanup(func() {
		deadline := time.Now().Add(testWait)
		buf := make([]byte, 1<<20)
		for {
			n := runtime.Stack(buf, true)
			var leaked []string
			for g := range strings.SplitSeq(string(buf[:n]), "\n\n") {
				if strings.Contains(g, "/cluster/tcp_transport.go") {
					leaked = append(leaked, g)
				}
			}
			if len(leaked) == 0 {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d goroutines of the TCP transport survive Close:\n%s", len(leaked), strings.Join(leaked, "\n\n"))
			}
			runtime.Gosched() // Close has returned: they are past wg.Done, about to return
		}
	})
}

// newTCP returns a transport for cfg, closed at the end of the test.
func newTCP(t testing.TB, cfg TCPConfig) *TCPTransport {
	t.Helper()
	tr, err := NewTCPTransport(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { tr.Close() })
	return tr
}

// tcpInbox listens as node on tr and returns the channel of its deliveries.
func tcpInbox(t testing.TB, tr *TCPTransport, node commitlog.NodeID) chan commitlog.Message {
	t.Helper()
	ch := make(chan commitlog.Message, 100000)
	stop, err := tr.Listen(node, func(m commitlog.Message) { ch <- m })
	require.NoError(t, err)
	t.Cleanup(stop)
	return ch
}

func receive(t testing.TB, ch chan commitlog.Message) commitlog.Message {
	t.Helper()
	select {
	case m := <-ch:
		return m
	case <-time.After(testWait):
		t.Fatal("no message delivered")
		return commitlog.Message{}
	}
}

// pair returns two transports, nodes 0 and 1, each the other's peer, with
// cfg's settings, logging to logs.
func pair(t *testing.T, cfg TCPConfig, logs *logCapture) (a, b *TCPTransport) {
	t.Helper()
	cfg.Logger = logs.logger()
	cfg.Node = 1
	b = newTCP(t, cfg)
	cfg.Node = 0
	cfg.Peers = map[commitlog.NodeID]string{1: b.Addr().String()}
	a = newTCP(t, cfg)
	require.NoError(t, b.SetPeer(0, a.Addr().String()))
	return a, b
}

// TestTCPTransportDelivers: messages of every kind reach their node
// unaltered, both ways; a message to a node listening on the sender's own
// transport is delivered as a copy; the memory of a message sent is the
// sender's again once Send returns.
func TestTCPTransportDelivers(t *testing.T) {
	checkNoTCPGoroutines(t)
	logs := newLogCapture()
	a, b := pair(t, TCPConfig{}, logs)
	require.Equal(t, "127.0.0.1", a.Addr().(*net.TCPAddr).IP.String(), "the default listens on loopback")
	toA, toB := tcpInbox(t, a, 0), tcpInbox(t, b, 1)
	rng := rand.New(rand.NewPCG(1, 2))
	ctx := context.Background()
	for _, dir := range []struct {
		from *TCPTransport
		node commitlog.NodeID
		to   chan commitlog.Message
	}{{a, 1, toB}, {b, 0, toA}, {a, 0, toA}} {
		var sent []commitlog.Message
		for range 200 {
			m := randomMessage(rng)
			m.To = dir.node
			want := m.Clone()
			require.NoError(t, dir.from.Send(ctx, m))
			if r, ok := m.Body.(*commitlog.FetchResponse); ok {
				clear(r.Records) // the sender reuses its memory at once
			}
			sent = append(sent, want)
		}
		for i, want := range sent {
			require.Equal(t, want, receive(t, dir.to), "message %d to node %d", i, dir.node)
		}
	}
	// Unreachable nodes: dropped silently.
	require.NoError(t, a.Send(ctx, ctrlMsg(0, 9, "nobody")))

	require.NoError(t, a.Close())
	require.ErrorIs(t, a.Send(ctx, ctrlMsg(0, 1, "late")), commitlog.ErrClosed)
	_, err := a.Listen(5, func(commitlog.Message) {})
	require.ErrorIs(t, err, commitlog.ErrClosed)
	require.ErrorIs(t, a.SetPeer(3, "127.0.0.1:1"), commitlog.ErrClosed)
	require.ErrorIs(t, a.Close(), commitlog.ErrClosed, "a second Close")
}

// TestTCPTransportRefusesArguments: Send's and Listen's errors, and
// NewTCPTransport's on a bad configuration.
func TestTCPTransportRefusesArguments(t *testing.T) {
	checkNoTCPGoroutines(t)
	tr := newTCP(t, TCPConfig{Node: 0, MaxFrameBytes: 4096, Peers: map[commitlog.NodeID]string{1: "127.0.0.1:1"}})
	ctx := context.Background()
	require.ErrorIs(t, tr.Send(ctx, commitlog.Message{Version: 9, From: 0, To: 1, Body: &commitlog.ControllerMessage{}}), commitlog.ErrUnknownMessageVersion)
	require.ErrorIs(t, tr.Send(ctx, commitlog.Message{Version: commitlog.MessageVersion, From: 0, To: 1}), commitlog.ErrInvalidArgument)
	err := tr.Send(ctx, ctrlMsg(0, 1, strings.Repeat("x", 5000)))
	var tooLarge *FrameTooLargeError
	require.ErrorAs(t, err, &tooLarge)
	require.Equal(t, int64(4096), tooLarge.Max)
	require.ErrorIs(t, tr.Send(ctx, ctrlMsg(0, 0, strings.Repeat("x", 5000))), ErrFrameTooLarge, "locally too")
	done, cancel := context.WithCancel(ctx)
	cancel()
	require.ErrorIs(t, tr.Send(done, ctrlMsg(0, 1, "x")), context.Canceled)

	_, err = tr.Listen(-1, func(commitlog.Message) {})
	require.ErrorIs(t, err, commitlog.ErrInvalidArgument)
	_, err = tr.Listen(0, nil)
	require.ErrorIs(t, err, commitlog.ErrInvalidArgument)
	stop, err := tr.Listen(0, func(commitlog.Message) {})
	require.NoError(t, err)
	_, err = tr.Listen(0, func(commitlog.Message) {})
	require.ErrorIs(t, err, commitlog.ErrInvalidArgument)
	stop()
	stop()
	stop, err = tr.Listen(0, func(commitlog.Message) {})
	require.NoError(t, err, "listening again after stop")
	stop()
	require.ErrorIs(t, tr.SetPeer(-2, "x"), commitlog.ErrInvalidArgument)

	_, err = NewTCPTransport(TCPConfig{Node: -1, MaxFrameBytes: 10, SendQueueBytes: -1, DialTimeout: -1,
		Peers: map[commitlog.NodeID]string{-4: "", 2: ""}})
	var cfgErr *commitlog.ConfigError
	require.ErrorAs(t, err, &cfgErr)
	require.ErrorIs(t, err, commitlog.ErrInvalidConfig)
	require.Len(t, cfgErr.Problems, 7, "%v", cfgErr.Problems)
	_, err = NewTCPTransport(TCPConfig{TLS: &tls.Config{}})
	require.ErrorIs(t, err, commitlog.ErrInvalidConfig, "TLS without a certificate")
	_, err = NewTCPTransport(TCPConfig{ListenAddr: "256.0.0.1:0"})
	require.Error(t, err)
}

// dialRaw dials tr as a hand-made peer would, and returns the connection
// with a deadline that bounds the test.
func dialRaw(t *testing.T, tr *TCPTransport) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", tr.Addr().String())
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	require.NoError(t, c.SetDeadline(time.Now().Add(testWait)))
	return c
}

// requireClosedByPeer reads c to its end: the transport closed it.
func requireClosedByPeer(t *testing.T, c net.Conn) {
	t.Helper()
	_, err := io.Copy(io.Discard, c)
	var ne net.Error
	require.False(t, errors.As(err, &ne) && ne.Timeout(), "the transport did not close the connection")
}

// TestTCPTransportRefusesBadPeers: a peer that opens with something else
// than the handshake, one that sends a frame that does not decode, and
// one that announces a frame above MaxFrameBytes (0xFFFFFFFF bytes) are
// disconnected, with an error logged that names their address; the
// transport keeps serving the others. A message of a version this build
// does not know is dropped, and the connection kept.
func TestTCPTransportRefusesBadPeers(t *testing.T) {
	checkNoTCPGoroutines(t)
	logs := newLogCapture()
	a, b := pair(t, TCPConfig{}, logs)
	toB := tcpInbox(t, b, 1)
	for _, tc := range []struct {
		name  string
		bytes func() []byte
		want  error
	}{
		{"garbage", func() []byte { return []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n") }, ErrNotAPeer},
		{"malformed frame", func() []byte {
			b := appendHandshake(nil, 5)
			b = binary.BigEndian.AppendUint32(b, 6)
			return append(b, tcpFrameVersion, 0, commitlog.MessageVersion, 2, 0xff, 0xff) // body kind 2, truncated
		}, commitlog.ErrMalformedMessage},
		{"oversized length", func() []byte {
			return append(appendHandshake(nil, 5), 0xff, 0xff, 0xff, 0xff, tcpFrameVersion)
		}, ErrFrameTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := dialRaw(t, b)
			_, err := c.Write(tc.bytes())
			require.NoError(t, err)
			requireClosedByPeer(t, c)
			rec := logs.waitErr(t, tc.want)
			require.Equal(t, slog.LevelError, rec.Level)
			require.Equal(t, c.LocalAddr().String(), rec.Attrs["peer"], "the log names the peer's address")
		})
	}
	require.NoError(t, a.Send(context.Background(), ctrlMsg(0, 1, "still here")))
	require.Equal(t, "still here", string(receive(t, toB).Body.(*commitlog.ControllerMessage).Data))

	// A message of an unknown version is dropped, the connection kept.
	c := dialRaw(t, b)
	future, err := appendFrame(nil, ctrlMsg(5, 1, "from the future"), 1<<20)
	require.NoError(t, err)
	binary.BigEndian.PutUint16(future[tcpFrameHeaderSize:], commitlog.MessageVersion+1)
	now, err := appendFrame(nil, ctrlMsg(5, 1, "from now"), 1<<20)
	require.NoError(t, err)
	_, err = c.Write(slices.Concat(appendHandshake(nil, 5), future, now))
	require.NoError(t, err)
	require.Equal(t, "from now", string(receive(t, toB).Body.(*commitlog.ControllerMessage).Data))
}

// TestTCPTransportVersionMismatch: a peer speaking frame version 2 is
// refused with a *ProtocolVersionError, whichever side it is on: dialling
// in (the transport answers with its own version, so that the peer can
// tell, then closes), or answering the transport's dial.
func TestTCPTransportVersionMismatch(t *testing.T) {
	checkNoTCPGoroutines(t)
	logs := newLogCapture()
	tr := newTCP(t, TCPConfig{Node: 1, Logger: logs.logger()})

	c := dialRaw(t, tr)
	v2 := appendHandshake(nil, 5)
	v2[4] = 2
	_, err := c.Write(v2)
	require.NoError(t, err)
	answer := make([]byte, tcpHandshakeSize)
	_, err = io.ReadFull(c, answer)
	require.NoError(t, err)
	require.Equal(t, appendHandshake(nil, 1), answer, "the transport tells its version")
	requireClosedByPeer(t, c)
	rec := logs.waitErr(t, ErrProtocolVersion)
	var verr *ProtocolVersionError
	require.ErrorAs(t, rec.err(), &verr)
	require.Equal(t, &ProtocolVersionError{Addr: c.LocalAddr().String(), Version: 2, Supported: 1}, verr)

	// The other way: a version 2 node answers the transport's dial.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	served := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			served <- err
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(testWait))
		if _, err := readHandshake(c, "transport"); err != nil {
			served <- err
			return
		}
		v2 := appendHandshake(nil, 2)
		v2[4] = 2
		_, err = c.Write(v2)
		_, _ = io.Copy(io.Discard, c) // until the transport hangs up
		served <- err
	}()
	require.NoError(t, tr.SetPeer(2, ln.Addr().String()))
	require.NoError(t, tr.Send(context.Background(), ctrlMsg(1, 2, "hello")))
	rec = logs.waitFor(t, "the dialler's version error", func(r capturedLog) bool {
		return r.Level >= slog.LevelWarn && errors.As(r.err(), &verr) && verr.Addr == ln.Addr().String()
	})
	require.Equal(t, uint8(2), verr.Version)
	require.NoError(t, tr.Close())
	require.NoError(t, <-served)
}

// TestTCPTransportSlowPeer: a peer that accepts the connection and then
// stops reading fills the kernel's buffers and then the send queue; the
// queue never holds more than SendQueueBytes, messages past it are
// dropped while Send returns at once, and the transport still closes
// promptly with its writer blocked in a write.
func TestTCPTransportSlowPeer(t *testing.T) {
	checkNoTCPGoroutines(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	stuck := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			close(stuck)
			return
		}
		c.SetDeadline(time.Now().Add(testWait))
		if _, err := readHandshake(c, "transport"); err == nil {
			c.Write(appendHandshake(nil, 1))
		}
		stuck <- c // and never read again
	}()
	const queueBytes = 256 << 10
	tr := newTCP(t, TCPConfig{Node: 0, SendQueueBytes: queueBytes, WriteTimeout: time.Hour,
		Peers: map[commitlog.NodeID]string{1: ln.Addr().String()}})
	ctx := context.Background()
	payload := strings.Repeat("x", 64<<10)
	for range 2000 { // 128 MiB: far beyond the socket buffers
		require.NoError(t, tr.Send(ctx, ctrlMsg(0, 1, payload)))
	}
	c := <-stuck
	require.NotNil(t, c)
	defer c.Close()
	tr.mu.RLock()
	p := tr.peers[1]
	tr.mu.RUnlock()
	p.mu.Lock()
	maxQueued, queued := p.maxQueued, p.queued
	p.mu.Unlock()
	require.LessOrEqual(t, maxQueued, queueBytes)
	require.LessOrEqual(t, queued, queueBytes)
	require.Positive(t, p.dropped.Load(), "messages past the queue are dropped")

	closed := make(chan error, 1)
	go func() { closed <- tr.Close() }()
	select {
	case err := <-closed:
		require.NoError(t, err)
	case <-time.After(testWait):
		t.Fatal("Close hangs on a peer that does not read")
	}
}

// TestTCPTransportTLS: TLS between nodes of one CA, and mutual TLS with
// client certificates from it, carry messages; a plaintext node and a TLS
// one refuse each other, a server certificate from another CA is
// refused, and under mutual TLS a client without a certificate, or with
// one from another CA, is refused.
func TestTCPTransportTLS(t *testing.T) {
	checkNoTCPGoroutines(t)
	ca, other := newTestCA(t, "cluster CA"), newTestCA(t, "another CA")
	cert, otherCert := ca.issue(t, "node"), other.issue(t, "stranger")

	// try sends from a transport configured with from to one configured
	// with to, and reports whether the message arrived; when it does not,
	// it waits for the refusal to be logged at the side that refuses.
	try := func(t *testing.T, from, to *tls.Config, refuser string) {
		t.Helper()
		senderLogs, receiverLogs := newLogCapture(), newLogCapture()
		b := newTCP(t, TCPConfig{Node: 1, TLS: to, Logger: receiverLogs.logger()})
		a := newTCP(t, TCPConfig{Node: 0, TLS: from, Logger: senderLogs.logger(), Peers: map[commitlog.NodeID]string{1: b.Addr().String()}})
		toB := tcpInbox(t, b, 1)
		require.NoError(t, a.Send(context.Background(), ctrlMsg(0, 1, "secret")))
		switch refuser {
		case "":
			require.Equal(t, "secret", string(receive(t, toB).Body.(*commitlog.ControllerMessage).Data))
			return
		case "receiver":
			receiverLogs.waitFor(t, "the receiver's refusal", func(r capturedLog) bool { return r.Level == slog.LevelError })
		case "sender":
			senderLogs.waitFor(t, "the sender's refusal", func(r capturedLog) bool {
				return r.Level >= slog.LevelWarn && strings.Contains(r.Msg, "cannot connect")
			})
		}
		require.NoError(t, a.Close())
		require.NoError(t, b.Close())
		require.Empty(t, toB, "a refused connection delivered a message")
	}
	t.Run("TLS", func(t *testing.T) { try(t, tlsConfig(ca, &cert, false), tlsConfig(ca, &cert, false), "") })
	t.Run("plaintext to TLS", func(t *testing.T) { try(t, nil, tlsConfig(ca, &cert, false), "receiver") })
	t.Run("TLS to plaintext", func(t *testing.T) { try(t, tlsConfig(ca, &cert, false), nil, "receiver") })
	t.Run("server of another CA", func(t *testing.T) { try(t, tlsConfig(ca, &cert, false), tlsConfig(other, &otherCert, false), "sender") })
	t.Run("mutual TLS", func(t *testing.T) { try(t, tlsConfig(ca, &cert, true), tlsConfig(ca, &cert, true), "") })
	t.Run("mutual TLS without a client certificate", func(t *testing.T) {
		client := tlsConfig(ca, nil, false)
		// A node without a certificate (it could not accept TLS either).
		client.GetCertificate = func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return nil, errors.New("none") }
		try(t, client, tlsConfig(ca, &cert, true), "receiver")
	})
	t.Run("mutual TLS with a client of another CA", func(t *testing.T) {
		client := tlsConfig(ca, &otherCert, false) // trusts the server, presents a stranger's certificate
		try(t, client, tlsConfig(ca, &cert, true), "receiver")
	})
}

// TestTCPTransportReconnect: a peer's transport closes and another opens
// at the same address; the sender notices the lost connection, dials
// again, and messages flow again.
func TestTCPTransportReconnect(t *testing.T) {
	checkNoTCPGoroutines(t)
	logs := newLogCapture()
	cfg := TCPConfig{ReconnectBackoff: 5 * time.Millisecond, MaxReconnectBackoff: 50 * time.Millisecond}
	a, b := pair(t, cfg, logs)
	ctx := context.Background()
	toB := tcpInbox(t, b, 1)
	require.NoError(t, a.Send(ctx, ctrlMsg(0, 1, "first")))
	receive(t, toB)
	addr := b.Addr().String()
	require.NoError(t, b.Close())

	cfg.Node, cfg.ListenAddr, cfg.Logger = 1, addr, logs.logger()
	b2 := newTCP(t, cfg)
	toB2 := tcpInbox(t, b2, 1)
	// Messages sent while the old connection is found lost may be
	// dropped; keep sending until one arrives.
	deadline := time.After(testWait)
	for i := 0; ; i++ {
		require.NoError(t, a.Send(ctx, ctrlMsg(0, 1, fmt.Sprint("again ", i))))
		select {
		case m := <-toB2:
			require.True(t, strings.HasPrefix(string(m.Body.(*commitlog.ControllerMessage).Data), "again "))
			return
		case <-time.After(10 * time.Millisecond):
		case <-deadline:
			t.Fatal("no message reached the reopened peer")
		}
	}
}

// TestTCPTransportSetPeer: a node moving to another address gets the
// messages sent after SetPeer there; a node removed gets none; a peer
// address answered by another node is warned about.
func TestTCPTransportSetPeer(t *testing.T) {
	checkNoTCPGoroutines(t)
	logs := newLogCapture()
	a, b := pair(t, TCPConfig{}, logs)
	ctx := context.Background()
	toB := tcpInbox(t, b, 1)
	require.NoError(t, a.Send(ctx, ctrlMsg(0, 1, "to b")))
	receive(t, toB)
	c := newTCP(t, TCPConfig{Node: 1, Logger: logs.logger()})
	toC := tcpInbox(t, c, 1)
	require.NoError(t, a.SetPeer(1, c.Addr().String()))
	require.NoError(t, a.Send(ctx, ctrlMsg(0, 1, "to c")))
	require.Equal(t, "to c", string(receive(t, toC).Body.(*commitlog.ControllerMessage).Data))
	require.NoError(t, a.SetPeer(1, ""))
	require.NoError(t, a.Send(ctx, ctrlMsg(0, 1, "to nobody")))
	a.mu.RLock()
	require.Empty(t, a.peers)
	a.mu.RUnlock()
	require.Empty(t, toB)

	// An address that is another node's: the handshake tells, and the
	// mistake is logged.
	require.NoError(t, a.SetPeer(2, b.Addr().String()))
	require.NoError(t, a.Send(ctx, ctrlMsg(0, 2, "to the wrong node")))
	rec := logs.waitFor(t, "the wrong node warned about", func(r capturedLog) bool {
		return r.Level == slog.LevelWarn && r.Attrs["answered_node"] == commitlog.NodeID(1)
	})
	require.Equal(t, commitlog.NodeID(2), rec.Attrs["peer_node"])
}

// TestTCPBackoff: the reconnect backoff doubles from ReconnectBackoff
// up to MaxReconnectBackoff, and each wait is drawn from its upper half.
func TestTCPBackoff(t *testing.T) {
	p := &tcpPeer{t: &TCPTransport{cfg: TCPConfig{ReconnectBackoff: 10 * time.Millisecond, MaxReconnectBackoff: 70 * time.Millisecond}}}
	var got []time.Duration
	var b time.Duration
	for range 5 {
		b = p.nextBackoff(b)
		got = append(got, b)
	}
	require.Equal(t, []time.Duration{10 * time.Millisecond, 20 * time.Millisecond, 40 * time.Millisecond, 70 * time.Millisecond, 70 * time.Millisecond}, got)
	seen := map[time.Duration]bool{}
	for range 1000 {
		j := jitter(time.Second)
		require.GreaterOrEqual(t, j, 500*time.Millisecond)
		require.Less(t, j, time.Second)
		seen[j] = true
	}
	require.Greater(t, len(seen), 900, "the waits are spread")
	require.Equal(t, time.Duration(1), jitter(1))
	require.Equal(t, time.Duration(0), jitter(0))
}

// BenchmarkTCPTransport: 1 KiB FetchResponses from one transport to
// another on loopback, with at most 4096 in flight (so that none is
// dropped at a full queue).
func BenchmarkTCPTransport(b *testing.B) {
	logs := newLogCapture()
	rx := newTCP(b, TCPConfig{Node: 1, Logger: logs.logger()})
	tx := newTCP(b, TCPConfig{Node: 0, Logger: logs.logger(), Peers: map[commitlog.NodeID]string{1: rx.Addr().String()}})
	window := make(chan struct{}, 4096)
	all := make(chan struct{})
	var received int
	n := 0
	stop, err := rx.Listen(1, func(commitlog.Message) {
		<-window
		if received++; received == n {
			close(all)
		}
	})
	require.NoError(b, err)
	defer stop()
	records := bytes.Repeat([]byte{0xab}, 1024)
	m := commitlog.Message{Version: commitlog.MessageVersion, From: 0, To: 1,
		Body: &commitlog.FetchResponse{Topic: "orders", Partition: 3, BaseOffset: 100, HighWatermark: 200, DivergingEpoch: -1, Records: records}}
	// Warm up: connect.
	n = 1
	window <- struct{}{}
	require.NoError(b, tx.Send(context.Background(), m))
	<-all
	received, n, all = 0, b.N, make(chan struct{})
	b.SetBytes(int64(4 + frameSize(m)))
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		window <- struct{}{}
		if err := tx.Send(context.Background(), m); err != nil {
			b.Fatal(err)
		}
	}
	select {
	case <-all:
	case <-time.After(testWait):
		b.Fatalf("messages lost: %d of %d received", len(window), b.N)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

// TestTCPTransportLogs: three Logs, each with a RaftController through a
// Mux, on three TCPTransports on loopback: a topic replicated three ways
// takes acks-all records, and every node ends up holding them.
func TestTCPTransportLogs(t *testing.T) {
	checkNoTCPGoroutines(t)
	dir := t.TempDir()
	logs := newLogCapture()
	nodes := []commitlog.NodeID{0, 1, 2}
	trs := map[commitlog.NodeID]*TCPTransport{}
	for _, id := range nodes {
		trs[id] = newTCP(t, TCPConfig{Node: id, Logger: logs.logger(), ReconnectBackoff: 10 * time.Millisecond, MaxReconnectBackoff: 200 * time.Millisecond})
	}
	for _, id := range nodes {
		for _, peer := range nodes {
			if peer != id {
				require.NoError(t, trs[id].SetPeer(peer, trs[peer].Addr().String()))
			}
		}
	}
	ctrls := map[commitlog.NodeID]*RaftController{}
	for _, id := range nodes {
		c, err := NewRaftController(RaftConfig{Node: id, Nodes: nodes, Dir: filepath.Join(dir, fmt.Sprint("raft", id)),
			Mux: NewMux(trs[id]), TickInterval: 10 * time.Millisecond})
		require.NoError(t, err)
		ctrls[id] = c
		t.Cleanup(func() { c.Close() }) // after the Log's Close, registered later
	}
	// The Logs open together: each Open waits for a quorum of controllers.
	var wg sync.WaitGroup
	opened := make([]*commitlog.Log, len(nodes))
	errs := make([]error, len(nodes))
	for i, id := range nodes {
		wg.Go(func() {
			opened[i], errs[i] = commitlog.Open(filepath.Join(dir, fmt.Sprint("log", id)), &commitlog.Options{NodeID: id,
				Controller: ctrls[id], Transport: ctrls[id].cfg.Mux, ReplicaLagTime: 5 * time.Second, ReplicaFetchMaxWait: 50 * time.Millisecond})
		})
	}
	wg.Wait()
	for i, l := range opened {
		require.NoError(t, errs[i], "node %d's Log", i)
		t.Cleanup(func() { require.NoError(t, l.Close()) })
	}

	ctx, cancel := context.WithTimeout(context.Background(), testWait)
	defer cancel()
	_, err := opened[1].CreateTopic(ctx, "t", commitlog.TopicConfig{Partitions: 1, ReplicationFactor: 3, MinInSyncReplicas: 2})
	require.NoError(t, err)
	var leader commitlog.NodeID
	eventuallyTCP(t, "a leader with a full ISR", func() bool {
		md, err := ctrls[0].Describe("t")
		if err != nil {
			return false
		}
		p := md.Partitions[0]
		leader = p.Leader
		return p.Leader != commitlog.NoNode && len(p.ISR) == 3
	})
	// The Logs apply the controller's updates on their own time: produce
	// once every Log knows the topic, again while the leader's Log has not
	// yet taken its leadership (nothing was appended then).
	eventuallyTCP(t, "every Log knows the topic", func() bool {
		for _, l := range opened {
			if _, err := l.Topic("t"); err != nil {
				return false
			}
		}
		return true
	})
	prod, err := opened[leader].NewProducer(commitlog.ProducerConfig{Acks: commitlog.AckAll})
	require.NoError(t, err)
	defer prod.Close()
	var want []string
	for i := range 50 {
		want = append(want, fmt.Sprint("record ", i))
	}
	eventuallyTCP(t, "the records acknowledged", func() bool {
		var recs []*commitlog.Record
		for _, v := range want {
			recs = append(recs, &commitlog.Record{Topic: "t", Value: []byte(v)})
		}
		err := prod.ProduceSync(ctx, recs...)
		if errors.Is(err, commitlog.ErrNotLeader) {
			return false
		}
		require.NoError(t, err)
		return true
	})
	eventuallyTCP(t, "every node holds every record", func() bool {
		for _, l := range opened {
			tp, err := l.Topic("t")
			if err != nil {
				return false
			}
			p, err := tp.Partition(0)
			if err != nil {
				return false
			}
			var got []string
			for r, err := range p.Scan(ctx, p.StartOffset()) {
				if err != nil {
					return false
				}
				got = append(got, string(r.Value))
			}
			if !slices.Equal(want, got) {
				return false
			}
		}
		return true
	})
	for _, r := range logs.all() {
		require.Less(t, r.Level, slog.LevelError, "the transports logged an error: %v", r)
	}
}

// eventuallyTCP polls cond until it holds, for at most testWait: the
// nodes' state moves with the network, real time, not with a channel the
// test can wait on.
func eventuallyTCP(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.After(testWait)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("never: %s", what)
		}
	}
}
