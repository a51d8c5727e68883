package commitlog

import (
	"context"
	"fmt"
	"sync/atomic"
)

// AdminClient is the topic and group administration a program uses,
// whichever backend holds its records: Log.Admin returns one for a Log,
// and the module github.com/commitlog-go/commitlog/kafka has one for an
// Apache Kafka cluster. Its methods have the contracts of the Log methods
// of the same names (Log.CreateTopic, DeleteTopic, ListGroups,
// DescribeGroup, ResetGroupOffsets, DeleteGroup), with a context on
// every call, since on a cluster each is a request. Implementations are
// safe for concurrent use.
type AdminClient interface {
	// CreateTopic creates topic name with cfg: its partition count,
	// replication factor and the configuration fields set in it; zero
	// fields take the backend's defaults.
	CreateTopic(ctx context.Context, name string, cfg TopicConfig) error
	// DescribeTopic returns the topic's configuration with every default
	// resolved, as the backend applies it.
	DescribeTopic(ctx context.Context, name string) (TopicConfig, error)
	// DeleteTopic deletes the topic, its records and the committed
	// offsets of its partitions.
	DeleteTopic(ctx context.Context, name string) error
	// ListTopics returns the names of the topics, internal ones
	// excluded, sorted.
	ListTopics(ctx context.Context) ([]string, error)
	// ListGroups returns the names of the consumer groups that have
	// members or committed offsets, sorted.
	ListGroups(ctx context.Context) ([]string, error)
	// DescribeGroup describes a group's members, assignments, committed
	// offsets and lag.
	DescribeGroup(ctx context.Context, group string) (GroupDescription, error)
	// ResetGroupOffsets sets an empty group's committed offsets to where
	// to names, and returns them.
	ResetGroupOffsets(ctx context.Context, group string, to OffsetSpec, tps ...TopicPartition) (map[TopicPartition]int64, error)
	// DeleteGroup deletes an empty group's committed offsets.
	DeleteGroup(ctx context.Context, group string) error
	// Close releases what the client holds. Later calls return
	// ErrClosed.
	Close() error
	// As is the escape hatch to the backend's own types, as for
	// ProducerClient.
	As(target any) bool
}

var _ AdminClient = (*logAdmin)(nil)

// Admin returns an AdminClient for this Log. Its calls are the Log's own;
// its Close does not close the Log, only the AdminClient (later calls of
// it return ErrClosed), and its As fills a **Log.
func (l *Log) Admin() AdminClient { return &logAdmin{l: l} }

// logAdmin is a Log's AdminClient.
type logAdmin struct {
	l      *Log
	closed atomic.Bool
}

// check returns why a call cannot start: the AdminClient or the Log is
// closed, or ctx has ended.
func (a *logAdmin) check(ctx context.Context) error {
	if a.closed.Load() || a.l.isClosed() {
		return ErrClosed
	}
	return ctx.Err()
}

func (a *logAdmin) CreateTopic(ctx context.Context, name string, cfg TopicConfig) error {
	if err := a.check(ctx); err != nil {
		return err
	}
	_, err := a.l.CreateTopic(ctx, name, cfg)
	return err
}

func (a *logAdmin) DescribeTopic(ctx context.Context, name string) (TopicConfig, error) {
	if err := a.check(ctx); err != nil {
		return TopicConfig{}, err
	}
	t, err := a.l.Topic(name)
	if err != nil {
		return TopicConfig{}, fmt.Errorf("describe topic %q: %w", name, err)
	}
	return t.Config(), nil
}

func (a *logAdmin) DeleteTopic(ctx context.Context, name string) error {
	if err := a.check(ctx); err != nil {
		return err
	}
	return a.l.DeleteTopic(ctx, name)
}

func (a *logAdmin) ListTopics(ctx context.Context) ([]string, error) {
	if err := a.check(ctx); err != nil {
		return nil, err
	}
	return a.l.Topics(), nil
}

func (a *logAdmin) ListGroups(ctx context.Context) ([]string, error) {
	if err := a.check(ctx); err != nil {
		return nil, err
	}
	return a.l.ListGroups(), nil
}

func (a *logAdmin) DescribeGroup(ctx context.Context, group string) (GroupDescription, error) {
	if err := a.check(ctx); err != nil {
		return GroupDescription{}, err
	}
	return a.l.DescribeGroup(group)
}

func (a *logAdmin) ResetGroupOffsets(ctx context.Context, group string, to OffsetSpec, tps ...TopicPartition) (map[TopicPartition]int64, error) {
	if err := a.check(ctx); err != nil {
		return nil, err
	}
	return a.l.ResetGroupOffsets(ctx, group, to, tps...)
}

func (a *logAdmin) DeleteGroup(ctx context.Context, group string) error {
	if err := a.check(ctx); err != nil {
		return err
	}
	return a.l.DeleteGroup(ctx, group)
}

func (a *logAdmin) Close() error {
	a.closed.Store(true)
	return nil
}

// As fills a **Log with the Log and reports whether target was one.
func (a *logAdmin) As(target any) bool {
	if t, ok := target.(**Log); ok {
		*t = a.l
		return true
	}
	return false
}
