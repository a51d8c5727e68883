package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/commitlog-go/commitlog"
)

// consumeOptions are consume's flags.
type consumeOptions struct {
	dir          string
	partitions   []int32
	offset       string
	at           string
	group        string
	follow       bool
	maxRecords   int
	format       string
	template     string
	keySeparator string
	pollInterval time.Duration
}

func newConsumeCommand(e *env) *cobra.Command {
	var o consumeOptions
	cmd := &cobra.Command{
		Use:   "consume TOPIC",
		Short: "Print a topic's records",
		Long: `Print a topic's records, from every partition (or those --partition
names), from the start (default), the end, an offset or a time, and stop
at the end, or with --follow keep waiting for new ones until interrupted
(Ctrl-C) or --max-records are printed.

Where to start (each partition):
  --offset start    the partition's first record (default)
  --offset end      its high watermark: only records appended later
  --offset N        offset N (clamped to the partition's range)
  --offset -N       N records before the high watermark
  --time T          the first record whose timestamp is at or after T
                    (RFC 3339, such as 2024-05-01T12:00:00Z, or Unix ms)

Without --group the directory is opened read-only and no offset is
committed. With --group, consume reads as a member of the consumer group
(opening the directory read-write): partitions start at the group's
committed offsets (--offset start or end for those without one), and the
offsets of the records printed are committed as they are printed.

--follow: the directory cannot be written while consume holds it open,
so after reaching the end consume closes it, and every --poll-interval
reopens it when no other process holds it, to print what was appended
meanwhile (by commitlog produce, or an application that opens the
directory and closes it again).

Output formats (--format):
  raw       the value, one record per line (with -K SEP: key SEP value)
  json      one JSON object per line: topic, partition, offset, timestamp
            (Unix ms), key, value, headers [{key, value}]; keys and values
            are strings, null when absent, or when not UTF-8 omitted in
            favour of key_base64 / value_base64
  template  a Go text/template (--template) executed with each record:
            .Topic .Partition .Offset .Timestamp (time.Time) .Key .Value
            (strings) .KeyNull .ValueNull (bools) .Headers (each .Key
            .Value); functions json, base64, hex, ms (time as Unix ms)`,
		Example: `  commitlog consume -d /var/lib/app/log orders
  commitlog consume -d /var/lib/app/log orders --format json --offset -10
  commitlog consume -d /var/lib/app/log orders -p 0 --time 2024-05-01T00:00:00Z -n 100
  commitlog consume -d /var/lib/app/log orders --template '{{.Partition}}/{{.Offset}} {{.Key}}={{.Value}}'
  commitlog consume -d /var/lib/app/log orders --group billing --follow`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if cmd.Flags().Changed("template") && !cmd.Flags().Changed("format") {
				o.format = "template"
			}
			return consume(cmd.Context(), e, o, args[0])
		},
	}
	dirFlag(cmd, &o.dir)
	f := cmd.Flags()
	f.Int32SliceVarP(&o.partitions, "partition", "p", nil, "partitions to read (repeatable or comma-separated; default all)")
	f.StringVarP(&o.offset, "offset", "o", "start", "where to start: start, end, N or -N")
	f.StringVarP(&o.at, "time", "t", "", "start at the first record at or after this time (RFC 3339 or Unix ms)")
	f.StringVarP(&o.group, "group", "g", "", "consume as a member of this consumer group, committing what is printed")
	f.BoolVarP(&o.follow, "follow", "f", false, "keep waiting for new records until interrupted")
	f.IntVarP(&o.maxRecords, "max-records", "n", 0, "stop after this many records (0: no limit)")
	f.StringVar(&o.format, "format", "raw", "output format: raw, json or template")
	f.StringVar(&o.template, "template", "", "Go template for --format template (implies it)")
	f.StringVarP(&o.keySeparator, "key-separator", "K", "", "raw format: print the key and SEP before the value")
	f.DurationVar(&o.pollInterval, "poll-interval", 500*time.Millisecond, "--follow: how often to look for new records")
	return cmd
}

// startSpec is where consume starts in each partition.
type startSpec struct {
	kind   string // "start", "end", "offset", "back", "time"
	offset int64
	at     time.Time
}

func parseStart(o consumeOptions) (startSpec, error) {
	if o.at != "" {
		if o.offset != "start" {
			return startSpec{}, errors.New("--offset and --time are exclusive")
		}
		t, err := parseTime(o.at)
		if err != nil {
			return startSpec{}, err
		}
		return startSpec{kind: "time", at: t}, nil
	}
	switch o.offset {
	case "start", "beginning", "earliest":
		return startSpec{kind: "start"}, nil
	case "end", "latest":
		return startSpec{kind: "end"}, nil
	}
	n, err := strconv.ParseInt(o.offset, 10, 64)
	if err != nil {
		return startSpec{}, fmt.Errorf("--offset %q: use start, end, an offset N or -N (N records before the end)", o.offset)
	}
	if n < 0 {
		return startSpec{kind: "back", offset: -n}, nil
	}
	return startSpec{kind: "offset", offset: n}, nil
}

// parseTime reads RFC 3339 or Unix milliseconds.
func parseTime(s string) (time.Time, error) {
	if ms, err := strconv.ParseInt(s, 10, 64); err == nil {
		return time.UnixMilli(ms), nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("time %q: use RFC 3339 (2024-05-01T12:00:00Z) or Unix milliseconds", s)
	}
	return t, nil
}

// resolve returns the offset spec names in p.
func (s startSpec) resolve(p *commitlog.Partition) (int64, error) {
	start, hw := p.StartOffset(), p.HighWatermark()
	switch s.kind {
	case "start":
		return start, nil
	case "end":
		return hw, nil
	case "back":
		return max(start, hw-s.offset), nil
	case "time":
		return p.OffsetForTime(s.at)
	}
	return min(max(s.offset, start), hw), nil
}

func consume(ctx context.Context, e *env, o consumeOptions, topic string) error {
	spec, err := parseStart(o)
	if err != nil {
		return err
	}
	if o.maxRecords < 0 {
		return fmt.Errorf("--max-records %d: must be at least 0", o.maxRecords)
	}
	if o.follow && o.pollInterval <= 0 {
		return fmt.Errorf("--poll-interval %v: must be positive", o.pollInterval)
	}
	if o.group != "" && (len(o.partitions) > 0 || spec.kind != "start" && spec.kind != "end") {
		return errors.New("--group takes the group's committed offsets and the partitions it is assigned: --partition, --offset N and --time do not apply (--offset start or end says where partitions without a committed offset start)")
	}
	fm, err := newFormatter(o.format, o.template, o.keySeparator)
	if err != nil {
		return err
	}
	c := &consumer{e: e, o: o, topic: topic, spec: spec, fm: fm, out: bufio.NewWriterSize(e.stdout, 64<<10),
		positions: map[commitlog.TopicPartition]int64{}}
	defer c.out.Flush()
	waiting := false
	for {
		err := c.cycle(ctx)
		if errors.Is(err, commitlog.ErrLocked) && o.follow {
			if !waiting {
				fmt.Fprintf(e.stderr, "directory %s is locked by another process; waiting for it (every %v)\n", o.dir, o.pollInterval)
				waiting = true
			}
		} else if err != nil {
			if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
				return nil // interrupted
			}
			return err
		} else {
			waiting = false
		}
		if !o.follow || c.done() {
			return nil
		}
		t := time.NewTimer(o.pollInterval)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}

// consumer is one run of consume, over the cycles of opening the
// directory, reading to the end and closing it.
type consumer struct {
	e       *env
	o       consumeOptions
	topic   string
	spec    startSpec
	fm      formatter
	out     *bufio.Writer
	printed int
	// positions are where each partition continues in the next cycle (not
	// in group mode, where the committed offsets say); seeked says the
	// first cycle set them.
	positions map[commitlog.TopicPartition]int64
	seeked    bool
}

func (c *consumer) done() bool { return c.o.maxRecords > 0 && c.printed >= c.o.maxRecords }

// cycle opens the directory, prints the records up to the end, and closes
// it.
func (c *consumer) cycle(ctx context.Context) (err error) {
	mode := readOnly
	if c.o.group != "" {
		mode = readWrite
	}
	l, err := openLog(c.o.dir, mode, c.e.stderr)
	if err != nil {
		return err
	}
	defer closeLog(l, &err)
	t, err := l.Topic(c.topic)
	if err != nil {
		return err
	}
	cfg := commitlog.ConsumerConfig{DisableAutoCommit: true}
	if c.o.group != "" {
		cfg.Group, cfg.Topics = c.o.group, []string{c.topic}
		if c.spec.kind == "end" {
			cfg.AutoOffsetReset = commitlog.ResetLatest
		}
	} else {
		ids := c.o.partitions
		if len(ids) == 0 {
			for id := range t.NumPartitions() {
				ids = append(ids, id)
			}
		}
		for _, id := range ids {
			if id < 0 || id >= t.NumPartitions() {
				return fmt.Errorf("--partition %d: topic %s has partitions 0 to %d", id, c.topic, t.NumPartitions()-1)
			}
			cfg.Partitions = append(cfg.Partitions, commitlog.TopicPartition{Topic: c.topic, Partition: id})
		}
	}
	cons, err := l.NewConsumer(cfg)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, cons.Close()) }()
	if c.o.group == "" {
		if err := c.seek(t, cons, cfg.Partitions); err != nil {
			return err
		}
	}
	for !c.done() {
		recs, caughtUp, err := cons.PollToEnd(ctx)
		if err != nil {
			return err
		}
		if c.o.maxRecords > 0 && len(recs) > c.o.maxRecords-c.printed {
			recs = recs[:c.o.maxRecords-c.printed]
		}
		for i := range recs {
			if err := c.fm.write(c.out, &recs[i]); err != nil {
				return err
			}
			c.positions[commitlog.TopicPartition{Topic: recs[i].Topic, Partition: recs[i].Partition}] = recs[i].Offset + 1
		}
		c.printed += len(recs)
		if err := c.out.Flush(); err != nil {
			return err
		}
		if c.o.group != "" && len(recs) > 0 {
			if err := cons.CommitRecords(ctx, recs...); err != nil {
				return err
			}
		}
		if caughtUp {
			break
		}
	}
	if c.o.group == "" {
		for _, tp := range cfg.Partitions {
			if pos, err := cons.Position(tp); err == nil {
				c.positions[tp] = pos
			}
		}
	}
	return nil
}

// seek sets each partition's position: where the last cycle left it, or
// where the start spec says on the first.
func (c *consumer) seek(t *commitlog.Topic, cons *commitlog.Consumer, tps []commitlog.TopicPartition) error {
	first := !c.seeked
	c.seeked = true
	for _, tp := range tps {
		pos, ok := c.positions[tp]
		if first || !ok {
			p, err := t.Partition(tp.Partition)
			if err != nil {
				return err
			}
			if pos, err = c.spec.resolve(p); err != nil {
				return err
			}
			c.positions[tp] = pos
		}
		if err := cons.Seek(tp, pos); err != nil {
			return fmt.Errorf("%s: %w", strings.TrimPrefix(fmt.Sprint(tp), "commitlog: "), err)
		}
	}
	return nil
}
