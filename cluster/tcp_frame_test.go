package cluster

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/commitlog-go/commitlog"
	"github.com/stretchr/testify/require"
)

// randomMessage returns a message of a body kind drawn from rng, with
// random fields; Records and Data are never empty (the decoder returns
// nil for empty ones).
func randomMessage(rng *rand.Rand) commitlog.Message {
	m := commitlog.Message{Version: commitlog.MessageVersion, From: commitlog.NodeID(rng.IntN(5)), To: commitlog.NodeID(rng.IntN(5))}
	topic := strings.Repeat("t", rng.IntN(250))
	payload := func() []byte {
		b := make([]byte, 1+rng.IntN(5000))
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return b
	}
	switch rng.IntN(3) {
	case 0:
		m.Body = &commitlog.FetchRequest{Topic: topic, Partition: rng.Int32(), ReplicaEpoch: rng.Int64(), Seq: rng.Uint64(),
			CurrentLeaderEpoch: rng.Int32(), FetchOffset: rng.Int64(), AckedOffset: rng.Int64(), LastFetchedEpoch: -1,
			LogStartOffset: rng.Int64(), MaxBytes: rng.Int32(), MaxWait: time.Duration(rng.Int64())}
	case 1:
		m.Body = &commitlog.FetchResponse{Topic: topic, Partition: rng.Int32(), ReplicaEpoch: rng.Int64(), Seq: rng.Uint64(),
			LeaderEpoch: rng.Int32(), Error: commitlog.FetchError(rng.IntN(int(commitlog.FetchUnknownPartition) + 1)),
			HighWatermark: rng.Int64(), LogStartOffset: rng.Int64(), DivergingEpoch: -1, DivergingEndOffset: rng.Int64(),
			BaseOffset: rng.Int64(), Records: payload()}
	default:
		m.Body = &commitlog.ControllerMessage{Data: payload()}
	}
	return m
}

// chunkReader returns what r holds in chunks of random sizes (1 to 64 KiB,
// small ones often), as a TCP stream may split and coalesce frames.
type chunkReader struct {
	r   io.Reader
	rng *rand.Rand
}

func (c *chunkReader) Read(p []byte) (int, error) {
	n := 1 + c.rng.IntN(16)
	if c.rng.IntN(4) == 0 {
		n = 1 + c.rng.IntN(64<<10)
	}
	return c.r.Read(p[:min(n, len(p))])
}

// TestTCPFrameRoundTrip: many messages of every body kind, framed back to
// back and read through chunks of random sizes, decode equal to what was
// sent; the stream then ends cleanly (io.EOF), and a truncated one with
// io.ErrUnexpectedEOF.
func TestTCPFrameRoundTrip(t *testing.T) {
	for seed := range uint64(5) {
		rng := rand.New(rand.NewPCG(seed, 1))
		var stream []byte
		var sent []commitlog.Message
		for range 300 {
			m := randomMessage(rng)
			var err error
			before := len(stream)
			stream, err = appendFrame(stream, m, defaultTCPMaxFrameBytes)
			require.NoError(t, err)
			require.Equal(t, frameSize(m)+4, len(stream)-before, "frameSize of a %T", m.Body)
			enc, err := m.MarshalBinary()
			require.NoError(t, err)
			require.Equal(t, enc, stream[before+tcpFrameHeaderSize:], "the frame holds the message's own encoding")
			sent = append(sent, m)
		}
		fr := frameReader{r: bufio.NewReaderSize(&chunkReader{r: bytes.NewReader(stream), rng: rng}, 4096), addr: "test", max: defaultTCPMaxFrameBytes}
		for i, want := range sent {
			got, err := fr.next()
			require.NoError(t, err, "seed %d, message %d", seed, i)
			require.Equal(t, want, got, "seed %d, message %d", seed, i)
		}
		_, err := fr.next()
		require.ErrorIs(t, err, io.EOF)

		cut := rng.IntN(len(stream)-10) + 1
		fr = frameReader{r: bufio.NewReader(bytes.NewReader(stream[:cut])), addr: "test", max: defaultTCPMaxFrameBytes}
		for {
			_, err := fr.next()
			if err != nil {
				if !errors.Is(err, io.EOF) { // a cut at a frame boundary reads as a clean end
					require.ErrorIs(t, err, io.ErrUnexpectedEOF)
				}
				break
			}
		}
	}
}

// TestTCPFrameRefusals: a frame longer than the limit is refused from its
// length prefix, before anything is allocated for it; an empty frame, a
// frame of another version and a message that does not decode are
// refused with typed errors; a message of an unknown version is
// reported apart, so that the reader can drop it and go on.
func TestTCPFrameRefusals(t *testing.T) {
	read := func(b []byte) error {
		fr := frameReader{r: bufio.NewReader(bytes.NewReader(b)), addr: "peer:1", max: 1 << 20}
		_, err := fr.next()
		return err
	}
	huge := []byte{0xff, 0xff, 0xff, 0xff, tcpFrameVersion}
	var tooLarge *FrameTooLargeError
	require.ErrorAs(t, read(huge), &tooLarge)
	require.Equal(t, int64(0xffffffff), tooLarge.Size)
	require.ErrorIs(t, read(huge), ErrFrameTooLarge)

	// Refusing allocates nothing near the announced size.
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for range 100 {
		_ = read(huge)
	}
	runtime.ReadMemStats(&after)
	require.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(4<<20), "100 refusals of a 4 GiB frame")

	require.ErrorIs(t, read([]byte{0, 0, 0, 0}), commitlog.ErrMalformedMessage, "an empty frame")
	var verr *ProtocolVersionError
	require.ErrorAs(t, read([]byte{0, 0, 0, 1, 2}), &verr)
	require.Equal(t, &ProtocolVersionError{Addr: "peer:1", Version: 2, Supported: tcpFrameVersion}, verr)

	garbage := binary.BigEndian.AppendUint32(nil, 20)
	garbage = append(garbage, tcpFrameVersion)
	garbage = append(garbage, 0, commitlog.MessageVersion) // a known version, then junk
	garbage = append(garbage, "not a message at all"[:17]...)
	require.ErrorIs(t, read(garbage), commitlog.ErrMalformedMessage)

	m := commitlog.Message{Version: commitlog.MessageVersion, From: 1, To: 2, Body: &commitlog.ControllerMessage{Data: []byte("x")}}
	frame, err := appendFrame(nil, m, 1<<20)
	require.NoError(t, err)
	binary.BigEndian.PutUint16(frame[tcpFrameHeaderSize:], commitlog.MessageVersion+1)
	two := append(append([]byte{}, frame...), frame...)
	binary.BigEndian.PutUint16(two[len(frame)+tcpFrameHeaderSize:], commitlog.MessageVersion)
	fr := frameReader{r: bufio.NewReader(bytes.NewReader(two)), addr: "peer:1", max: 1 << 20}
	_, err = fr.next()
	require.ErrorIs(t, err, commitlog.ErrUnknownMessageVersion)
	got, err := fr.next()
	require.NoError(t, err, "the stream is still in step after a message of an unknown version")
	require.Equal(t, m, got)

	_, err = appendFrame(nil, commitlog.Message{Version: commitlog.MessageVersion, From: 1, To: 2,
		Body: &commitlog.ControllerMessage{Data: make([]byte, 2000)}}, 1<<10)
	require.ErrorIs(t, err, ErrFrameTooLarge)
	require.ErrorIs(t, err, commitlog.ErrInvalidArgument)
}

// TestTCPHandshake: a handshake names its node; another magic, another
// version and a truncated handshake are refused.
func TestTCPHandshake(t *testing.T) {
	node, err := readHandshake(bytes.NewReader(appendHandshake(nil, 7)), "peer:1")
	require.NoError(t, err)
	require.Equal(t, commitlog.NodeID(7), node)

	_, err = readHandshake(strings.NewReader("GET / HTTP/1.1\r\n"), "peer:1")
	require.ErrorIs(t, err, ErrNotAPeer)
	v2 := appendHandshake(nil, 7)
	v2[4] = 2
	_, err = readHandshake(bytes.NewReader(v2), "peer:1")
	var verr *ProtocolVersionError
	require.ErrorAs(t, err, &verr)
	require.Equal(t, uint8(2), verr.Version)
	require.ErrorIs(t, err, ErrProtocolVersion)
	_, err = readHandshake(bytes.NewReader(appendHandshake(nil, 7)[:5]), "peer:1")
	require.ErrorIs(t, err, io.ErrUnexpectedEOF)
	neg := appendHandshake(nil, -3)
	_, err = readHandshake(bytes.NewReader(neg), "peer:1")
	require.ErrorIs(t, err, ErrNotAPeer)
}

// FuzzTCPFrameReader: whatever a peer sends, the frame reader neither
// panics nor returns a message that could not be sent, and a message it
// returns frames back to the bytes it was read from.
func FuzzTCPFrameReader(f *testing.F) {
	rng := rand.New(rand.NewPCG(3, 4))
	for range 5 {
		b, err := appendFrame(nil, randomMessage(rng), 1<<16)
		if err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, tcpFrameVersion})
	f.Add([]byte{0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		r := bytes.NewReader(data)
		fr := frameReader{r: bufio.NewReader(r), addr: "fuzz", max: 1 << 16}
		for range 100 {
			before := len(data) - r.Len() - fr.r.Buffered()
			m, err := fr.next()
			if err != nil {
				if errors.Is(err, commitlog.ErrUnknownMessageVersion) {
					continue
				}
				return
			}
			require.NoError(t, m.Validate())
			after := len(data) - r.Len() - fr.r.Buffered()
			again, err := appendFrame(nil, m, 1<<16)
			require.NoError(t, err)
			require.Equal(t, data[before:after], again)
		}
	})
}
