package compress

import (
	"errors"
	"io"
)

// appendWriter is an io.Writer that appends to b. It lets the streaming
// encoders write straight into the caller's dst.
type appendWriter struct{ b []byte }

func (w *appendWriter) Write(p []byte) (int, error) {
	w.b = append(w.b, p...)
	return len(p), nil
}

// minGrow is the smallest amount readCapped grows its output by.
const minGrow = 4 << 10

// maxZeroReads bounds consecutive (0, nil) reads before readCapped gives up,
// as io.ReadFull-style loops do with io.ErrNoProgress.
const maxZeroReads = 100

// readCapped appends everything r produces to dst and returns the extended
// slice. It fails with an error wrapping ErrTooLarge as soon as r has produced
// more than maxOut bytes, and never grows dst to hold more than maxOut new
// bytes (one more byte is read into probe to detect the overflow).
// hint is an estimate of the output size (already bounded by the caller);
// it only sizes the first allocation. Errors from r other than io.EOF are
// returned wrapped as ErrCorrupt. On error dst is returned with its original
// length. probe is a one-byte scratch buffer; it is passed in (from the pooled
// decoder) because a local array read through an interface escapes to the
// heap.
//
// REQUIRES: maxOut <= MaxInt-len(dst)-1 (see clampMax).
func readCapped(c Codec, dst []byte, r io.Reader, probe *[1]byte, maxOut, hint int) ([]byte, error) {
	start := len(dst)
	limit := start + maxOut // the output may reach, but not pass, limit
	if hint > maxOut {
		hint = maxOut
	}
	if hint < 0 {
		hint = 0
	}
	if cap(dst)-start < hint {
		dst = grow(dst, hint)
	}
	zeroReads := 0
	for {
		var (
			n   int
			err error
		)
		end := min(cap(dst), limit)
		if len(dst) < end {
			n, err = r.Read(dst[len(dst):end])
			dst = dst[:len(dst)+n]
		} else {
			// The buffer is full (or at the limit): read a single probe byte
			// before growing, so that an exactly sized buffer never grows
			// just to observe io.EOF, and output past the limit is detected
			// without buffering it.
			n, err = r.Read(probe[:])
			if n > 0 {
				if len(dst) >= limit {
					return dst[:start], tooLarge(c, maxOut)
				}
				dst = grow(dst, min(max(len(dst)-start, minGrow), limit-len(dst)))
				dst = append(dst, probe[0])
			}
		}
		switch {
		case err == io.EOF:
			return dst, nil
		case err != nil:
			return dst[:start], corrupt(c, err)
		case n == 0:
			zeroReads++
			if zeroReads >= maxZeroReads {
				return dst[:start], corrupt(c, io.ErrNoProgress)
			}
		default:
			zeroReads = 0
		}
	}
}

// grow returns dst with room for at least n more bytes, keeping its contents.
// Unlike slices.Grow it does not round the request up to a doubling, so the
// caller controls how much is allocated.
func grow(dst []byte, n int) []byte {
	if n <= cap(dst)-len(dst) {
		return dst
	}
	nb := make([]byte, len(dst), len(dst)+n)
	copy(nb, dst)
	return nb
}

// errShortOutput reports a block decoder that produced fewer bytes than the
// block declared.
var errShortOutput = errors.New("decoded length differs from declared length")
