package compress

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"sync"

	"github.com/pierrec/lz4/v4"
)

// lz4FrameMagic is the LZ4 frame format magic number (little-endian on the
// wire).
const lz4FrameMagic = 0x184D2204

// lz4Levels maps our levels to pierrec/lz4 levels: 0 is the fast compressor
// (Kafka's default), 1..9 the high-compression levels.
var lz4Levels = [maxLZ4Level + 1]lz4.CompressionLevel{
	lz4.Fast, lz4.Level1, lz4.Level2, lz4.Level3, lz4.Level4,
	lz4.Level5, lz4.Level6, lz4.Level7, lz4.Level8, lz4.Level9,
}

// lz4Encoder is a pooled frame writer with the appendWriter it writes into.
type lz4Encoder struct {
	zw *lz4.Writer
	aw appendWriter
}

var lz4Encoders [maxLZ4Level + 1]sync.Pool

func newLZ4Encoder(level int) (*lz4Encoder, error) {
	e := &lz4Encoder{zw: lz4.NewWriter(nil)}
	// What Kafka's Lz4BlockOutputStream writes: 64 KiB blocks, independent,
	// no block checksum, no content checksum, no content size.
	err := e.zw.Apply(
		lz4.BlockSizeOption(lz4.Block64Kb),
		lz4.BlockChecksumOption(false),
		lz4.ChecksumOption(false),
		lz4.ConcurrencyOption(1),
		lz4.CompressionLevelOption(lz4Levels[level]),
	)
	if err != nil { // unreachable: the options are constants the library accepts
		return nil, fmt.Errorf("compress: lz4: %w", err)
	}
	return e, nil
}

func compressLZ4(dst []byte, level int, src []byte) ([]byte, error) {
	e, _ := lz4Encoders[level].Get().(*lz4Encoder)
	if e == nil {
		var err error
		if e, err = newLZ4Encoder(level); err != nil {
			return dst, err
		}
	}
	e.aw.b = dst
	e.zw.Reset(&e.aw)
	_, werr := e.zw.Write(src)
	cerr := e.zw.Close()
	out := e.aw.b
	e.aw.b = nil
	if werr != nil || cerr != nil {
		// Should not happen (appendWriter never fails), but do not pool a
		// writer in an unknown state.
		if werr == nil {
			werr = cerr
		}
		return dst, fmt.Errorf("compress: lz4: %w", werr)
	}
	lz4Encoders[level].Put(e)
	return out, nil
}

// lz4Decoder is a pooled frame reader with its source reader.
type lz4Decoder struct {
	zr    *lz4.Reader
	br    bytes.Reader
	probe [1]byte
}

var lz4Decoders = sync.Pool{New: func() any {
	d := &lz4Decoder{zr: lz4.NewReader(nil)}
	// Synchronous decoding: no goroutines, output produced on demand, so
	// readCapped's limit bounds the work done.
	_ = d.zr.Apply(lz4.ConcurrencyOption(1))
	return d
}}

// lz4GuessRatio sizes the first allocation (lz4 rarely exceeds ~5:1 on
// record data; readCapped grows geometrically past the guess).
const lz4GuessRatio = 4

func decompressLZ4(dst, src []byte, max int) ([]byte, error) {
	// Kafka writes (and its reader accepts) only the standard frame magic;
	// rejecting others here also keeps legacy frames (8 MiB blocks) out.
	if len(src) < 4 || binary.LittleEndian.Uint32(src) != lz4FrameMagic {
		return dst, corruptf(LZ4, "missing frame magic")
	}
	d := lz4Decoders.Get().(*lz4Decoder)
	d.br.Reset(src)
	d.zr.Reset(&d.br)
	out, err := readCapped(LZ4, dst, d.zr, &d.probe, max, len(src)*lz4GuessRatio)
	d.zr.Reset(nil)
	d.br.Reset(nil)
	lz4Decoders.Put(d)
	return out, err
}
