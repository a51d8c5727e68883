package kafka

import (
	"context"
	"errors"
	"fmt"

	"github.com/commitlog-go/commitlog"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Error is an error of the Kafka cluster or of the client, given the
// meaning commitlog's errors have: it matches, with errors.Is and
// errors.As, both Mapped (a commitlog sentinel such as
// commitlog.ErrNotLeader, or a typed commitlog error such as a
// *commitlog.FencedError) and Kafka's own error (a *kerr.Error such as
// kerr.NotLeaderForPartition, or a kgo error such as kgo.ErrClientClosed).
// Kafka errors with no commitlog counterpart (REQUEST_TIMED_OUT, say) are
// returned as the client gave them, with where they happened in front.
type Error struct {
	// Op says what failed, such as "produce to orders-3".
	Op string
	// Mapped is the commitlog error of the same meaning.
	Mapped error
	// Kafka is the error the cluster or the client returned.
	Kafka error
}

func (e *Error) Error() string {
	return fmt.Sprintf("commitlog: kafka: %s: %v", e.Op, e.Kafka)
}

// Unwrap returns Mapped and Kafka, so that errors.Is and errors.As find
// either.
func (e *Error) Unwrap() []error { return []error{e.Mapped, e.Kafka} }

// sentinels maps Kafka's error codes to the commitlog sentinel with the
// same meaning. Codes absent here have none.
var sentinels = map[int16]error{
	kerr.NotLeaderForPartition.Code:        commitlog.ErrNotLeader,
	kerr.LeaderNotAvailable.Code:           commitlog.ErrNotLeader,
	kerr.FencedLeaderEpoch.Code:            commitlog.ErrNotLeader,
	kerr.NotEnoughReplicas.Code:            commitlog.ErrNotEnoughReplicas,
	kerr.NotEnoughReplicasAfterAppend.Code: commitlog.ErrNotEnoughReplicasAfterAppend,
	kerr.OffsetOutOfRange.Code:             commitlog.ErrOffsetOutOfRange,
	kerr.UnknownTopicOrPartition.Code:      commitlog.ErrUnknownTopic,
	kerr.UnknownTopicID.Code:               commitlog.ErrUnknownTopic,
	kerr.TopicAlreadyExists.Code:           commitlog.ErrTopicExists,
	kerr.InvalidTopicException.Code:        commitlog.ErrInvalidTopicName,
	kerr.MessageTooLarge.Code:              commitlog.ErrRecordTooLarge,
	kerr.RecordListTooLarge.Code:           commitlog.ErrRecordTooLarge,
	kerr.CorruptMessage.Code:               commitlog.ErrCorrupt,
	kerr.KafkaStorageError.Code:            commitlog.ErrDurability,
	kerr.NotCoordinator.Code:               commitlog.ErrNotCoordinator,
	kerr.CoordinatorNotAvailable.Code:      commitlog.ErrNotCoordinator,
	kerr.CoordinatorLoadInProgress.Code:    commitlog.ErrNotCoordinator,
	kerr.OutOfOrderSequenceNumber.Code:     commitlog.ErrOutOfOrderSequence,
	kerr.InvalidProducerEpoch.Code:         commitlog.ErrProducerFenced,
	kerr.ProducerFenced.Code:               commitlog.ErrProducerFenced,
	kerr.InvalidReplicationFactor.Code:     commitlog.ErrInvalidConfig,
	kerr.InvalidPartitions.Code:            commitlog.ErrInvalidConfig,
	kerr.InvalidConfig.Code:                commitlog.ErrInvalidConfig,
	kerr.InvalidReplicaAssignment.Code:     commitlog.ErrInvalidConfig,
	kerr.InvalidRequiredAcks.Code:          commitlog.ErrInvalidConfig,
	kerr.PolicyViolation.Code:              commitlog.ErrInvalidConfig,
	kerr.InvalidTimestamp.Code:             commitlog.ErrInvalidArgument,
	kerr.InvalidRecord.Code:                commitlog.ErrInvalidArgument,
	kerr.InvalidGroupID.Code:               commitlog.ErrInvalidArgument,
	kerr.NonEmptyGroup.Code:                commitlog.ErrGroupNotEmpty,
	kerr.GroupIDNotFound.Code:              commitlog.ErrUnknownGroup,
	kerr.IllegalGeneration.Code:            commitlog.ErrFenced,
	kerr.UnknownMemberID.Code:              commitlog.ErrFenced,
	kerr.FencedInstanceID.Code:             commitlog.ErrFenced,
	kerr.RebalanceInProgress.Code:          commitlog.ErrFenced,
	kerr.PreferredLeaderNotAvailable.Code:  commitlog.ErrPreferredLeaderNotAvailable,
}

// mapErr returns err with the meaning commitlog gives it: nil for nil; a
// context error, commitlog error or *Error unchanged; an *Error for an
// error of Kafka or the client that has a commitlog counterpart; the
// error with op in front otherwise.
func mapErr(op string, err error) error {
	if err == nil {
		return nil
	}
	var ke *Error
	if errors.As(err, &ke) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	var mapped error
	var kerrErr *kerr.Error
	switch {
	case errors.Is(err, kgo.ErrClientClosed):
		mapped = commitlog.ErrClosed
	case errors.Is(err, kgo.ErrMaxBuffered):
		mapped = commitlog.ErrMaxBuffered
	case errors.Is(err, kgo.ErrRecordTimeout), errors.Is(err, kgo.ErrRecordRetries):
		// Ambiguous: the record may or may not have been written. The
		// embedded backend has no such outcome; it stays Kafka's.
	case errors.As(err, &kerrErr):
		mapped = sentinels[kerrErr.Code]
	}
	if mapped == nil {
		return fmt.Errorf("commitlog: kafka: %s: %w", op, err)
	}
	return &Error{Op: op, Mapped: mapped, Kafka: err}
}

// codeErr is mapErr for a Kafka error code (0: no error).
func codeErr(op string, code int16) error {
	return mapErr(op, kerr.ErrorForCode(code))
}
