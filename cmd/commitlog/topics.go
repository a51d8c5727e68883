package main

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/commitlog-go/commitlog"
)

func newTopicsCommand(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "topics",
		Short: "List, describe, create and delete topics",
	}
	cmd.AddCommand(newTopicsListCommand(e), newTopicsDescribeCommand(e), newTopicsCreateCommand(e), newTopicsDeleteCommand(e))
	return cmd
}

func newTopicsListCommand(e *env) *cobra.Command {
	var dir string
	var internal bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the topics, one name per line",
		Long:  "List the topics, one name per line, sorted. The directory is opened read-only.",
		Example: `  commitlog topics list -d /var/lib/app/log
  commitlog topics list -d /var/lib/app/log --internal`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) (err error) {
			l, err := openLog(dir, readOnly, e.stderr)
			if err != nil {
				return err
			}
			defer closeLog(l, &err)
			names := l.Topics()
			if internal {
				names = append(names, l.InternalTopics()...)
				slices.Sort(names)
			}
			for _, n := range names {
				fmt.Fprintln(e.stdout, n)
			}
			return nil
		},
	}
	dirFlag(cmd, &dir)
	cmd.Flags().BoolVar(&internal, "internal", false, "also list internal topics (__consumer_offsets)")
	return cmd
}

// topicDescription is what topics describe prints for a topic.
type topicDescription struct {
	Name       string                     `json:"name"`
	Config     topicConfigDescription     `json:"config"`
	Partitions []partitionDescriptionJSON `json:"partitions"`
}

type topicConfigDescription struct {
	Partitions     int32  `json:"partitions"`
	CleanupPolicy  string `json:"cleanup_policy"`
	Retention      string `json:"retention"`
	RetentionBytes int64  `json:"retention_bytes"`
	SegmentBytes   int64  `json:"segment_bytes"`
	Compression    string `json:"compression"`
	MaxBatchBytes  int32  `json:"max_batch_bytes"`
	Replication    int16  `json:"replication_factor"`
}

// partitionDescriptionJSON is one partition in topics describe and stats.
type partitionDescriptionJSON struct {
	Topic         string `json:"topic"`
	Partition     int32  `json:"partition"`
	StartOffset   int64  `json:"start_offset"`
	HighWatermark int64  `json:"high_watermark"`
	EndOffset     int64  `json:"end_offset"`
	Segments      int    `json:"segments"`
	Bytes         int64  `json:"bytes"`
	// Leader, LeaderEpoch, ISR and Replicas are set for a replicated
	// partition whose state is known: from the running Log, or from the
	// node's metadata (--metadata), which also gives PartitionEpoch.
	// ReplicaLag is the progress of the replicas whose directories were
	// given (--replica-dir).
	Leader         *int32           `json:"leader,omitempty"`
	LeaderEpoch    *int32           `json:"leader_epoch,omitempty"`
	PartitionEpoch *int32           `json:"partition_epoch,omitempty"`
	ISR            []int32          `json:"isr,omitempty"`
	Replicas       []int32          `json:"replicas,omitempty"`
	ReplicaLag     []replicaLagJSON `json:"replica_lag,omitempty"`
}

func describePartition(s commitlog.PartitionStats) partitionDescriptionJSON {
	d := partitionDescriptionJSON{
		Topic: s.Topic, Partition: s.Partition,
		StartOffset: s.StartOffset, HighWatermark: s.HighWatermark, EndOffset: s.EndOffset,
		Segments: s.Segments, Bytes: s.Bytes,
	}
	if r := s.Replica; r != nil {
		leader, epoch := int32(r.Leader), r.LeaderEpoch
		d.Leader, d.LeaderEpoch = &leader, &epoch
		d.ISR, d.Replicas = convertNodes(r.ISR), convertNodes(r.Replicas)
	}
	return d
}

func durationString(d time.Duration) string {
	if d < 0 {
		return "forever"
	}
	return d.String()
}

func newTopicsDescribeCommand(e *env) *cobra.Command {
	var dir string
	var asJSON bool
	var repl replicationFlags
	cmd := &cobra.Command{
		Use:   "describe [TOPIC...]",
		Short: "Describe topics: settings and partitions' offsets and sizes",
		Long: `Describe topics (all of them when none is named): their settings, and
for each partition its start offset, high watermark, end offset, segment
count and bytes on disk. The directory is opened read-only.

On a cluster node, --metadata names the node's Raft directory: each
partition then also shows its leader, leader epoch, in-sync replicas and
replicas as the node's controller last committed them; and each
--replica-dir NODE=DIR (the Log directories of the replicas, this one
included, on a copy or a stopped node) adds the replica's lag behind the
leader, in records (LAG node:lag; "?" without the leader's directory).`,
		Example: `  commitlog topics describe -d /var/lib/app/log
  commitlog topics describe -d /var/lib/app/log orders --json
  commitlog topics describe -d n1/log --metadata n1/raft \
      --replica-dir 1=n1/log --replica-dir 2=n2/log --replica-dir 3=n3/log`,
		RunE: func(cmd *cobra.Command, args []string) (err error) {
			view, err := repl.load(e.stderr)
			if err != nil {
				return err
			}
			l, err := openLog(dir, readOnly, e.stderr)
			if err != nil {
				return err
			}
			defer closeLog(l, &err)
			names := args
			if len(names) == 0 {
				names = l.Topics()
			}
			var out []topicDescription
			for _, name := range names {
				t, err := l.Topic(name)
				if err != nil {
					return err
				}
				c := t.Config()
				d := topicDescription{Name: name, Config: topicConfigDescription{
					Partitions: t.NumPartitions(), CleanupPolicy: c.CleanupPolicy.String(),
					Retention: durationString(c.Retention), RetentionBytes: c.RetentionBytes,
					SegmentBytes: c.SegmentBytes, Compression: c.Compression.String(),
					MaxBatchBytes: c.MaxBatchBytes, Replication: c.ReplicationFactor,
				}}
				for id := range t.NumPartitions() {
					p, err := t.Partition(id)
					if err != nil {
						continue // not hosted on this node
					}
					pd := describePartition(p.Stats())
					view.annotate(&pd)
					d.Partitions = append(d.Partitions, pd)
				}
				out = append(out, d)
			}
			if asJSON {
				enc := json.NewEncoder(e.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(out)
			}
			for i, d := range out {
				if i > 0 {
					fmt.Fprintln(e.stdout)
				}
				c := d.Config
				fmt.Fprintf(e.stdout, "Topic: %s\tPartitions: %d\tCleanupPolicy: %s\tRetention: %s\tRetentionBytes: %d\tSegmentBytes: %d\tCompression: %s\tReplicationFactor: %d\n",
					d.Name, c.Partitions, c.CleanupPolicy, c.Retention, c.RetentionBytes, c.SegmentBytes, c.Compression, c.Replication)
				printPartitions(e, d.Partitions)
			}
			return nil
		},
	}
	repl.add(cmd)
	dirFlag(cmd, &dir)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

// printPartitions prints a table of partitions.
func printPartitions(e *env, ps []partitionDescriptionJSON) {
	tw := tabwriter.NewWriter(e.stdout, 2, 8, 2, ' ', 0)
	replicated := slices.ContainsFunc(ps, func(p partitionDescriptionJSON) bool { return p.Leader != nil })
	header := "TOPIC\tPARTITION\tSTART\tHIGH-WATERMARK\tEND\tSEGMENTS\tBYTES"
	if replicated {
		header += "\tLEADER\tEPOCH\tISR\tREPLICAS\tLAG"
	}
	fmt.Fprintln(tw, header)
	for _, p := range ps {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%d", p.Topic, p.Partition, p.StartOffset, p.HighWatermark, p.EndOffset, p.Segments, p.Bytes)
		if replicated {
			if p.Leader != nil {
				fmt.Fprintf(tw, "\t%d\t%d\t%s\t%s\t%s", *p.Leader, *p.LeaderEpoch, nodesString(p.ISR), nodesString(p.Replicas), lagString(p.ReplicaLag))
			} else {
				fmt.Fprint(tw, "\t-\t-\t-\t-\t-")
			}
		}
		fmt.Fprintln(tw)
	}
	tw.Flush()
}

// parseCleanupPolicy reads Kafka's cleanup.policy values.
func parseCleanupPolicy(s string) (commitlog.CleanupPolicy, error) {
	for _, p := range []commitlog.CleanupPolicy{commitlog.CleanupDelete, commitlog.CleanupCompact, commitlog.CleanupCompactDelete} {
		if s == p.String() {
			return p, nil
		}
	}
	return 0, fmt.Errorf("unknown cleanup policy %q: use delete, compact or compact,delete", s)
}

// parseCodec reads a compression codec name.
func parseCodec(s string) (commitlog.Codec, error) {
	for _, c := range []commitlog.Codec{commitlog.CodecNone, commitlog.CodecGzip, commitlog.CodecSnappy, commitlog.CodecLZ4, commitlog.CodecZstd} {
		if strings.EqualFold(s, c.String()) {
			return c, nil
		}
	}
	return 0, fmt.Errorf("unknown compression %q: use none, gzip, snappy, lz4 or zstd", s)
}

// parseRetention reads a duration, or "forever".
func parseRetention(s string) (time.Duration, error) {
	if s == "forever" {
		return commitlog.Forever, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("retention %q: want a positive duration such as 168h, or forever", s)
	}
	return d, nil
}

func newTopicsCreateCommand(e *env) *cobra.Command {
	var (
		dir                          string
		cfg                          commitlog.TopicConfig
		cleanup, compression, retain string
	)
	cmd := &cobra.Command{
		Use:   "create TOPIC",
		Short: "Create a topic (and the Log's directory if it does not exist)",
		Long: `Create a topic. Settings not given take the library's defaults (1
partition, 1 GiB segments, 7 days' retention, cleanup policy delete). The
directory is created if it does not exist, and opened read-write.`,
		Example: `  commitlog topics create -d /var/lib/app/log orders --partitions 8
  commitlog topics create -d /var/lib/app/log users --cleanup-policy compact --retention forever
  commitlog topics create -d /var/lib/app/log metrics --compression zstd --segment-bytes 67108864`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) (err error) {
			if cleanup != "" {
				if cfg.CleanupPolicy, err = parseCleanupPolicy(cleanup); err != nil {
					return err
				}
			}
			if compression != "" {
				if cfg.Compression, err = parseCodec(compression); err != nil {
					return err
				}
			}
			if retain != "" {
				if cfg.Retention, err = parseRetention(retain); err != nil {
					return err
				}
			}
			if err := commitlog.ValidateTopicName(args[0]); err != nil {
				return err
			}
			if err := cfg.Validate(); err != nil {
				return err
			}
			l, err := openLog(dir, readWriteCreate, e.stderr)
			if err != nil {
				return err
			}
			defer closeLog(l, &err)
			t, err := l.CreateTopic(cmd.Context(), args[0], cfg)
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stderr, "created topic %s with %d partitions\n", t.Name(), t.NumPartitions())
			return nil
		},
	}
	dirFlag(cmd, &dir)
	f := cmd.Flags()
	f.Int32VarP(&cfg.Partitions, "partitions", "p", 0, "number of partitions (default 1)")
	f.Int64Var(&cfg.SegmentBytes, "segment-bytes", 0, "segment size at which the active segment rolls (default 1 GiB)")
	f.StringVar(&retain, "retention", "", `how long records are kept, such as 168h, or "forever" (default 168h)`)
	f.Int64Var(&cfg.RetentionBytes, "retention-bytes", 0, "size bound of each partition (default none)")
	f.StringVar(&cleanup, "cleanup-policy", "", "delete, compact or compact,delete (default delete)")
	f.StringVar(&compression, "compression", "", "codec pinned for the topic: none, gzip, snappy, lz4 or zstd (default none: each producer chooses)")
	f.Int32Var(&cfg.MaxBatchBytes, "max-batch-bytes", 0, "largest batch an append may add (default 1 MiB + 12)")
	f.Int32Var(&cfg.IndexIntervalBytes, "index-interval-bytes", 0, "bytes between index entries (default 4096)")
	return cmd
}

func newTopicsDeleteCommand(e *env) *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use:   "delete TOPIC...",
		Short: "Delete topics with all their data and committed offsets",
		Long: `Delete topics, with all their data and the consumer groups' committed
offsets for them, durably. The directory is opened read-write.`,
		Example: `  commitlog topics delete -d /var/lib/app/log orders`,
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) (err error) {
			l, err := openLog(dir, readWrite, e.stderr)
			if err != nil {
				return err
			}
			defer closeLog(l, &err)
			for _, name := range args {
				if err := l.DeleteTopic(cmd.Context(), name); err != nil {
					return err
				}
				fmt.Fprintf(e.stderr, "deleted topic %s\n", name)
			}
			return nil
		},
	}
	dirFlag(cmd, &dir)
	return cmd
}
