package compress

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"sync"

	"github.com/klauspost/compress/gzip"
)

// gzipEncoder is a pooled gzip writer together with the appendWriter it
// writes into, so that a Compress call allocates nothing once warm.
type gzipEncoder struct {
	zw *gzip.Writer
	aw appendWriter
}

// gzipEncoders holds one pool per level; index 0 is the default level.
var gzipEncoders [maxGzipLevel + 1]sync.Pool

func compressGzip(dst []byte, level int, src []byte) ([]byte, error) {
	e, _ := gzipEncoders[level].Get().(*gzipEncoder)
	if e == nil {
		lvl := level
		if lvl == 0 {
			lvl = gzip.DefaultCompression
		}
		zw, err := gzip.NewWriterLevel(nil, lvl)
		if err != nil { // unreachable: level was validated
			return dst, fmt.Errorf("compress: gzip: %w", err)
		}
		e = &gzipEncoder{zw: zw}
	}
	e.aw.b = dst
	e.zw.Reset(&e.aw)
	_, werr := e.zw.Write(src)
	cerr := e.zw.Close()
	out := e.aw.b
	e.aw.b = nil
	gzipEncoders[level].Put(e)
	if werr != nil { // unreachable: appendWriter never fails
		return dst, fmt.Errorf("compress: gzip: %w", werr)
	}
	if cerr != nil {
		return dst, fmt.Errorf("compress: gzip: %w", cerr)
	}
	return out, nil
}

// gzipDecoder is a pooled gzip reader with its source reader.
type gzipDecoder struct {
	zr    gzip.Reader
	br    bytes.Reader
	probe [1]byte
}

var gzipDecoders = sync.Pool{New: func() any { return new(gzipDecoder) }}

// maxDeflateRatio bounds the expansion of deflate (about 1032:1), used only to
// keep a corrupt ISIZE trailer from sizing an oversized first allocation.
const maxDeflateRatio = 1032

func decompressGzip(dst, src []byte, max int) ([]byte, error) {
	// The ISIZE trailer (uncompressed size mod 2^32 of the last member) is a
	// good first guess for single-member streams, which is what Kafka writes.
	hint := 0
	if len(src) >= 18 {
		hint = int(binary.LittleEndian.Uint32(src[len(src)-4:]))
		if bound := len(src) * maxDeflateRatio; hint > bound {
			hint = bound
		}
	}
	d := gzipDecoders.Get().(*gzipDecoder)
	defer func() {
		d.br.Reset(nil)
		gzipDecoders.Put(d)
	}()
	d.br.Reset(src)
	if err := d.zr.Reset(&d.br); err != nil {
		return dst, corrupt(Gzip, err)
	}
	return readCapped(Gzip, dst, &d.zr, &d.probe, max, hint)
}
