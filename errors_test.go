package commitlog

import (
	"errors"
	"fmt"
	"os"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestTypedErrorsMatchTheirSentinels(t *testing.T) {
	cause := errors.New("cause")
	for _, tc := range []struct {
		err      error
		sentinel error
		mentions []string
	}{
		{&OffsetOutOfRangeError{Topic: "t", Partition: 2, Offset: 9, Start: 3, End: 7}, ErrOffsetOutOfRange, []string{"t-2", "9", "[3, 7]"}},
		{&CorruptionError{Path: "/d/x.log", FilePosition: 77, Offset: 5, Reason: "bad", Err: cause}, ErrCorrupt, []string{"/d/x.log", "byte 77", "offset 5", "bad", "cause"}},
		{&ConflictError{Topic: "t", Partition: 0, Expected: 4, Actual: 6}, ErrConflict, []string{"expected end offset 4", "actual 6"}},
		{&ConfigError{Problems: []string{"a: x", "b: y"}}, ErrInvalidConfig, []string{"a: x", "b: y"}},
		{&TopicNameError{Name: "a b", Rule: "no spaces"}, ErrInvalidTopicName, []string{`"a b"`, "no spaces"}},
		{&RecordTooLargeError{Topic: "t", Partition: 1, Index: 3, Size: 900, Max: 500}, ErrRecordTooLarge, []string{"record 3", "900", "500", "MaxBatchBytes"}},
		{&RecordTooLargeError{Topic: "t", Partition: 1, Index: -1, Size: 900, Max: 500, Decoded: true}, ErrRecordTooLarge, []string{"batch", "900", "500", "decompresses"}},
		{&CorruptionError{Path: "/d/checkpoint", Offset: -1, Reason: "damaged", Remedy: "open with Options.Repair.Checkpoints"}, ErrCorrupt, []string{"/d/checkpoint", "damaged; open with Options.Repair.Checkpoints"}},
		{&DurabilityError{Topic: "t", Partition: 1, Op: "sync", Err: syscall.EIO}, ErrDurability, []string{"t-1", "sync", "reopened"}},
	} {
		wrapped := fmt.Errorf("context: %w", tc.err)
		require.ErrorIs(t, wrapped, tc.sentinel, "%T", tc.err)
		for _, m := range tc.mentions {
			require.Contains(t, tc.err.Error(), m, "%T", tc.err)
		}
		for _, other := range []error{ErrClosed, ErrUnknownTopic, ErrLocked} {
			require.NotErrorIs(t, tc.err, other)
		}
	}
	require.ErrorIs(t, &CorruptionError{Err: cause}, cause, "the cause stays reachable")
	require.ErrorIs(t, &DurabilityError{Err: syscall.ENOSPC}, syscall.ENOSPC)
	require.NotContains(t, (&CorruptionError{Offset: -1}).Error(), "offset -1")
	require.NotContains(t, (&RecordTooLargeError{Decoded: true}).Error(), "MaxBatchBytes", "the decompression bound is not the topic's limit")
	require.NotContains(t, (&CorruptionError{Remedy: "repair it"}).Error(), "backup", "a remedy replaces the advice for damaged data")
}

func TestDiskFullKeepsOnePrefix(t *testing.T) {
	write := &os.PathError{Op: "write", Path: "/d/t-0/x.log", Err: syscall.ENOSPC}
	err := diskFull(fmt.Errorf("commitlog: create topic t: %w", write))
	require.ErrorIs(t, err, ErrDiskFull)
	require.ErrorIs(t, err, syscall.ENOSPC, "the errno stays reachable")
	var pe *os.PathError
	require.ErrorAs(t, err, &pe)
	require.Equal(t, "commitlog: disk full: create topic t: write /d/t-0/x.log: "+syscall.ENOSPC.Error(), err.Error())
	require.Same(t, err, diskFull(err), "marked once")
	other := errors.New("commitlog: other")
	require.Same(t, other, diskFull(other), "not a full disk")
}

func TestFencedErrorWithoutMember(t *testing.T) {
	err := &FencedError{Group: "g", Reason: "not a member of the group"}
	require.Equal(t, `commitlog: group "g": consumer fenced: not a member of the group`, err.Error())
	err.MemberID = "member-3"
	require.Equal(t, `commitlog: group "g" member member-3 fenced: not a member of the group`, err.Error())
}
