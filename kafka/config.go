package kafka

import (
	"context"
	"log/slog"
	"time"

	"github.com/commitlog-go/commitlog"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Config says how to reach the Kafka cluster: what a program gives in
// place of a directory. Only SeedBrokers is required.
type Config struct {
	// SeedBrokers are the "host:port" addresses of brokers to bootstrap
	// from (Kafka's bootstrap.servers). Required.
	SeedBrokers []string

	// ClientID names the client to the brokers (Kafka's client.id), in
	// their logs and quotas. Default "commitlog".
	ClientID string

	// Logger receives the client's log records (kgo's, through an
	// adapter), at the levels the logger enables. Nil discards them.
	Logger *slog.Logger

	// DeliveryTimeout bounds how long Producer.Close waits for the
	// records still buffered to be acknowledged; those that are not by
	// then fail with commitlog.ErrClosed. Records are otherwise retried
	// until acknowledged or failed by an error that retrying cannot cure
	// (the Log's producer never waits on a network at all). It is not a
	// per-record deadline: kgo's (kgo.RecordDeliveryTimeout, Kafka's
	// delivery.timeout.ms) counts from each record's Timestamp, so it
	// fails at once a record produced with an old timestamp — a replay, a
	// mirror — and is left to Options for programs that want it. Default
	// 2 minutes.
	DeliveryTimeout time.Duration

	// RequestTimeout bounds the requests of the calls that take no
	// context: NewConsumer's checks of its topics and offsets. Default
	// 30s.
	RequestTimeout time.Duration

	// Options are further kgo options, applied to every client made with
	// this Config after the ones the commitlog configuration maps to, so
	// they win: TLS (kgo.DialTLSConfig), SASL (kgo.SASL), hooks
	// (kgo.WithHooks), and anything else the commitlog configuration has
	// no field for. (NewConsumer's short-lived client for its checks gets
	// them too, so options that make a client consume do not belong
	// here.)
	Options []kgo.Opt
}

const (
	defaultClientID        = "commitlog"
	defaultDeliveryTimeout = 2 * time.Minute
)

// problems lists what is wrong with c.
func (c *Config) problems() []string {
	var p []string
	if len(c.SeedBrokers) == 0 {
		p = append(p, "kafka.Config.SeedBrokers: empty; give at least one broker's host:port")
	}
	for _, b := range c.SeedBrokers {
		if b == "" {
			p = append(p, "kafka.Config.SeedBrokers: an empty address")
		}
	}
	if c.DeliveryTimeout < 0 {
		p = append(p, "kafka.Config.DeliveryTimeout: negative")
	}
	if c.RequestTimeout < 0 {
		p = append(p, "kafka.Config.RequestTimeout: negative")
	}
	return p
}

func (c *Config) requestTimeout() time.Duration {
	if c.RequestTimeout > 0 {
		return c.RequestTimeout
	}
	return 30 * time.Second
}

// clientOpts returns the kgo options every client of c starts with.
func (c *Config) clientOpts() []kgo.Opt {
	id := c.ClientID
	if id == "" {
		id = defaultClientID
	}
	opts := []kgo.Opt{kgo.SeedBrokers(c.SeedBrokers...), kgo.ClientID(id)}
	if c.Logger != nil {
		opts = append(opts, kgo.WithLogger(slogLogger{c.Logger}))
	}
	return opts
}

// configError returns a *commitlog.ConfigError listing p, or nil.
func configError(p []string) error {
	if len(p) == 0 {
		return nil
	}
	return &commitlog.ConfigError{Problems: p}
}

// slogLogger adapts a *slog.Logger to kgo.Logger.
type slogLogger struct{ l *slog.Logger }

func (s slogLogger) Level() kgo.LogLevel {
	ctx := context.Background()
	switch {
	case s.l.Enabled(ctx, slog.LevelDebug):
		return kgo.LogLevelDebug
	case s.l.Enabled(ctx, slog.LevelInfo):
		return kgo.LogLevelInfo
	case s.l.Enabled(ctx, slog.LevelWarn):
		return kgo.LogLevelWarn
	case s.l.Enabled(ctx, slog.LevelError):
		return kgo.LogLevelError
	}
	return kgo.LogLevelNone
}

func (s slogLogger) Log(level kgo.LogLevel, msg string, keyvals ...any) {
	l := slog.LevelInfo
	switch level {
	case kgo.LogLevelError:
		l = slog.LevelError
	case kgo.LogLevelWarn:
		l = slog.LevelWarn
	case kgo.LogLevelDebug:
		l = slog.LevelDebug
	}
	s.l.Log(context.Background(), l, msg, keyvals...)
}
