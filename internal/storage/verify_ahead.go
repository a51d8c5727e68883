package storage

import (
	"sync"
	"sync/atomic"

	"github.com/commitlog-go/commitlog/internal/record"
)

const (
	// verifyAheadAfter is how much of one segment a reader reads before it
	// starts checking ahead: short reads (a consumer's poll, a tail) never
	// start a goroutine.
	verifyAheadAfter = 1 << 20
	// verifyAheadMin is how much must be left to read in the segment for
	// checking ahead to be worth a goroutine.
	verifyAheadMin = 1 << 20
	// verifyAheadWindow bounds how far the checker runs ahead of the
	// reader, so that a slow reader does not have the rest of a segment
	// faulted in ahead of it. (Windows of 2 to 32 MiB read equally fast.)
	verifyAheadWindow = 8 << 20
)

// verifyAhead checks the CRCs of a memory-mapped segment's batches on a
// goroutine of its own, ahead of the Reader that owns it. A long
// sequential read then spends its own time decoding records, while another
// CPU faults the next batches in and verifies them: the CRC was a third of
// a scan's time, and a scan of 1,000,000 records of 100 bytes (120 MB) in
// a fresh process went from 55-58 to 27-30 ms.
//
// Its page faults are also the read-ahead of a cold segment. Reading
// further ahead did not help there (bench W4cold, 3 repetitions each,
// alternating): MADV_WILLNEED 4 MiB past the checker took the read from
// 2,500-2,600 MB/s to 1,350-1,780, and 1 MiB preads 4 MiB ahead of it
// made 2,690-2,800, within the runs' spread.
//
// The checker walks the same chain of batches as the reader, from the
// batch boundary the reader was at when it started, and publishes how far
// it has verified; the reader skips the CRC of a batch that ends below
// that point and computes it itself otherwise. The checker stops at the
// first batch it cannot verify, leaving the reader to find and report what
// is wrong with it, so checking ahead changes no error.
//
// The owner calls stop before it releases the segment, as the goroutine
// reads its mapping. The zero verifyAhead is stopped.
type verifyAhead struct {
	data     []byte       // the segment's mapping, up to the reader's limit
	window   int64        // verifyAheadWindow, or less in tests
	verified atomic.Int64 // every batch of the chain that ends at or below it has a good CRC
	reader   atomic.Int64 // the reader's position
	// wakeAt is where the reader must get to for the checker, waiting for
	// it to catch up, to go on (0: not waiting). The checker waits until
	// the reader is half a window behind, not for every batch it reads,
	// so that it parks once per half window rather than once per batch.
	wakeAt atomic.Int64
	wake   chan struct{} // cap 1: the reader got to wakeAt, or stop was called
	quit   atomic.Bool   // stop was called
	done   sync.WaitGroup
}

// start begins checking data's batches from the batch boundary pos on, at
// most window bytes ahead of the reader. v is zero or stopped; a stopped
// one is reused, channel and all, so that a reader moving from segment to
// segment allocates nothing more than the goroutine.
func (v *verifyAhead) start(data []byte, pos, window int64) {
	v.data, v.window = data, window
	v.verified.Store(pos)
	v.reader.Store(pos)
	v.wakeAt.Store(0)
	v.quit.Store(false)
	if v.wake == nil {
		v.wake = make(chan struct{}, 1)
	}
	select {
	case <-v.wake: // a signal left from the last run
	default:
	}
	v.done.Add(1)
	go v.run(pos)
}

// running reports whether the checker was started and not stopped.
func (v *verifyAhead) running() bool { return v.data != nil }

func (v *verifyAhead) run(pos int64) {
	defer v.done.Done()
	end := int64(len(v.data))
	for pos < end && !v.quit.Load() {
		r := v.reader.Load()
		if r > pos {
			pos = r // the reader overtook; its position is on the chain
			continue
		}
		if pos-r > v.window {
			at := pos - v.window/2
			v.wakeAt.Store(at)
			if v.reader.Load() < at { // else it got there after the load above
				<-v.wake
			}
			v.wakeAt.Store(0)
			continue
		}
		h, err := record.ParseHeader(v.data[pos:], int(min(end-pos, 1<<31-1)))
		if err != nil {
			return
		}
		next := pos + int64(h.Size())
		if next > end || record.CheckCRC(v.data[pos:next]) != nil {
			return
		}
		pos = next
		v.verified.Store(pos)
	}
}

// checked reports whether the batch that ends at end was verified, and
// records that the reader has moved there. Only the owning reader calls
// it, with the end of the batch at its position.
func (v *verifyAhead) checked(end int64) bool {
	ok := end <= v.verified.Load()
	v.reader.Store(end)
	if at := v.wakeAt.Load(); at > 0 && end >= at {
		v.signal()
	}
	return ok
}

// signal wakes the checker if it waits; a signal already pending will do.
func (v *verifyAhead) signal() {
	select {
	case v.wake <- struct{}{}:
	default:
	}
}

// stop ends the goroutine, if running, and waits for it, so that the
// owner may release the segment.
func (v *verifyAhead) stop() {
	if !v.running() {
		return
	}
	v.quit.Store(true)
	v.signal()
	v.done.Wait()
	v.data = nil
}
