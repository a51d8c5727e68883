package storage

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/commitlog-go/commitlog/internal/vfs"
)

// Errors the partition log returns. The root package re-exports each under
// the same name (a variable holding the same value, or a type alias), so
// errors.Is and errors.As hold across the boundary and callers see one set.
var (
	// ErrClosed is returned by calls on a Log (and its topics, partitions
	// and cursors), a Producer or a Consumer made after its Close, and by
	// calls in flight that Close interrupts.
	ErrClosed = errors.New("commitlog: closed")
	// ErrInvalidArgument is returned for other invalid arguments, such as an
	// empty batch or a negative offset.
	ErrInvalidArgument = errors.New("commitlog: invalid argument")
	// ErrOffsetOutOfRange is returned for an offset outside what the call
	// allows: a read outside the partition's [start, end] range,
	// DeleteRecords or a commit above the high watermark, or a Poll under
	// ResetNone without a committed offset. The *OffsetOutOfRangeError
	// carries the range.
	ErrOffsetOutOfRange = errors.New("commitlog: offset out of range")
	// ErrRecordTooLarge is returned for a batch or record larger than the
	// topic allows; the *RecordTooLargeError says how large it was.
	ErrRecordTooLarge = errors.New("commitlog: record too large")
	// ErrConflict is returned by AppendIf when the partition's end offset is
	// not the expected one; the *ConflictError carries the actual end.
	ErrConflict = errors.New("commitlog: conflict: end offset moved")
	// ErrCorrupt is returned when stored data fails its checksum or
	// structure checks; the *CorruptionError names the file and position.
	ErrCorrupt = errors.New("commitlog: corrupt data")
	// ErrDiskFull is returned when a write failed for lack of space. Nothing
	// of a failed append is visible and earlier data is intact; appends
	// succeed again once space is freed.
	ErrDiskFull = errors.New("commitlog: disk full")
	// ErrDurability is returned when a write or fsync failed. The partition
	// stops accepting appends (reads keep working), because after a failed
	// fsync the operating system may have dropped the data: reopen the Log
	// to re-derive what is on disk.
	ErrDurability = errors.New("commitlog: durability failure")
	// ErrOutOfOrderSequence is returned for a batch of an idempotent
	// producer whose sequence number does not follow the last one the
	// partition holds from that producer: a batch in between is missing.
	// The *SequenceError carries the numbers.
	ErrOutOfOrderSequence = errors.New("commitlog: out-of-order sequence number")
	// ErrProducerFenced is returned for a batch of an idempotent producer
	// whose epoch is older than one the partition has already seen for
	// the same producer id: a newer instance has taken over that id.
	ErrProducerFenced = errors.New("commitlog: producer fenced by a newer epoch")
	// ErrUnexpectedOffset is returned by AppendAsFollower for batches that
	// do not start at the partition's end offset, or do not follow each
	// other (Kafka's UnexpectedAppendOffsetException); the
	// *UnexpectedOffsetError carries the offsets.
	ErrUnexpectedOffset = errors.New("commitlog: unexpected append offset")
	// ErrLogTruncated is returned by a Reader whose bound was taken before
	// TruncateTo removed the batches it was to read next, and by an
	// append waiting for an fsync that TruncateTo removed first; the
	// *TruncatedError says where the log was cut. Read again from there.
	ErrLogTruncated = errors.New("commitlog: log truncated under the reader")
)

// UnexpectedOffsetError reports batches given to AppendAsFollower whose
// base offset is not the one the partition needs next: Expected is the
// partition's end offset for the first batch, the previous batch's next
// offset for a later one; Actual is the batch's base offset. It matches
// ErrUnexpectedOffset. Nothing was appended.
type UnexpectedOffsetError struct {
	Topic     string
	Partition int32
	Index     int // the batch's position among those given
	Expected  int64
	Actual    int64
}

func (e *UnexpectedOffsetError) Error() string {
	if e.Index == 0 {
		return fmt.Sprintf("commitlog: %s-%d: the leader's batch starts at offset %d, the partition ends at %d; truncate or fetch from %d",
			e.Topic, e.Partition, e.Actual, e.Expected, e.Expected)
	}
	return fmt.Sprintf("commitlog: %s-%d: the leader's batch %d starts at offset %d, the batch before it ends at %d: the batches are not contiguous",
		e.Topic, e.Partition, e.Index, e.Actual, e.Expected)
}

// Is reports whether target is ErrUnexpectedOffset.
func (e *UnexpectedOffsetError) Is(target error) bool { return target == ErrUnexpectedOffset }

// EpochError reports a leader epoch older than the partition's latest
// (LatestEpoch), given to Op (AssignLeaderEpoch, AppendBatch or
// AppendAsFollower): a leader that a newer one has replaced, whose writes
// would rewrite the partition's epoch history. For AppendAsFollower,
// Latest is the epoch of the partition's last batch. It matches
// ErrInvalidArgument. Nothing changed.
type EpochError struct {
	Topic     string
	Partition int32
	Op        string
	Epoch     int32
	Latest    int32
}

func (e *EpochError) Error() string {
	return fmt.Sprintf("commitlog: %s on %s-%d: leader epoch %d is older than the partition's latest epoch %d",
		e.Op, e.Topic, e.Partition, e.Epoch, e.Latest)
}

// Is reports whether target is ErrInvalidArgument.
func (e *EpochError) Is(target error) bool { return target == ErrInvalidArgument }

// TruncatedError is what a Reader returns once TruncateTo has cut the
// log below the batch it was to read, or ResetTo removed every batch:
// its bound (a high watermark or written position) was taken before the
// cut; and what an append waiting for its fsync (SyncAlways) returns
// when its records were cut before they became durable: they are not
// acknowledged. Offset is where the reader was, or the append's last
// offset; End the offset the log was truncated to (after ResetTo, the
// old log's first offset, or the new one's start when lower). It matches
// ErrLogTruncated.
type TruncatedError struct {
	Topic     string
	Partition int32
	Offset    int64
	End       int64
}

func (e *TruncatedError) Error() string {
	return fmt.Sprintf("commitlog: %s-%d was truncated to offset %d while a reader was at offset %d; read again from %d",
		e.Topic, e.Partition, e.End, e.Offset, e.End)
}

// Is reports whether target is ErrLogTruncated.
func (e *TruncatedError) Is(target error) bool { return target == ErrLogTruncated }

// SequenceError reports a batch of an idempotent producer that the
// partition refused because its sequence numbers do not follow, or its
// epoch is older than, the producer's last batch in the partition. It
// matches ErrOutOfOrderSequence or, when Epoch < LastEpoch,
// ErrProducerFenced. Nothing of the batch was appended.
type SequenceError struct {
	Topic      string
	Partition  int32
	ProducerID int64
	Epoch      int16 // the batch's producer epoch
	LastEpoch  int16 // the epoch of the producer's last batch in the partition
	FirstSeq   int32 // the batch's first sequence number
	Expected   int32 // the sequence number the partition expected next
}

func (e *SequenceError) Error() string {
	if e.Epoch < e.LastEpoch {
		return fmt.Sprintf("commitlog: %s-%d: producer %d epoch %d is fenced: the partition holds batches of epoch %d from a newer instance; this producer must stop",
			e.Topic, e.Partition, e.ProducerID, e.Epoch, e.LastEpoch)
	}
	return fmt.Sprintf("commitlog: %s-%d: producer %d epoch %d sent sequence %d, the partition expected %d: a batch in between is missing",
		e.Topic, e.Partition, e.ProducerID, e.Epoch, e.FirstSeq, e.Expected)
}

// Is reports whether target is ErrProducerFenced (older epoch) or
// ErrOutOfOrderSequence (anything else).
func (e *SequenceError) Is(target error) bool {
	if e.Epoch < e.LastEpoch {
		return target == ErrProducerFenced
	}
	return target == ErrOutOfOrderSequence
}

// OffsetOutOfRangeError reports an offset outside the range [Start, End]
// that the call accepts, or (Offset -1) a consumer with ResetNone and no
// committed offset. Start is the partition's start offset. For a read, End
// is the partition's end offset (the offset the next appended record will
// get); for DeleteRecords, a commit and the ResetNone case, it is the high
// watermark.
type OffsetOutOfRangeError struct {
	Topic     string
	Partition int32
	Offset    int64
	Start     int64
	End       int64
}

func (e *OffsetOutOfRangeError) Error() string {
	if e.Offset < 0 {
		return fmt.Sprintf("commitlog: no committed offset for %s-%d and AutoOffsetReset is ResetNone: Seek to an offset in [%d, %d]",
			e.Topic, e.Partition, e.Start, e.End)
	}
	return fmt.Sprintf("commitlog: offset %d out of range for %s-%d: valid offsets are [%d, %d]",
		e.Offset, e.Topic, e.Partition, e.Start, e.End)
}

// Is reports whether target is ErrOffsetOutOfRange.
func (e *OffsetOutOfRangeError) Is(target error) bool { return target == ErrOffsetOutOfRange }

// CorruptionError reports stored data that failed verification. Path is the
// file (or the partition directory, when the damage is no single file's),
// FilePosition the byte position of the damaged batch or entry in it, and
// Offset the first record offset affected (-1 when unknown). Remedy says
// what to do; empty, it is the advice for damaged data: what follows the
// damage cannot be trusted, restore the partition from a backup.
type CorruptionError struct {
	Path         string
	FilePosition int64
	Offset       int64
	Reason       string
	Err          error // underlying decode error, if any
	Remedy       string
}

func (e *CorruptionError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "commitlog: corrupt data in %s at byte %d", e.Path, e.FilePosition)
	if e.Offset >= 0 {
		fmt.Fprintf(&b, " (offset %d)", e.Offset)
	}
	if e.Reason != "" {
		b.WriteString(": ")
		b.WriteString(e.Reason)
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	if e.Remedy != "" {
		b.WriteString("; ")
		b.WriteString(e.Remedy)
	} else {
		b.WriteString("; the data past this point cannot be trusted: restore the partition from a backup")
	}
	return b.String()
}

// Is reports whether target is ErrCorrupt.
func (e *CorruptionError) Is(target error) bool { return target == ErrCorrupt }

// Unwrap returns the underlying decode error.
func (e *CorruptionError) Unwrap() error { return e.Err }

// ConflictError is returned by AppendIf when the partition's end offset is
// not the one the caller expected. Nothing was appended.
type ConflictError struct {
	Topic     string
	Partition int32
	Expected  int64
	Actual    int64
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("commitlog: conflict on %s-%d: expected end offset %d, actual %d; re-read from %d and retry",
		e.Topic, e.Partition, e.Expected, e.Actual, e.Expected)
}

// Is reports whether target is ErrConflict.
func (e *ConflictError) Is(target error) bool { return target == ErrConflict }

// RecordTooLargeError reports a batch or record over the topic's limit.
// Index is the position of the offending record in the caller's slice, or
// -1 when Size is that of a whole batch: the batch an Append would write,
// or the batch of its own a record given to Produce would need. Decoded
// says the limit is not the topic's MaxBatchBytes but the size every
// reader allows a batch's records once decompressed (MaxDecompressedBatch):
// Size is then that size.
type RecordTooLargeError struct {
	Topic     string
	Partition int32
	Index     int
	Size      int
	Max       int
	Decoded   bool
}

func (e *RecordTooLargeError) Error() string {
	if e.Decoded {
		return fmt.Sprintf("commitlog: %s for %s-%d holds %d bytes of records, over the %d bytes a reader decompresses of one batch; split the records across appends",
			recordAt(e.Index, "batch"), e.Topic, e.Partition, e.Size, e.Max)
	}
	return fmt.Sprintf("commitlog: %s for %s-%d is %d bytes encoded, over the topic's limit of %d (TopicConfig.MaxBatchBytes); split it or raise the limit",
		recordAt(e.Index, "batch"), e.Topic, e.Partition, e.Size, e.Max)
}

// recordAt names the record at index of the caller's slice, or, for a
// negative index, what whole says.
func recordAt(index int, whole string) string {
	if index < 0 {
		return whole
	}
	return fmt.Sprintf("record %d", index)
}

// Is reports whether target is ErrRecordTooLarge.
func (e *RecordTooLargeError) Is(target error) bool { return target == ErrRecordTooLarge }

// TimestampError reports a record whose timestamp cannot be stored:
// Kafka's timestamps are int64 milliseconds since 1970, so times before
// 1970 and after the year 292,278,994 are refused rather than changed. It
// matches ErrInvalidArgument. Index is the record's position in the
// caller's slice (-1 when the record came alone, as through Produce).
// Nothing of the batch was appended.
type TimestampError struct {
	Topic     string
	Partition int32
	Index     int
	Timestamp time.Time
	Reason    string
}

func (e *TimestampError) Error() string {
	return fmt.Sprintf("commitlog: %s for %s-%d has timestamp %v, which %s: Kafka timestamps are milliseconds since 1970 in an int64; use a time from 1970 on, or the zero time for now",
		recordAt(e.Index, "a record"), e.Topic, e.Partition, e.Timestamp, e.Reason)
}

// Is reports whether target is ErrInvalidArgument.
func (e *TimestampError) Is(target error) bool { return target == ErrInvalidArgument }

// DurabilityError reports the write or fsync failure that put a partition
// into its failed state. Appends return it until the Log is reopened.
type DurabilityError struct {
	Topic     string
	Partition int32
	Op        string // "write", "sync", "truncate", ...
	Err       error
}

func (e *DurabilityError) Error() string {
	return fmt.Sprintf("commitlog: %s-%d failed on %s: %v; appends are refused until the Log is reopened, which re-reads what reached the disk",
		e.Topic, e.Partition, e.Op, e.Err)
}

// Is reports whether target is ErrDurability.
func (e *DurabilityError) Is(target error) bool { return target == ErrDurability }

// Unwrap returns the underlying I/O error.
func (e *DurabilityError) Unwrap() error { return e.Err }

// DiskFull returns err made to match ErrDiskFull as well when it reports
// that the file system ran out of space (vfs.IsNoSpace), and err as it is
// otherwise.
func DiskFull(err error) error {
	if err == nil || errors.Is(err, ErrDiskFull) || !vfs.IsNoSpace(err) {
		return err
	}
	return &diskFullError{err: err}
}

// diskFullError is err marked as ErrDiskFull. Its message is ErrDiskFull's
// followed by err's, without a second "commitlog: " prefix.
type diskFullError struct{ err error }

func (e *diskFullError) Error() string {
	return ErrDiskFull.Error() + ": " + strings.TrimPrefix(e.err.Error(), "commitlog: ")
}

// Unwrap returns ErrDiskFull and the error of the write that failed.
func (e *diskFullError) Unwrap() []error { return []error{ErrDiskFull, e.err} }
