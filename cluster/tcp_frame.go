package cluster

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/commitlog-go/commitlog"
)

// The TCP transport's wire format. Every integer is big-endian. A
// connection carries messages one way only, from the node that dialled
// it to the node that accepted it, and begins with a handshake each way:
//
//	handshake, 9 bytes, sent by the dialer first, then by the acceptor
//	   0  [4]byte  magic "CLGT"
//	   4  uint8    frame version (tcpFrameVersion: 1)
//	   5  int32    the sending transport's node (TCPConfig.Node)
//
//	frame, 5 bytes + the message's encoding
//	   0  uint32   length of what follows: 1 + len(message)
//	   4  uint8    frame version (tcpFrameVersion: 1)
//	   5  bytes    the message: commitlog.Message.AppendBinary's encoding
//
// The frame version covers the handshake and the framing; the message's
// own Version (its first two bytes) covers the message, and is checked by
// the decoder: a frame whose message has a version this build does not
// know is dropped, as the Transport contract says, and the connection
// stays up. A peer speaking another frame version, a handshake without
// the magic, a length above TCPConfig.MaxFrameBytes (refused before any
// memory is allocated for it) and a message that does not decode close
// the connection. These layouts are part of the wire format: a change of
// them comes with a new frame version.

const (
	// tcpFrameVersion is the version of the handshake and the framing.
	tcpFrameVersion = 1
	// tcpHandshakeSize is the length of a handshake.
	tcpHandshakeSize = 9
	// tcpFrameHeaderSize is the length prefix and the version byte.
	tcpFrameHeaderSize = 5
)

var tcpMagic = [4]byte{'C', 'L', 'G', 'T'}

var (
	// ErrProtocolVersion is logged, and the connection closed, when a
	// peer speaks another version of the TCP transport's wire format. The
	// *ProtocolVersionError carries the versions and the peer's address.
	ErrProtocolVersion = errors.New("cluster: TCP transport protocol version mismatch")
	// ErrNotAPeer is logged, and the connection closed, when the bytes
	// that open a connection are not a TCP transport handshake: something
	// else dialled (or answered), or one side speaks TLS and the other
	// does not.
	ErrNotAPeer = errors.New("cluster: not a commitlog TCP transport peer")
	// ErrFrameTooLarge is returned by TCPTransport.Send for a message
	// whose frame would exceed TCPConfig.MaxFrameBytes, and logged, with
	// the connection closed, when a peer announces such a frame. The
	// *FrameTooLargeError carries the sizes.
	ErrFrameTooLarge = errors.New("cluster: frame too large")
)

// ProtocolVersionError reports a peer speaking another version of the
// TCP transport's wire format (the frame version of its handshake or of a
// frame). It matches ErrProtocolVersion.
type ProtocolVersionError struct {
	// Addr is the peer's address.
	Addr string
	// Version is the peer's frame version; this build speaks
	// Supported.
	Version, Supported uint8
}

func (e *ProtocolVersionError) Error() string {
	return fmt.Sprintf("cluster: peer %s speaks TCP transport frame version %d; this build speaks version %d only "+
		"(run the same version of commitlog on every node)", e.Addr, e.Version, e.Supported)
}

// Is reports whether target is ErrProtocolVersion.
func (e *ProtocolVersionError) Is(target error) bool { return target == ErrProtocolVersion }

// FrameTooLargeError reports a frame longer than the limit: Size is the
// frame's length (its length prefix: the version byte and the message),
// Max is TCPConfig.MaxFrameBytes. It matches ErrFrameTooLarge and, since
// the message cannot be sent, commitlog.ErrInvalidArgument.
type FrameTooLargeError struct {
	Size, Max int64
}

func (e *FrameTooLargeError) Error() string {
	return fmt.Sprintf("cluster: a frame of %d bytes exceeds MaxFrameBytes (%d)", e.Size, e.Max)
}

// Is reports whether target is ErrFrameTooLarge or
// commitlog.ErrInvalidArgument.
func (e *FrameTooLargeError) Is(target error) bool {
	return target == ErrFrameTooLarge || target == commitlog.ErrInvalidArgument
}

// appendHandshake appends the handshake of a transport whose node is node.
func appendHandshake(b []byte, node commitlog.NodeID) []byte {
	b = append(b, tcpMagic[:]...)
	b = append(b, tcpFrameVersion)
	return binary.BigEndian.AppendUint32(b, uint32(node))
}

// readHandshake reads a handshake from r and returns the node it names.
// It returns an error matching ErrNotAPeer when the bytes are not a
// handshake, a *ProtocolVersionError for another version, and r's error
// (io.EOF, io.ErrUnexpectedEOF, a timeout) when it cannot read 9 bytes.
// addr names the peer in errors.
func readHandshake(r io.Reader, addr string) (commitlog.NodeID, error) {
	var h [tcpHandshakeSize]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return commitlog.NoNode, fmt.Errorf("cluster: reading the handshake of %s: %w", addr, err)
	}
	if [4]byte(h[:4]) != tcpMagic {
		return commitlog.NoNode, fmt.Errorf("%w: %s opened the connection with %q, not the handshake", ErrNotAPeer, addr, h[:])
	}
	if h[4] != tcpFrameVersion {
		return commitlog.NoNode, &ProtocolVersionError{Addr: addr, Version: h[4], Supported: tcpFrameVersion}
	}
	node := commitlog.NodeID(binary.BigEndian.Uint32(h[5:]))
	if node < 0 {
		return commitlog.NoNode, fmt.Errorf("%w: %s names itself node %d in its handshake", ErrNotAPeer, addr, node)
	}
	return node, nil
}

// appendFrame appends m's frame to b, or returns b unchanged with an
// error: Validate's, or a *FrameTooLargeError when the frame's length
// prefix would exceed max (checked before encoding).
func appendFrame(b []byte, m commitlog.Message, max int) ([]byte, error) {
	if err := m.Validate(); err != nil {
		return b, err
	}
	size := frameSize(m)
	if size > max {
		return b, &FrameTooLargeError{Size: int64(size), Max: int64(max)}
	}
	start := len(b)
	b = binary.BigEndian.AppendUint32(b, uint32(size))
	b = append(b, tcpFrameVersion)
	b, err := m.AppendBinary(b)
	if err != nil {
		return b[:start], err
	}
	if got := len(b) - start - 4; got != size {
		// frameSize and the encoding disagree: a bug, caught by the tests.
		return b[:start], fmt.Errorf("cluster: internal error: frame of %d bytes, %d expected", got, size)
	}
	return b, nil
}

// frameReader reads frames from a connection and decodes their messages.
type frameReader struct {
	r    *bufio.Reader
	addr string // the peer's, for errors
	max  int    // MaxFrameBytes
	buf  []byte // reused between frames when small
}

// frameBufKeep is the largest read buffer a frameReader keeps between
// frames; larger frames get a buffer of their own.
const frameBufKeep = 1 << 20

// next reads the next frame and returns its message. It returns io.EOF
// at a clean end of the stream (between frames); r's error, or
// io.ErrUnexpectedEOF, within a frame; a *FrameTooLargeError for a length
// prefix above max, before allocating anything for the frame; a
// *ProtocolVersionError for a frame of another version; an error matching
// commitlog.ErrMalformedMessage for an empty frame or one that does not
// decode; and one matching commitlog.ErrUnknownMessageVersion for a
// message of a version this build does not know, after which the stream
// is still in step (the caller drops the message and reads on).
func (fr *frameReader) next() (commitlog.Message, error) {
	var h [tcpFrameHeaderSize]byte
	if _, err := io.ReadFull(fr.r, h[:4]); err != nil {
		return commitlog.Message{}, err // io.EOF between frames, io.ErrUnexpectedEOF within
	}
	size := int64(binary.BigEndian.Uint32(h[:4]))
	if size > int64(fr.max) {
		return commitlog.Message{}, fmt.Errorf("cluster: frame from %s: %w", fr.addr, &FrameTooLargeError{Size: size, Max: int64(fr.max)})
	}
	if size < 1 {
		return commitlog.Message{}, fmt.Errorf("cluster: frame from %s: %w", fr.addr,
			&commitlog.MalformedMessageError{Offset: 0, Reason: "empty frame: no version byte"})
	}
	if _, err := io.ReadFull(fr.r, h[4:5]); err != nil {
		return commitlog.Message{}, unexpected(err)
	}
	if h[4] != tcpFrameVersion {
		return commitlog.Message{}, &ProtocolVersionError{Addr: fr.addr, Version: h[4], Supported: tcpFrameVersion}
	}
	n := int(size - 1)
	buf := fr.buf
	if cap(buf) < n {
		buf = make([]byte, n)
		if n <= frameBufKeep {
			fr.buf = buf
		}
	}
	buf = buf[:n]
	if _, err := io.ReadFull(fr.r, buf); err != nil {
		return commitlog.Message{}, unexpected(err)
	}
	var m commitlog.Message
	if err := m.UnmarshalBinary(buf); err != nil { // copies what it keeps
		return commitlog.Message{}, fmt.Errorf("cluster: frame from %s: %w", fr.addr, err)
	}
	return m, nil
}

// unexpected turns io.EOF within a frame into io.ErrUnexpectedEOF.
func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}
