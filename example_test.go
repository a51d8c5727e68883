package commitlog_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"strconv"
	"time"

	"github.com/commitlog-go/commitlog"
)

// The main job: open a directory, create a topic, append, read back.
func Example() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "commitlog-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	l, err := commitlog.Open(dir, nil) // defaults: SyncAlways
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close()

	t, err := l.CreateTopic(ctx, "orders", commitlog.TopicConfig{Partitions: 4})
	if err != nil {
		log.Fatal(err)
	}
	p, _ := t.Partition(0)
	res, err := p.Append(ctx, []commitlog.Record{
		{Key: []byte("order-1"), Value: []byte("created")},
		{Key: []byte("order-1"), Value: []byte("paid")},
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("appended offsets", res.BaseOffset, "to", res.LastOffset)

	recs, err := p.Read(ctx, 0, 1<<20)
	if err != nil {
		log.Fatal(err)
	}
	for _, r := range recs {
		fmt.Printf("%d %s %s\n", r.Offset, r.Key, r.Value)
	}
	// Output:
	// appended offsets 0 to 1
	// 0 order-1 created
	// 1 order-1 paid
}

// Scan replays a partition without copying; Follow keeps waiting for more.
func ExamplePartition_Scan() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "commitlog-example-")
	defer os.RemoveAll(dir)
	l, _ := commitlog.Open(dir, nil)
	defer l.Close()
	t, _ := l.CreateTopic(ctx, "events", commitlog.TopicConfig{})
	p, _ := t.Partition(0)
	for _, v := range []string{"a", "b", "c"} {
		if _, err := p.Append(ctx, []commitlog.Record{{Value: []byte(v)}}); err != nil {
			log.Fatal(err)
		}
	}
	for r, err := range p.Scan(ctx, 1) {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(r.Offset, string(r.Value)) // r.Value is valid until the next iteration
	}
	// Output:
	// 1 b
	// 2 c
}

// A Cursor is Scan pulled one record at a time: the fastest way to replay
// a partition, as it makes a Record only when asked for one.
func ExamplePartition_Cursor() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "commitlog-example-")
	defer os.RemoveAll(dir)
	l, _ := commitlog.Open(dir, nil)
	defer l.Close()
	t, _ := l.CreateTopic(ctx, "events", commitlog.TopicConfig{})
	p, _ := t.Partition(0)
	if _, err := p.Append(ctx, []commitlog.Record{{Key: []byte("x"), Value: []byte("a")}, {Value: []byte("b")}}); err != nil {
		log.Fatal(err)
	}
	c := p.Cursor(ctx, 0)
	defer c.Close() // releases the segment if the loop is left early
	for c.Next() {
		fmt.Printf("%d %q %s\n", c.Offset(), c.Key(), c.Value()) // valid until the next Next
	}
	if err := c.Err(); err != nil {
		log.Fatal(err)
	}
	// Output:
	// 0 "x" a
	// 1 "" b
}

// AppendIf makes event-sourced writers safe: an append lands only if
// nothing else was appended since the writer last read.
func ExamplePartition_AppendIf() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "commitlog-example-")
	defer os.RemoveAll(dir)
	l, _ := commitlog.Open(dir, nil)
	defer l.Close()
	t, _ := l.CreateTopic(ctx, "account-42", commitlog.TopicConfig{})
	p, _ := t.Partition(0)

	seen := p.EndOffset() // the writer read the aggregate up to here
	if _, err := p.Append(ctx, []commitlog.Record{{Value: []byte("deposit 10")}}); err != nil {
		log.Fatal(err) // another writer got there first
	}
	_, err := p.AppendIf(ctx, seen, []commitlog.Record{{Value: []byte("withdraw 10")}})
	var conflict *commitlog.ConflictError
	if errors.As(err, &conflict) {
		fmt.Println("conflict: re-read from", seen, "to", conflict.Actual, "and decide again")
	}
	// Output:
	// conflict: re-read from 0 to 1 and decide again
}

// Aggregates sharing a partition: AppendIf's expected offset is the whole
// partition's end, so another aggregate's records conflict too. The writer
// reads what came in between, applies its own aggregate's records (none
// here), decides again and retries at the new end.
func ExamplePartition_AppendIf_sharedPartition() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "commitlog-example-")
	defer os.RemoveAll(dir)
	l, _ := commitlog.Open(dir, nil)
	defer l.Close()
	t, _ := l.CreateTopic(ctx, "accounts", commitlog.TopicConfig{})
	p, _ := t.Partition(0)

	id := []byte("account-42")
	if _, err := p.Append(ctx, []commitlog.Record{{Key: id, Value: []byte("10")}}); err != nil {
		log.Fatal(err)
	}
	balance, end := 10, p.EndOffset() // the writer has read account-42 up to end
	// Meanwhile another writer appends to another account.
	if _, err := p.Append(ctx, []commitlog.Record{{Key: []byte("account-7"), Value: []byte("5")}}); err != nil {
		log.Fatal(err)
	}

	for {
		if balance < 10 {
			fmt.Println("refused: balance", balance)
			return
		}
		res, err := p.AppendIf(ctx, end, []commitlog.Record{{Key: id, Value: []byte("-10")}})
		var conflict *commitlog.ConflictError
		if !errors.As(err, &conflict) {
			if err != nil {
				log.Fatal(err)
			}
			fmt.Println("withdrew 10 at offset", res.BaseOffset)
			return
		}
		fmt.Println("conflict: expected end", end, "actual", conflict.Actual)
		for end < conflict.Actual {
			recs, err := p.Read(ctx, end, 1<<20)
			if err != nil {
				log.Fatal(err)
			}
			for _, r := range recs {
				if bytes.Equal(r.Key, id) {
					n, _ := strconv.Atoi(string(r.Value))
					balance += n
				}
				end = r.Offset + 1
			}
		}
	}
	// Output:
	// conflict: expected end 1 actual 2
	// withdrew 10 at offset 2
}

// OffsetForTime finds where to start replaying from a point in time.
func ExamplePartition_OffsetForTime() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "commitlog-example-")
	defer os.RemoveAll(dir)
	l, _ := commitlog.Open(dir, nil)
	defer l.Close()
	t, _ := l.CreateTopic(ctx, "metrics", commitlog.TopicConfig{})
	p, _ := t.Partition(0)
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; i < 5; i++ {
		ts := start.Add(time.Duration(i) * time.Hour)
		if _, err := p.Append(ctx, []commitlog.Record{{Value: []byte(ts.Format(time.Kitchen)), Timestamp: ts}}); err != nil {
			log.Fatal(err)
		}
	}
	off, err := p.OffsetForTime(start.Add(150 * time.Minute))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("first record at or after 2:30:", off)
	// Output:
	// first record at or after 2:30: 3
}

// A second Open of the same directory fails while the first is open.
func ExampleOpen_locked() {
	dir, _ := os.MkdirTemp("", "commitlog-example-")
	defer os.RemoveAll(dir)
	l, _ := commitlog.Open(dir, nil)
	defer l.Close()
	_, err := commitlog.Open(dir, nil)
	fmt.Println(errors.Is(err, commitlog.ErrLocked))
	// Output:
	// true
}
