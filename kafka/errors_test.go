package kafka

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/commitlog-go/commitlog"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

func TestMapErrSentinels(t *testing.T) {
	if len(sentinels) < 30 {
		t.Fatalf("only %d codes mapped", len(sentinels))
	}
	for code, want := range sentinels {
		ke := kerr.ErrorForCode(code)
		err := mapErr("op", fmt.Errorf("wrapped: %w", ke))
		if !errors.Is(err, want) || !errors.Is(err, ke) {
			t.Fatalf("%v: %v matches neither %v nor Kafka's error", ke, err, want)
		}
		var e *Error
		if !errors.As(err, &e) || e.Op != "op" {
			t.Fatalf("%v: %v is not an *Error for op", ke, err)
		}
	}
	for _, c := range []struct {
		kafka, want error
	}{
		{kerr.NotLeaderForPartition, commitlog.ErrNotLeader},
		{kerr.UnknownTopicOrPartition, commitlog.ErrUnknownTopic},
		{kerr.NotEnoughReplicas, commitlog.ErrNotEnoughReplicas},
		{kerr.NotEnoughReplicasAfterAppend, commitlog.ErrNotEnoughReplicasAfterAppend},
		{kerr.OffsetOutOfRange, commitlog.ErrOffsetOutOfRange},
		{kerr.MessageTooLarge, commitlog.ErrRecordTooLarge},
		{kerr.IllegalGeneration, commitlog.ErrFenced},
		{kerr.FencedInstanceID, commitlog.ErrFenced},
		{kerr.RebalanceInProgress, commitlog.ErrFenced},
		{kerr.NonEmptyGroup, commitlog.ErrGroupNotEmpty},
		{kgo.ErrClientClosed, commitlog.ErrClosed},
		{kgo.ErrMaxBuffered, commitlog.ErrMaxBuffered},
	} {
		if err := mapErr("op", c.kafka); !errors.Is(err, c.want) || !errors.Is(err, c.kafka) {
			t.Fatalf("%v: %v, want it to match %v too", c.kafka, err, c.want)
		}
	}
}

func TestMapErrUnmapped(t *testing.T) {
	if mapErr("op", nil) != nil {
		t.Fatal("nil mapped to an error")
	}
	for _, err := range []error{kerr.RequestTimedOut, kerr.TopicAuthorizationFailed, kgo.ErrRecordTimeout, kgo.ErrRecordRetries, errors.New("other")} {
		got := mapErr("op", err)
		var e *Error
		if errors.As(got, &e) || !errors.Is(got, err) {
			t.Fatalf("%v: %v (an *Error: %v), want it returned as Kafka's", err, got, e != nil)
		}
		for _, s := range []error{commitlog.ErrNotLeader, commitlog.ErrClosed, commitlog.ErrUnknownTopic, commitlog.ErrFenced} {
			if errors.Is(got, s) {
				t.Fatalf("%v matches %v", got, s)
			}
		}
	}
	for _, err := range []error{context.Canceled, context.DeadlineExceeded, fmt.Errorf("x: %w", context.Canceled)} {
		if got := mapErr("op", err); got != err {
			t.Fatalf("a context error was changed: %v", got)
		}
	}
	already := mapErr("inner", kerr.NotLeaderForPartition)
	if got := mapErr("outer", already); got != already {
		t.Fatalf("an *Error was wrapped again: %v", got)
	}
	if got := codeErr("op", 0); got != nil {
		t.Fatalf("code 0: %v", got)
	}
}
