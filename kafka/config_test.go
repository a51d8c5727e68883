package kafka

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

func TestSlogLogger(t *testing.T) {
	for level, want := range map[slog.Level]kgo.LogLevel{
		slog.LevelDebug:     kgo.LogLevelDebug,
		slog.LevelInfo:      kgo.LogLevelInfo,
		slog.LevelWarn:      kgo.LogLevelWarn,
		slog.LevelError:     kgo.LogLevelError,
		slog.LevelError + 1: kgo.LogLevelNone,
	} {
		l := slogLogger{slog.New(slog.NewTextHandler(&bytes.Buffer{}, &slog.HandlerOptions{Level: level}))}
		if got := l.Level(); got != want {
			t.Fatalf("a logger enabled from %v: kgo level %v, want %v", level, got, want)
		}
	}
	var buf bytes.Buffer
	l := slogLogger{slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	l.Log(kgo.LogLevelWarn, "broker gone", "broker", 2)
	l.Log(kgo.LogLevelDebug, "detail")
	out := buf.String()
	if !strings.Contains(out, "level=WARN msg=\"broker gone\" broker=2") || !strings.Contains(out, "level=DEBUG msg=detail") {
		t.Fatalf("logged %q", out)
	}
}

func TestConfigProblems(t *testing.T) {
	c := Config{SeedBrokers: []string{""}, DeliveryTimeout: -1, RequestTimeout: -time.Second}
	if p := c.problems(); len(p) != 3 {
		t.Fatalf("problems: %q, want 3", p)
	}
	if p := (&Config{SeedBrokers: []string{"a:1"}}).problems(); len(p) != 0 {
		t.Fatalf("problems of a good Config: %q", p)
	}
	if d := (&Config{}).requestTimeout(); d != 30*time.Second {
		t.Fatalf("default RequestTimeout %v", d)
	}
}
