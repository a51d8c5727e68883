package commitlog

import (
	"errors"
	"fmt"
)

// On a replicated Log a consumer's records can be taken back: an unclean
// leader election (TopicConfig.UncleanLeaderElection) lets a replica
// without them lead, and the replicas that had them truncate to it, so
// their offsets hold other records from then on. The consumer detects it
// as Kafka's does (KIP-320): it keeps the leader epoch of the last record
// it read (and its group commits that epoch with the offset), and before
// reading on, whenever the partition's latest epoch changed or its end
// fell below the position, it asks the partition where that epoch ends
// now. An end below the position means the records between were
// replaced.

// noLeaderEpoch is an unknown leader epoch.
const noLeaderEpoch int32 = -1

// validateLocked checks cp's position against the partition as it is
// now, before Poll reads on there. ok is false when the partition is not
// to be read this time: under ResetNone a truncation is err, every time
// until a Seek; otherwise the position moves to where the log diverged,
// and the truncation waits in cp.truncation for takeTruncationLocked to
// report it before any record read from there. REQUIRES: c.mu.
func (c *Consumer) validateLocked(cp *consumedPartition) (ok bool, err error) {
	if cp.truncation != nil {
		return false, nil
	}
	if cp.p.repl == nil || cp.epoch < 0 || cp.pos <= 0 {
		return true, nil
	}
	s := cp.p.store
	latest := s.LatestEpoch()
	if latest == cp.validated && s.EndOffset() >= cp.pos {
		return true, nil
	}
	epoch, end := s.EndOffsetForEpoch(cp.epoch)
	if epoch < 0 || end >= cp.pos {
		// Consistent, or older than every epoch the partition still
		// holds (retention moved its start): nothing to compare with.
		cp.validated = latest
		return true, nil
	}
	trunc := &LogTruncationError{Topic: cp.tp.Topic, Partition: cp.tp.Partition, Offset: cp.pos, Epoch: cp.epoch,
		DivergingOffset: end, Reset: c.cfg.AutoOffsetReset != ResetNone}
	if !trunc.Reset {
		return false, trunc
	}
	c.log.opts.Logger.Warn("records the consumer read were truncated (unclean leader election); reading on from where the log diverged",
		"group", c.cfg.Group, "topic", cp.tp.Topic, "partition", cp.tp.Partition, "offset", cp.pos, "epoch", cp.epoch, "diverging_offset", end)
	cp.cur.close()
	cp.pos, cp.epoch, cp.validated = end, epoch, latest
	cp.truncation, c.truncations = trunc, true
	return false, nil
}

// takeTruncationLocked returns, and forgets, a truncation detected and
// moved past that Poll has not reported yet. REQUIRES: c.mu.
func (c *Consumer) takeTruncationLocked() error {
	if !c.truncations {
		return nil
	}
	c.truncations = false
	for _, cp := range c.order {
		if err := cp.truncation; err != nil {
			cp.truncation = nil
			c.truncations = true // there may be more
			return err
		}
	}
	return nil
}

// ErrLogTruncated is returned by Consumer.Poll, on a replicated Log, when
// records the consumer read, or its group committed past, are no longer
// in the partition: an unclean leader election replaced them, and their
// offsets may now hold other records (Kafka's LogTruncationException).
// The *LogTruncationError says where the log diverged.
var ErrLogTruncated = errors.New("commitlog: consumed records were truncated from the log")

// LogTruncationError reports records a consumer read that an unclean
// leader election took back. It matches ErrLogTruncated.
type LogTruncationError struct {
	Topic     string
	Partition int32
	// Offset is the consumer's position when it found out, and Epoch the
	// leader epoch of the record before it as the consumer read it.
	Offset int64
	Epoch  int32
	// DivergingOffset is the first offset whose record may differ from
	// what the consumer read: where Epoch (or the latest epoch before it
	// that the partition holds) ends in the partition now.
	DivergingOffset int64
	// Reset says Poll moved the position to DivergingOffset (an
	// AutoOffsetReset other than ResetNone). Under ResetNone the position
	// stays and Poll keeps failing until a Seek.
	Reset bool
}

func (e *LogTruncationError) Error() string {
	what := fmt.Sprintf("commitlog: %s-%d: the records consumed from offset %d to %d (leader epoch %d) are no longer in the partition: an unclean leader election replaced them",
		e.Topic, e.Partition, e.DivergingOffset, e.Offset, e.Epoch)
	if e.Reset {
		return what + fmt.Sprintf("; the position moved back to %d, and the records there now are read next", e.DivergingOffset)
	}
	return what + fmt.Sprintf("; Seek to %d to read the records there now", e.DivergingOffset)
}

// Is reports whether target is ErrLogTruncated.
func (e *LogTruncationError) Is(target error) bool { return target == ErrLogTruncated }
