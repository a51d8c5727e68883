package histcheck

import (
	"io"
	"strconv"
	"sync"
	"time"
)

// Partition identifies a partition: a topic and a partition number.
type Partition struct {
	Topic string
	ID    int32
}

// String returns "topic-id", Kafka's usual spelling.
func (p Partition) String() string { return p.Topic + "-" + strconv.Itoa(int(p.ID)) }

// Read is one record as a poll or a final read returned it.
type Read struct {
	Partition Partition
	Offset    int64
	Value     string
}

// Config configures a Recorder. The zero value keeps what Check needs,
// writes nothing and stamps acknowledgements and crashes with time.Now.
type Config struct {
	// Output, when not nil, receives every event as one line of the line
	// format (see the package documentation) as it is recorded, in one
	// Write call per line. The first write error is kept (see Err); later
	// events are still recorded but no longer written.
	Output io.Writer
	// WriteOnly makes the Recorder keep nothing: it only writes lines to
	// Output. This is for a process whose events another process checks,
	// such as the child of a kill -9 test: its memory stays constant.
	// Check on such a Recorder reports an invalid-history anomaly.
	WriteOnly bool
	// Now is the clock that stamps acknowledgements and crashes, against
	// which Options.LossWindow is measured. The default is time.Now (fake
	// time inside a testing/synctest bubble).
	Now func() time.Time
}

// Recorder records what a test's clients did and saw: sends and their
// outcomes, polls, commits, crashes, and the state found after recovery.
// Check reports the anomalies in it.
//
// A Recorder is safe for concurrent use. The zero value is ready to use
// and behaves as NewRecorder(Config{}). Record each invocation (Send,
// Commit) before calling the system, so that no poll can see a value
// before its send is recorded, and complete its handle after the call
// returns.
type Recorder struct {
	mu     sync.Mutex // guards everything below and the handles' done flags
	cfg    Config
	h      *history // nil until first use, and always when cfg.WriteOnly
	nextID int64    // handle ids, for the line format
	acked  int      // records acknowledged so far
	line   []byte   // the line being encoded
	werr   error    // first error writing to cfg.Output
}

// NewRecorder returns an empty Recorder configured by c.
func NewRecorder(c Config) *Recorder {
	return &Recorder{cfg: c}
}

// historyLocked returns the history, creating it on first use; nil for a
// write-only Recorder.
//
// REQUIRES: r.mu held.
func (r *Recorder) historyLocked() *history {
	if r.h == nil && !r.cfg.WriteOnly {
		r.h = newHistory()
	}
	return r.h
}

// nowLocked returns the current time of the Recorder's clock, in Unix
// nanoseconds.
//
// REQUIRES: r.mu held.
func (r *Recorder) nowLocked() int64 {
	if r.cfg.Now != nil {
		return r.cfg.Now().UnixNano()
	}
	return time.Now().UnixNano()
}

// Err returns the first error writing to Config.Output, or nil.
func (r *Recorder) Err() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.werr
}

// Acked returns how many records have been acknowledged so far (by Ok or
// OkNotDurable). A test driving another process can watch it to decide
// when to kill that process.
func (r *Recorder) Acked() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.acked
}

// Send records that producer sends values, in this order, to p, and
// returns the handle on which to record the outcome. Values must be
// unique across all sends of the history, so that every read names the
// send it came from: a value sent twice is reported as invalid-history.
// The values slice is not retained.
func (r *Recorder) Send(producer string, p Partition, values ...string) *Send {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.nextID++
	s := &Send{r: r, id: r.nextID, idx: -1, n: len(values)}
	if h := r.historyLocked(); h != nil {
		s.idx = h.send(producer, p, values)
	}
	if r.cfg.Output != nil {
		r.writeSendLocked(s.id, producer, p, values)
	}
	return s
}

// Send is the handle of one send. Complete it exactly once, with Ok,
// OkNotDurable, Fail or Unknown; a send never completed (its process was
// killed, or a Crash was recorded first) counts as unknown.
type Send struct {
	r    *Recorder
	id   int64
	idx  int32 // index in history.sends; -1 for a write-only Recorder
	n    int   // number of values
	done bool  // guarded by r.mu
}

// Ok records that the send was acknowledged as durable: its values got
// the consecutive offsets from base on, and they survive any crash
// (SyncAlways).
func (s *Send) Ok(base int64) { s.complete(sendOK, base, 0, false) }

// OkNotDurable records that the send was acknowledged as written but not
// yet durable (SyncInterval, SyncNever): its values got the consecutive
// offsets from base on, and a crash may lose them, but only as part of a
// lost suffix of the partition (and, with Options.LossWindow, only if the
// acknowledgement came shortly before the crash).
func (s *Send) OkNotDurable(base int64) { s.complete(sendOKNotDurable, base, 0, false) }

// Fail records that the send definitely wrote nothing: a validation
// error, or a partition in a failed state refusing it. Its values must
// never be read.
func (s *Send) Fail() { s.complete(sendFailed, 0, 0, false) }

// Unknown records that the outcome of the send is unknown: a timeout, a
// crash, or an error such as ErrDurability after the write. Its values
// may or may not be read, each at most once.
func (s *Send) Unknown() { s.complete(sendUnknown, 0, 0, false) }

// complete records the outcome; at is the acknowledgement's time when
// stamped is true (decoded lines), else the Recorder's clock is read.
func (s *Send) complete(st sendStatus, base, at int64, stamped bool) {
	r := s.r
	r.mu.Lock()
	defer r.mu.Unlock()
	twice := s.done
	s.done = true
	acked := (st == sendOK || st == sendOKNotDurable) && !twice
	if !stamped {
		at = r.nowLocked()
	}
	if h := r.historyLocked(); h != nil {
		if twice {
			h.invalidf("%s completed twice (the second time as %s)", h.sendName(s.idx), st)
		} else if !h.complete(s.idx, st, base, at) {
			acked = false // a late completion, after a crash
		}
	}
	if acked {
		r.acked += s.n
	}
	if r.cfg.Output != nil {
		r.writeCompletionLocked(s.id, st, base, at)
	}
}

// Poll records what one poll of consumer returned, in order. epoch
// identifies the consumer's assignment: within one consumer and epoch the
// offsets of each partition must strictly increase without skipping
// records. Start a new epoch whenever the consumer's positions may
// legitimately jump (a rebalance, a seek, a restart), or record the jump
// with Seek. A Crash ends every epoch. The records slice is not retained.
func (r *Recorder) Poll(consumer string, epoch int, records ...Read) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if h := r.historyLocked(); h != nil {
		h.poll(consumer, int64(epoch), records)
	}
	if r.cfg.Output != nil {
		r.writePollLocked(consumer, epoch, records)
	}
}

// Seek records that consumer, in epoch, moved its position on p to
// offset: its next poll of p must start at offset, or after it only if
// the records in between are not known to exist.
func (r *Recorder) Seek(consumer string, epoch int, p Partition, offset int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if h := r.historyLocked(); h != nil {
		h.seek(consumer, int64(epoch), p, offset)
	}
	if r.cfg.Output != nil {
		r.writeSeekLocked(consumer, epoch, p, offset)
	}
}

// Commit records that group commits offset for p, the offset of the next
// record to consume, and returns the handle on which to record the
// outcome.
func (r *Recorder) Commit(group string, p Partition, offset int64) *Commit {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.nextID++
	c := &Commit{r: r, id: r.nextID, idx: -1}
	if h := r.historyLocked(); h != nil {
		c.idx = h.commit(group, p, offset)
	}
	if r.cfg.Output != nil {
		r.writeCommitLocked(c.id, group, p, offset)
	}
	return c
}

// Commit is the handle of one offset commit. Complete it exactly once,
// with Ok, OkNotDurable, Fail or Unknown; a commit never completed counts
// as unknown.
type Commit struct {
	r    *Recorder
	id   int64
	idx  int32 // index in history.commits; -1 for a write-only Recorder
	done bool  // guarded by r.mu
}

// Ok records that the commit was acknowledged as durable: the group's
// committed offset is never below it again, across crashes, unless reset.
func (c *Commit) Ok() { c.complete(commitOK) }

// OkNotDurable records that the commit was acknowledged but may be lost
// by a crash: until the next crash the group's committed offset is never
// below it, unless reset.
func (c *Commit) OkNotDurable() { c.complete(commitOKNotDurable) }

// Fail records that the commit definitely did not happen.
func (c *Commit) Fail() { c.complete(commitFailed) }

// Unknown records that the outcome of the commit is unknown.
func (c *Commit) Unknown() { c.complete(commitUnknown) }

func (c *Commit) complete(st commitStatus) {
	r := c.r
	r.mu.Lock()
	defer r.mu.Unlock()
	twice := c.done
	c.done = true
	if h := r.historyLocked(); h != nil {
		if twice {
			h.invalidf("%s completed twice (the second time as %s)", h.commitName(c.idx), st)
		} else {
			h.completeCommit(c.idx, st)
		}
	}
	if r.cfg.Output != nil {
		r.writeCommitCompletionLocked(c.id, st)
	}
}

// ResetCommit records an administrative reset of group's committed offset
// for p to offset (such as ResetGroupOffsets): the committed offset may go
// backwards here, and later commits are compared with offset.
func (r *Recorder) ResetCommit(group string, p Partition, offset int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if h := r.historyLocked(); h != nil {
		h.resetCommit(group, p, offset)
	}
	if r.cfg.Output != nil {
		r.writeResetCommitLocked(group, p, offset)
	}
}

// Crash records that the system crashed and restarted (kill -9, power
// loss). Data and commits acknowledged durable before it must survive;
// data acknowledged as not durable may be lost, as a suffix of its
// partition; sends and commits in flight become unknown (completing them
// later changes nothing), and every consumer epoch ends. When another
// process produced the events, apply all of its output before calling
// Crash.
func (r *Recorder) Crash() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.crashLocked(r.nowLocked())
}

// REQUIRES: r.mu held.
func (r *Recorder) crashLocked(at int64) {
	if h := r.historyLocked(); h != nil {
		h.crash(at)
	}
	if r.cfg.Output != nil {
		r.writeCrashLocked(at)
	}
}

// Final records a full read of p: every record from start (the
// partition's start offset: records below it were deleted by retention)
// up to end (the partition's end offset, the offset the next record would
// get), in offset order. Record it after a recovery, while nothing writes
// to p. A history may hold several: each is checked against everything
// recorded before it, so record one after every crash to check each
// recovered state. Every record of the partition known before it must be
// in it unless a crash in between may have lost it. The records slice is
// not retained.
func (r *Recorder) Final(p Partition, start, end int64, records []Read) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if h := r.historyLocked(); h != nil {
		h.final(p, start, end, records)
	}
	if r.cfg.Output != nil {
		r.writeFinalLocked(p, start, end, records)
	}
}

// FinalCommit records group's committed offset for p as found after a
// recovery; ok false means none was found. It must not be below a commit
// acknowledged durable before, nor above the end of p's data (as the
// Finals of p recorded since the last crash show it).
func (r *Recorder) FinalCommit(group string, p Partition, offset int64, ok bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if h := r.historyLocked(); h != nil {
		h.finalCommit(group, p, offset, ok)
	}
	if r.cfg.Output != nil {
		r.writeFinalCommitLocked(group, p, offset, ok)
	}
}
