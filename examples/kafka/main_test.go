package main

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"
	"time"
)

// summary runs the program on the backend kind (a Log in a temporary
// directory, or an in-process kfake cluster) and returns what it printed.
func summary(t *testing.T, kind string) string {
	t.Helper()
	dir := ""
	if kind == "log" {
		dir = t.TempDir()
	}
	b, err := openBackend(kind, dir, "")
	if err != nil {
		t.Fatalf("openBackend(%s): %v", kind, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var out bytes.Buffer
	err = run(ctx, &out, b)
	if cerr := b.close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatalf("run on %s: %v", kind, err)
	}
	return out.String()
}

// TestBackendsAgree runs the program on a Log and on a Kafka cluster: the
// summaries (key placement, committed offsets, lag) are the same.
func TestBackendsAgree(t *testing.T) {
	onLog, onKafka := summary(t, "log"), summary(t, "kafka")
	if onLog != onKafka {
		t.Fatalf("the backends disagree:\nlog:\n%s\nkafka:\n%s", onLog, onKafka)
	}
	if !strings.Contains(onLog, "consumed 1000 orders") || strings.Count(onLog, ", lag 0\n") != partitions {
		t.Fatalf("unexpected summary:\n%s", onLog)
	}
}

func TestUnknownBackend(t *testing.T) {
	if _, err := openBackend("postgres", "", ""); err == nil {
		t.Fatal("openBackend accepted an unknown backend")
	}
}

// The program on a Log; -backend kafka prints the same.
func Example() {
	dir, err := os.MkdirTemp("", "commitlog-kafka-example-")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	b, err := openBackend("log", dir, "")
	if err != nil {
		panic(err)
	}
	defer b.close()
	if err := run(context.Background(), os.Stdout, b); err != nil {
		panic(err)
	}
	// Output:
	// created topic "orders" with 3 partitions
	// produced 1000 orders of 50 customers
	// consumed 1000 orders, each customer's in order
	// partition 0: 360 records of 18 customers, committed offset 360 (high watermark 360), lag 0
	// partition 1: 340 records of 17 customers, committed offset 340 (high watermark 340), lag 0
	// partition 2: 300 records of 15 customers, committed offset 300 (high watermark 300), lag 0
	// first customer of each partition: customer-01→0 customer-02→1 customer-00→2
}
